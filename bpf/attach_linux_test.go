package bpf

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/sluicenet/sluice/internal/testutil"
	"github.com/vishvananda/netlink"
)

// pinDir returns a fresh directory on bpffs (mounting bpffs at BPFFSRoot if needed) that is
// removed, with everything pinned in it, when the test ends.
func pinDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(BPFFSRoot, testutil.UniqueName("sluice-test-"))
	if err := EnsureBPFFS(dir); err != nil {
		t.Fatalf("ensure bpffs: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove pins: %v", err)
		}
	})
	return dir
}

// xdpState reads, through rtnetlink, whether ifindex in ns has an XDP program and in which mode.
func xdpState(t *testing.T, ns *testutil.NetNS, ifindex int) (attached bool, mode AttachMode) {
	t.Helper()
	err := ns.Do(func() error {
		l, err := netlink.LinkByIndex(ifindex)
		if err != nil {
			return err
		}
		if x := l.Attrs().Xdp; x != nil && x.Attached {
			attached = true
			mode, err = attachedMode(ifindex)
		}
		return err
	})
	if err != nil {
		t.Fatalf("read xdp state of ifindex %d: %v", ifindex, err)
	}
	return attached, mode
}

// attachIn attaches s in ns and detaches it when t ends.
func attachIn(t *testing.T, s *Steering, ns *testutil.NetNS, ifindex int, mode AttachMode) (*Attachment, error) {
	t.Helper()
	var a *Attachment
	err := ns.Do(func() error {
		var err error
		a, err = s.Attach(ifindex, mode)
		return err
	})
	if a != nil {
		t.Cleanup(func() { a.Detach() })
	}
	return a, err
}

// pingCounts pings 192.0.2.1 five times from ns and checks that the counter read by get grew by
// at least the 5 echo requests, which the ARP and IPv6 link-local frames also crossing the link
// cannot reach on their own.
func pingCounts(t *testing.T, from *testutil.NetNS, s *Steering, name string, get func(Counters) uint64) {
	t.Helper()
	before, err := s.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := from.Exec("ping", "-c", "5", "-i", "0.05", "-W", "2", "192.0.2.1"); err != nil {
		t.Fatalf("ping through the steering program: %v\n%s", err, out)
	}
	after, err := s.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if get(after) < get(before)+5 {
		t.Errorf("%s: got %d -> %d, want at least 5 more (the echo requests)", name, get(before), get(after))
	}
}

