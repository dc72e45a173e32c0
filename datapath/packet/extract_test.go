package packet

import (
	"maps"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

func l2(typ uint64) fields {
	return fields{flow.FieldEthDst: macDst, flow.FieldEthSrc: macSrc, flow.FieldEthType: typ}
}

// with returns a copy of base with more's entries added (more wins).
func with[K comparable, V any](base, more map[K]V) map[K]V {
	out := make(map[K]V, len(base)+len(more))
	maps.Copy(out, base)
	maps.Copy(out, more)
	return out
}

var (
	ip4Fields = fields{flow.FieldNwSrc: a4u("192.0.2.1"), flow.FieldNwDst: a4u("198.51.100.2"),
		flow.FieldNwTOS: 0x28, flow.FieldNwTTL: 64}
	ip6Fields = fields{flow.FieldNwTOS: 0xb8, flow.FieldNwTTL: 33, flow.FieldIPv6Label: 0x12345}
	ip6Addrs  = fields128{flow.FieldIPv6Src: a6u("2001:db8::1"), flow.FieldIPv6Dst: a6u("2001:db8::2")}
)

func v4l2(more fields) fields { return with(with(l2(0x800), ip4Fields), more) }

func v6l2(more fields) fields { return with(with(l2(0x86dd), ip6Fields), more) }

func ndTarget() [2]uint64 { return a6u("2001:db8::99") }

func nsFrame(opts ...[]byte) []byte {
	icmp := cat([]byte{135, 0, 0, 0, 0, 0, 0, 0}, a6("2001:db8::99"), cat(opts...))
	return cat(ethHdr(0x86dd), v6(ProtoICMPv6, len(icmp)), icmp)
}

func llOpt(typ uint8, mac uint64) []byte { return cat([]byte{typ, 1}, macb(mac)) }

// extractCase is a frame and the key OVS's miniflow_extract makes of it.
type extractCase struct {
	name   string
	frame  []byte
	reason DropReason
	want   fields
	want6  fields128
}

func extractCases() []extractCase {
	tcp := tcpHdr(40000, 80, TCPSyn|TCPAck|TCPNs)
	udp := udpHdr(5353, 53, 4)
	later := func(ip []byte) { put16(ip[6:], 0x2000|185) }
	return []extractCase{
		{name: "runt", frame: make([]byte, 13), reason: DropEthernetTruncated},
		{name: "unknown ethertype", frame: cat(ethHdr(0x88cc), make([]byte, 20)), want: l2(0x88cc)},
		{name: "vlan tag sets cfi and drops dei",
			frame: cat(macb(macDst), macb(macSrc), u16(0x8100), u16(0x3005), u16(0x88cc), make([]byte, 4)),
			want:  with(l2(0x88cc), fields{flow.FieldVLANTCI: 0x3005})},
		{name: "vlan pcp and vid",
			frame: cat(macb(macDst), macb(macSrc), u16(0x8100), u16(0xa064), u16(0x88cc)),
			want:  with(l2(0x88cc), fields{flow.FieldVLANTCI: 0xb064})},
		{name: "802.1ad outer tag",
			frame: cat(macb(macDst), macb(macSrc), u16(0x88a8), u16(0x0064), u16(0x88cc)),
			want:  with(l2(0x88cc), fields{flow.FieldVLANTCI: 0x1064})},
		{name: "second tag becomes dl_type",
			frame: cat(macb(macDst), macb(macSrc), u16(0x88a8), u16(0x0064), u16(0x8100), u16(5), u16(0x800),
				v4(ProtoUDP, 12, nil, nil), udp, make([]byte, 4)),
			want: with(l2(0x8100), fields{flow.FieldVLANTCI: 0x1064})},
		{name: "tag cut short is no tag",
			frame: cat(macb(macDst), macb(macSrc), u16(0x8100), u16(5)),
			want:  l2(0x8100)},
		{name: "802.2 without snap", frame: cat(ethHdr(20), []byte{0x42, 0x42, 3}, make([]byte, 17)),
			want: l2(0x5ff)},
		{name: "snap carries the ethertype",
			frame: cat(ethHdr(46), []byte{0xaa, 0xaa, 3, 0, 0, 0}, u16(0x800), v4(ProtoUDP, 12, nil, nil), udp, make([]byte, 4)),
			want:  v4l2(fields{flow.FieldNwProto: ProtoUDP, flow.FieldTpSrc: 5353, flow.FieldTpDst: 53})},
		{name: "snap with other oui",
			frame: cat(ethHdr(46), []byte{0xaa, 0xaa, 3, 0, 0, 1}, u16(0x800), make([]byte, 30)),
			want:  l2(0x5ff)},
		{name: "arp request",
			frame: cat(ethHdr(0x806), u16(1), u16(0x800), []byte{6, 4}, u16(1), macb(macSrc), a4("192.0.2.1"),
				macb(0), a4("192.0.2.7")),
			want: with(l2(0x806), fields{flow.FieldArpOp: 1, flow.FieldArpSpa: a4u("192.0.2.1"),
				flow.FieldArpTpa: a4u("192.0.2.7"), flow.FieldArpSha: macSrc})},
		{name: "rarp reply",
			frame: cat(ethHdr(0x8035), u16(1), u16(0x800), []byte{6, 4}, u16(4), macb(macSrc), a4("0.0.0.0"),
				macb(0x0a0b0c0d0e0f), a4("192.0.2.7")),
			want: with(l2(0x8035), fields{flow.FieldArpOp: 4, flow.FieldArpTpa: a4u("192.0.2.7"),
				flow.FieldArpSha: macSrc, flow.FieldArpTha: 0x0a0b0c0d0e0f})},
		{name: "arp opcode above 255 is not matched",
			frame: cat(ethHdr(0x806), u16(1), u16(0x800), []byte{6, 4}, u16(0x101), macb(macSrc), a4("192.0.2.1"),
				macb(0), a4("192.0.2.7")),
			want: with(l2(0x806), fields{flow.FieldArpSpa: a4u("192.0.2.1"),
				flow.FieldArpTpa: a4u("192.0.2.7"), flow.FieldArpSha: macSrc})},
		{name: "arp for another hardware type keeps l2",
			frame: cat(ethHdr(0x806), u16(6), u16(0x800), []byte{6, 4}, u16(1), make([]byte, 20)),
			want:  l2(0x806)},
		{name: "arp truncated", frame: cat(ethHdr(0x806), make([]byte, 27)), reason: DropARPTruncated, want: l2(0x806)},
		{name: "ipv4 tcp",
			frame: cat(ethHdr(0x800), v4(ProtoTCP, 20, nil, nil), tcp),
			want: v4l2(fields{flow.FieldNwProto: ProtoTCP, flow.FieldTpSrc: 40000, flow.FieldTpDst: 80,
				flow.FieldTCPFlags: TCPSyn | TCPAck | TCPNs})},
		{name: "ipv4 options",
			frame: cat(ethHdr(0x800), v4(ProtoTCP, 20, []byte{0x94, 4, 0, 0, 1, 1, 1, 0}, nil), tcp),
			want: v4l2(fields{flow.FieldNwProto: ProtoTCP, flow.FieldTpSrc: 40000, flow.FieldTpDst: 80,
				flow.FieldTCPFlags: TCPSyn | TCPAck | TCPNs})},
		{name: "ipv4 version is not checked",
			frame: cat(ethHdr(0x800), v4(ProtoUDP, 12, nil, func(ip []byte) { ip[0] = 0x65 }), udp, make([]byte, 4)),
			want:  v4l2(fields{flow.FieldNwProto: ProtoUDP, flow.FieldTpSrc: 5353, flow.FieldTpDst: 53})},
		{name: "ethernet padding is not l4",
			frame:  cat(ethHdr(0x800), v4(ProtoUDP, 4, nil, nil), udp[:4], make([]byte, 26)),
			reason: DropL4Truncated,
			want:   v4l2(fields{flow.FieldNwProto: ProtoUDP})},
		{name: "ipv4 first fragment",
			frame: cat(ethHdr(0x800), v4(ProtoUDP, 12, nil, func(ip []byte) { put16(ip[6:], 0x2000) }), udp, make([]byte, 4)),
			want: v4l2(fields{flow.FieldNwProto: ProtoUDP, flow.FieldNwFrag: FragAny,
				flow.FieldTpSrc: 5353, flow.FieldTpDst: 53})},
		{name: "ipv4 later fragment has no ports",
			frame: cat(ethHdr(0x800), v4(ProtoUDP, 12, nil, later), udp, make([]byte, 4)),
			want:  v4l2(fields{flow.FieldNwProto: ProtoUDP, flow.FieldNwFrag: FragAny | FragLater})},
		{name: "ipv4 last fragment",
			frame: cat(ethHdr(0x800), v4(ProtoUDP, 12, nil, func(ip []byte) { put16(ip[6:], 185) }), udp, make([]byte, 4)),
			want:  v4l2(fields{flow.FieldNwProto: ProtoUDP, flow.FieldNwFrag: FragAny | FragLater})},
		{name: "ipv4 truncated", frame: cat(ethHdr(0x800), make([]byte, 19)), reason: DropIPv4Truncated, want: l2(0x800)},
		{name: "ipv4 ihl below 5",
			frame:  cat(ethHdr(0x800), v4(ProtoUDP, 12, nil, func(ip []byte) { ip[0] = 0x44 }), udp, make([]byte, 4)),
			reason: DropIPv4HeaderLength, want: l2(0x800)},
		{name: "ipv4 ihl beyond frame",
			frame:  cat(ethHdr(0x800), v4(ProtoUDP, 0, nil, func(ip []byte) { ip[0] = 0x46 })),
			reason: DropIPv4HeaderLength, want: l2(0x800)},
		{name: "ipv4 total length beyond frame",
			frame:  cat(ethHdr(0x800), v4(ProtoUDP, 13, nil, nil), udp, make([]byte, 4)),
			reason: DropIPv4TotalLength, want: l2(0x800)},
		{name: "ipv4 total length below header",
			frame:  cat(ethHdr(0x800), v4(ProtoUDP, -1, nil, nil), udp, make([]byte, 4)),
			reason: DropIPv4TotalLength, want: l2(0x800)},
		{name: "tcp truncated keeps l3",
			frame:  cat(ethHdr(0x800), v4(ProtoTCP, 19, nil, nil), tcp[:19]),
			reason: DropL4Truncated, want: v4l2(fields{flow.FieldNwProto: ProtoTCP})},
		{name: "tcp data offset below 5",
			frame:  cat(ethHdr(0x800), v4(ProtoTCP, 20, nil, nil), tcp[:12], u16(4<<12|TCPSyn), tcp[14:]),
			reason: DropTCPHeaderLength, want: v4l2(fields{flow.FieldNwProto: ProtoTCP})},
		{name: "tcp data offset beyond packet",
			frame:  cat(ethHdr(0x800), v4(ProtoTCP, 20, nil, nil), tcp[:12], u16(6<<12|TCPSyn), tcp[14:]),
			reason: DropTCPHeaderLength, want: v4l2(fields{flow.FieldNwProto: ProtoTCP})},
		{name: "tcp with options",
			frame: cat(ethHdr(0x800), v4(ProtoTCP, 24, nil, nil), tcp[:12], u16(6<<12|TCPFin|0xe00), tcp[14:], []byte{2, 4, 5, 0xb4}),
			want: v4l2(fields{flow.FieldNwProto: ProtoTCP, flow.FieldTpSrc: 40000, flow.FieldTpDst: 80,
				flow.FieldTCPFlags: 0xe01})},
		{name: "sctp",
			frame: cat(ethHdr(0x800), v4(ProtoSCTP, 12, nil, nil), u16(3868), u16(3869), make([]byte, 8)),
			want:  v4l2(fields{flow.FieldNwProto: ProtoSCTP, flow.FieldTpSrc: 3868, flow.FieldTpDst: 3869})},
		{name: "icmp echo",
			frame: cat(ethHdr(0x800), v4(ProtoICMP, 8, nil, nil), []byte{8, 0, 0, 0, 0, 7, 0, 1}),
			want:  v4l2(fields{flow.FieldNwProto: ProtoICMP, flow.FieldIcmpType: 8})},
		{name: "icmp unreachable",
			frame: cat(ethHdr(0x800), v4(ProtoICMP, 8, nil, nil), []byte{3, 13, 0, 0, 0, 0, 0, 0}),
			want:  v4l2(fields{flow.FieldNwProto: ProtoICMP, flow.FieldIcmpType: 3, flow.FieldIcmpCode: 13})},
		{name: "icmp truncated",
			frame:  cat(ethHdr(0x800), v4(ProtoICMP, 7, nil, nil), []byte{3, 13, 0, 0, 0, 0, 0}),
			reason: DropL4Truncated, want: v4l2(fields{flow.FieldNwProto: ProtoICMP})},
		{name: "igmp",
			frame: cat(ethHdr(0x800), v4(ProtoIGMP, 8, nil, nil), []byte{0x16, 0, 0, 0}, a4("239.1.2.3")),
			want:  v4l2(fields{flow.FieldNwProto: ProtoIGMP, flow.FieldTpSrc: 0x16})},
		{name: "other ip protocol",
			frame: cat(ethHdr(0x800), v4(47, 4, nil, nil), make([]byte, 4)),
			want:  v4l2(fields{flow.FieldNwProto: 47})},
		{name: "ipv6 udp",
			frame: cat(ethHdr(0x86dd), v6(ProtoUDP, 12), udp, make([]byte, 4)),
			want:  v6l2(fields{flow.FieldNwProto: ProtoUDP, flow.FieldTpSrc: 5353, flow.FieldTpDst: 53}), want6: ip6Addrs},
		{name: "ipv6 extension headers walked",
			frame: cat(ethHdr(0x86dd), v6(ProtoHopOpts, 8+16+24+8+12),
				[]byte{ProtoDstOpts, 0, 1, 4, 0, 0, 0, 0},
				[]byte{ProtoRouting, 1, 1, 12, 0, 0, 0, 0}, make([]byte, 8),
				[]byte{ProtoAH, 2, 0, 0, 0, 0, 0, 0}, make([]byte, 16),
				[]byte{ProtoUDP, 0, 0, 0, 0, 0, 0, 0},
				udp, make([]byte, 4)),
			want: v6l2(fields{flow.FieldNwProto: ProtoUDP, flow.FieldTpSrc: 5353, flow.FieldTpDst: 53}), want6: ip6Addrs},
		{name: "ipv6 first fragment",
			frame: cat(ethHdr(0x86dd), v6(ProtoFragment, 8+20), []byte{ProtoTCP, 0, 0, 1, 0, 0, 0, 9}, tcp),
			want: v6l2(fields{flow.FieldNwProto: ProtoTCP, flow.FieldNwFrag: FragAny, flow.FieldTpSrc: 40000,
				flow.FieldTpDst: 80, flow.FieldTCPFlags: TCPSyn | TCPAck | TCPNs}), want6: ip6Addrs},
		{name: "ipv6 later fragment is proto 44",
			frame: cat(ethHdr(0x86dd), v6(ProtoFragment, 8+20), []byte{ProtoTCP, 0, 0x05, 0x01, 0, 0, 0, 9}, tcp),
			want:  v6l2(fields{flow.FieldNwProto: ProtoFragment, flow.FieldNwFrag: FragAny | FragLater}), want6: ip6Addrs},
		{name: "ipv6 atomic fragment is no fragment",
			frame: cat(ethHdr(0x86dd), v6(ProtoFragment, 8+12), []byte{ProtoUDP, 0, 0, 0, 0, 0, 0, 9}, udp, make([]byte, 4)),
			want:  v6l2(fields{flow.FieldNwProto: ProtoUDP, flow.FieldTpSrc: 5353, flow.FieldTpDst: 53}), want6: ip6Addrs},
		{name: "ipv6 extension header cut keeps only addresses",
			frame:  cat(ethHdr(0x86dd), v6(ProtoHopOpts, 8), []byte{ProtoUDP, 1, 0, 0, 0, 0, 0, 0}),
			reason: DropIPv6ExtHeader, want: l2(0x86dd), want6: ip6Addrs},
		{name: "ipv6 extension header shorter than 8",
			frame:  cat(ethHdr(0x86dd), v6(ProtoDstOpts, 6), []byte{ProtoUDP, 0, 0, 0, 0, 0}),
			reason: DropIPv6ExtHeader, want: l2(0x86dd), want6: ip6Addrs},
		{name: "ipv6 truncated", frame: cat(ethHdr(0x86dd), make([]byte, 39)), reason: DropIPv6Truncated, want: l2(0x86dd)},
		{name: "ipv6 payload length beyond frame",
			frame:  cat(ethHdr(0x86dd), v6(ProtoUDP, 13), udp, make([]byte, 4)),
			reason: DropIPv6PayloadLength, want: l2(0x86dd)},
		{name: "icmpv6 echo",
			frame: cat(ethHdr(0x86dd), v6(ProtoICMPv6, 8), []byte{128, 0, 0, 0, 0, 1, 0, 1}),
			want:  v6l2(fields{flow.FieldNwProto: ProtoICMPv6, flow.FieldIcmpType: 128}), want6: ip6Addrs},
		{name: "nd solicitation with sll",
			frame: nsFrame(llOpt(NDOptSourceLLAddr, macSrc)),
			want: v6l2(fields{flow.FieldNwProto: ProtoICMPv6, flow.FieldIcmpType: 135, flow.FieldNdSll: macSrc,
				flow.FieldTCPFlags: NDOptSourceLLAddr}),
			want6: fields128{flow.FieldIPv6Src: a6u("2001:db8::1"), flow.FieldIPv6Dst: a6u("2001:db8::2"),
				flow.FieldNdTarget: ndTarget()}},
		{name: "nd options tll first, unknown skipped",
			frame: nsFrame(cat([]byte{14, 2}, make([]byte, 14)), llOpt(NDOptTargetLLAddr, 0xaabbccddeeff), llOpt(NDOptSourceLLAddr, macSrc)),
			want: v6l2(fields{flow.FieldNwProto: ProtoICMPv6, flow.FieldIcmpType: 135, flow.FieldNdSll: macSrc,
				flow.FieldNdTll: 0xaabbccddeeff, flow.FieldTCPFlags: NDOptTargetLLAddr}),
			want6: fields128{flow.FieldIPv6Src: a6u("2001:db8::1"), flow.FieldIPv6Dst: a6u("2001:db8::2"),
				flow.FieldNdTarget: ndTarget()}},
		{name: "nd repeated sll clears target",
			frame:  nsFrame(llOpt(NDOptSourceLLAddr, macSrc), llOpt(NDOptSourceLLAddr, macDst)),
			reason: DropNDOption,
			want: v6l2(fields{flow.FieldNwProto: ProtoICMPv6, flow.FieldIcmpType: 135,
				flow.FieldTCPFlags: NDOptSourceLLAddr}),
			want6: ip6Addrs},
		{name: "nd zero-length option stops parsing",
			frame: nsFrame([]byte{1, 0, 0, 0, 0, 0, 0, 0}, llOpt(NDOptSourceLLAddr, macSrc)),
			want:  v6l2(fields{flow.FieldNwProto: ProtoICMPv6, flow.FieldIcmpType: 135}),
			want6: fields128{flow.FieldIPv6Src: a6u("2001:db8::1"), flow.FieldIPv6Dst: a6u("2001:db8::2"),
				flow.FieldNdTarget: ndTarget()}},
		{name: "nd without target",
			frame: cat(ethHdr(0x86dd), v6(ProtoICMPv6, 12), []byte{136, 0, 0, 0, 0x60, 0, 0, 0, 1, 2, 3, 4}),
			want:  v6l2(fields{flow.FieldNwProto: ProtoICMPv6, flow.FieldIcmpType: 136}), want6: ip6Addrs},
		{name: "nd with non-zero code is plain icmpv6",
			frame: cat(ethHdr(0x86dd), v6(ProtoICMPv6, 24), []byte{136, 1, 0, 0, 0x60, 0, 0, 0}, a6("2001:db8::99")),
			want:  v6l2(fields{flow.FieldNwProto: ProtoICMPv6, flow.FieldIcmpType: 136, flow.FieldIcmpCode: 1}), want6: ip6Addrs},
	}
}

// extractTableFrames returns the frames of extractCases, for the comparison with OVS.
func extractTableFrames() [][]byte {
	var fs [][]byte
	for _, tc := range extractCases() {
		fs = append(fs, tc.frame)
	}
	return fs
}

func TestExtract(t *testing.T) {
	for _, tc := range extractCases() {
		t.Run(tc.name, func(t *testing.T) {
			var k flow.Key
			var info Info
			r := Extract(tc.frame, 7, &k, &info)
			if r != tc.reason {
				t.Errorf("reason: got %v, want %v", r, tc.reason)
			}
			want := keyOf(7, tc.want, tc.want6)
			if d := keyDiff(&k, &want); d != "" {
				t.Errorf("key: %s", d)
			}
		})
	}
}

func TestExtractInfo(t *testing.T) {
	tcp := tcpHdr(1, 2, TCPSyn)
	cases := []struct {
		name  string
		frame []byte
		want  Info
	}{
		{name: "tagged ipv4 tcp with padding",
			frame: cat(macb(macDst), macb(macSrc), u16(0x8100), u16(5), u16(0x800), v4(ProtoTCP, 20, nil, nil), tcp, make([]byte, 6)),
			want:  Info{VLAN: 12, L3: 18, L4: 38, L7: 58, End: 58, EthType: 0x800, Proto: ProtoTCP, Flags: FlagIPv4 | FlagL4}},
		{name: "ipv6 routing header with segments left",
			frame: cat(ethHdr(0x86dd), v6(ProtoRouting, 8+8), []byte{ProtoUDP, 0, 0, 1, 0, 0, 0, 0}, udpHdr(1, 2, 0)),
			want: Info{L3: 14, L4: 62, L7: 70, End: 70, EthType: 0x86dd, Proto: ProtoUDP,
				Flags: FlagIPv6 | FlagL4 | FlagIPv6Route}},
		{name: "ipv6 fragment header after hop-by-hop",
			frame: cat(ethHdr(0x86dd), v6(ProtoHopOpts, 8+8+8), []byte{ProtoFragment, 0, 1, 4, 0, 0, 0, 0},
				[]byte{ProtoUDP, 0, 0, 1, 0, 0, 0, 7}, udpHdr(1, 2, 0)),
			want: Info{L3: 14, L4: 70, L7: 78, End: 78, EthType: 0x86dd, Proto: ProtoUDP, Frag: FragAny,
				Flags: FlagIPv6 | FlagL4, IPv6Frag: 62}},
		{name: "ipv4 later fragment",
			frame: cat(ethHdr(0x800), v4(ProtoTCP, 20, nil, func(ip []byte) { put16(ip[6:], 3) }), tcp),
			want:  Info{L3: 14, L4: 34, End: 54, EthType: 0x800, Proto: ProtoTCP, Frag: FragAny | FragLater, Flags: FlagIPv4}},
		{name: "nd options",
			frame: nsFrame(llOpt(NDOptTargetLLAddr, 1), llOpt(NDOptSourceLLAddr, 2)),
			want: Info{L3: 14, L4: 54, L7: 62, End: 94, EthType: 0x86dd, Proto: ProtoICMPv6, Flags: FlagIPv6 | FlagL4,
				NDTarget: 62, NDTLL: 80, NDSLL: 88}},
		{name: "arp",
			frame: cat(ethHdr(0x806), u16(1), u16(0x800), []byte{6, 4}, u16(2), make([]byte, 20)),
			want:  Info{L3: 14, End: 42, EthType: 0x806, Proto: 2, Flags: FlagARP}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, info := mustExtract(t, tc.frame)
			if info != tc.want {
				t.Errorf("got %+v, want %+v", info, tc.want)
			}
		})
	}
}

func TestDropReasonString(t *testing.T) {
	seen := map[string]bool{}
	for r := DropReason(0); r < NumDropReasons; r++ {
		s := r.String()
		if s == "" || seen[s] {
			t.Errorf("reason %d: name %q empty or repeated", r, s)
		}
		seen[s] = true
	}
	if got, want := DropReason(200).String(), "reason(200)"; got != want {
		t.Errorf("out of range: got %q, want %q", got, want)
	}
}

func TestDropCounters(t *testing.T) {
	var c DropCounters
	c.Inc(DropL4Truncated)
	c.Inc(DropL4Truncated)
	c.Inc(ReasonNone)
	c.Inc(NumDropReasons)
	if got := c.Load(DropL4Truncated); got != 2 {
		t.Errorf("l4_truncated: got %d, want 2", got)
	}
	s := c.Snapshot()
	if s[ReasonNone] != 0 || s[DropL4Truncated] != 2 {
		t.Errorf("snapshot: got %v", s)
	}
}
