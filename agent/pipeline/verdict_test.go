package pipeline

import (
	"fmt"
	"testing"

	"github.com/sluicenet/sluice/datapath/classifier"
	"github.com/sluicenet/sluice/datapath/conntrack"
	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/packet"
	dp "github.com/sluicenet/sluice/datapath/pipeline"
)

// loadTestPipeline loads NodeFlows and both pods' flows into Sluice's datapath pipeline with
// ports 1..6, as the agent would program the switch.
func loadTestPipeline(t *testing.T) *dp.Pipeline {
	t.Helper()
	node, a, b := testFlows(t)
	p := dp.New(dp.Options{Ports: []uint32{1, 2, 3, 4, 5, 6}})
	if err := p.AddFlows(append(append(node, a...), b...)); err != nil {
		t.Fatalf("AddFlows: %v", err)
	}
	return p
}

// frame builds a frame with the header fields of match (ovs-ofctl match syntax).
func frame(t *testing.T, match string) []byte {
	t.Helper()
	f, err := flow.ParseFlow(match + ",actions=drop")
	if err != nil {
		t.Fatalf("packet %q: %v", match, err)
	}
	return packet.Build(&f.Match.Key, []byte("payload"))
}

// delivery is what a packet's run should produce: one output on Port whose frame has the
// given field values (fields not named are not checked), or no output at all (Port 0).
type delivery struct {
	Port   uint32
	Fields map[flow.Field]uint64
}

func mac(s string) uint64 {
	var v uint64
	for _, b := range mustMAC(s) {
		v = v<<8 | uint64(b)
	}
	return v
}

func ip4(s string) uint64 {
	var a, b, c, d uint64
	fmt.Sscanf(s, "%d.%d.%d.%d", &a, &b, &c, &d)
	return a<<24 | b<<16 | c<<8 | d
}

// send runs one packet through p and checks the delivery.
func send(t *testing.T, p *dp.Pipeline, inPort uint32, match string, want delivery) {
	t.Helper()
	tr, res := p.Trace(frame(t, match), inPort, dp.TraceOptions{})
	if want.Port == 0 {
		if len(res.Outputs) != 0 {
			t.Errorf("in_port=%d %s: output to port %d, want dropped\n%s", inPort, match, res.Outputs[0].Port, tr)
		}
		return
	}
	if len(res.Outputs) != 1 || res.Outputs[0].Port != want.Port {
		var ports []uint32
		for _, o := range res.Outputs {
			ports = append(ports, o.Port)
		}
		t.Errorf("in_port=%d %s: outputs on ports %v, want exactly port %d\n%s", inPort, match, ports, want.Port, tr)
		return
	}
	var k flow.Key
	var info packet.Info
	if r := packet.Extract(res.Outputs[0].Frame, want.Port, &k, &info); r != packet.ReasonNone {
		t.Fatalf("output frame does not parse: %v", r)
	}
	for f, v := range want.Fields {
		if got := k.Get(f); got != v {
			t.Errorf("in_port=%d %s: output %s = %#x, want %#x", inPort, match, f.Info().Name, got, v)
		}
	}
}

const (
	macA  = "0a:58:0a:0a:00:03"
	macB  = "0a:58:0a:0a:00:04"
	macGW = "0e:00:00:00:00:01"
)

// verdictCase is one packet sent into the test node's pipeline and what must become of it.
type verdictCase struct {
	name   string
	inPort uint32
	match  string
	want   delivery
}

