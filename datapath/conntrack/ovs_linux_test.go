package conntrack

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/flow/flowtest"
	"github.com/sluicenet/sluice/datapath/packet"
	"github.com/sluicenet/sluice/internal/testutil"
)

// The differential test sends the same packet sequences through a real ovs-vswitchd
// (userspace datapath, dummy ports) and through a Table, and compares the ct_state each
// packet gets. The ct action is chosen by the port the packet enters on; table 1 has one
// flow per ct_state value, so the flow whose packet counter moved names the state.
var ovsPortActions = map[int]Action{
	1: {Zone: 1},
	2: {Zone: 1, Commit: true},
	3: {Zone: 1, Commit: true, NAT: NAT{Kind: NATDst, MinAddr: srv, MaxAddr: srv, MinPort: 8080, MaxPort: 8080}},
	4: {Zone: 1, NAT: NAT{Kind: NATReverse}},
	5: {Zone: 1, Commit: true, NAT: NAT{Kind: NATSrc, MinAddr: natIP, MaxAddr: natIP}},
	6: {Zone: 1, Commit: true, Force: true},
	8: {Zone: 2},
	9: {Zone: 2, Commit: true, Mark: 0x5, MarkMask: 0xff},
}

var ovsPortFlows = map[int]string{
	1: "ct(zone=1,table=1)",
	2: "ct(commit,zone=1,table=1)",
	3: fmt.Sprintf("ct(commit,zone=1,nat(dst=%s:8080),table=1)", srv),
	4: "ct(zone=1,nat,table=1)",
	5: fmt.Sprintf("ct(commit,zone=1,nat(src=%s),table=1)", natIP),
	6: "ct(commit,force,zone=1,table=1)",
	8: "ct(zone=2,table=1)",
	9: "ct(commit,zone=2,exec(set_field:0x5/0xff->ct_mark),table=1)",
}

type ovsStep struct {
	port int
	p    *Packet
	warp time.Duration // instead of a packet: move both clocks on
}

// ctOVS is an ovs-vswitchd whose port N runs ovsPortFlows[N] and whose table 1 counts and
// outputs (to p7, captured in a pcap) every packet by its ct_state.
type ctOVS struct {
	o      *flowtest.OVS
	pcap   string
	counts map[int]uint64
	sent   int
}

