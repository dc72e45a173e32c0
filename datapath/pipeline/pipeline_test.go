package pipeline

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/conntrack"
	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/packet"
)

// newTestPipeline builds a pipeline from flows (and groups) in ovs-ofctl syntax, ports 1..8.
func newTestPipeline(t testing.TB, flows, groups string, opts ...func(*Options)) *Pipeline {
	t.Helper()
	return newSetPipeline(t, flows, groups, "", opts...)
}

// newSetPipeline is newTestPipeline with meters (add-meter syntax, one per line) too.
func newSetPipeline(t testing.TB, flows, groups, meters string, opts ...func(*Options)) *Pipeline {
	t.Helper()
	o := Options{Ports: []uint32{1, 2, 3, 4, 5, 6, 7, 8}}
	for _, f := range opts {
		f(&o)
	}
	p := New(o)
	if meters != "" {
		for _, line := range strings.Split(meters, "\n") {
			if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			m, err := flow.ParseMeter(line)
			if err != nil {
				t.Fatal(err)
			}
			p.AddMeters([]*flow.MeterEntry{m})
		}
	}
	if groups != "" {
		gs, err := flow.ParseGroups(strings.NewReader(groups))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AddGroups(gs); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := flow.ParseFlows(strings.NewReader(flows))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddFlows(fs); err != nil {
		t.Fatal(err)
	}
	return p
}

func outputsOf(res *Result) []uint32 {
	var ps []uint32
	for _, o := range res.Outputs {
		ps = append(ps, o.Port)
	}
	return ps
}

func sameUint32s(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestProcessRewritesFrame(t *testing.T) {
	p := newTestPipeline(t, `
table=0,tcp,nw_dst=10.0.0.2,actions=set_field:02:00:00:00:00:99->eth_dst,dec_ttl,mod_nw_dst:10.0.0.99,mod_tp_dst:8080,output:2
table=0,udp,actions=push_vlan:0x8100,set_field:4101->vlan_vid,output:3,pop_vlan,output:4
`, "")
	r := p.NewRunner()
	var res Result
	in := tcp4("x", 1, "10.0.0.1", "10.0.0.2", 1000, 80, 0x020000000001)
	r.Process(in.frame, 1, &res)
	if got := outputsOf(&res); !sameUint32s(got, []uint32{2}) {
		t.Fatalf("outputs: got %v, want [2]", got)
	}
	var k flow.Key
	var info packet.Info
	if reason := packet.Extract(res.Outputs[0].Frame, 2, &k, &info); reason != packet.ReasonNone {
		t.Fatalf("output frame malformed: %v", reason)
	}
	for _, c := range []struct {
		f    flow.Field
		want uint64
	}{{flow.FieldEthDst, 0x020000000099}, {flow.FieldNwTTL, 63}, {flow.FieldNwDst, 0x0a000063}, {flow.FieldTpDst, 8080}} {
		if got := k.Get(c.f); got != c.want {
			t.Errorf("%v: got %#x, want %#x", c.f, got, c.want)
		}
	}
	if ipOK, l4OK := packet.VerifyChecksums(res.Outputs[0].Frame, &info); !ipOK || !l4OK {
		t.Errorf("checksums after rewrite: ip %v, l4 %v", ipOK, l4OK)
	}
	if in.frame[14+8] != 64 {
		t.Error("Process modified the caller's frame")
	}

	u := udp4("u", 1, "10.0.0.1", "10.0.0.2", 1, 2, 0x020000000001)
	r.Process(u.frame, 1, &res)
	if got := outputsOf(&res); !sameUint32s(got, []uint32{3, 4}) {
		t.Fatalf("outputs: got %v, want [3 4]", got)
	}
	if len(res.Outputs[0].Frame) != len(u.frame)+4 || len(res.Outputs[1].Frame) != len(u.frame) {
		t.Errorf("frame lengths: got %d and %d, want %d and %d", len(res.Outputs[0].Frame), len(res.Outputs[1].Frame), len(u.frame)+4, len(u.frame))
	}
	packet.Extract(res.Outputs[0].Frame, 3, &k, &info)
	if got := k.Get(flow.FieldVLANTCI); got != 0x1005 {
		t.Errorf("vlan_tci on port 3: got %#x, want 0x1005", got)
	}
}

func TestOutputRules(t *testing.T) {
	p := newTestPipeline(t, `
table=0,in_port=1,actions=output:1,output:2,output:9,IN_PORT,LOCAL
table=0,in_port=2,actions=ALL
table=0,in_port=3,actions=CONTROLLER:64,controller(reason=no_match,userdata=01.02)
`, "")
	r := p.NewRunner()
	var res Result
	for _, tc := range []struct {
		name   string
		inPort uint32
		want   []uint32
	}{
		{"InPortSkippedUnlessIN_PORT", 1, []uint32{2, 1, flow.PortLocal}},
		{"AllExceptInput", 2, []uint32{1, 3, 4, 5, 6, 7, 8, flow.PortLocal}},
		{"Controller", 3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tcp4("x", tc.inPort, "10.0.0.1", "10.0.0.2", 1, 2, 0x020000000001).frame
			r.Process(f, tc.inPort, &res)
			if got := outputsOf(&res); !sameUint32s(got, tc.want) {
				t.Errorf("outputs: got %v, want %v", got, tc.want)
			}
		})
	}
	if len(res.PacketIns) != 2 || res.PacketIns[0].Reason != flow.ReasonAction ||
		res.PacketIns[1].Reason != flow.ReasonNoMatch || string(res.PacketIns[1].UserData) != "\x01\x02" {
		t.Errorf("packet-ins: got %+v", res.PacketIns)
	}
}

// The bucket scores ovs-vswitchd 3.1 printed for group 1 of TestPrivilegedOVSHarness
// (selection_method=hash,fields(ip_src,ip_dst), two buckets of weight 100) for UDP packets
// from 10.0.0.1..4 to 10.0.0.3.
func TestSelectHashMatchesOVS(t *testing.T) {
	g, err := flow.ParseGroup("group_id=1,type=select,selection_method=hash,fields(ip_src,ip_dst),bucket=bucket_id:0,weight:100,actions=output:1,bucket=bucket_id:1,weight:100,actions=output:2")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		src        uint64
		s0, s1     uint32
		wantBucket int
	}{
		{0x0a000001, 1043100, 5612500, 1},
		{0x0a000002, 5915500, 2040100, 0},
		{0x0a000003, 3511200, 4254300, 1},
		{0x0a000004, 5444400, 2465300, 0},
	} {
		var k flow.Key
		k.Set(flow.FieldEthType, flow.EthTypeIPv4)
		k.Set(flow.FieldNwProto, flow.IPProtoUDP)
		k.Set(flow.FieldNwSrc, tc.src)
		k.Set(flow.FieldNwDst, 0x0a000003)
		basis := selectHashBasis(g, &k)
		if s0, s1 := bucketScore(&g.Buckets[0], basis), bucketScore(&g.Buckets[1], basis); s0 != tc.s0 || s1 != tc.s1 {
			t.Errorf("src %#x: scores %d/%d, want OVS's %d/%d", tc.src, s0, s1, tc.s0, tc.s1)
		}
		if b := bestBucket(g, basis); b != tc.wantBucket {
			t.Errorf("src %#x: bucket %d, want %d", tc.src, b, tc.wantBucket)
		}
	}
}

