package bpf

import (
	"errors"
	"os"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Capability sets the operations of this package need.
const (
	needLoad   = "CAP_BPF (or CAP_SYS_ADMIN)"
	needAttach = "CAP_BPF and CAP_NET_ADMIN (or CAP_SYS_ADMIN)"
	needMount  = "CAP_SYS_ADMIN"
)

// classify turns a kernel refusal into a *PermissionError or *FeatureError; other errors are
// returned unchanged. A verifier rejection is never a permission problem even though the kernel
// reports it as EACCES.
func classify(err error, op, need, feature string) error {
	if err == nil {
		return nil
	}
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return err
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, os.ErrPermission) {
		return &PermissionError{Op: op, Need: need, Err: err}
	}
	if feature != "" && (errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EOPNOTSUPP) ||
		errors.Is(err, unix.ENOTSUP) || errors.Is(err, errENOTSUPP)) {
		return &FeatureError{Feature: feature, Err: err}
	}
	return err
}

// errENOTSUPP is the kernel-internal ENOTSUPP (524) that some BPF paths leak to user space.
var errENOTSUPP = unix.Errno(524)