func startCtOVS(t *testing.T) *ctOVS {
	t.Helper()
	o := flowtest.StartOVS(t, flowtest.DefaultOVSOptions()) // logs its vswitchd log on failure
	var flows strings.Builder
	for port, act := range ovsPortFlows {
		fmt.Fprintf(&flows, "table=0,priority=10,ip,in_port=%d,actions=%s\n", port, act)
		if !ovsPortActions[port].NAT.MinAddr.IsValid() { // the NAT ranges are IPv4
			fmt.Fprintf(&flows, "table=0,priority=10,ipv6,in_port=%d,actions=%s\n", port, act)
		}
	}
	for s := range 256 {
		fmt.Fprintf(&flows, "table=1,priority=10,ct_state=%#x/0xff,actions=output:7\n", s)
	}
	c := &ctOVS{o: o, pcap: filepath.Join(o.Dir, "p7.pcap")}
	for _, port := range []int{8, 9} {
		name := fmt.Sprintf("p%d", port)
		o.Vsctl("add-port", "br0", name, "--", "set", "interface", name, "type=dummy", fmt.Sprintf("ofport_request=%d", port))
	}
	o.Vsctl("add-port", "br0", "p7", "--", "set", "interface", "p7", "type=dummy", "ofport_request=7",
		"options:tx_pcap="+c.pcap)
	file := filepath.Join(o.Dir, "ct-flows.txt")
	if err := os.WriteFile(file, []byte(flows.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	o.Ofctl("add-flows", file)
	o.Appctl("time/stop") // timeouts move only by time/warp
	return c
}

// reset flushes OVS's connections and notes the counters.
func (c *ctOVS) reset(t *testing.T) {
	c.o.For(t).Appctl("dpctl/flush-conntrack")
	c.counts = ovsStateCounts(t, c.o)
	c.sent = len(flowtest.ReadPcap(c.pcap))
}

// send injects a frame on port and returns how many packets table 1 counted per ct_state,
// and the packets OVS sent out.
func (c *ctOVS) send(t *testing.T, port int, frame []byte, wantOut int) (map[State]uint64, [][]byte) {
	t.Helper()
	o := c.o.For(t)
	o.Appctl("netdev-dummy/receive", fmt.Sprintf("p%d", port), hex.EncodeToString(frame))
	o.Appctl("revalidator/purge")
	now := ovsStateCounts(t, c.o)
	delta := map[State]uint64{}
	for s, n := range now {
		if n != c.counts[s] {
			delta[State(s)] = n - c.counts[s]
		}
	}
	c.counts = now
	var out [][]byte
	for range 200 {
		if out = flowtest.ReadPcap(c.pcap); len(out) >= c.sent+wantOut {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	out = out[c.sent:]
	c.sent += len(out)
	return delta, out
}

func TestPrivilegedOVSDifferential(t *testing.T) {
	testutil.RequirePrivileged(t)
	c := startCtOVS(t)
	for _, sc := range append(ovsScenarios(), randomScenarios(6, 80)...) {
		t.Run(sc.name, func(t *testing.T) {
			c.reset(t)
			tbl, clk := newTestTable(t, nil)
			for i, st := range sc.steps {
				if st.warp != 0 {
					c.o.For(t).Appctl("time/warp", strconv.FormatInt(st.warp.Milliseconds(), 10))
					clk.advance(st.warp)
					continue
				}
				t.Logf("step %d: %s on port %d", i, describe(st.p), st.port)
				delta, out := c.send(t, st.port, frame(st.p), 1)
				md := run(t, tbl, st.p, ovsPortActions[st.port])
				if md.Drop != DropNone {
					t.Logf("step %d: Sluice refused the commit: %v", i, md.Drop)
				}
				if len(delta) != 1 || len(out) != 1 {
					t.Fatalf("step %d: OVS counted %v and sent %d packets, want one packet", i, delta, len(out))
				}
				for ovsState := range delta {
					if md.State != ovsState {
						t.Errorf("step %d (%s on port %d): Sluice %v, OVS %v", i, describe(st.p), st.port, md.State, ovsState)
					}
				}
				// The packet OVS sent out, translated or not, against ours with the Rewrite applied.
				want := *st.p
				applyRewrite(&want, &md.Rewrite)
				if got, w := headerTuple(out[0]), headerTuple(frame(&want)); got != w {
					t.Errorf("step %d (%s on port %d): OVS sent %s, Sluice's rewrite gives %s", i, describe(st.p), st.port, got, w)
				}
			}
		})
	}
}

// TestPrivilegedOVSFragments compares OVS's fragment handling (ipf: hold fragments, track
// the reassembled datagram, send the fragments out with its ct_state; an overlapping or
// too-small fragment goes on at once as +inv) with a Reassembler in front of a Table.
func TestPrivilegedOVSFragments(t *testing.T) {
	testutil.RequirePrivileged(t)
	c := startCtOVS(t)
	c.reset(t)
	tbl, _ := newTestTable(t, nil)
	r, _ := newTestReassembler(nil)
	commit1 := ovsPortActions[2]

	// ours runs a fragment through the Reassembler and, once complete, the datagram through
	// the table; it returns the ct_state and how many packets carry it (0: held).
	ours := func(frag []byte) (State, int) {
		res := r.Add(commit1.Zone, frag, nil)
		switch res.Verdict {
		case FragHeld:
			return 0, 0
		case FragInvalid, FragNoRoom:
			return StateInvalid | StateTracked, 1
		case FragComplete:
			d := res.Packet
			p := &Packet{Src: netip.AddrFrom4([4]byte(d[12:16])), Dst: netip.AddrFrom4([4]byte(d[16:20])), Proto: d[9],
				SrcPort: binary.BigEndian.Uint16(d[20:]), DstPort: binary.BigEndian.Uint16(d[22:]), Len: uint32(len(d))}
			return run(t, tbl, p, commit1).State, len(res.Fragments)
		}
		t.Fatalf("fragment not a fragment")
		return 0, 0
	}
	eth := []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00}
	check := func(name string, frag []byte) {
		t.Helper()
		want, n := ours(frag)
		delta, _ := c.send(t, 2, append(eth[:14:14], frag...), n)
		if n == 0 {
			if len(delta) != 0 {
				t.Errorf("%s: Sluice holds the fragment, OVS counted %v", name, delta)
			}
			return
		}
		if len(delta) != 1 || delta[want] != uint64(n) {
			t.Errorf("%s: Sluice gives %d packets %v, OVS counted %v", name, n, want, delta)
		}
	}
	frs := fragment(udpDatagram(1, 3000), 1232)
	check("datagram 1 last fragment", frs[2])
	check("datagram 1 first fragment", frs[0])
	check("datagram 1 middle fragment", frs[1])

	frs = fragment(udpDatagram(2, 3000), 1232)
	check("datagram 2 first fragment", frs[0])
	check("datagram 2 first fragment again", frs[0])
	check("datagram 2 rest", frs[1])
	check("datagram 2 end", frs[2])

	check("too small", fragment(udpDatagram(3, 3000), 400)[0])

	// The datagrams' connection is the one unfragmented packets see.
	delta, _ := c.send(t, 1, frame(udpPkt(srv, cli, 53, 5000)), 1)
	md := run(t, tbl, udpPkt(srv, cli, 53, 5000), ovsPortActions[1])
	if len(delta) != 1 || delta[md.State] != 1 {
		t.Errorf("reply to the fragmented datagrams: Sluice %v, OVS counted %v", md.State, delta)
	}
}

// udpDatagram returns an IPv4 UDP packet cli:5000 -> srv:53 with n payload bytes, IP ID id
// and correct checksums.
func udpDatagram(id uint16, n int) []byte {
	u := make([]byte, 8+n)
	binary.BigEndian.PutUint16(u[0:], 5000)
	binary.BigEndian.PutUint16(u[2:], 53)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	for i := 8; i < len(u); i++ {
		u[i] = byte(i)
	}
	binary.BigEndian.PutUint16(u[6:], csum16(u, pseudoSum(cli, srv, ProtoUDP, len(u))))
	d := ipPacket(cli, srv, ProtoUDP, u)
	binary.BigEndian.PutUint16(d[4:], id)
	d[10], d[11] = 0, 0
	binary.BigEndian.PutUint16(d[10:], csum16(d[:20], 0))
	return d
}

var nPacketsRE = regexp.MustCompile(`n_packets=(\d+).*ct_state=([^ ,]+)`)

// ovsStateCounts returns table 1's packet counter per ct_state value.
func ovsStateCounts(t *testing.T, o *flowtest.OVS) map[int]uint64 {
	t.Helper()
	out := o.For(t).Ofctl("dump-flows", "--names", "table=1")
	counts := map[int]uint64{}
	for _, l := range strings.Split(out, "\n") {
		m := nPacketsRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		counts[parseCtState(t, m[2])] = n
	}
	if len(counts) != 256 {
		t.Fatalf("dump-flows shows %d ct_state flows, want 256:\n%s", len(counts), out)
	}
	return counts
}

// parseCtState reads dump-flows' ct_state form: the set flags joined by "|" (the mask is
// 0xff, so unset flags are implied), "0" for none.
func parseCtState(t *testing.T, s string) int {
	t.Helper()
	if s == "0" {
		return 0
	}
	v := 0
	for _, f := range strings.Split(s, "|") {
		i := slices.Index(stateNames[:], f)
		if i < 0 {
			t.Fatalf("ct_state %q: unknown flag %q", s, f)
		}
		v |= 1 << i
	}
	return v
}

func describe(p *Packet) string {
	switch p.Proto {
	case ProtoTCP:
		return fmt.Sprintf("tcp %v:%d>%v:%d flags %#x seq %d ack %d len %d", p.Src, p.SrcPort, p.Dst, p.DstPort, p.TCPFlags, p.TCPSeq, p.TCPAck, p.TCPPayload)
	case ProtoICMP:
		return fmt.Sprintf("icmp %v>%v type %d id %d", p.Src, p.Dst, p.ICMPType, p.ICMPID)
	}
	return fmt.Sprintf("proto %d %v:%d>%v:%d", p.Proto, p.Src, p.SrcPort, p.Dst, p.DstPort)
}

// csum16 returns the Internet checksum of b added to the partial sum (e.g. a pseudo-header's).
func csum16(b []byte, sum uint32) uint16 { return ^packet.Fold(packet.Sum(b, uint64(sum))) }

// ipPacket returns an IPv4 header (checksummed) or IPv6 header followed by l4.
func ipPacket(src, dst netip.Addr, proto uint8, l4 []byte) []byte {
	if src.Is6() {
		h := make([]byte, 40, 40+len(l4))
		h[0] = 0x60
		binary.BigEndian.PutUint16(h[4:], uint16(len(l4)))
		h[6], h[7] = proto, 64
		copy(h[8:], src.AsSlice())
		copy(h[24:], dst.AsSlice())
		return append(h, l4...)
	}
	h := make([]byte, 20, 20+len(l4))
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(l4)))
	h[8] = 64
	h[9] = proto
	copy(h[12:], src.AsSlice())
	copy(h[16:], dst.AsSlice())
	binary.BigEndian.PutUint16(h[10:], csum16(h, 0))
	return append(h, l4...)
}

func pseudoSum(src, dst netip.Addr, proto uint8, n int) uint32 {
	var sum uint32
	for _, a := range []netip.Addr{src, dst} {
		b := a.AsSlice()
		for i := 0; i < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
	}
	return sum + uint32(proto) + uint32(n)
}

// l4 returns the L4 header (and payload) of p, checksummed; for an ICMP error the ICMP
// header plus the whole embedded packet, as Linux sends it (OVS 3.1 reads past the first 8
// L4 bytes when it NATs the embedded header, and crashed on a short quote).
func l4(p *Packet) []byte {
	var b []byte
	switch p.Proto {
	case ProtoTCP:
		hl := 20
		if p.TCPWScale >= 0 {
			hl = 24
		}
		b = make([]byte, hl+int(p.TCPPayload))
		binary.BigEndian.PutUint16(b[0:], p.SrcPort)
		binary.BigEndian.PutUint16(b[2:], p.DstPort)
		binary.BigEndian.PutUint32(b[4:], p.TCPSeq)
		binary.BigEndian.PutUint32(b[8:], p.TCPAck)
		b[12] = uint8(hl/4) << 4
		b[13] = p.TCPFlags
		binary.BigEndian.PutUint16(b[14:], p.TCPWindow)
		if p.TCPWScale >= 0 {
			copy(b[20:], []byte{1, 3, 3, byte(p.TCPWScale)})
		}
		binary.BigEndian.PutUint16(b[16:], csum16(b, pseudoSum(p.Src, p.Dst, ProtoTCP, len(b))))
	case ProtoUDP:
		b = make([]byte, 8+16)
		binary.BigEndian.PutUint16(b[0:], p.SrcPort)
		binary.BigEndian.PutUint16(b[2:], p.DstPort)
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
		binary.BigEndian.PutUint16(b[6:], csum16(b, pseudoSum(p.Src, p.Dst, ProtoUDP, len(b))))
	case ProtoICMP, ProtoICMPv6:
		b = make([]byte, 8)
		b[0], b[1] = p.ICMPType, p.ICMPCode
		if p.HasInner {
			in := &p.Inner
			inner := &Packet{Src: in.Src, Dst: in.Dst, Proto: in.Proto, SrcPort: in.SrcPort, DstPort: in.DstPort,
				ICMPType: in.ICMPType, ICMPID: in.ICMPID, TCPWScale: -1, TCPFlags: TCPAck}
			b = append(b, ipPacket(in.Src, in.Dst, in.Proto, l4(inner))...)
		} else {
			binary.BigEndian.PutUint16(b[4:], p.ICMPID)
			binary.BigEndian.PutUint16(b[6:], 1)
		}
		sum := uint32(0)
		if p.Proto == ProtoICMPv6 {
			sum = pseudoSum(p.Src, p.Dst, ProtoICMPv6, len(b))
		}
		binary.BigEndian.PutUint16(b[2:], csum16(b, sum))
	}
	return b
}

// frame returns an Ethernet frame carrying p.
func frame(p *Packet) []byte {
	eth := []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00}
	if p.Src.Is6() {
		eth[13], eth[12] = 0xdd, 0x86
	}
	return append(eth, ipPacket(p.Src, p.Dst, p.Proto, l4(p))...)
}

