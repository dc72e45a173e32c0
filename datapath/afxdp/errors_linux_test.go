package afxdp

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestErrorsNameWhatIsMissing(t *testing.T) {
	tests := []struct {
		name     string
		errno    unix.Errno
		err      error
		wantType string // "unsupported", "permission" or "other"
		mention  string
	}{
		{"kernel without AF_XDP", unix.EAFNOSUPPORT, socketError(unix.EAFNOSUPPORT), "unsupported", "CONFIG_XDP_SOCKETS"},
		{"no CAP_NET_RAW", unix.EPERM, socketError(unix.EPERM), "permission", "CAP_NET_RAW"},
		{"socket: other errno", unix.EMFILE, socketError(unix.EMFILE), "other", "create AF_XDP socket"},
		{"memlock exceeded", unix.ENOBUFS, registerError(unix.ENOBUFS, 8<<20), "permission", "8192 KiB"},
		{"register refused", unix.EPERM, registerError(unix.EPERM, 8<<20), "permission", "CAP_IPC_LOCK"},
		{"register: other errno", unix.EINVAL, registerError(unix.EINVAL, 8<<20), "other", "register umem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ue *UnsupportedError
			var pe *PermissionError
			got := "other"
			switch {
			case errors.As(tt.err, &ue):
				got = "unsupported"
			case errors.As(tt.err, &pe):
				got = "permission"
			}
			if got != tt.wantType || !strings.Contains(tt.err.Error(), tt.mention) {
				t.Fatalf("got %s error %q, want %s mentioning %q", got, tt.err, tt.wantType, tt.mention)
			}
			if !errors.Is(tt.err, tt.errno) {
				t.Fatalf("%q does not wrap %v", tt.err, tt.errno)
			}
		})
	}
}