// verdictCases are checked on Sluice's pipeline (TestVerdicts) and on a real ovs-vswitchd
// (TestPrivilegedOVSAgrees).
var verdictCases = []verdictCase{
	{"pod A to pod B ICMP on the same subnet is switched", 3,
		"icmp,icmp_type=8,dl_src=" + macA + ",dl_dst=" + macB + ",nw_src=10.10.0.3,nw_dst=10.10.0.4,nw_ttl=64",
		delivery{4, map[flow.Field]uint64{flow.FieldEthDst: mac(macB), flow.FieldEthSrc: mac(macA), flow.FieldNwTTL: 64}}},
	{"pod A to pod B TCP through the gateway MAC is routed", 3,
		"tcp,tcp_flags=0x002,dl_src=" + macA + ",dl_dst=" + macGW + ",nw_src=10.10.0.3,nw_dst=10.10.0.4,tp_src=40000,tp_dst=80,nw_ttl=64",
		delivery{4, map[flow.Field]uint64{flow.FieldEthDst: mac(macB), flow.FieldEthSrc: mac(macGW), flow.FieldNwTTL: 63}}},
	{"pod A to the gateway IP", 3,
		"icmp,icmp_type=8,dl_src=" + macA + ",dl_dst=" + macGW + ",nw_src=10.10.0.3,nw_dst=10.10.0.1,nw_ttl=64",
		delivery{2, map[flow.Field]uint64{flow.FieldEthDst: mac(macGW), flow.FieldNwTTL: 64}}},
	{"pod A to the outside goes to the gateway", 3,
		"udp,dl_src=" + macA + ",dl_dst=" + macGW + ",nw_src=10.10.0.3,nw_dst=203.0.113.5,udp_src=5000,udp_dst=53,nw_ttl=64",
		delivery{2, map[flow.Field]uint64{flow.FieldEthDst: mac(macGW), flow.FieldNwDst: ip4("203.0.113.5")}}},
	{"host through the gateway to pod B", 2,
		"tcp,tcp_flags=0x002,dl_src=" + macGW + ",dl_dst=" + macB + ",nw_src=10.10.0.1,nw_dst=10.10.0.4,tp_src=41000,tp_dst=8080,nw_ttl=64",
		delivery{4, map[flow.Field]uint64{flow.FieldEthDst: mac(macB), flow.FieldNwTTL: 64}}},
	{"node IP through the gateway to pod A", 2,
		"icmp,icmp_type=8,dl_src=" + macGW + ",dl_dst=" + macA + ",nw_src=192.0.2.11,nw_dst=10.10.0.3,nw_ttl=64",
		delivery{3, map[flow.Field]uint64{flow.FieldEthDst: mac(macA)}}},
	{"ARP from pod A for the gateway is answered with the gateway MAC", 3,
		"arp,arp_op=1,dl_src=" + macA + ",dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.10.0.3,arp_tpa=10.10.0.1,arp_sha=" + macA,
		delivery{3, map[flow.Field]uint64{flow.FieldArpOp: 2, flow.FieldEthSrc: mac(macGW), flow.FieldEthDst: mac(macA),
			flow.FieldArpSha: mac(macGW), flow.FieldArpSpa: ip4("10.10.0.1"), flow.FieldArpTha: mac(macA), flow.FieldArpTpa: ip4("10.10.0.3")}}},
	{"ARP from pod A for pod B is answered with B's MAC", 3,
		"arp,arp_op=1,dl_src=" + macA + ",dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.10.0.3,arp_tpa=10.10.0.4,arp_sha=" + macA,
		delivery{3, map[flow.Field]uint64{flow.FieldArpOp: 2, flow.FieldArpSha: mac(macB), flow.FieldArpSpa: ip4("10.10.0.4")}}},
	{"ARP from the host for pod B is answered with B's MAC", 2,
		"arp,arp_op=1,dl_src=" + macGW + ",dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.10.0.1,arp_tpa=10.10.0.4,arp_sha=" + macGW,
		delivery{2, map[flow.Field]uint64{flow.FieldArpOp: 2, flow.FieldArpSha: mac(macB), flow.FieldEthDst: mac(macGW)}}},
	{"ARP reply from the host to pod A is forwarded", 2,
		"arp,arp_op=2,dl_src=" + macGW + ",dl_dst=" + macA + ",arp_spa=10.10.0.1,arp_tpa=10.10.0.3,arp_sha=" + macGW + ",arp_tha=" + macA,
		delivery{3, map[flow.Field]uint64{flow.FieldArpOp: 2}}},
	{"ARP request for an unknown address is not flooded", 3,
		"arp,arp_op=1,dl_src=" + macA + ",dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.10.0.3,arp_tpa=10.10.0.99,arp_sha=" + macA,
		delivery{}},
	{"spoofed source IP from pod A is dropped", 3,
		"icmp,icmp_type=8,dl_src=" + macA + ",dl_dst=" + macB + ",nw_src=10.10.0.4,nw_dst=10.10.0.4,nw_ttl=64", delivery{}},
	{"spoofed source MAC from pod A is dropped", 3,
		"icmp,icmp_type=8,dl_src=0a:58:0a:0a:00:99,dl_dst=" + macB + ",nw_src=10.10.0.3,nw_dst=10.10.0.4,nw_ttl=64", delivery{}},
	{"pod A's IP from pod B's port is dropped", 4,
		"icmp,icmp_type=8,dl_src=" + macA + ",dl_dst=" + macGW + ",nw_src=10.10.0.3,nw_dst=10.10.0.1,nw_ttl=64", delivery{}},
	{"spoofed ARP sender IP from pod A is dropped", 3,
		"arp,arp_op=1,dl_src=" + macA + ",dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.10.0.4,arp_tpa=10.10.0.1,arp_sha=" + macA, delivery{}},
	{"spoofed ARP sender MAC from pod A is dropped", 3,
		"arp,arp_op=1,dl_src=" + macA + ",dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.10.0.3,arp_tpa=10.10.0.1,arp_sha=" + macB, delivery{}},
	{"packet from an unknown port is dropped", 5,
		"icmp,icmp_type=8,dl_src=0a:58:0a:0a:00:05,dl_dst=" + macB + ",nw_src=10.10.0.5,nw_dst=10.10.0.4,nw_ttl=64", delivery{}},
	{"routed packet to a pod CIDR address without a pod is dropped", 3,
		"icmp,icmp_type=8,dl_src=" + macA + ",dl_dst=" + macGW + ",nw_src=10.10.0.3,nw_dst=10.10.0.99,nw_ttl=64", delivery{}},
	{"host to a pod CIDR address without a pod is dropped, not looped", 2,
		"icmp,icmp_type=8,dl_src=" + macGW + ",dl_dst=0a:58:0a:0a:00:63,nw_src=10.10.0.1,nw_dst=10.10.0.99,nw_ttl=64", delivery{}},
	{"IPv6 is dropped (not supported yet)", 3,
		"icmp6,icmpv6_type=128,dl_src=" + macA + ",dl_dst=" + macB + ",ipv6_src=fd00::3,ipv6_dst=fd00::4", delivery{}},
}