type ovsScenario struct {
	name  string
	steps []ovsStep
}

func ovsScenarios() []ovsScenario {
	tcp := func(fromCli bool, flags uint8, seq, ack, n uint32) *Packet {
		if fromCli {
			return tcpPkt(cli, srv, 40000, 80, flags, seq, ack, n)
		}
		return tcpPkt(srv, cli, 80, 40000, flags, seq, ack, n)
	}
	hs := []ovsStep{
		{port: 2, p: tcp(true, TCPSyn, 1000, 0, 0)},
		{port: 1, p: tcp(false, TCPSyn|TCPAck, 5000, 1001, 0)},
		{port: 1, p: tcp(true, TCPAck, 1001, 5001, 0)},
	}
	with := func(steps ...ovsStep) []ovsStep { return append(append([]ovsStep{}, hs...), steps...) }
	q, r := udpPkt(cli, srv, 5000, 53), udpPkt(srv, cli, 53, 5000)
	wsyn := tcp(true, TCPSyn, 1000, 0, 0)
	wsyn.TCPWScale = 7
	wsynack := tcp(false, TCPSyn|TCPAck, 5000, 1001, 0)
	wsynack.TCPWScale, wsynack.TCPWindow = 7, 512
	sack := tcp(false, TCPAck, 5001, 1001, 0)
	sack.TCPWindow = 512
	return []ovsScenario{
		{"tcp lifecycle", with(
			ovsStep{port: 1, p: tcp(true, TCPAck|TCPPsh, 1001, 5001, 100)},
			ovsStep{port: 1, p: tcp(false, TCPAck, 5001, 1101, 0)},
			ovsStep{port: 1, p: tcp(true, TCPFin|TCPAck, 1101, 5001, 0)},
			ovsStep{port: 1, p: tcp(false, TCPFin|TCPAck, 5001, 1102, 0)},
			ovsStep{port: 1, p: tcp(true, TCPAck, 1102, 5002, 0)},
			ovsStep{port: 2, p: tcp(true, TCPSyn, 90000, 0, 0)},
		)},
		{"tcp out of window", with(
			ovsStep{port: 1, p: tcp(true, TCPAck, 1001+10_000_000, 5001, 100)},
			ovsStep{port: 1, p: tcp(true, TCPAck, 1001, 5001+1_000_000, 0)},
			ovsStep{port: 1, p: tcp(true, TCPSyn|TCPFin, 1001, 0, 0)},
			ovsStep{port: 1, p: tcp(true, 0, 1001, 5001, 0)},
			ovsStep{port: 1, p: tcp(true, TCPAck, 901, 5001, 100)},
		)},
		{"tcp rst", with(
			ovsStep{port: 1, p: tcp(false, TCPRst, 5000+5000, 0, 0)},
			ovsStep{port: 1, p: tcp(false, TCPRst, 5001, 0, 0)},
			ovsStep{port: 1, p: tcp(true, TCPAck, 1001, 5001, 0)},
		)},
		{"tcp syn retransmit and syn-ack first", []ovsStep{
			{port: 2, p: tcp(true, TCPSyn, 1000, 0, 0)},
			{port: 2, p: tcp(true, TCPSyn, 1000, 0, 0)},
			{port: 1, p: tcp(true, TCPSyn, 1000, 0, 0)},
			{port: 2, p: tcpPkt(srv2, cli, 80, 1234, TCPSyn|TCPAck, 1, 2, 0)},
		}},
		{"tcp mid-stream pickup", []ovsStep{
			{port: 2, p: tcp(true, TCPAck, 7777, 8888, 100)},
			{port: 1, p: tcp(false, TCPAck, 8888, 7877, 100)},
			{port: 1, p: tcp(true, TCPAck, 7877, 8988, 100)},
		}},
		{"tcp window scale", []ovsStep{
			{port: 2, p: wsyn}, {port: 1, p: wsynack}, {port: 1, p: tcp(true, TCPAck, 1001, 5001, 0)}, {port: 1, p: sack},
			{port: 1, p: tcp(true, TCPAck, 1001+60000, 5001, 1000)},
			{port: 1, p: tcp(true, TCPAck, 1001+70000, 5001, 1000)},
		}},
		{"udp", []ovsStep{{port: 1, p: q}, {port: 1, p: r}, {port: 2, p: q}, {port: 1, p: q}, {port: 1, p: r}, {port: 1, p: q}, {port: 1, p: r}}},
		{"udp timeouts", []ovsStep{
			{port: 2, p: q}, {warp: 59 * time.Second}, {port: 1, p: r}, // first: 60s
			{warp: 29 * time.Second}, {port: 1, p: q}, // both ways: 30s
			{warp: 30 * time.Second}, {port: 1, p: r}, // expired: a new connection
		}},
		{"tcp timeouts", []ovsStep{
			{port: 2, p: tcp(true, TCPSyn, 1000, 0, 0)}, {warp: 31 * time.Second},
			{port: 1, p: tcp(false, TCPSyn|TCPAck, 5000, 1001, 0)}, // syn_sent expired: a SYN-ACK opens nothing
			{port: 2, p: tcp(true, TCPSyn, 1000, 0, 0)}, {port: 1, p: tcp(false, TCPSyn|TCPAck, 5000, 1001, 0)},
			{port: 1, p: tcp(true, TCPAck, 1001, 5001, 0)}, {warp: 23 * time.Hour},
			{port: 1, p: tcp(true, TCPAck, 1001, 5001, 0)}, // established: 24h
			{port: 1, p: tcp(true, TCPFin|TCPAck, 1001, 5001, 0)}, {warp: 14 * time.Minute},
			{port: 1, p: tcp(false, TCPAck, 5001, 1002, 0)}, // fin_wait: 15 min
			{port: 1, p: tcp(false, TCPFin|TCPAck, 5001, 1002, 0)}, {port: 1, p: tcp(true, TCPAck, 1002, 5002, 0)},
			{warp: 31 * time.Second}, {port: 1, p: tcp(true, TCPAck, 1002, 5002, 0)}, // closed: 30s
		}},
		{"icmp timeouts", []ovsStep{
			{port: 2, p: echoPkt(cli, srv, icmpEchoRequest, 4)}, {warp: 59 * time.Second},
			{port: 1, p: echoPkt(srv, cli, icmpEchoReply, 4)}, {warp: 31 * time.Second},
			{port: 1, p: echoPkt(srv, cli, icmpEchoReply, 4)},
		}},
		{"ipv6", []ovsStep{
			{port: 2, p: tcpPkt(cli6, srv6, 40000, 80, TCPSyn, 1000, 0, 0)},
			{port: 1, p: tcpPkt(srv6, cli6, 80, 40000, TCPSyn|TCPAck, 5000, 1001, 0)},
			{port: 1, p: tcpPkt(cli6, srv6, 40000, 80, TCPAck, 1001, 5001, 0)},
			{port: 1, p: tcpPkt(cli6, srv6, 40000, 80, TCPAck, 1001+10_000_000, 5001, 10)},
			{port: 2, p: udpPkt(cli6, srv6, 5000, 53)},
			{port: 1, p: udpPkt(srv6, cli6, 53, 5000)},
			{port: 2, p: echoPkt(cli6, srv6, icmp6EchoRequest, 9)},
			{port: 1, p: echoPkt(srv6, cli6, icmp6EchoReply, 9)},
			{port: 1, p: icmp6Err(srv6, cli6, udpPkt(cli6, srv6, 5000, 53))},
			{port: 1, p: icmp6Err(srv6, cli6, udpPkt(cli6, srv6, 5001, 53))},
		}},
		{"zones", []ovsStep{
			{port: 2, p: q}, {port: 8, p: r}, {port: 9, p: r}, {port: 8, p: q}, {port: 1, p: r}, {port: 8, p: r},
		}},
		{"udp force", []ovsStep{{port: 2, p: q}, {port: 6, p: r}, {port: 1, p: q}}},
		{"icmp echo", []ovsStep{
			{port: 2, p: echoPkt(cli, srv, icmpEchoReply, 3)},
			{port: 2, p: echoPkt(cli, srv, icmpEchoRequest, 3)},
			{port: 1, p: echoPkt(cli, srv, icmpEchoRequest, 3)},
			{port: 1, p: echoPkt(srv, cli, icmpEchoReply, 3)},
			{port: 1, p: echoPkt(cli, srv, icmpEchoRequest, 3)},
		}},
		{"icmp error related", with(
			ovsStep{port: 1, p: icmpErr(rtr, cli, tcp(true, TCPAck, 1001, 5001, 0))},
			ovsStep{port: 1, p: icmpErr(rtr, srv, tcp(false, TCPAck, 5001, 1001, 0))},
			ovsStep{port: 1, p: icmpErr(rtr, cli, tcpPkt(cli, srv, 40001, 80, TCPAck, 1, 1, 0))},
			ovsStep{port: 1, p: icmpErr(rtr, srv, tcp(true, TCPAck, 1001, 5001, 0))},
		)},
		{"dnat", []ovsStep{
			{port: 3, p: tcpPkt(cli, vip, 40000, 80, TCPSyn, 1000, 0, 0)},
			{port: 4, p: tcpPkt(srv, cli, 8080, 40000, TCPSyn|TCPAck, 5000, 1001, 0)},
			{port: 4, p: tcpPkt(cli, vip, 40000, 80, TCPAck, 1001, 5001, 0)},
			{port: 1, p: tcpPkt(cli, vip, 40000, 80, TCPAck, 1001, 5001, 0)},
			{port: 4, p: icmpErr(rtr, cli, tcpPkt(cli, srv, 40000, 8080, TCPAck, 1001, 5001, 0))},
		}},
		{"snat", []ovsStep{
			{port: 5, p: q},
			{port: 4, p: udpPkt(srv, natIP, 53, 5000)},
			{port: 4, p: q},
			{port: 5, p: udpPkt(cli2, srv, 5000, 53)}, // the port is taken: the next one
			{port: 4, p: udpPkt(srv, natIP, 53, 5001)},
			{port: 4, p: icmpErr(srv, natIP, udpPkt(natIP, srv, 5001, 53))},
			{port: 4, p: icmpErr(rtr, srv, udpPkt(srv, natIP, 53, 5000))}, // wrong inner source
		}},
		// A second pinger with the same identifier is left out: OVS before upstream commit
		// 627fef05b (2026, "conntrack: Fix ICMP id conflicts in snat"), Debian's 3.1
		// included, cannot translate ICMP identifiers and refuses it; Sluice, like current
		// OVS, gives it the next identifier (TestICMPRelatedNAT).
		{"snat icmp echo", []ovsStep{
			{port: 5, p: echoPkt(cli, srv, icmpEchoRequest, 1500)},
			{port: 4, p: echoPkt(srv, natIP, icmpEchoReply, 1500)},
			{port: 4, p: echoPkt(cli, srv, icmpEchoRequest, 1500)},
			{port: 4, p: icmpErr(rtr, natIP, echoPkt(natIP, srv, icmpEchoRequest, 1500))},
		}},
		{"dnat udp both ways", []ovsStep{
			{port: 3, p: udpPkt(cli, vip, 5000, 80)},
			{port: 4, p: udpPkt(cli, vip, 5000, 80)},
			{port: 4, p: udpPkt(srv, cli, 8080, 5000)},
			{port: 3, p: udpPkt(cli, vip, 5000, 80)},
			{port: 3, p: udpPkt(cli2, vip, 5000, 80)},
			{port: 4, p: icmpErr(cli, srv, udpPkt(srv, cli, 8080, 5000))},
		}},
	}
}

