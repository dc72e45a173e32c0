package bpf

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/sluicenet/sluice/internal/testutil"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const (
	xdpPass     = 2
	xdpRedirect = 4
)

// xdpMD is struct xdp_md, the context of an XDP test run: it sets the ingress interface and RX
// queue the program sees.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// progRig is a loaded program plus a namespace with veth interfaces to stand in as ingress
// devices (a test run resolves ingress_ifindex in the calling thread's namespace and checks the
// queue against the device's RX queue count).
type progRig struct {
	s  *Steering
	ns *testutil.NetNS
	// ifindexes inside ns
	pod, uplink, unconfigured int
}

const (
	podSlotBase    = 0 // pod: queues 0,1 -> slots 0,1 (both with sockets)
	uplinkSlotBase = 8 // uplink: queues 0..1 -> slots 8,9 (only 8 with a socket); queue 2,3 out of range
)

var (
	kernelOwned4 = "192.0.2.1"
	kernelOwned6 = "2001:db8::1"
	ownedCIDR4   = "10.244.0.0/16"
	ownedCIDR6   = "fd00:10:244::/48"
	nodePortMin  = uint16(30000)
	nodePortMax  = uint16(32767)
)

// loadWithRules loads a private program (no pins) with the rules every program test shares:
// kernel-owned kernelOwned4/6, owned ownedCIDR4/6, tunnel ports 6081 and 4789.
func loadWithRules(tb testing.TB, maxSockets uint32) *Steering {
	tb.Helper()
	s, err := Load(Options{MaxSockets: maxSockets})
	if err != nil {
		tb.Fatalf("load: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	for _, p := range []string{kernelOwned4 + "/32", kernelOwned6 + "/128"} {
		if err := s.AddKernelOwned(netip.MustParsePrefix(p)); err != nil {
			tb.Fatal(err)
		}
	}
	for _, p := range []string{ownedCIDR4, ownedCIDR6} {
		if err := s.AddOwnedPrefix(netip.MustParsePrefix(p)); err != nil {
			tb.Fatal(err)
		}
	}
	for _, port := range []uint16{6081, 4789} {
		if err := s.AddTunnelPort(port); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// addSocket puts an (unbound) AF_XDP socket into slot: enough for bpf_redirect_map to find an
// entry and return XDP_REDIRECT in a test run, which never delivers the frame. The socket stays
// open until tb ends (closing it would empty the slot).
func addSocket(tb testing.TB, s *Steering, slot uint32) {
	tb.Helper()
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW, 0)
	if err != nil {
		tb.Fatalf("AF_XDP socket: %v", err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	if err := s.SetSocket(slot, fd); err != nil {
		tb.Fatalf("set socket %d: %v", slot, err)
	}
}

func newProgRig(t *testing.T) *progRig {
	t.Helper()
	s := loadWithRules(t, 16)
	r := &progRig{s: s, ns: testutil.NewNetNS(t, "stp")}
	err := r.ns.Do(func() error {
		for _, d := range []struct {
			name string
			idx  *int
		}{{"pod0", &r.pod}, {"uplink0", &r.uplink}, {"other0", &r.unconfigured}} {
			l := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: d.name, NumRxQueues: 4, NumTxQueues: 4}, PeerName: d.name + "p"}
			if err := netlink.LinkAdd(l); err != nil {
				return err
			}
			got, err := netlink.LinkByName(d.name)
			if err != nil {
				return err
			}
			*d.idx = got.Attrs().Index
		}
		return nil
	})
	if err != nil {
		t.Fatalf("create test interfaces: %v", err)
	}

	if err := s.SetInterface(r.pod, InterfaceConfig{Mode: ModeAll, SlotBase: podSlotBase, Queues: 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetInterface(r.uplink, InterfaceConfig{Mode: ModeSelective, SlotBase: uplinkSlotBase, Queues: 2,
		NodePortMin: nodePortMin, NodePortMax: nodePortMax}); err != nil {
		t.Fatal(err)
	}
	for _, slot := range []uint32{podSlotBase, podSlotBase + 1, uplinkSlotBase} {
		addSocket(t, s, slot)
	}
	return r
}

// run runs the program once on frame as if received on ifindex/queue and returns its action.
func (r *progRig) run(t *testing.T, ifindex int, queue uint32, frame []byte) uint32 {
	t.Helper()
	var ret uint32
	err := r.ns.Do(func() error {
		var err error
		ret, err = r.s.objs.Steer.Run(&ebpf.RunOptions{
			Data:    frame,
			Context: xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ifindex), RxQueueIndex: queue},
		})
		return err
	})
	if err != nil {
		t.Fatalf("test run: %v", err)
	}
	return ret
}

// expect runs frame and checks the action and that exactly counter wantCounter grew by one.
func (r *progRig) expect(t *testing.T, ifindex int, queue uint32, frame []byte, wantAction uint32, wantCounter int) {
	t.Helper()
	before, err := r.s.Counters()
	if err != nil {
		t.Fatal(err)
	}
	got := r.run(t, ifindex, queue, frame)
	after, err := r.s.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if got != wantAction {
		t.Errorf("action: got %s, want %s", actionName(got), actionName(wantAction))
	}
	for i := range numCounters {
		delta := *after.field(i) - *before.field(i)
		want := uint64(0)
		if i == wantCounter {
			want = 1
		}
		if delta != want {
			t.Errorf("counter %s: grew by %d, want %d", counterName(i), delta, want)
		}
	}
}

func actionName(a uint32) string {
	switch a {
	case xdpPass:
		return "XDP_PASS"
	case xdpRedirect:
		return "XDP_REDIRECT"
	}
	return fmt.Sprintf("action %d", a)
}

func counterName(i int) string {
	return [...]string{"redirected", "passed_kernel_owned", "passed_not_owned", "passed_no_config",
		"passed_no_socket", "passed_queue_range", "passed_malformed"}[i]
}

func TestPrivilegedProgramVerdicts(t *testing.T) {
	testutil.RequirePrivileged(t)
	r := newProgRig(t)

	const (
		pod = iota
		uplink
		unconfigured
	)
	type tc struct {
		name    string
		iface   int
		queue   uint32
		frame   []byte
		action  uint32
		counter int
	}
	redirect := func(name string, iface int, frame []byte) tc {
		return tc{name: name, iface: iface, frame: frame, action: xdpRedirect, counter: counterRedirected}
	}
	pass := func(name string, iface int, frame []byte, counter int) tc {
		return tc{name: name, iface: iface, frame: frame, action: xdpPass, counter: counter}
	}
	cases := []tc{
		// Mode all (pod port).
		redirect("all: IPv4 TCP to a remote address is redirected", pod, ether(etherIPv4, ipv4("203.0.113.9", protoTCP, tcp(80)))),
		redirect("all: IPv4 UDP to an owned address is redirected", pod, ether(etherIPv4, ipv4("10.244.1.2", protoUDP, udp(53)))),
		pass("all: IPv4 to a kernel-owned address passes", pod, ether(etherIPv4, ipv4(kernelOwned4, protoTCP, tcp(22))), counterPassedKernelOwned),
		redirect("all: IPv6 TCP to a remote address is redirected", pod, ether(etherIPv6, ipv6("2001:db8:1::9", protoTCP, tcp(443)))),
		pass("all: IPv6 to a kernel-owned address passes", pod, ether(etherIPv6, ipv6(kernelOwned6, protoUDP, udp(53))), counterPassedKernelOwned),
		pass("all: ARP request for a kernel-owned address passes", pod, ether(etherARP, arp(1, kernelOwned4)), counterPassedKernelOwned),
		pass("all: ARP reply to a kernel-owned address passes", pod, ether(etherARP, arp(2, kernelOwned4)), counterPassedKernelOwned),
		redirect("all: ARP request for another address is redirected", pod, ether(etherARP, arp(1, "10.244.1.1"))),
		pass("all: neighbour solicitation for a kernel-owned target passes", pod,
			ether(etherIPv6, ipv6(solicitedNode(kernelOwned6), protoICMPv6, nd(135, kernelOwned6))), counterPassedKernelOwned),
		pass("all: neighbour advertisement of a kernel-owned target passes", pod,
			ether(etherIPv6, ipv6("ff02::1", protoICMPv6, nd(136, kernelOwned6))), counterPassedKernelOwned),
		redirect("all: neighbour solicitation for another target is redirected", pod,
			ether(etherIPv6, ipv6(solicitedNode("2001:db8::77"), protoICMPv6, nd(135, "2001:db8::77")))),
		redirect("all: ICMPv6 echo to a remote address is redirected", pod, ether(etherIPv6, ipv6("2001:db8:1::9", protoICMPv6, []byte{128, 0, 0, 0, 0, 1, 0, 1}))),
		redirect("all: non-IP ethertype is redirected", pod, ether(etherLLDP, make([]byte, 46))),
		redirect("all: VLAN-tagged IPv4 is redirected", pod, ether(etherVLAN, vlanTag(etherIPv4, ipv4("203.0.113.9", protoTCP, tcp(80))))),
		pass("all: VLAN-tagged IPv4 to a kernel-owned address passes", pod, ether(etherVLAN, vlanTag(etherIPv4, ipv4(kernelOwned4, protoTCP, tcp(80)))), counterPassedKernelOwned),
		pass("all: QinQ-tagged ARP for a kernel-owned address passes", pod,
			ether(etherQinQ, vlanTag(etherVLAN, vlanTag(etherARP, arp(1, kernelOwned4)))), counterPassedKernelOwned),
		redirect("all: truncated TCP header is still redirected (no ports needed)", pod, ether(etherIPv4, ipv4("203.0.113.9", protoTCP, []byte{1, 2}))),
		{name: "all: queue 1 uses the second slot", iface: pod, queue: 1, frame: ether(etherIPv4, ipv4("203.0.113.9", protoTCP, tcp(80))), action: xdpRedirect, counter: counterRedirected},
		{name: "all: queue beyond the configured queues passes", iface: pod, queue: 2, frame: ether(etherIPv4, ipv4("203.0.113.9", protoTCP, tcp(80))), action: xdpPass, counter: counterPassedQueueRange},

		// Mode selective (uplink).
		redirect("selective: IPv4 to an owned prefix is redirected", uplink, ether(etherIPv4, ipv4("10.244.3.4", protoTCP, tcp(22)))),
		redirect("selective: IPv6 to an owned prefix is redirected", uplink, ether(etherIPv6, ipv6("fd00:10:244::5", protoTCP, tcp(22)))),
		pass("selective: IPv4 SSH to the node passes as not owned", uplink, ether(etherIPv4, ipv4("198.51.100.7", protoTCP, tcp(22))), counterPassedNotOwned),
		pass("selective: IPv6 SSH to the node passes as not owned", uplink, ether(etherIPv6, ipv6("2001:db8:2::7", protoTCP, tcp(22))), counterPassedNotOwned),
		redirect("selective: Geneve UDP 6081 is redirected", uplink, ether(etherIPv4, ipv4("198.51.100.7", protoUDP, udp(6081)))),
		redirect("selective: VXLAN UDP 4789 is redirected", uplink, ether(etherIPv4, ipv4("198.51.100.7", protoUDP, udp(4789)))),
		redirect("selective: Geneve over IPv6 is redirected", uplink, ether(etherIPv6, ipv6("2001:db8:2::7", protoUDP, udp(6081)))),
		pass("selective: UDP to another port passes", uplink, ether(etherIPv4, ipv4("198.51.100.7", protoUDP, udp(6082))), counterPassedNotOwned),
		pass("selective: TCP to a tunnel port number passes (tunnel ports are UDP)", uplink, ether(etherIPv4, ipv4("198.51.100.7", protoTCP, tcp(6081))), counterPassedNotOwned),
		redirect("selective: TCP to the lowest NodePort is redirected", uplink, ether(etherIPv4, ipv4("198.51.100.7", protoTCP, tcp(nodePortMin)))),
		redirect("selective: UDP to the highest NodePort is redirected", uplink, ether(etherIPv4, ipv4("198.51.100.7", protoUDP, udp(nodePortMax)))),
		redirect("selective: SCTP to a NodePort is redirected", uplink, ether(etherIPv4, ipv4("198.51.100.7", protoSCTP, sctp(30100)))),
		redirect("selective: IPv6 TCP to a NodePort is redirected", uplink, ether(etherIPv6, ipv6("2001:db8:2::7", protoTCP, tcp(31000)))),
		pass("selective: TCP just below the NodePort range passes", uplink, ether(etherIPv4, ipv4("198.51.100.7", protoTCP, tcp(nodePortMin-1))), counterPassedNotOwned),
		pass("selective: TCP just above the NodePort range passes", uplink, ether(etherIPv4, ipv4("198.51.100.7", protoTCP, tcp(nodePortMax+1))), counterPassedNotOwned),
		pass("selective: kernel-owned destination wins over a NodePort", uplink, ether(etherIPv4, ipv4(kernelOwned4, protoTCP, tcp(30080))), counterPassedKernelOwned),
		pass("selective: kernel-owned destination wins over a tunnel port", uplink, ether(etherIPv6, ipv6(kernelOwned6, protoUDP, udp(6081))), counterPassedKernelOwned),
		redirect("selective: IPv6 with a hop-by-hop header to a tunnel port is redirected", uplink,
			ether(etherIPv6, ipv6("2001:db8:2::7", protoHopOpts, hopByHop(protoUDP, udp(6081))))),
		redirect("selective: first IPv6 fragment to a NodePort is redirected", uplink,
			ether(etherIPv6, ipv6("2001:db8:2::7", protoFrag, fragment6(protoTCP, 0, tcp(30080))))),
		pass("selective: later IPv6 fragment passes (no ports)", uplink,
			ether(etherIPv6, ipv6("2001:db8:2::7", protoFrag, fragment6(protoTCP, 100, tcp(30080)))), counterPassedNotOwned),
		pass("selective: later IPv4 fragment passes (no ports)", uplink, ether(etherIPv4, ipv4Frag("198.51.100.7", protoTCP, 100, tcp(30080))), counterPassedNotOwned),
		redirect("selective: later IPv4 fragment to an owned prefix is redirected", uplink, ether(etherIPv4, ipv4Frag("10.244.3.4", protoTCP, 100, tcp(80)))),
		redirect("selective: ARP for an owned address is redirected", uplink, ether(etherARP, arp(1, "10.244.0.1"))),
		pass("selective: ARP for a not-owned address passes", uplink, ether(etherARP, arp(1, "198.51.100.7")), counterPassedNotOwned),
		pass("selective: ARP for a kernel-owned address passes", uplink, ether(etherARP, arp(1, kernelOwned4)), counterPassedKernelOwned),
		redirect("selective: neighbour solicitation for an owned target is redirected", uplink,
			ether(etherIPv6, ipv6(solicitedNode("fd00:10:244::5"), protoICMPv6, nd(135, "fd00:10:244::5")))),
		pass("selective: neighbour solicitation for a not-owned target passes", uplink,
			ether(etherIPv6, ipv6(solicitedNode("2001:db8:2::7"), protoICMPv6, nd(135, "2001:db8:2::7"))), counterPassedNotOwned),
		pass("selective: neighbour solicitation for a kernel-owned target passes", uplink,
			ether(etherIPv6, ipv6(solicitedNode(kernelOwned6), protoICMPv6, nd(135, kernelOwned6))), counterPassedKernelOwned),
		pass("selective: neighbour advertisement to an owned address with a not-owned target passes", uplink,
			ether(etherIPv6, ipv6("fd00:10:244::5", protoICMPv6, nd(136, "2001:db8:2::7"))), counterPassedNotOwned),
		pass("selective: non-IP ethertype passes", uplink, ether(etherLLDP, make([]byte, 46)), counterPassedNotOwned),
		{name: "selective: empty slot passes as no socket", iface: uplink, queue: 1, frame: ether(etherIPv4, ipv4("198.51.100.7", protoUDP, udp(6081))), action: xdpPass, counter: counterPassedNoSocket},
		{name: "selective: queue beyond the configured queues passes", iface: uplink, queue: 3, frame: ether(etherIPv4, ipv4("198.51.100.7", protoUDP, udp(6081))), action: xdpPass, counter: counterPassedQueueRange},

		// No configuration.
		pass("unconfigured interface passes", unconfigured, ether(etherIPv4, ipv4("203.0.113.9", protoTCP, tcp(80))), counterPassedNoConfig),

		// Malformed frames.
		pass("malformed: Ethernet header only, IPv4 ethertype", pod, ether(etherIPv4, nil), counterPassedMalformed),
		pass("malformed: truncated IPv4 header", pod, ether(etherIPv4, ipv4("203.0.113.9", protoTCP, nil)[:12]), counterPassedMalformed),
		pass("malformed: IPv4 header length below 5", pod, ether(etherIPv4, func() []byte { b := ipv4("203.0.113.9", protoTCP, tcp(80)); b[0] = 0x44; return b }()), counterPassedMalformed),
		pass("malformed: IPv6 version field says 4", pod, ether(etherIPv6, func() []byte { b := ipv6("2001:db8:1::9", protoTCP, tcp(80)); b[0] = 0x40; return b }()), counterPassedMalformed),
		pass("malformed: truncated IPv6 header", pod, ether(etherIPv6, ipv6("2001:db8:1::9", protoTCP, nil)[:30]), counterPassedMalformed),
		pass("malformed: truncated VLAN tag", pod, ether(etherVLAN, []byte{0}), counterPassedMalformed),
		pass("malformed: truncated ARP", pod, ether(etherARP, arp(1, kernelOwned4)[:20]), counterPassedMalformed),
		pass("malformed: truncated neighbour solicitation", pod, ether(etherIPv6, ipv6(solicitedNode(kernelOwned6), protoICMPv6, nd(135, kernelOwned6)[:12])), counterPassedMalformed),
		pass("malformed: truncated IPv6 extension header", uplink, ether(etherIPv6, ipv6("2001:db8:2::7", protoHopOpts, []byte{17, 0, 1})), counterPassedMalformed),
		pass("malformed: truncated UDP header on the uplink", uplink, ether(etherIPv4, ipv4("198.51.100.7", protoUDP, []byte{0, 1, 0x17, 0xc1})), counterPassedMalformed),
		pass("malformed: truncated TCP header on the uplink", uplink, ether(etherIPv4, ipv4("198.51.100.7", protoTCP, make([]byte, 19))), counterPassedMalformed),
	}
	ifindex := map[int]int{pod: r.pod, uplink: r.uplink, unconfigured: r.unconfigured}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r.expect(t, ifindex[c.iface], c.queue, c.frame, c.action, c.counter)
		})
	}
}