func TestRejectsBadFlows(t *testing.T) {
	p := New(Options{})
	for _, tc := range []struct {
		name, flow string
		is         error
	}{
		{"UnknownGroup", "table=0,actions=group:7", ErrUnknownGroup},
		{"BackwardGoto", "table=3,actions=goto_table:1", nil},
		{"DecTTLWithoutIP", "table=0,actions=dec_ttl", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := flow.ParseFlow(tc.flow)
			if err != nil {
				return // the parser already refused it: fine
			}
			err = p.AddFlows([]*flow.Flow{f})
			if err == nil {
				t.Fatalf("accepted %q", tc.flow)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), "actions=") {
				t.Errorf("error %q does not name the flow", err)
			}
		})
	}
	if n := len(p.Flows()); n != 0 {
		t.Errorf("%d flows after rejected adds, want 0", n)
	}
}

func TestMalformedFramesCounted(t *testing.T) {
	p := newTestPipeline(t, "table=0,actions=output:2", "")
	r := p.NewRunner()
	var res Result
	good := tcp4("x", 1, "10.0.0.1", "10.0.0.2", 1, 2, 0x020000000001).frame
	for _, tc := range []struct {
		name  string
		frame []byte
		want  packet.DropReason
	}{
		{"Runt", good[:10], packet.DropEthernetTruncated},
		{"IPv4Truncated", good[:14+12], packet.DropIPv4Truncated},
		{"TCPTruncated", truncatedTCP(good), packet.DropL4Truncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := p.ParseDrops(tc.want)
			r.Process(tc.frame, 1, &res)
			if res.ParseDrop != tc.want || len(res.Outputs) != 0 {
				t.Errorf("got drop %v and %d outputs, want %v and none", res.ParseDrop, len(res.Outputs), tc.want)
			}
			if p.ParseDrops(tc.want) != before+1 {
				t.Errorf("counter %v: got %d, want %d", tc.want, p.ParseDrops(tc.want), before+1)
			}
		})
	}
}

