package afxdp

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/internal/testutil"
)

// withoutCaps runs fn on a fresh OS thread whose effective capability set lacks drop; the thread
// is discarded afterwards (capabilities are per thread on Linux).
func withoutCaps(t *testing.T, drop []int, fn func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with its reduced capabilities
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		for _, c := range drop {
			data[c/32].Effective &^= 1 << (c % 32)
		}
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// TestPrivilegedMissingCapabilities checks that a missing capability fails at once with an error
// that names it.
func TestPrivilegedMissingCapabilities(t *testing.T) {
	testutil.RequirePrivileged(t)
	tests := []struct {
		name   string
		drop   []int
		chunks uint32 // 16 MiB exceeds the 8 MiB memlock limit without CAP_IPC_LOCK
		need   string
	}{
		{"no CAP_NET_RAW", []int{unix.CAP_NET_RAW}, 64, "CAP_NET_RAW"},
		{"no CAP_IPC_LOCK over memlock", []int{unix.CAP_IPC_LOCK}, 8192, "CAP_IPC_LOCK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultUMEMOptions()
			o.NumChunks = tt.chunks
			u, err := NewUMEM(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = u.Close() })
			err = withoutCaps(t, tt.drop, func() error {
				s, err := NewSocket(u, 1, 0, DefaultSocketOptions()) // lo; fails before bind matters
				if err == nil {
					s.Close()
				}
				return err
			})
			var pe *PermissionError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.need) {
				t.Fatalf("NewSocket: got %v, want a PermissionError naming %s", err, tt.need)
			}
		})
	}
}
