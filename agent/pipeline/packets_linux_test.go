package pipeline

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/packet"
	"github.com/sluicenet/sluice/internal/ovstest"
	"github.com/sluicenet/sluice/internal/testutil"
)

// TestPrivilegedOVSPackets runs real frames through ovs-vswitchd's userspace datapath with the
// built flows (real conntrack, not ofproto/trace's model): a connection from pod A to pod B and
// its reply, a routed packet, the ARP answer for the gateway, and spoofed frames that must
// come out nowhere.
func TestPrivilegedOVSPackets(t *testing.T) {
	testutil.RequirePrivileged(t)
	opts := ovstest.DefaultOptions()
	opts.Ports = nil
	for i := uint32(1); i <= 6; i++ {
		opts.Ports = append(opts.Ports, ovstest.Port{Name: fmt.Sprintf("p%d", i), OFPort: i})
	}
	opts.Capture = true
	s := ovstest.Start(t, opts)
	node, a, b := testFlows(t)
	s.AddFlows(t, printOrdered(append(append(node, a...), b...)))

	seen := map[string]int{} // frames already read per port
	// expect injects a frame on port in and waits until port out has transmitted one more
	// frame; then no other port may have transmitted anything (frames are handled in order,
	// so a dropped frame injected before shows up nowhere).
	expect := func(t *testing.T, in, match, out string, want map[flow.Field]uint64) {
		t.Helper()
		if err := s.Inject(in, frame(t, match)); err != nil {
			t.Fatal(err)
		}
		var got [][]byte
		for range 200 { // the datapath thread transmits asynchronously
			got, _ = s.Captured(out)
			if len(got) > seen[out] {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if len(got) != seen[out]+1 {
			t.Fatalf("%s transmitted %d new frames, want 1", out, len(got)-seen[out])
		}
		seen[out] = len(got)
		var k flow.Key
		var info packet.Info
		packet.Extract(got[len(got)-1], 0, &k, &info)
		for f, v := range want {
			if g := k.Get(f); g != v {
				t.Errorf("frame on %s: %s = %#x, want %#x", out, f.Info().Name, g, v)
			}
		}
		for _, p := range opts.Ports {
			if p.Name == out {
				continue
			}
			if c, _ := s.Captured(p.Name); len(c) != seen[p.Name] {
				t.Errorf("%s transmitted %d unexpected frames", p.Name, len(c)-seen[p.Name])
				seen[p.Name] = len(c)
			}
		}
	}
	inject := func(t *testing.T, in, match string) {
		t.Helper()
		if err := s.Inject(in, frame(t, match)); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("ARP for the gateway is answered", func(t *testing.T) {
		expect(t, "p3", "arp,arp_op=1,dl_src="+macA+",dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.10.0.3,arp_tpa=10.10.0.1,arp_sha="+macA,
			"p3", map[flow.Field]uint64{flow.FieldArpOp: 2, flow.FieldArpSha: mac(macGW), flow.FieldArpSpa: ip4("10.10.0.1"), flow.FieldEthDst: mac(macA)})
	})
	t.Run("pod A to pod B TCP and the reply", func(t *testing.T) {
		expect(t, "p3", "tcp,tcp_flags=0x002,dl_src="+macA+",dl_dst="+macB+",nw_src=10.10.0.3,nw_dst=10.10.0.4,tp_src=40000,tp_dst=80,nw_ttl=64",
			"p4", map[flow.Field]uint64{flow.FieldEthDst: mac(macB), flow.FieldNwTTL: 64})
		expect(t, "p4", "tcp,tcp_flags=0x012,dl_src="+macB+",dl_dst="+macA+",nw_src=10.10.0.4,nw_dst=10.10.0.3,tp_src=80,tp_dst=40000,nw_ttl=64",
			"p3", map[flow.Field]uint64{flow.FieldEthDst: mac(macA)})
		out, err := s.AppCtl("dpctl/dump-conntrack", "zone=65520")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "src=10.10.0.3,dst=10.10.0.4,sport=40000,dport=80") || !strings.Contains(out, "mark=3") {
			t.Errorf("conntrack zone 65520 lacks the A→B connection with mark=3 (ConnSource pod):\n%s", out)
		}
	})
	t.Run("routed pod A to pod B", func(t *testing.T) {
		expect(t, "p3", "icmp,icmp_type=8,dl_src="+macA+",dl_dst="+macGW+",nw_src=10.10.0.3,nw_dst=10.10.0.4,nw_ttl=64",
			"p4", map[flow.Field]uint64{flow.FieldEthSrc: mac(macGW), flow.FieldEthDst: mac(macB), flow.FieldNwTTL: 63})
	})
	t.Run("spoofed frames come out nowhere", func(t *testing.T) {
		inject(t, "p3", "icmp,icmp_type=8,dl_src="+macA+",dl_dst="+macB+",nw_src=10.10.0.4,nw_dst=10.10.0.4,nw_ttl=64")
		inject(t, "p3", "icmp,icmp_type=8,dl_src=0a:58:0a:0a:00:99,dl_dst="+macB+",nw_src=10.10.0.3,nw_dst=10.10.0.4,nw_ttl=64")
		inject(t, "p3", "arp,arp_op=1,dl_src="+macA+",dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.10.0.4,arp_tpa=10.10.0.1,arp_sha="+macA)
		// A good frame after them: when it has arrived, the spoofed ones were handled.
		expect(t, "p2", "icmp,icmp_type=8,dl_src="+macGW+",dl_dst="+macA+",nw_src=10.10.0.1,nw_dst=10.10.0.3,nw_ttl=64",
			"p3", map[flow.Field]uint64{flow.FieldEthDst: mac(macA)})
	})
}
