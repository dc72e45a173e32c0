package flow

import (
	"fmt"
	"strings"
)

// valueKind says how a field's values are written in ovs-ofctl text.
type valueKind uint8

const (
	kindHex valueKind = iota
	kindDec
	kindIPv4
	kindIPv6
	kindMAC
	kindPort
	kindCtState
	kindFrag
	kindTCPFlags
)

// prereq is what a match must establish before a field may be matched, set or read.
type prereq uint8

const (
	preNone prereq = iota
	preIPv4
	preIPv6
	preIPAny
	preARP
	preVLAN
	preTCP
	preUDP
	preSCTP
	preL4 // tcp, udp or sctp (the generic tp_src/tp_dst)
	preICMPv4
	preICMPv6
	preND
	preNDSolicit
	preNDAdvert
	preCT     // ct_state establishes a valid connection (+new, +est, +rel, +rpl, …)
	preCTIPv4 // preCT and ip
	preCTProto
)

var prereqText = [...]string{
	preNone:      "",
	preIPv4:      "ip (dl_type=0x0800)",
	preIPv6:      "ipv6 (dl_type=0x86dd)",
	preIPAny:     "ip or ipv6",
	preARP:       "arp (dl_type=0x0806)",
	preVLAN:      "a VLAN header (vlan_tci with 0x1000 set)",
	preTCP:       "tcp or tcp6 (nw_proto=6)",
	preUDP:       "udp or udp6 (nw_proto=17)",
	preSCTP:      "sctp or sctp6 (nw_proto=132)",
	preL4:        "tcp, udp or sctp (ip or ipv6 with nw_proto 6, 17 or 132)",
	preICMPv4:    "icmp (ip with nw_proto=1)",
	preICMPv6:    "icmp6 (ipv6 with nw_proto=58)",
	preND:        "icmp6 with icmp_type=135 or 136 (neighbour discovery)",
	preNDSolicit: "icmp6 with icmp_type=135 (neighbour solicitation)",
	preNDAdvert:  "icmp6 with icmp_type=136 (neighbour advertisement)",
	preCT:        "a tracked, valid connection (ct_state with +trk and one of +new, +est, +rel, +rpl, +snat, +dnat)",
	preCTIPv4:    "ip and a tracked, valid connection (ct_state=+trk+est or similar)",
	preCTProto:   "ct_nw_proto",
}

// fieldSpec is what the text form and the validator know about a field beyond its layout.
type fieldSpec struct {
	name     string // OVS's canonical name, as set_field and learn print it
	nxm      string // NXM/OXM name, as subfields (move, load, learn) print it
	bits     uint16 // OVS's width for subfields and set_field values
	kind     valueKind
	pre      prereq
	maskable bool
	writable bool
	aliases  []string
}

var specs [NumFields]fieldSpec