func TestTranslationLimits(t *testing.T) {
	p := newTestPipeline(t, `
table=0,in_port=1,actions=output:3,resubmit(,1)
table=1,actions=resubmit(,1)
table=0,in_port=2,tcp,actions=ct(table=2)
table=2,tcp,actions=ct(table=2)
`, "")
	r := p.NewRunner()
	var res Result
	r.Process(tcp4("x", 1, "10.0.0.1", "10.0.0.2", 1, 2, 1).frame, 1, &res)
	if res.Drop != DropRecursion || len(res.Outputs) != 0 || p.Drops(DropRecursion) != 1 {
		t.Errorf("loop: drop %v, outputs %v, counter %d; want recursion_too_deep, none, 1", res.Drop, outputsOf(&res), p.Drops(DropRecursion))
	}
	r.Process(tcp4("x", 2, "10.0.0.1", "10.0.0.2", 1, 2, 1).frame, 2, &res)
	if res.Drop != DropRecircDepth || p.Drops(DropRecircDepth) != 1 {
		t.Errorf("recirculation loop: drop %v, counter %d; want recirc_too_deep, 1", res.Drop, p.Drops(DropRecircDepth))
	}
}

// A firewall with DNAT in front of a service: the connection is tracked by the real
// conntrack table, replies are translated back, and established packets take the cache.
const natFlows = `
table=0,priority=100,tcp,actions=ct(table=1,zone=5,nat)
table=1,priority=100,ct_state=+new+trk,tcp,in_port=1,nw_dst=10.96.0.1,tp_dst=80,actions=ct(commit,table=2,zone=5,nat(dst=10.0.0.2:8080),exec(set_field:0x7->ct_mark))
table=1,priority=100,ct_state=+est+trk,tcp,actions=goto_table:2
table=1,priority=90,ct_state=+new+trk,tcp,in_port=2,actions=drop
table=2,priority=100,ct_mark=0x7,in_port=1,actions=output:2
table=2,priority=100,ct_mark=0x7,in_port=2,actions=output:1
`

func tcpSeg(name string, inPort uint32, src, dst string, sport, dport uint16, flags uint64, seq, ack uint32) testPacket {
	return tcpSegFrom(tcp4(name, inPort, src, dst, sport, dport, 0x020000000001), flags, seq, ack)
}

// natHandshake runs SYN and SYN-ACK through natFlows and returns the client's ACK, which then
// takes the cached path.
func natHandshake(r *Runner) []byte {
	var res Result
	r.Process(tcpSeg("syn", 1, "10.0.0.1", "10.96.0.1", 3333, 80, 0x002, 100, 0).frame, 1, &res)
	r.Process(tcpSeg("synack", 2, "10.0.0.2", "10.0.0.1", 8080, 3333, 0x012, 500, 101).frame, 2, &res)
	ack := tcpSeg("ack", 1, "10.0.0.1", "10.96.0.1", 3333, 80, 0x010, 101, 501).frame
	r.Process(ack, 1, &res)
	return ack
}