func TestVerdicts(t *testing.T) {
	for _, c := range verdictCases {
		t.Run(c.name, func(t *testing.T) {
			send(t, loadTestPipeline(t), c.inPort, c.match, c.want)
		})
	}
}

// TestVerdictConnection checks conntrack across both directions: the reply of a connection
// pod A opened to pod B comes back to A, and the connection was committed with its source.
func TestVerdictConnection(t *testing.T) {
	p := loadTestPipeline(t)
	send(t, p, 3, "tcp,tcp_flags=0x002,dl_src="+macA+",dl_dst="+macB+",nw_src=10.10.0.3,nw_dst=10.10.0.4,tp_src=40000,tp_dst=80,nw_ttl=64",
		delivery{4, map[flow.Field]uint64{flow.FieldEthDst: mac(macB)}})
	send(t, p, 4, "tcp,tcp_flags=0x012,dl_src="+macB+",dl_dst="+macA+",nw_src=10.10.0.4,nw_dst=10.10.0.3,tp_src=80,tp_dst=40000,nw_ttl=64",
		delivery{3, map[flow.Field]uint64{flow.FieldEthDst: mac(macA)}})
	var entries []conntrack.Entry
	p.Conntrack().Dump(conntrack.Filter{}, func(e conntrack.Entry) bool { entries = append(entries, e); return true })
	if len(entries) != 1 {
		t.Fatalf("conntrack holds %d connections, want 1", len(entries))
	}
	if e := entries[0]; e.Zone != CTZone || e.Mark&0xf != SourcePod {
		t.Errorf("connection zone %d mark %#x, want zone %d and ConnSource %d", e.Zone, e.Mark, CTZone, SourcePod)
	}
}

// TestVerdictPodRemoved deletes pod B's flows with PodFilter, as the agent does on CNI DEL,
// and checks B is unreachable while A still works.
func TestVerdictPodRemoved(t *testing.T) {
	p := loadTestPipeline(t)
	f := PodFilter(4)
	n := p.DeleteFlows(0, true, classifier.Filter{Cookie: f.Cookie, CookieMask: f.CookieMask})
	_, _, b := testFlows(t)
	if n != len(b) {
		t.Errorf("PodFilter(4) deleted %d flows, want pod B's %d", n, len(b))
	}
	send(t, p, 3, "icmp,icmp_type=8,dl_src="+macA+",dl_dst="+macB+",nw_src=10.10.0.3,nw_dst=10.10.0.4,nw_ttl=64", delivery{})
	send(t, p, 4, "icmp,icmp_type=8,dl_src="+macB+",dl_dst="+macGW+",nw_src=10.10.0.4,nw_dst=10.10.0.1,nw_ttl=64", delivery{})
	send(t, p, 3, "icmp,icmp_type=8,dl_src="+macA+",dl_dst="+macGW+",nw_src=10.10.0.3,nw_dst=10.10.0.1,nw_ttl=64", delivery{Port: 2})
}
