package controlplane

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicenet/sluice/internal/testutil"
)

// TestPrivilegedFabric checks the lab's network without Kubernetes: two namespaces attached to a
// bridge in a third reach each other, and Forward carries a loopback connection in the root
// namespace to a server inside a lab namespace.
func TestPrivilegedFabric(t *testing.T) {
	testutil.RequirePrivileged(t)
	fabric, a, b := testutil.UniqueName("slfab"), testutil.UniqueName("sla"), testutil.UniqueName("slb")
	for _, ns := range []string{fabric, a, b} {
		if err := createNamespace(ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if _, err := deleteNamespace(ns); err != nil {
				t.Error(err)
			}
		})
	}
	if err := createBridge(fabric, "fabric"); err != nil {
		t.Fatal(err)
	}
	addrA, addrB := netip.MustParsePrefix("10.77.0.2/24"), netip.MustParsePrefix("10.77.0.3/24")
	if err := AttachToFabric(fabric, "fabric", "pa", a, "eth0", addrA); err != nil {
		t.Fatal(err)
	}
	if err := AttachToFabric(fabric, "fabric", "pb", b, "eth0", addrB); err != nil {
		t.Fatal(err)
	}
	// An echo-once server in a.
	var ln net.Listener
	if err := onThreadIn(a, func() (err error) { ln, err = net.Listen("tcp", addrA.Addr().String()+":7000"); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				_, _ = c.Write([]byte("echo " + line))
			}()
		}
	}()
	roundTrip := func(t *testing.T, c net.Conn) {
		t.Helper()
		defer c.Close()
		if _, err := c.Write([]byte("hi\n")); err != nil {
			t.Fatal(err)
		}
		got, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || got != "echo hi\n" {
			t.Fatalf("got %q, %v; want %q", got, err, "echo hi\n")
		}
	}

	t.Run("namespaces reach each other over the bridge", func(t *testing.T) {
		c, err := DialInNamespace(t.Context(), b, "tcp", "10.77.0.2:7000")
		if err != nil {
			t.Fatalf("dial from %s: %v", b, err)
		}
		roundTrip(t, c)
	})

	t.Run("root namespace gets no fabric links", func(t *testing.T) {
		// The lab adds nothing to the root namespace: its veths and bridge live in lab namespaces.
		for _, l := range []string{"pa", "pb", "fabric"} {
			if _, err := os.Stat(filepath.Join("/sys/class/net", l)); err == nil {
				t.Errorf("link %s visible in the root namespace", l)
			}
		}
	})

	t.Run("forward carries loopback connections into the namespace", func(t *testing.T) {
		fl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- Forward(t.Context(), fl, b, "10.77.0.2:7000", nil) }()
		c, err := net.Dial("tcp", fl.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c)
		fl.Close()
		if err := <-done; err == nil {
			t.Errorf("forward after its listener closed: got nil, want an accept error")
		}
	})
}