func TestConntrackNATRoundTrip(t *testing.T) {
	p := newTestPipeline(t, natFlows, "")
	r := p.NewRunner()
	var res Result
	check := func(name string, pk testPacket, wantPort uint32, wantSrc, wantDst uint64, wantSport, wantDport uint64) {
		t.Helper()
		r.Process(pk.frame, pk.inPort, &res)
		if len(res.Outputs) != 1 || res.Outputs[0].Port != wantPort {
			t.Fatalf("%s: outputs %v, want [%d]", name, outputsOf(&res), wantPort)
		}
		var k flow.Key
		var info packet.Info
		packet.Extract(res.Outputs[0].Frame, wantPort, &k, &info)
		if k.Get(flow.FieldNwSrc) != wantSrc || k.Get(flow.FieldNwDst) != wantDst ||
			k.Get(flow.FieldTpSrc) != wantSport || k.Get(flow.FieldTpDst) != wantDport {
			t.Errorf("%s: out %#x:%d -> %#x:%d, want %#x:%d -> %#x:%d", name,
				k.Get(flow.FieldNwSrc), k.Get(flow.FieldTpSrc), k.Get(flow.FieldNwDst), k.Get(flow.FieldTpDst),
				wantSrc, wantSport, wantDst, wantDport)
		}
		if ipOK, l4OK := packet.VerifyChecksums(res.Outputs[0].Frame, &info); !ipOK || !l4OK {
			t.Errorf("%s: checksums ip %v l4 %v", name, ipOK, l4OK)
		}
	}
	const client, vip, backend = 0x0a000001, 0x0a600001, 0x0a000002
	check("syn", tcpSeg("syn", 1, "10.0.0.1", "10.96.0.1", 3333, 80, 0x002, 100, 0), 2, client, backend, 3333, 8080)
	check("syn-ack", tcpSeg("synack", 2, "10.0.0.2", "10.0.0.1", 8080, 3333, 0x012, 500, 101), 1, vip, client, 80, 3333)
	check("ack", tcpSeg("ack", 1, "10.0.0.1", "10.96.0.1", 3333, 80, 0x010, 101, 501), 2, client, backend, 3333, 8080)
	if n := p.Conntrack().Len(); n != 1 {
		t.Errorf("conntrack holds %d connections, want 1", n)
	}

	// An unsolicited packet from the backend side is new and dropped by table 1.
	r.Process(tcpSeg("stray", 2, "10.0.0.2", "10.0.0.9", 8080, 4444, 0x002, 1, 0).frame, 2, &res)
	if len(res.Outputs) != 0 {
		t.Errorf("stray SYN from port 2: outputs %v, want none", outputsOf(&res))
	}
}

func TestCachedPathAndInvalidation(t *testing.T) {
	p := newTestPipeline(t, natFlows, "")
	r := p.NewRunner()
	var res Result
	ack := natHandshake(r)
	r.Process(ack, 1, &res)
	before := r.CacheStats()
	r.Process(ack, 1, &res)
	after := r.CacheStats()
	if after.Hits-before.Hits != 2 || after.Misses != before.Misses {
		t.Errorf("second identical packet: %d hits, %d misses; want 2 hits (both passes), 0 misses",
			after.Hits-before.Hits, after.Misses-before.Misses)
	}
	if len(res.Outputs) != 1 || res.Outputs[0].Port != 2 {
		t.Fatalf("cached verdict: outputs %v, want [2]", outputsOf(&res))
	}

	// A flow change must never be hidden by the cache.
	f, err := flow.ParseFlow("table=2,priority=200,ct_mark=0x7,in_port=1,actions=output:5")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddFlows([]*flow.Flow{f}); err != nil {
		t.Fatal(err)
	}
	r.Process(ack, 1, &res)
	if got := outputsOf(&res); !sameUint32s(got, []uint32{5}) {
		t.Errorf("after a flow change: outputs %v, want [5]", got)
	}
}

