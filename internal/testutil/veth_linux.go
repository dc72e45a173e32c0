package testutil

import (
	"fmt"
	"net"
	"testing"

	"github.com/vishvananda/netlink"
)

// Veth describes one end of a veth pair after VethPair placed it.
type Veth struct {
	Name  string
	NS    *NetNS // nil: the test's own (root) namespace
	Index int
	MAC   net.HardwareAddr
}

// VethPair creates a veth pair named a/b, moves each end into its namespace (nil keeps it in the
// caller's namespace), brings both up, and removes the pair with t.Cleanup.
func VethPair(t testing.TB, a string, nsA *NetNS, b string, nsB *NetNS) (Veth, Veth) {
	t.Helper()
	la := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a, MTU: 1500}, PeerName: b}
	if err := netlink.LinkAdd(la); err != nil {
		t.Fatalf("add veth %s/%s: %v", a, b, err)
	}
	t.Cleanup(func() {
		// Deleting either end removes both; the end may live in a namespace that is already gone,
		// which removes the pair too, so a missing link is not an error.
		for _, end := range []struct {
			name string
			ns   *NetNS
		}{{a, nsA}, {b, nsB}} {
			_ = inNS(end.ns, func() error {
				if l, err := netlink.LinkByName(end.name); err == nil {
					return netlink.LinkDel(l)
				}
				return nil
			})
		}
	})
	va := placeAndUp(t, a, nsA)
	vb := placeAndUp(t, b, nsB)
	return va, vb
}

func placeAndUp(t testing.TB, name string, ns *NetNS) Veth {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatalf("find %s: %v", name, err)
	}
	if ns != nil {
		if err := netlink.LinkSetNsFd(l, int(ns.handle)); err != nil {
			t.Fatalf("move %s to %s: %v", name, ns.Name, err)
		}
	}
	v := Veth{Name: name, NS: ns}
	err = inNS(ns, func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return err
		}
		v.Index = l.Attrs().Index
		v.MAC = l.Attrs().HardwareAddr
		return nil
	})
	if err != nil {
		t.Fatalf("bring up %s: %v", name, err)
	}
	return v
}

// AddAddr assigns cidr (e.g. "10.0.0.1/24") to the link name inside ns (nil: caller's namespace).
func AddAddr(t testing.TB, ns *NetNS, name, cidr string) {
	t.Helper()
	addr, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatalf("parse %s: %v", cidr, err)
	}
	err = inNS(ns, func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		return netlink.AddrAdd(l, addr)
	})
	if err != nil {
		t.Fatalf("add %s to %s: %v", cidr, name, err)
	}
}

func inNS(ns *NetNS, fn func() error) error {
	if ns == nil {
		return fn()
	}
	if err := ns.Do(fn); err != nil {
		return fmt.Errorf("in %s: %w", ns.Name, err)
	}
	return nil
}