// TestPrivilegedProgramReconfiguration checks that map updates from Go change verdicts at once,
// in both directions.
func TestPrivilegedProgramReconfiguration(t *testing.T) {
	testutil.RequirePrivileged(t)
	r := newProgRig(t)
	toPod := ether(etherIPv4, ipv4("203.0.113.9", protoTCP, tcp(80)))
	toOwned := ether(etherIPv4, ipv4("10.244.3.4", protoTCP, tcp(80)))
	geneve := ether(etherIPv4, ipv4("198.51.100.7", protoUDP, udp(6081)))

	t.Run("deleted socket falls back to the kernel", func(t *testing.T) {
		if err := r.s.DeleteSocket(podSlotBase); err != nil {
			t.Fatal(err)
		}
		r.expect(t, r.pod, 0, toPod, xdpPass, counterPassedNoSocket)
	})
	t.Run("deleting an empty slot is not an error", func(t *testing.T) {
		if err := r.s.DeleteSocket(podSlotBase); err != nil {
			t.Fatalf("second delete: %v", err)
		}
	})
	t.Run("closing a socket empties its slot", func(t *testing.T) {
		fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.s.SetSocket(podSlotBase, fd); err != nil {
			t.Fatal(err)
		}
		r.expect(t, r.pod, 0, toPod, xdpRedirect, counterRedirected)
		unix.Close(fd) // what happens to every socket when the datapath process dies
		r.expect(t, r.pod, 0, toPod, xdpPass, counterPassedNoSocket)
	})
	outer := t // the restored socket must outlive the subtest
	t.Run("restored socket takes frames again", func(t *testing.T) {
		addSocket(outer, r.s, podSlotBase)
		r.expect(t, r.pod, 0, toPod, xdpRedirect, counterRedirected)
	})
	t.Run("deleted owned prefix passes", func(t *testing.T) {
		if err := r.s.DeleteOwnedPrefix(netip.MustParsePrefix(ownedCIDR4)); err != nil {
			t.Fatal(err)
		}
		r.expect(t, r.uplink, 0, toOwned, xdpPass, counterPassedNotOwned)
	})
	t.Run("owned prefix given with host bits matches", func(t *testing.T) {
		if err := r.s.AddOwnedPrefix(netip.MustParsePrefix("10.244.3.77/24")); err != nil {
			t.Fatal(err)
		}
		r.expect(t, r.uplink, 0, toOwned, xdpRedirect, counterRedirected)
	})
	t.Run("deleted tunnel port passes", func(t *testing.T) {
		if err := r.s.DeleteTunnelPort(6081); err != nil {
			t.Fatal(err)
		}
		r.expect(t, r.uplink, 0, geneve, xdpPass, counterPassedNotOwned)
	})
	t.Run("kernel-owned added later wins over mode all", func(t *testing.T) {
		if err := r.s.AddKernelOwned(netip.MustParsePrefix("203.0.113.0/24")); err != nil {
			t.Fatal(err)
		}
		r.expect(t, r.pod, 0, toPod, xdpPass, counterPassedKernelOwned)
		if err := r.s.DeleteKernelOwned(netip.MustParsePrefix("203.0.113.0/24")); err != nil {
			t.Fatal(err)
		}
		r.expect(t, r.pod, 0, toPod, xdpRedirect, counterRedirected)
	})
	t.Run("switching the uplink to mode all redirects SSH", func(t *testing.T) {
		ssh := ether(etherIPv4, ipv4("198.51.100.7", protoTCP, tcp(22)))
		r.expect(t, r.uplink, 0, ssh, xdpPass, counterPassedNotOwned)
		if err := r.s.SetInterface(r.uplink, InterfaceConfig{Mode: ModeAll, SlotBase: uplinkSlotBase, Queues: 2}); err != nil {
			t.Fatal(err)
		}
		r.expect(t, r.uplink, 0, ssh, xdpRedirect, counterRedirected)
	})
	t.Run("removed interface passes as unconfigured", func(t *testing.T) {
		if err := r.s.RemoveInterface(r.pod); err != nil {
			t.Fatal(err)
		}
		r.expect(t, r.pod, 0, toPod, xdpPass, counterPassedNoConfig)
		if err := r.s.RemoveInterface(r.pod); err != nil {
			t.Fatalf("second remove: %v", err)
		}
	})
	t.Run("listings show the current configuration", func(t *testing.T) {
		ifs, err := r.s.Interfaces()
		if err != nil {
			t.Fatal(err)
		}
		want := InterfaceConfig{Mode: ModeAll, SlotBase: uplinkSlotBase, Queues: 2}
		if len(ifs) != 1 || ifs[r.uplink] != want {
			t.Errorf("interfaces: got %+v, want only %d: %+v", ifs, r.uplink, want)
		}
		owned, err := r.s.OwnedPrefixes()
		if err != nil {
			t.Fatal(err)
		}
		if !samePrefixes(owned, "10.244.3.0/24", ownedCIDR6) {
			t.Errorf("owned prefixes: got %v", owned)
		}
		kown, err := r.s.KernelOwned()
		if err != nil {
			t.Fatal(err)
		}
		if !samePrefixes(kown, kernelOwned4+"/32", kernelOwned6+"/128") {
			t.Errorf("kernel-owned prefixes: got %v", kown)
		}
		ports, err := r.s.TunnelPorts()
		if err != nil {
			t.Fatal(err)
		}
		if len(ports) != 1 || ports[0] != 4789 {
			t.Errorf("tunnel ports: got %v, want [4789]", ports)
		}
	})
	t.Run("invalid configuration is rejected before the map", func(t *testing.T) {
		err := r.s.SetInterface(r.pod, InterfaceConfig{Mode: ModeAll, SlotBase: 15, Queues: 2})
		if !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("slots beyond MaxSockets: got %v, want ErrInvalidConfig", err)
		}
		if err := r.s.SetSocket(16, 0); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("socket slot beyond MaxSockets: got %v, want ErrInvalidConfig", err)
		}
	})
	t.Run("a non-socket fd is refused by the socket map", func(t *testing.T) {
		if err := r.s.SetSocket(3, 0); err == nil {
			t.Fatal("SetSocket with stdin's fd: got nil error")
		}
	})
}