func TestCachedPathAllocs(t *testing.T) {
	p := newTestPipeline(t, natFlows, "")
	r := p.NewRunner()
	var res Result
	ack := natHandshake(r)
	r.Process(ack, 1, &res)
	allocs := testing.AllocsPerRun(200, func() { r.Process(ack, 1, &res) })
	if allocs != 0 {
		t.Errorf("cached path: %v allocations per packet, want 0", allocs)
	}
	if len(res.Outputs) != 1 {
		t.Fatalf("outputs %v, want one", outputsOf(&res))
	}
}

func TestLearn(t *testing.T) {
	p := newTestPipeline(t, `
table=0,priority=100,in_port=1,actions=learn(table=10,priority=100,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),resubmit(,10)
table=0,priority=50,actions=resubmit(,10)
table=10,priority=0,actions=output:8
`, "")
	r := p.NewRunner()
	var res Result
	a := withMACs(tcp4("a", 1, "10.0.0.1", "10.0.0.2", 1, 2, 0), 0x020000000011, 0x020000000022)
	b := withMACs(tcp4("b", 2, "10.0.0.2", "10.0.0.1", 2, 1, 0), 0x020000000022, 0x020000000011)
	r.Process(a.frame, 1, &res)
	if got := outputsOf(&res); !sameUint32s(got, []uint32{8}) {
		t.Errorf("first packet: outputs %v, want [8] (a learned flow is for later packets)", got)
	}
	r.Process(b.frame, 2, &res)
	if got := outputsOf(&res); !sameUint32s(got, []uint32{1}) {
		t.Errorf("reply: outputs %v, want [1] through the learned flow", got)
	}
	var learned []string
	for _, e := range p.Flows() {
		if e.Flow.Table == 10 && e.Flow.Priority == 100 {
			learned = append(learned, e.Flow.String())
		}
	}
	if len(learned) != 1 || !strings.Contains(learned[0], "dl_dst=02:00:00:00:00:11") || !strings.Contains(learned[0], "output:1") {
		t.Errorf("learned flows: %q", learned)
	}
}

func TestTraceRecordsSteps(t *testing.T) {
	p := newTestPipeline(t, natFlows, "")
	tr, res := p.Trace(tcp4("x", 1, "10.0.0.1", "10.96.0.1", 3333, 80, 1).frame, 1, TraceOptions{})
	if len(tr.Passes) != 3 {
		t.Fatalf("passes: got %d, want 3 (two recirculations)\n%s", len(tr.Passes), tr)
	}
	if s := tr.Passes[1].Steps[0]; s.Table != 1 || s.Flow == nil || s.CtState != conntrack.StateNew|conntrack.StateTracked {
		t.Errorf("second pass first step: %+v", s)
	}
	if got := tr.Passes[2].Key.Get(flow.FieldCtMark); got != 7 {
		t.Errorf("third pass ct_mark: got %d, want 7", got)
	}
	if len(res.Outputs) != 1 || !strings.Contains(tr.String(), "Datapath actions: ct(commit,zone=5,mark=0x7/0xffffffff,nat(dst=10.0.0.2:8080)),recirc(table=2)") {
		t.Errorf("trace:\n%s", tr)
	}
}

func TestPassBitsUnused(t *testing.T) {
	for f := flow.Field(0); f < flow.NumFields; f++ {
		fi := f.Info()
		if fi.Bits == 128 {
			if fi.Word == passWord || fi.Word+1 == passWord {
				t.Errorf("field %v covers word %d, which the cache uses for the pass tag", f, passWord)
			}
			continue
		}
		if fi.Word == passWord && fi.Shift+fi.Bits > passShift {
			t.Errorf("field %v uses bits %d..%d of word %d, which the cache uses for the pass tag",
				f, fi.Shift, fi.Shift+fi.Bits-1, passWord)
		}
	}
}

func TestAntreaFlowSetLoads(t *testing.T) {
	flows, err := os.ReadFile(flowsDir + "/antrea.txt")
	if err != nil {
		t.Fatal(err)
	}
	groups, err := os.ReadFile(flowsDir + "/antrea.groups")
	if err != nil {
		t.Fatal(err)
	}
	p := newTestPipeline(t, string(flows), string(groups))
	if n := len(p.Flows()); n < 130 {
		t.Errorf("%d flows loaded, want the whole set", n)
	}
}

