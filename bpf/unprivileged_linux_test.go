package bpf

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicenet/sluice/internal/testutil"
)

const helperEnv = "SLUICE_BPF_TEST_HELPER"

// TestPrivilegedLoadWithoutCapabilities runs Load in a child process that dropped root (uid
// nobody, no capabilities) and checks that it fails at once with a *PermissionError that names
// the capability.
func TestPrivilegedLoadWithoutCapabilities(t *testing.T) {
	testutil.RequirePrivileged(t)
	// The test binary lives in a 0700 build directory: copy it where nobody can run it.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(dir); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bpf.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestLoadUnprivilegedHelper$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "permission denied (needs CAP_BPF") {
		t.Fatalf("helper output does not name CAP_BPF:\n%s", out)
	}
	t.Logf("%s", out)
}

// TestLoadUnprivilegedHelper is the child of TestPrivilegedLoadWithoutCapabilities; it does
// nothing in a normal run.
func TestLoadUnprivilegedHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper for TestPrivilegedLoadWithoutCapabilities")
	}
	s, err := Load(Options{})
	if err == nil {
		s.Close()
		t.Fatal("Load without privileges: got nil error")
	}
	var pe *PermissionError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a *PermissionError", err)
	}
	t.Logf("error: %v", err)
}