func samePrefixes(got []netip.Prefix, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	set := map[netip.Prefix]bool{}
	for _, p := range got {
		set[p] = true
	}
	for _, w := range want {
		if !set[netip.MustParsePrefix(w)] {
			return false
		}
	}
	return true
}

// BenchmarkPrivilegedProgram measures the program's cost per frame with BPF_PROG_TEST_RUN
// (the kernel repeats the frame and reports the mean), for the common verdicts.
func BenchmarkPrivilegedProgram(b *testing.B) {
	testutil.RequirePrivileged(b)
	s := loadWithRules(b, 16)
	addSocket(b, s, 0)
	// A test run without a context uses the loopback device (ifindex 1) of the caller's
	// namespace as the ingress interface: each case configures that ifindex in this private
	// map set.
	for _, bc := range []struct {
		name  string
		mode  Mode
		frame []byte
	}{
		{"all/redirect", ModeAll, ether(etherIPv4, ipv4("203.0.113.9", protoTCP, tcp(80)))},
		{"all/kernel-owned", ModeAll, ether(etherIPv4, ipv4(kernelOwned4, protoTCP, tcp(80)))},
		{"selective/geneve", ModeSelective, ether(etherIPv4, ipv4("198.51.100.7", protoUDP, udp(6081)))},
		{"selective/not-owned-ipv6", ModeSelective, ether(etherIPv6, ipv6("2001:db8:2::7", protoTCP, tcp(22)))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if err := s.SetInterface(1, InterfaceConfig{Mode: bc.mode}); err != nil {
				b.Fatal(err)
			}
			const repeat = 10000
			b.ReportAllocs()
			var total float64
			for b.Loop() {
				_, d, err := s.objs.Steer.Benchmark(bc.frame, repeat, nil)
				if err != nil {
					b.Fatal(err)
				}
				total += float64(d.Nanoseconds())
			}
			nsPerPkt := total / float64(b.N)
			b.ReportMetric(nsPerPkt, "ns/pkt")
			b.ReportMetric(1e9/nsPerPkt, "pkts/s")
		})
	}
}
