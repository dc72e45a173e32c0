package bpf

import (
	"errors"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Capability sets the operations of this package need.
const (
	needLoad   = "CAP_BPF (or CAP_SYS_ADMIN)"
	needAttach = "CAP_BPF and CAP_NET_ADMIN (or CAP_SYS_ADMIN)"
	needMount  = "CAP_SYS_ADMIN"
)

// classify turns a kernel refusal into a *PermissionError (naming the capabilities in need) or,
// when feature is set, a *FeatureError; other errors are returned unchanged. A verifier
// rejection is never a permission problem even though the kernel reports it as EACCES. The
// caller wraps the result with the operation.
func classify(err error, need, feature string) error {
	if err == nil {
		return nil
	}
	// cilium/ebpf wraps every failed BPF_PROG_LOAD in a VerifierError, EPERM included; the
	// verifier itself rejects with EACCES or EINVAL.
	var ve *ebpf.VerifierError
	isVerifier := errors.As(err, &ve)
	if errors.Is(err, unix.EPERM) || (!isVerifier && errors.Is(err, unix.EACCES)) {
		return &PermissionError{Need: need, Err: err}
	}
	if isVerifier {
		return err
	}
	if feature != "" && (errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EOPNOTSUPP) ||
		errors.Is(err, unix.ENOTSUP) || errors.Is(err, errENOTSUPP)) {
		return &FeatureError{Feature: feature, Err: err}
	}
	return err
}

// errENOTSUPP is the kernel-internal ENOTSUPP (524) that some BPF paths leak to user space.
var errENOTSUPP = unix.Errno(524)
