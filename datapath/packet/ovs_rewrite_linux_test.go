package packet

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/flow/flowtest"
	"github.com/sluicenet/sluice/internal/testutil"
)

// The rewrite differential test: a real ovs-vswitchd (Debian's, userspace datapath with dummy
// ports) applies set_field, dec_ttl and VLAN actions to frames, and every frame it sends out
// must be byte for byte the frame Sluice's rewrites produce — checksums included.

// startOVS starts flowtest's switch with fail-mode secure (a frame no flow matches is dropped,
// not flooded by the default NORMAL flow), dummy port p1 (ofport 1) and dummy port p2
// (ofport 2) whose output goes to the pcap file it returns.
func startOVS(t *testing.T) (*flowtest.OVS, string) {
	t.Helper()
	o := flowtest.StartOVS(t, flowtest.OVSOptions{Ports: 1})
	pcap := filepath.Join(o.Dir, "p2.pcap")
	o.Vsctl("set-fail-mode", "br0", "secure",
		"--", "add-port", "br0", "p2", "--", "set", "interface", "p2", "type=dummy", "ofport_request=2",
		"options:tx_pcap="+pcap)
	return o, pcap
}

// rewriteCase is a frame, the OpenFlow actions for OVS and the same rewrite done by Sluice.
type rewriteCase struct {
	frame   []byte
	match   string
	actions string
	apply   func(buf []byte, start int, info *Info) (int, bool) // false: dropped (TTL expired)
	// quirk is the offset in the output frame of 2 bytes OVS changes and Sluice does not, 0 if
	// none: OVS's packet_set_ipv4_addr "updates" a TCP/UDP checksum at the L4 offset of a
	// later IPv4 fragment, which holds payload bytes there. Sluice leaves the payload alone.
	quirk int
}

func macText(v uint64) string { return net.HardwareAddr(macb(v)).String() }

func ip6Text(hi, lo uint64) string {
	var a [16]byte
	binary.BigEndian.PutUint64(a[:], hi)
	binary.BigEndian.PutUint64(a[8:], lo)
	return netip.AddrFrom16(a).String()
}

// ovsSetField returns the OpenFlow actions that write f = v (v6 for 128-bit fields) the way
// SetField does on a frame with key k, or "" when OpenFlow cannot express it.
func ovsSetField(k *flow.Key, f flow.Field, v uint64, v6 [2]uint64) string {
	set := func(val, name string) string { return "set_field:" + val + "->" + name }
	typ := k.Get(flow.FieldEthType)
	proto := uint8(k.Get(flow.FieldNwProto))
	switch f {
	case flow.FieldEthDst:
		return set(macText(v), "eth_dst")
	case flow.FieldVLANTCI:
		return set(fmt.Sprintf("%#x", v), "vlan_tci")
	case flow.FieldVLANVID:
		return set(fmt.Sprint(v), "vlan_vid")
	case flow.FieldVLANPCP:
		return set(fmt.Sprint(v), "vlan_pcp")
	case flow.FieldNwSrc, flow.FieldNwDst, flow.FieldArpSpa, flow.FieldArpTpa:
		a := netip.AddrFrom4([4]byte(u32(uint32(v)))).String()
		name := map[flow.Field]string{flow.FieldNwSrc: "nw_src", flow.FieldNwDst: "nw_dst",
			flow.FieldArpSpa: "arp_spa", flow.FieldArpTpa: "arp_tpa"}[f]
		return set(a, name)
	case flow.FieldNwTOS:
		return set(fmt.Sprint(v>>2), "ip_dscp") + "," + set(fmt.Sprint(v&3), "nw_ecn")
	case flow.FieldIPDSCP:
		return set(fmt.Sprint(v), "ip_dscp")
	case flow.FieldNwECN:
		return set(fmt.Sprint(v), "nw_ecn")
	case flow.FieldNwTTL:
		return set(fmt.Sprint(v), "nw_ttl")
	case flow.FieldArpOp:
		return set(fmt.Sprint(v), "arp_op")
	case flow.FieldArpSha, flow.FieldNdSll, flow.FieldArpTha, flow.FieldNdTll:
		sha := f == flow.FieldArpSha || f == flow.FieldNdSll
		if typ != EtherTypeIPv6 {
			return set(macText(v), map[bool]string{true: "arp_sha", false: "arp_tha"}[sha])
		}
		if k.Get(flow.FieldNwFrag) != 0 {
			return "" // the ND prerequisite (icmp_type) cannot be matched on a fragment
		}
		// OpenFlow allows nd_sll only on a solicitation and nd_tll only on an advertisement.
		switch icmp := k.Get(flow.FieldIcmpType); {
		case sha && icmp == ICMPv6NeighborSolicit:
			return set(macText(v), "nd_sll")
		case !sha && icmp == ICMPv6NeighborAdvert:
			return set(macText(v), "nd_tll")
		}
		return ""
	case flow.FieldTpSrc, flow.FieldTpDst:
		src := f == flow.FieldTpSrc
		var names [2]string
		switch {
		case proto == ProtoTCP:
			names = [2]string{"tcp_src", "tcp_dst"}
		case proto == ProtoUDP:
			names = [2]string{"udp_src", "udp_dst"}
		case proto == ProtoSCTP:
			names = [2]string{"sctp_src", "sctp_dst"}
		case proto == ProtoICMP && typ == EtherTypeIPv4:
			names = [2]string{"icmp_type", "icmp_code"}
		case proto == ProtoICMPv6 && typ == EtherTypeIPv6:
			names = [2]string{"icmpv6_type", "icmpv6_code"}
		default:
			return ""
		}
		if src {
			return set(fmt.Sprint(v), names[0])
		}
		return set(fmt.Sprint(v), names[1])
	case flow.FieldIPv6Src:
		return set(ip6Text(v6[0], v6[1]), "ipv6_src")
	case flow.FieldIPv6Dst:
		return set(ip6Text(v6[0], v6[1]), "ipv6_dst")
	case flow.FieldIPv6Label:
		return set(fmt.Sprintf("%#x", v), "ipv6_label")
	case flow.FieldNdTarget:
		if k.Get(flow.FieldNwFrag) != 0 {
			return ""
		}
		return set(ip6Text(v6[0], v6[1]), "nd_target")
	}
	return ""
}