func init() {
	s := func(f Field, name, nxm string, bits uint16, kind valueKind, pre prereq, maskable, writable bool, aliases ...string) {
		specs[f] = fieldSpec{name, nxm, bits, kind, pre, maskable, writable, aliases}
	}
	s(FieldInPort, "in_port", "NXM_OF_IN_PORT", 16, kindPort, preNone, false, true)
	s(FieldPktMark, "pkt_mark", "NXM_NX_PKT_MARK", 32, kindHex, preNone, true, true)
	s(FieldMetadata, "metadata", "OXM_OF_METADATA", 64, kindHex, preNone, true, true)
	for i := 0; i < 16; i++ {
		s(FieldReg0+Field(i), fmt.Sprintf("reg%d", i), fmt.Sprintf("NXM_NX_REG%d", i), 32, kindHex, preNone, true, true)
	}
	for i := 0; i < 8; i++ {
		s(FieldXReg0+Field(i), fmt.Sprintf("xreg%d", i), fmt.Sprintf("OXM_OF_PKT_REG%d", i), 64, kindHex, preNone, true, true)
	}
	for i := 0; i < 4; i++ {
		s(FieldXXReg0+Field(i), fmt.Sprintf("xxreg%d", i), fmt.Sprintf("NXM_NX_XXREG%d", i), 128, kindHex, preNone, true, true)
	}
	s(FieldTunID, "tun_id", "NXM_NX_TUN_ID", 64, kindHex, preNone, true, true, "tunnel_id", "OXM_OF_TUNNEL_ID")
	s(FieldTunSrc, "tun_src", "NXM_NX_TUN_IPV4_SRC", 32, kindIPv4, preNone, true, true, "tun_ipv4_src")
	s(FieldTunDst, "tun_dst", "NXM_NX_TUN_IPV4_DST", 32, kindIPv4, preNone, true, true, "tun_ipv4_dst")
	s(FieldCtState, "ct_state", "NXM_NX_CT_STATE", 32, kindCtState, preNone, true, false)
	s(FieldCtZone, "ct_zone", "NXM_NX_CT_ZONE", 16, kindHex, preNone, false, false)
	s(FieldCtNwProto, "ct_nw_proto", "NXM_NX_CT_NW_PROTO", 8, kindDec, preCT, false, false)
	s(FieldCtMark, "ct_mark", "NXM_NX_CT_MARK", 32, kindHex, preNone, true, true)
	s(FieldConjID, "conj_id", "NXM_NX_CONJ_ID", 32, kindDec, preNone, false, false)
	s(FieldCtLabel, "ct_label", "NXM_NX_CT_LABEL", 128, kindHex, preNone, true, true)
	s(FieldCtNwSrc, "ct_nw_src", "NXM_NX_CT_NW_SRC", 32, kindIPv4, preCTIPv4, true, false)
	s(FieldCtNwDst, "ct_nw_dst", "NXM_NX_CT_NW_DST", 32, kindIPv4, preCTIPv4, true, false)
	s(FieldCtTpSrc, "ct_tp_src", "NXM_NX_CT_TP_SRC", 16, kindDec, preCTProto, true, false)
	s(FieldCtTpDst, "ct_tp_dst", "NXM_NX_CT_TP_DST", 16, kindDec, preCTProto, true, false)
	s(FieldEthType, "eth_type", "NXM_OF_ETH_TYPE", 16, kindHex, preNone, false, false, "dl_type", "OXM_OF_ETH_TYPE")
	s(FieldVLANTCI, "vlan_tci", "NXM_OF_VLAN_TCI", 16, kindHex, preNone, true, true)
	s(FieldVLANVID, "vlan_vid", "OXM_OF_VLAN_VID", 13, kindDec, preNone, true, true)
	s(FieldVLANPCP, "vlan_pcp", "OXM_OF_VLAN_PCP", 3, kindDec, preVLAN, false, true)
	s(FieldEthSrc, "eth_src", "NXM_OF_ETH_SRC", 48, kindMAC, preNone, true, true, "dl_src", "OXM_OF_ETH_SRC")
	s(FieldEthDst, "eth_dst", "NXM_OF_ETH_DST", 48, kindMAC, preNone, true, true, "dl_dst", "OXM_OF_ETH_DST")
	s(FieldNwProto, "nw_proto", "NXM_OF_IP_PROTO", 8, kindDec, preIPAny, false, false, "ip_proto", "OXM_OF_IP_PROTO")
	s(FieldNwTOS, "nw_tos", "NXM_OF_IP_TOS", 8, kindDec, preIPAny, false, true)
	s(FieldIPDSCP, "ip_dscp", "OXM_OF_IP_DSCP", 6, kindDec, preIPAny, false, true)
	s(FieldNwECN, "nw_ecn", "NXM_NX_IP_ECN", 2, kindDec, preIPAny, false, true, "ip_ecn", "OXM_OF_IP_ECN")
	s(FieldNwTTL, "nw_ttl", "NXM_NX_IP_TTL", 8, kindDec, preIPAny, false, true)
	s(FieldNwFrag, "ip_frag", "NXM_NX_IP_FRAG", 8, kindFrag, preIPAny, true, false, "nw_frag")
	s(FieldNwSrc, "ip_src", "NXM_OF_IP_SRC", 32, kindIPv4, preIPv4, true, true, "nw_src", "OXM_OF_IPV4_SRC")
	s(FieldNwDst, "ip_dst", "NXM_OF_IP_DST", 32, kindIPv4, preIPv4, true, true, "nw_dst", "OXM_OF_IPV4_DST")
	s(FieldTpSrc, "tp_src", "NXM_OF_TCP_SRC", 16, kindDec, preL4, true, true)
	s(FieldTpDst, "tp_dst", "NXM_OF_TCP_DST", 16, kindDec, preL4, true, true)
	s(FieldTCPFlags, "tcp_flags", "NXM_NX_TCP_FLAGS", 12, kindTCPFlags, preTCP, true, false, "OXM_OF_TCP_FLAGS", "ONFOXM_ET_TCP_FLAGS")
	s(FieldIPv6Src, "ipv6_src", "NXM_NX_IPV6_SRC", 128, kindIPv6, preIPv6, true, true, "OXM_OF_IPV6_SRC")
	s(FieldIPv6Dst, "ipv6_dst", "NXM_NX_IPV6_DST", 128, kindIPv6, preIPv6, true, true, "OXM_OF_IPV6_DST")
	s(FieldIPv6Label, "ipv6_label", "NXM_NX_IPV6_LABEL", 20, kindHex, preIPv6, true, true, "OXM_OF_IPV6_FLABEL")
	s(FieldArpOp, "arp_op", "NXM_OF_ARP_OP", 8, kindDec, preARP, false, true, "OXM_OF_ARP_OP")
	s(FieldArpSpa, "arp_spa", "NXM_OF_ARP_SPA", 32, kindIPv4, preARP, true, true, "OXM_OF_ARP_SPA")
	s(FieldArpTpa, "arp_tpa", "NXM_OF_ARP_TPA", 32, kindIPv4, preARP, true, true, "OXM_OF_ARP_TPA")
	s(FieldArpSha, "arp_sha", "NXM_NX_ARP_SHA", 48, kindMAC, preARP, true, true, "OXM_OF_ARP_SHA")
	s(FieldArpTha, "arp_tha", "NXM_NX_ARP_THA", 48, kindMAC, preARP, true, true, "OXM_OF_ARP_THA")
	s(FieldIcmpType, "icmp_type", "NXM_OF_ICMP_TYPE", 8, kindDec, preICMPv4, false, true, "OXM_OF_ICMPV4_TYPE")
	s(FieldIcmpCode, "icmp_code", "NXM_OF_ICMP_CODE", 8, kindDec, preICMPv4, false, true, "OXM_OF_ICMPV4_CODE")
	s(FieldNdTarget, "nd_target", "NXM_NX_ND_TARGET", 128, kindIPv6, preND, true, true, "OXM_OF_IPV6_ND_TARGET")
	s(FieldNdSll, "nd_sll", "NXM_NX_ND_SLL", 48, kindMAC, preNDSolicit, true, true, "OXM_OF_IPV6_ND_SLL")
	s(FieldNdTll, "nd_tll", "NXM_NX_ND_TLL", 48, kindMAC, preNDAdvert, true, true, "OXM_OF_IPV6_ND_TLL")
	s(FieldTCPSrc, "tcp_src", "NXM_OF_TCP_SRC", 16, kindDec, preTCP, true, true, "OXM_OF_TCP_SRC")
	s(FieldTCPDst, "tcp_dst", "NXM_OF_TCP_DST", 16, kindDec, preTCP, true, true, "OXM_OF_TCP_DST")
	s(FieldUDPSrc, "udp_src", "NXM_OF_UDP_SRC", 16, kindDec, preUDP, true, true, "OXM_OF_UDP_SRC")
	s(FieldUDPDst, "udp_dst", "NXM_OF_UDP_DST", 16, kindDec, preUDP, true, true, "OXM_OF_UDP_DST")
	s(FieldSCTPSrc, "sctp_src", "OXM_OF_SCTP_SRC", 16, kindDec, preSCTP, true, true)
	s(FieldSCTPDst, "sctp_dst", "OXM_OF_SCTP_DST", 16, kindDec, preSCTP, true, true)
	s(FieldIcmpv6Type, "icmpv6_type", "NXM_NX_ICMPV6_TYPE", 8, kindDec, preICMPv6, false, true, "OXM_OF_ICMPV6_TYPE")
	s(FieldIcmpv6Code, "icmpv6_code", "NXM_NX_ICMPV6_CODE", 8, kindDec, preICMPv6, false, true, "OXM_OF_ICMPV6_CODE")

	for f := Field(0); f < NumFields; f++ {
		sp := &specs[f]
		for _, n := range append([]string{sp.name, sp.nxm, f.String()}, sp.aliases...) {
			if _, dup := textNames[n]; !dup {
				textNames[n] = f
			}
		}
	}
	// OVS's tp_src/tp_dst are aliases of tcp_src/tcp_dst in actions; in a match they name the
	// shared bits whatever the protocol (Match.ParseMatchField only uses the position).
	textNames["tp_src"], textNames["tp_dst"] = FieldTCPSrc, FieldTCPDst
	textNames["NXM_OF_TCP_SRC"], textNames["NXM_OF_TCP_DST"] = FieldTCPSrc, FieldTCPDst
}

