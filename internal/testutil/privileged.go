package testutil

import (
	"os"
	"testing"
)

// PrivilegedEnv is the environment variable that enables privileged tests.
const PrivilegedEnv = "SLUICE_PRIVILEGED_TESTS"

// RequirePrivileged skips t unless privileged tests are enabled, and fails it at once when they
// are enabled but the process is not root.
func RequirePrivileged(t testing.TB) {
	t.Helper()
	if os.Getenv(PrivilegedEnv) != "1" {
		t.Skipf("privileged test: set %s=1 and run as root", PrivilegedEnv)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s=1 but euid is %d: privileged tests need root (CAP_NET_ADMIN, CAP_BPF, CAP_IPC_LOCK)", PrivilegedEnv, os.Geteuid())
	}
}