// ovsMatch returns the match that selects frame i and establishes the prerequisites of any
// field its actions may write.
func ovsMatch(k *flow.Key) string {
	m := "dl_src=" + macText(k.Get(flow.FieldEthSrc)) + fmt.Sprintf(",dl_type=%#x", k.Get(flow.FieldEthType))
	if k.Get(flow.FieldVLANTCI) != 0 {
		m += ",vlan_tci=0x1000/0x1000"
	} else {
		m += ",vlan_tci=0"
	}
	if t := k.Get(flow.FieldEthType); t == EtherTypeIPv4 || t == EtherTypeIPv6 {
		m += fmt.Sprintf(",nw_proto=%d", k.Get(flow.FieldNwProto))
		// OVS's default fragment handling ("normal") zeroes tp_src/tp_dst of every fragment
		// for the table lookup, so a fragment's ICMPv6 type cannot be matched.
		if k.Get(flow.FieldNwProto) == ProtoICMPv6 && t == EtherTypeIPv6 && k.Get(flow.FieldNwFrag) == 0 {
			m += fmt.Sprintf(",icmp_type=%d,icmp_code=%d", k.Get(flow.FieldIcmpType), k.Get(flow.FieldIcmpCode))
		}
	}
	return m
}

func randRewriteCase(r *rand.Rand, id int) rewriteCase {
	var k flow.Key
	for {
		k = randKey(r)
		if t := k.Get(flow.FieldEthType); t == EtherTypeIPv4 || t == EtherTypeIPv6 || t == EtherTypeARP || t == EtherTypeRARP {
			break
		}
	}
	k.Set(flow.FieldEthSrc, 0x0a0000000000|uint64(id))
	frame := Build(&k, randPayload(r))
	typ := k.Get(flow.FieldEthType)
	ip := typ == EtherTypeIPv4 || typ == EtherTypeIPv6
	tagged := k.Get(flow.FieldVLANTCI) != 0
	switch n := r.IntN(10); {
	case n == 0 && ip:
		return rewriteCase{frame: frame, match: ovsMatch(&k), actions: "dec_ttl",
			apply: func(buf []byte, s int, info *Info) (int, bool) {
				expired, _ := DecTTL(buf[s:], info)
				return s, !expired
			}}
	case n == 1 && tagged:
		return rewriteCase{frame: frame, match: ovsMatch(&k), actions: "strip_vlan",
			apply: func(buf []byte, s int, info *Info) (int, bool) { return PopVLAN(buf, s, info) }}
	case n == 1:
		vid := uint16(r.IntN(4096))
		return rewriteCase{frame: frame, match: ovsMatch(&k),
			actions: fmt.Sprintf("push_vlan:0x8100,set_field:%d->vlan_vid", 0x1000|vid),
			apply: func(buf []byte, s int, info *Info) (int, bool) {
				return PushVLAN(buf, s, info, EtherTypeVLAN, vid)
			}}
	}
	match := ovsMatch(&k) // before the actions change k
	var acts []string
	type fv struct {
		f  flow.Field
		v  uint64
		v6 [2]uint64
	}
	var sets []fv
	for range 1 + r.IntN(3) {
		f, v, v6, _ := randRewrite(r, &k)
		a := ovsSetField(&k, f, v, v6)
		if a == "" || f == flow.FieldEthSrc {
			continue
		}
		acts = append(acts, a)
		sets = append(sets, fv{f, v, v6})
		// OVS applies the set_fields to its flow and writes the final values; so does the key.
		if f.Info().Bits == 128 {
			k.Set128(f, v6[0], v6[1])
		} else {
			k.Set(f, v)
		}
	}
	if len(acts) == 0 {
		acts = append(acts, "set_field:02:00:00:00:00:99->eth_dst")
		sets = append(sets, fv{f: flow.FieldEthDst, v: 0x020000000099})
	}
	quirk := 0
	if typ == EtherTypeIPv4 && k.Get(flow.FieldNwFrag)&FragLater != 0 {
		for _, x := range sets {
			if x.f == flow.FieldNwSrc || x.f == flow.FieldNwDst {
				var info Info
				var k2 flow.Key
				Extract(frame, 1, &k2, &info)
				if o := l4CsumOff(info.Proto); o >= 0 && (info.Proto == ProtoTCP || info.Proto == ProtoUDP) {
					quirk = int(info.L4) + o
				}
			}
		}
	}
	return rewriteCase{frame: frame, match: match, actions: strings.Join(acts, ","), quirk: quirk,
		apply: func(buf []byte, s int, info *Info) (int, bool) {
			for _, x := range sets {
				if x.f.Info().Bits == 128 {
					SetField128(buf[s:], info, x.f, x.v6[0], x.v6[1])
				} else {
					SetField(buf[s:], info, x.f, x.v)
				}
			}
			return s, true
		}}
}