// textNames maps every name the text form accepts for a field (OVS names, aliases, NXM and
// OXM names) to the field.
var textNames = map[string]Field{}

// lookupField finds a field by any of its text names; NXM "_W" (masked) suffixes are accepted.
func lookupField(name string) (Field, bool) {
	if f, ok := textNames[name]; ok {
		return f, true
	}
	if n, ok := strings.CutSuffix(name, "_W"); ok {
		f, ok := textNames[n]
		return f, ok
	}
	return 0, false
}

// Width returns the field's width in bits as OpenFlow subfields count it (in_port is 16 bits,
// as NXM_OF_IN_PORT; vlan_vid 12; tcp_flags 12; 128-bit fields 128).
func (f Field) Width() uint16 {
	if f >= NumFields {
		return 0
	}
	return specs[f].bits
}

// valueWidth is the width of the field's values in set_field and matches: its Width, except
// in_port, whose values are 32-bit OpenFlow 1.1 port numbers (NXM_OF_IN_PORT[] subfields are
// 16 bits, and read the low half).
func (f Field) valueWidth() uint16 {
	if f == FieldInPort {
		return 32
	}
	return f.Width()
}

// Writable reports whether set_field, load and move may write the field.
func (f Field) Writable() bool { return f < NumFields && specs[f].writable }

// OVSName returns the field's canonical OVS name as set_field prints it ("ip_dst", "eth_src").
func (f Field) OVSName() string {
	if f >= NumFields {
		return f.String()
	}
	return specs[f].name
}

// NXMName returns the name subfields print with ("NXM_NX_REG0", "OXM_OF_METADATA").
func (f Field) NXMName() string {
	if f >= NumFields {
		return f.String()
	}
	return specs[f].nxm
}

// Full returns the subfield covering all of f.
func (f Field) Full() Subfield { return Subfield{Field: f, Bits: f.Width()} }

// String returns the subfield as OVS prints it: NXM_NX_REG0[], NXM_NX_REG0[3], NXM_NX_REG0[0..15].
func (s Subfield) String() string {
	name := s.Field.NXMName()
	switch {
	case s.Ofs == 0 && s.Bits == s.Field.Width():
		return name + "[]"
	case s.Bits == 1:
		return fmt.Sprintf("%s[%d]", name, s.Ofs)
	default:
		return fmt.Sprintf("%s[%d..%d]", name, s.Ofs, s.Ofs+s.Bits-1)
	}
}
