package bpf

import "fmt"

// FeatureError reports a kernel feature the steering program needs and this kernel (or
// driver) does not have, so the caller can fall back (another XDP mode, or OVS) and say why.
type FeatureError struct {
	// Feature names what is missing, e.g. "XSKMAP (Linux 4.18)" or "native XDP on eth0".
	Feature string
	// Err is the error the kernel or cilium/ebpf returned.
	Err error
}

// Error describes the missing feature.
func (e *FeatureError) Error() string {
	return fmt.Sprintf("kernel feature unavailable: %s: %v", e.Feature, e.Err)
}

// Unwrap returns the underlying error.
func (e *FeatureError) Unwrap() error { return e.Err }

// PermissionError reports an operation the kernel refused for lack of privilege; the
// operation is named by the error that wraps it.
type PermissionError struct {
	// Need names the capabilities that would allow it.
	Need string
	// Err is the error the kernel returned (EPERM or EACCES).
	Err error
}

// Error names the capabilities the operation needs.
func (e *PermissionError) Error() string {
	return fmt.Sprintf("permission denied (needs %s): %v", e.Need, e.Err)
}

// Unwrap returns the underlying error.
func (e *PermissionError) Unwrap() error { return e.Err }