// headerTuple prints the fields NAT may change: addresses, ports or ICMP identifier, and for
// an ICMP error the embedded packet's.
func headerTuple(f []byte) string {
	var t func(ip []byte) string
	t = func(ip []byte) string {
		var src, dst netip.Addr
		var proto uint8
		var l4 []byte
		if ip[0]>>4 == 6 {
			src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
			proto, l4 = ip[6], ip[40:]
		} else {
			src, dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
			proto, l4 = ip[9], ip[int(ip[0]&15)*4:]
		}
		s := fmt.Sprintf("%s>%s proto %d", src, dst, proto)
		switch {
		case proto == ProtoTCP || proto == ProtoUDP:
			s += fmt.Sprintf(" ports %d>%d", binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:]))
		case isICMP(proto) && icmpIsError(proto, l4[0]):
			s += fmt.Sprintf(" type %d inner %s", l4[0], t(l4[8:]))
		case isICMP(proto):
			s += fmt.Sprintf(" type %d id %d", l4[0], binary.BigEndian.Uint16(l4[4:]))
		}
		return s
	}
	return t(f[14:])
}

// icmp6Err builds an ICMPv6 packet-too-big from src to dst about inner.
func icmp6Err(src, dst netip.Addr, inner *Packet) *Packet {
	p := icmpErr(src, dst, inner)
	p.Proto, p.ICMPType, p.ICMPCode = ProtoICMPv6, icmp6PacketTooBig, 0
	return p
}

