package bpf

import (
	"testing"

	"github.com/sluicenet/sluice/internal/testutil"
)

// FuzzProgram runs the steering program on arbitrary frames (through BPF_PROG_TEST_RUN) and
// checks its contract: the action is XDP_PASS or XDP_REDIRECT, never a drop or an abort, and
// exactly one verdict counter moves per frame, matching the action. It needs root like the
// other privileged tests; the ingress interface is the loopback device (a test run without a
// context), configured in the program's private maps with the mode the input selects.
func FuzzProgram(f *testing.F) {
	testutil.RequirePrivileged(f)
	s := loadWithRules(f, 4)
	addSocket(f, s, 0)
	for _, frame := range [][]byte{
		ether(etherIPv4, ipv4("198.51.100.7", protoUDP, udp(6081))),
		ether(etherIPv6, ipv6("2001:db8:2::7", protoHopOpts, hopByHop(protoTCP, tcp(30080)))),
		ether(etherARP, arp(1, kernelOwned4)),
		ether(etherIPv6, ipv6(solicitedNode(kernelOwned6), protoICMPv6, nd(135, kernelOwned6))),
		ether(etherVLAN, vlanTag(etherIPv4, ipv4("10.244.3.4", protoTCP, tcp(80)))),
	} {
		f.Add(frame, true)
		f.Add(frame, false)
	}
	const lo = 1 // ingress of a context-less XDP test run
	f.Fuzz(func(t *testing.T, frame []byte, selective bool) {
		if len(frame) < 14 || len(frame) > 1500 {
			return // the kernel refuses test runs shorter than an Ethernet header
		}
		cfg := InterfaceConfig{Mode: ModeAll}
		if selective {
			cfg = InterfaceConfig{Mode: ModeSelective, NodePortMin: 30000, NodePortMax: 32767}
		}
		if err := s.SetInterface(lo, cfg); err != nil {
			t.Fatal(err)
		}
		before, err := s.Counters()
		if err != nil {
			t.Fatal(err)
		}
		action, _, err := s.objs.Steer.Test(frame)
		if err != nil {
			t.Fatal(err)
		}
		after, err := s.Counters()
		if err != nil {
			t.Fatal(err)
		}
		moved := 0
		for i := range numCounters {
			if d := *after.field(i) - *before.field(i); d != 0 {
				moved++
				if d != 1 {
					t.Errorf("counter %s moved by %d", counterName(i), d)
				}
				if (i == counterRedirected) != (action == xdpRedirect) {
					t.Errorf("action %s but counter %s moved", actionName(action), counterName(i))
				}
			}
		}
		if moved != 1 {
			t.Errorf("%d counters moved, want exactly 1", moved)
		}
		if action != xdpPass && action != xdpRedirect {
			t.Errorf("action: got %s, want XDP_PASS or XDP_REDIRECT", actionName(action))
		}
	})
}
