package afxdp

import (
	"errors"
	"fmt"
)

// ErrLinkDown reports that the socket's netdev went away or the socket lost its binding
// (ENETDOWN, ENXIO). The socket must be closed; its frames return to the UMEM on Close.
var ErrLinkDown = errors.New("afxdp: netdev gone or socket unbound")

// UnsupportedError reports a kernel or driver feature the socket needs but does not have, such
// as AF_XDP itself (CONFIG_XDP_SOCKETS) or zero-copy on a driver without it.
type UnsupportedError struct {
	// Feature names what is missing, e.g. "AF_XDP sockets (CONFIG_XDP_SOCKETS, Linux 4.18)".
	Feature string
	Err     error
}

// Error says which feature is missing.
func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s not supported: %v", e.Feature, e.Err)
}

// Unwrap returns the kernel's error.
func (e *UnsupportedError) Unwrap() error { return e.Err }

// PermissionError reports an operation the process lacks a capability or a resource limit for.
type PermissionError struct {
	// Op is the refused operation, e.g. "register umem".
	Op string
	// Need says what would allow it, e.g. "CAP_IPC_LOCK or a memlock limit of at least 8 MiB".
	Need string
	Err  error
}

// Error names the refused operation and what would allow it.
func (e *PermissionError) Error() string {
	return fmt.Sprintf("%s: %v (needs %s)", e.Op, e.Err, e.Need)
}

// Unwrap returns the kernel's error.
func (e *PermissionError) Unwrap() error { return e.Err }