func TestPrivilegedAttach(t *testing.T) {
	testutil.RequirePrivileged(t)
	s, err := Load(Options{})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	nsA := testutil.NewNetNS(t, "sta")
	nsB := testutil.NewNetNS(t, "stb")
	va, vb := testutil.VethPair(t, testutil.UniqueName("sva"), nsA, testutil.UniqueName("svb"), nsB)
	testutil.AddAddr(t, nsA, va.Name, "192.0.2.1/24")
	testutil.AddAddr(t, nsB, vb.Name, "192.0.2.2/24")
	var bridge int
	err = nsA.Do(func() error {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "sbr0"}}
		if err := netlink.LinkAdd(br); err != nil {
			return err
		}
		l, err := netlink.LinkByName("sbr0")
		if err != nil {
			return err
		}
		bridge = l.Attrs().Index
		return netlink.LinkSetUp(l)
	})
	if err != nil {
		t.Fatalf("create bridge: %v", err)
	}
	pins := pinDir(t)

	var veth *Attachment
	outer := t // the veth attachment lives through all subtests
	t.Run("auto attaches native on veth", func(t *testing.T) {
		veth, err = attachIn(outer, s, nsA, va.Index, AttachAuto)
		if err != nil {
			t.Fatalf("attach: %v", err)
		}
		if veth.Mode != AttachNative {
			t.Errorf("reported mode: got %v, want native", veth.Mode)
		}
		if on, mode := xdpState(t, nsA, va.Index); !on || mode != AttachNative {
			t.Errorf("kernel says attached=%v mode=%v, want native", on, mode)
		}
	})
	if veth == nil {
		t.FailNow()
	}

	t.Run("second program on the same interface is refused", func(t *testing.T) {
		_, err := attachIn(t, s, nsA, va.Index, AttachGeneric)
		if !errors.Is(err, ErrInterfaceBusy) {
			t.Fatalf("attach generic over a native program: got %v, want ErrInterfaceBusy", err)
		}
		t.Logf("refused as expected: %v", err)
	})

	t.Run("traffic wanted by the datapath falls back to the kernel without a socket", func(t *testing.T) {
		if err := s.SetInterface(va.Index, InterfaceConfig{Mode: ModeAll}); err != nil {
			t.Fatal(err)
		}
		pingCounts(t, nsB, s, "passed_no_socket", func(c Counters) uint64 { return c.PassedNoSocket })
	})

	t.Run("traffic for a kernel-owned address passes as kernel-owned", func(t *testing.T) {
		if err := s.AddKernelOwned(netip.MustParsePrefix("192.0.2.1/32")); err != nil {
			t.Fatal(err)
		}
		pingCounts(t, nsB, s, "passed_kernel_owned", func(c Counters) uint64 { return c.PassedKernelOwned })
	})

	t.Run("auto attach on a busy interface does not fall back", func(t *testing.T) {
		_, err := attachIn(t, s, nsA, va.Index, AttachAuto)
		if !errors.Is(err, ErrInterfaceBusy) {
			t.Fatalf("got %v, want ErrInterfaceBusy", err)
		}
		if on, mode := xdpState(t, nsA, va.Index); !on || mode != AttachNative {
			t.Errorf("kernel says attached=%v mode=%v, want the first (native) program untouched", on, mode)
		}
	})

	t.Run("native attach on a bridge is a FeatureError", func(t *testing.T) {
		_, err := attachIn(t, s, nsA, bridge, AttachNative)
		var fe *FeatureError
		if !errors.As(err, &fe) {
			t.Fatalf("got %v, want a *FeatureError", err)
		}
		t.Logf("refused as expected: %v", err)
	})

	t.Run("auto falls back to generic on a bridge", func(t *testing.T) {
		a, err := attachIn(t, s, nsA, bridge, AttachAuto)
		if err != nil {
			t.Fatalf("attach: %v", err)
		}
		if a.Mode != AttachGeneric {
			t.Errorf("reported mode: got %v, want generic", a.Mode)
		}
		if on, mode := xdpState(t, nsA, bridge); !on || mode != AttachGeneric {
			t.Errorf("kernel says attached=%v mode=%v, want generic", on, mode)
		}
		if err := a.Detach(); err != nil {
			t.Fatal(err)
		}
		if on, _ := xdpState(t, nsA, bridge); on {
			t.Error("still attached after Detach")
		}
	})

	t.Run("pinned link stays attached after Close and is taken over by a new load", func(t *testing.T) {
		path := filepath.Join(pins, "link_veth")
		if err := veth.Pin(path); err != nil {
			t.Fatalf("pin: %v", err)
		}
		if err := veth.Close(); err != nil {
			t.Fatal(err)
		}
		if on, _ := xdpState(t, nsA, va.Index); !on {
			t.Fatal("pinned link detached on Close")
		}
		s2, err := Load(Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		var adopted *Attachment
		err = nsA.Do(func() error {
			var err error
			adopted, err = s2.LoadPinnedAttachment(path)
			return err
		})
		if err != nil {
			t.Fatalf("load pinned attachment: %v", err)
		}
		if adopted.Ifindex != va.Index || adopted.Mode != AttachNative {
			t.Errorf("adopted: got ifindex %d mode %v, want %d native", adopted.Ifindex, adopted.Mode, va.Index)
		}
		// The new program has its own, empty maps: the interface is unconfigured for it.
		pingCounts(t, nsB, s2, "passed_no_config of the new program", func(c Counters) uint64 { return c.PassedNoConfig })
		if err := adopted.Detach(); err != nil {
			t.Fatal(err)
		}
		if on, _ := xdpState(t, nsA, va.Index); on {
			t.Error("still attached after Detach")
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pin still present after Detach: %v", err)
		}
	})
}

func TestPrivilegedPinnedMaps(t *testing.T) {
	testutil.RequirePrivileged(t)
	dir := pinDir(t)
	opts := Options{PinPath: dir, MaxSockets: 32}

	s1, err := Load(opts)
	if err != nil {
		t.Fatalf("first load: %v", err)
	}
	cfg := InterfaceConfig{Mode: ModeSelective, SlotBase: 4, Queues: 2, NodePortMin: 30000, NodePortMax: 32767}
	if err := s1.SetInterface(7, cfg); err != nil {
		t.Fatal(err)
	}
	if err := s1.AddTunnelPort(6081); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	t.Run("a second load reuses the pinned configuration", func(t *testing.T) {
		s2, err := Load(opts)
		if err != nil {
			t.Fatalf("second load: %v", err)
		}
		defer s2.Close()
		ifs, err := s2.Interfaces()
		if err != nil {
			t.Fatal(err)
		}
		want := cfg
		if got := ifs[7]; got != want {
			t.Errorf("interface 7: got %+v, want %+v", got, want)
		}
		ports, err := s2.TunnelPorts()
		if err != nil {
			t.Fatal(err)
		}
		if len(ports) != 1 || ports[0] != 6081 {
			t.Errorf("tunnel ports: got %v, want [6081]", ports)
		}
	})

	t.Run("a load with other map sizes is refused", func(t *testing.T) {
		_, err := Load(Options{PinPath: dir, MaxSockets: 64})
		if !errors.Is(err, ebpf.ErrMapIncompatible) {
			t.Fatalf("got %v, want ErrMapIncompatible", err)
		}
	})

	t.Run("Unpin removes every pin", func(t *testing.T) {
		s3, err := Load(opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s3.Close()
		if err := s3.Unpin(); err != nil {
			t.Fatal(err)
		}
		left, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 0 {
			t.Errorf("pins left in %s: %v", dir, left)
		}
	})

	t.Run("a pin path off bpffs is refused", func(t *testing.T) {
		_, err := Load(Options{PinPath: t.TempDir()})
		if !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("got %v, want ErrInvalidConfig", err)
		}
	})
}
