package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NetNS is a named network namespace made for one test.
type NetNS struct {
	// Name is the namespace's name under /var/run/netns, usable with `ip netns exec`.
	Name   string
	handle netns.NsHandle
}

// NewNetNS creates a named network namespace with its loopback up, and registers its removal
// with t.Cleanup. The name is prefix plus a random suffix, so parallel tests never collide.
func NewNetNS(t testing.TB, prefix string) *NetNS {
	t.Helper()
	name := UniqueName(prefix)
	var h netns.NsHandle
	err := onFreshThread(func() error {
		var err error
		h, err = netns.NewNamed(name) // switches this (dying) thread into the new namespace
		if err != nil {
			return err
		}
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	if err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	n := &NetNS{Name: name, handle: h}
	t.Cleanup(func() {
		n.handle.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	return n
}

// Handle returns the namespace's file descriptor handle (owned by n).
func (n *NetNS) Handle() netns.NsHandle { return n.handle }

// Do runs fn inside the namespace on a fresh goroutine locked to its OS thread; the thread is
// discarded afterwards, so the calling goroutine's namespace never changes.
func (n *NetNS) Do(fn func() error) error {
	return onFreshThread(func() error {
		if err := netns.Set(n.handle); err != nil {
			return fmt.Errorf("enter netns %s: %w", n.Name, err)
		}
		return fn()
	})
}

// Exec runs a command inside the namespace (via `ip netns exec`) and returns its combined output.
func (n *NetNS) Exec(name string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), n.Name, err, out)
	}
	return string(out), nil
}

// Command returns an *exec.Cmd that runs inside the namespace.
func (n *NetNS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// onFreshThread runs fn on a new goroutine locked to its OS thread and never unlocks it, so the
// Go runtime ends that thread when the goroutine returns, together with any namespace it entered.
func onFreshThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- fn()
	}()
	return <-errc
}

// UniqueName returns prefix followed by six random hex digits; prefixes are kept short so that
// the result fits an interface name (15 bytes).
func UniqueName(prefix string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
