package testutil

import (
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestUniqueName(t *testing.T) {
	a, b := UniqueName("sl"), UniqueName("sl")
	if a == b {
		t.Fatalf("two names collided: %s", a)
	}
	if !strings.HasPrefix(a, "sl") || len(a) != 8 {
		t.Fatalf("got %q, want sl + 6 hex digits", a)
	}
}

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
	t.Run("Do does not move the caller", func(t *testing.T) {
		var inside int
		if err := a.Do(func() error { inside = countLinks(t); return nil }); err != nil {
			t.Fatal(err)
		}
		if inside != 2 { // lo + the veth end
			t.Fatalf("links inside %s: got %d, want 2", a.Name, inside)
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