// truncatedTCP cuts a TCP/IPv4 frame 6 bytes into the TCP header, with an IP total length
// that agrees, so only the L4 header is short.
func truncatedTCP(good []byte) []byte {
	f := append([]byte(nil), good[:14+20+6]...)
	binary.BigEndian.PutUint16(f[14+2:], 26)
	f[14+10], f[14+11] = 0, 0
	binary.BigEndian.PutUint16(f[14+10:], packet.Checksum(f[14:34]))
	return f
}

func TestExpire(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	p := newTestPipeline(t, `
table=0,priority=10,tcp,actions=output:2
table=0,priority=20,tcp,tp_dst=80,idle_timeout=10,actions=output:3
table=0,priority=30,tcp,tp_dst=81,hard_timeout=100000,actions=output:4
`, "", func(o *Options) { o.Clock = clock })
	r := p.NewRunner()
	var res Result
	f80 := tcp4("", 1, "10.0.0.1", "10.0.0.2", 1, 80, 1).frame
	for i := range 3 {
		now = now.Add(8 * time.Second)
		if gone := p.Expire(now); len(gone) != 0 {
			t.Fatalf("round %d: expired %v while in use", i, gone)
		}
		r.Process(f80, 1, &res)
		if got := outputsOf(&res); !sameUint32s(got, []uint32{3}) {
			t.Fatalf("round %d: outputs %v, want [3]", i, got)
		}
	}
	now = now.Add(11 * time.Second)
	gone := p.Expire(now)
	if len(gone) != 1 || gone[0].Flow.IdleTimeout != 10 {
		t.Fatalf("after 11 idle seconds: expired %v, want the idle_timeout=10 flow", gone)
	}
	if gone[0].Reason != ExpireIdle {
		t.Errorf("idle flow's reason: got %v, want idle", gone[0].Reason)
	}
	if packets, _ := gone[0].Stats(); packets != 3 {
		t.Errorf("idle flow's packet count: got %d, want 3", packets)
	}
	r.Process(f80, 1, &res)
	if got := outputsOf(&res); !sameUint32s(got, []uint32{2}) {
		t.Errorf("after expiry: outputs %v, want [2] (the cache must not keep the expired flow)", got)
	}
	now = now.Add(100000 * time.Second)
	if gone := p.Expire(now); len(gone) != 1 || gone[0].Flow.HardTimeout != 100000 || gone[0].Reason != ExpireHard {
		t.Errorf("a day later: expired %v, want the hard_timeout=100000 flow, reason hard", gone)
	}
	if packets, _ := p.Flows()[0].Stats(); packets != 1 {
		t.Errorf("remaining flow's packet count: got %d, want 1", packets)
	}
}

// Packets flow on several goroutines while flows are replaced and learned: run with -race.
func TestConcurrentProcessAndUpdate(t *testing.T) {
	p := newTestPipeline(t, natFlows+`
table=0,priority=200,udp,actions=learn(table=5,priority=10,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),resubmit(,5)
table=5,priority=0,actions=output:8
`, "")
	done := make(chan struct{})
	errs := make(chan string, 4)
	for g := range 3 {
		go func() {
			defer func() { done <- struct{}{} }()
			r := p.NewRunner()
			var res Result
			for i := range 300 {
				sport := uint16(2000 + g*1000 + i%50)
				r.Process(tcpSeg("", 1, "10.0.0.1", "10.96.0.1", sport, 80, 0x002, 100, 0).frame, 1, &res)
				r.Process(udp4("", uint32(1+i%4), "10.0.0.1", "10.0.0.2", sport, 53, uint64(0x020000000100+i%7)).frame, uint32(1+i%4), &res)
				if len(res.Outputs) != 1 {
					select {
					case errs <- "a UDP packet was not forwarded exactly once":
					default:
					}
				}
			}
		}()
	}
	for i := range 50 {
		f, err := flow.ParseFlow("table=2,priority=100,ct_mark=0x7,in_port=1,actions=output:" + []string{"2", "6"}[i%2])
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AddFlows([]*flow.Flow{f}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		<-done
	}
	select {
	case e := <-errs:
		t.Error(e)
	default:
	}
}