func TestPrivilegedRewriteMatchesOVS(t *testing.T) {
	testutil.RequirePrivileged(t)
	o, pcap := startOVS(t)
	r := rand.New(rand.NewPCG(13, 14))
	const n = 2000
	cases := make([]rewriteCase, n)
	var flows strings.Builder
	for i := range cases {
		cases[i] = randRewriteCase(r, i+1)
		fmt.Fprintf(&flows, "priority=100,in_port=1,%s,actions=%s,output:2\n", cases[i].match, cases[i].actions)
	}
	flowFile := filepath.Join(o.Dir, "flows.txt")
	if err := os.WriteFile(flowFile, []byte(flows.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	o.Ofctl("add-flows", flowFile)

	// What Sluice makes of each frame, keyed by the case's unique dl_src.
	want := map[uint64][]byte{}
	for _, c := range cases {
		buf := append(make([]byte, 8), c.frame...)
		var k flow.Key
		var info Info
		if Extract(buf[8:], 1, &k, &info) != ReasonNone {
			t.Fatalf("case frame does not extract: %x", c.frame)
		}
		if s, ok := c.apply(buf, 8, &info); ok {
			want[mac48(c.frame[6:])] = buf[s:]
		}
	}
	// Send in batches and wait for each batch to come out: netdev-dummy drops what does not
	// fit its receive queue (100 packets).
	var got [][]byte
	expect := 0
	for i := 0; i < n; i += 40 {
		args := []string{"netdev-dummy/receive", "p1"}
		for _, c := range cases[i:min(i+40, n)] {
			args = append(args, hex.EncodeToString(c.frame))
			if _, ok := want[mac48(c.frame[6:])]; ok {
				expect++
			}
		}
		o.Appctl(args...)
		for range 400 {
			if got = flowtest.ReadPcap(pcap); len(got) >= expect {
				break
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	if len(got) != len(want) {
		t.Errorf("OVS sent %d frames, Sluice would send %d", len(got), len(want))
	}
	byID := map[uint64]int{}
	for i, c := range cases {
		byID[mac48(c.frame[6:])] = i
	}
	sent := map[uint64]bool{}
	for _, g := range got {
		sent[mac48(g[6:])] = true
	}
	for id := range want {
		if c := cases[byID[id]]; !sent[id] {
			t.Errorf("OVS sent nothing for actions %s (match %s)\n  in     %x", c.actions, c.match, c.frame)
		}
	}
	quirks := 0
	for _, g := range got {
		id := mac48(g[6:])
		w, ok := want[id]
		c := cases[byID[id]]
		if !ok {
			t.Errorf("OVS sent a frame Sluice drops: actions %s\n  in  %x\n  ovs %x", c.actions, c.frame, g)
			continue
		}
		if c.quirk != 0 && c.quirk+2 <= len(g) && len(g) == len(w) {
			if !bytes.Equal(g[:c.quirk], w[:c.quirk]) || !bytes.Equal(g[c.quirk+2:], w[c.quirk+2:]) {
				t.Errorf("actions %s (match %s), later fragment\n  in     %x\n  ovs    %x\n  sluice %x", c.actions, c.match, c.frame, g, w)
			}
			quirks++
			continue
		}
		if !bytes.Equal(g, w) {
			t.Errorf("actions %s (match %s)\n  in     %x\n  ovs    %x\n  sluice %x", c.actions, c.match, c.frame, g, w)
		}
	}
	t.Logf("%d frames rewritten by OVS and Sluice; %d of them later IPv4 fragments whose payload OVS changes at the L4 checksum offset", len(got), quirks)
}
