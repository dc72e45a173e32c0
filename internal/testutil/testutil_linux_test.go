package testutil

import (
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func TestPrivilegedNetNSAndVeth(t *testing.T) {
	RequirePrivileged(t)
	a := NewNetNS(t, "tua")
	b := NewNetNS(t, "tub")
	va, vb := VethPair(t, UniqueName("va"), a, UniqueName("vb"), b)
	AddAddr(t, a, va.Name, "192.0.2.1/24")
	AddAddr(t, b, vb.Name, "192.0.2.2/24")
	t.Run("ping across the pair", func(t *testing.T) {
		if out, err := a.Exec("ping", "-c", "1", "-W", "2", "192.0.2.2"); err != nil {
			t.Fatalf("ping: %v\n%s", err, out)
		}
	})
	t.Run("Do runs inside the namespace", func(t *testing.T) {
		var inside int
		if err := a.Do(func() error { inside = countLinks(t); return nil }); err != nil {
			t.Fatal(err)
		}
		if inside != 2 { // lo + the veth end
			t.Fatalf("links inside %s: got %d, want 2", a.Name, inside)
		}
	})
	t.Run("Do does not move the caller", func(t *testing.T) {
		runtime.LockOSThread() // compare the namespace of one and the same thread
		defer runtime.UnlockOSThread()
		before, err := netns.Get()
		if err != nil {
			t.Fatal(err)
		}
		defer before.Close()
		if err := a.Do(func() error { return nil }); err != nil {
			t.Fatal(err)
		}
		after, err := netns.Get()
		if err != nil {
			t.Fatal(err)
		}
		defer after.Close()
		if !after.Equal(before) {
			t.Fatalf("caller's namespace after Do: got %s, want %s", after.UniqueId(), before.UniqueId())
		}
		if after.Equal(a.Handle()) {
			t.Fatalf("caller's thread is in %s after Do", a.Name)
		}
	})
}

func countLinks(t *testing.T) int {
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	return len(links)
}