// randomScenarios returns n seeded random packet sequences over a few addresses, ports,
// flags and sequence numbers, so that packets land in window, out of window, in the wrong
// direction, on closed or unknown connections. The NAT ports (3, 5) never see ICMP: OVS 3.1
// cannot translate ICMP identifiers (see ovsScenarios).
func randomScenarios(n, steps int) []ovsScenario {
	var out []ovsScenario
	for seed := range n {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		addrs := []netip.Addr{cli, srv, vip}
		seqs := []uint32{1000, 1001, 1101, 5000, 5001, 5101, 70000, 4_000_000_000}
		flagSets := []uint8{TCPSyn, TCPSyn | TCPAck, TCPAck, TCPAck | TCPPsh, TCPFin | TCPAck, TCPRst, TCPRst | TCPAck, 0, TCPSyn | TCPFin}
		sc := ovsScenario{name: fmt.Sprintf("random %d", seed)}
		for range steps {
			src, dst := addrs[r.IntN(2)], addrs[r.IntN(3)]
			if src == dst {
				dst = srv
				if src == srv {
					dst = cli
				}
			}
			ports := []uint16{80, 40000}
			sp, dp := ports[r.IntN(2)], ports[r.IntN(2)]
			var p *Packet
			switch r.IntN(6) {
			case 0, 1, 2:
				p = tcpPkt(src, dst, sp, dp, flagSets[r.IntN(len(flagSets))], seqs[r.IntN(len(seqs))], seqs[r.IntN(len(seqs))], uint32(r.IntN(3))*100)
			case 3, 4:
				p = udpPkt(src, dst, sp, dp)
			default:
				p = echoPkt(src, dst, []uint8{icmpEchoRequest, icmpEchoReply}[r.IntN(2)], 7)
			}
			port := []int{1, 1, 2, 2, 3, 4, 5, 6, 8, 9}[r.IntN(10)]
			if (port == 3 || port == 5) && p.Proto == ProtoICMP {
				port = 2
			}
			sc.steps = append(sc.steps, ovsStep{port: port, p: p})
			if r.IntN(10) == 0 {
				sc.steps = append(sc.steps, ovsStep{warp: time.Duration(1+r.IntN(90)) * time.Second})
			}
		}
		out = append(out, sc)
	}
	return out
}
