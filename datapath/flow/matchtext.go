package flow

import (
	"fmt"
	"strings"
)

// EtherTypes and IP protocols the text form names.
const (
	EthTypeIPv4 = 0x0800
	EthTypeARP  = 0x0806
	EthTypeRARP = 0x8035
	EthTypeIPv6 = 0x86dd
	EthTypeVLAN = 0x8100

	IPProtoICMP   = 1
	IPProtoTCP    = 6
	IPProtoUDP    = 17
	IPProtoICMPv6 = 58
	IPProtoSCTP   = 132
)

var protocols = map[string]struct {
	ethType uint16
	proto   uint8
}{
	"ip":    {EthTypeIPv4, 0},
	"ipv4":  {EthTypeIPv4, 0},
	"ipv6":  {EthTypeIPv6, 0},
	"arp":   {EthTypeARP, 0},
	"rarp":  {EthTypeRARP, 0},
	"icmp":  {EthTypeIPv4, IPProtoICMP},
	"tcp":   {EthTypeIPv4, IPProtoTCP},
	"udp":   {EthTypeIPv4, IPProtoUDP},
	"sctp":  {EthTypeIPv4, IPProtoSCTP},
	"icmp6": {EthTypeIPv6, IPProtoICMPv6},
	"tcp6":  {EthTypeIPv6, IPProtoTCP},
	"udp6":  {EthTypeIPv6, IPProtoUDP},
	"sctp6": {EthTypeIPv6, IPProtoSCTP},
}

// exact reports whether the match names field f with all of the field's bits.
func (m *Match) exact(f Field) bool {
	return m.Mask.Get(f) == f.Info().Mask64()
}

// has reports whether the match names any bit of f.
func (m *Match) has(f Field) bool {
	hi, lo := m.Mask.Get128(f)
	return hi|lo != 0
}

// ethType returns the matched dl_type, or 0 when the match does not name it exactly.
func (m *Match) ethType() uint16 {
	if !m.exact(FieldEthType) {
		return 0
	}
	return uint16(m.Key.Get(FieldEthType))
}

// ipProto returns the matched nw_proto and whether it is named exactly.
func (m *Match) ipProto() (uint8, bool) {
	return uint8(m.Key.Get(FieldNwProto)), m.exact(FieldNwProto)
}

// setValue stores v/mask into field f.
func (m *Match) setValue(f Field, v, mask Value) {
	if f.Info().Bits == 128 {
		m.Set128(f, v.Hi, v.Lo, mask.Hi, mask.Lo)
		return
	}
	m.Set(f, v.Lo, mask.Lo)
}

// ParseMatchField adds one "name=value" element of an ovs-ofctl match (or a protocol
// shorthand such as "tcp" with an empty value) to m. Prerequisites are checked by
// Match.Validate, once the whole match is known.
func (m *Match) ParseMatchField(name, value string) error {
	if p, ok := protocols[name]; ok {
		if value != "" {
			return fmt.Errorf("%s: protocol shorthand takes no value", name)
		}
		m.Set(FieldEthType, uint64(p.ethType), 0xffff)
		if p.proto != 0 {
			m.Set(FieldNwProto, uint64(p.proto), 0xff)
		}
		return nil
	}
	if value == "" {
		return nil // "field=" matches on the field's existence only: a no-op, as in OVS
	}
	switch name {
	case "dl_vlan":
		n, err := parseUintBits(value, 16)
		if err != nil {
			return fmt.Errorf("dl_vlan: %w", err)
		}
		if n == 0xffff { // OpenFlow 1.0's "no VLAN"
			m.Set(FieldVLANTCI, 0, 0xffff)
			return nil
		}
		if n > 0xfff {
			return fmt.Errorf("dl_vlan: %s: VLAN ID must be 0 through 4095", value)
		}
		m.Set(FieldVLANTCI, 0x1000|n, 0x1fff)
		return nil
	case "dl_vlan_pcp", "vlan_pcp":
		n, err := parseUintBits(value, 3)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		m.Set(FieldVLANTCI, 0x1000|n<<13, 0xf000)
		return nil
	case "nw_tos":
		n, err := parseUintBits(value, 8)
		if err != nil {
			return fmt.Errorf("nw_tos: %w", err)
		}
		m.Set(FieldNwTOS, n&0xfc, 0xfc)
		return nil
	case "ip_dscp":
		n, err := parseUintBits(value, 6)
		if err != nil {
			return fmt.Errorf("ip_dscp: %w", err)
		}
		m.Set(FieldNwTOS, n<<2, 0xfc)
		return nil
	case "nw_ecn", "ip_ecn":
		n, err := parseUintBits(value, 2)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		m.Set(FieldNwTOS, n, 0x03)
		return nil
	}
	f, ok := lookupField(name)
	if !ok {
		return fmt.Errorf("unknown keyword %s", name)
	}
	v, mask, err := parseValue(f, value)
	if err != nil {
		return err
	}
	sp := &specs[f]
	full := ones(sp.bits)
	if f == FieldInPort {
		full = Value{Lo: 0xffffffff}
	}
	if mask != full && !sp.maskable {
		return fmt.Errorf("%s: field %s does not support masking", value, sp.name)
	}
	if mask == full && f.Info().Bits != 128 {
		// Non-maskable fields narrower than their Key slot (icmp_type in tp_src) match the
		// whole slot, as OVS does.
		mask = Value{Lo: f.Info().Mask64()}
	}
	if f == FieldCtState {
		mask.Lo &= ctAll
	}
	m.setValue(f, v.and(mask), mask)
	return nil
}

// normalize applies OVS's own rewrites of a match: a vlan_tci match that requires "no VLAN"
// (CFI bit matched as 0) ignores the PCP bits, as OpenFlow 1.2+'s vlan_vid carries none.
func (m *Match) normalize() {
	tm := m.Mask.Get(FieldVLANTCI)
	if tm&0x1000 != 0 && m.Key.Get(FieldVLANTCI)&0x1000 == 0 {
		m.Mask.Set(FieldVLANTCI, tm&0x1fff)
		m.Key.Set(FieldVLANTCI, m.Key.Get(FieldVLANTCI)&tm&0x1fff)
	}
}

// String prints the match as ovs-ofctl does (OVS's match_format), without a priority.
func (m *Match) String() string {
	var b strings.Builder
	m.format(&b, DefaultPriority)
	return b.String()
}

// format prints "priority=N," (when not the default) and the match fields in OVS's order,
// with no trailing comma.
func (m *Match) format(b *strings.Builder, priority uint16) {
	start := b.Len()
	put := func(format string, args ...any) {
		fmt.Fprintf(b, format, args...)
		b.WriteByte(',')
	}
	key, mask := &m.Key, &m.Mask
	u32 := func(name string, f Field) {
		v, mk := key.Get(f), mask.Get(f)
		if mk == 0 {
			return
		}
		if mk == 0xffffffff {
			put("%s=%s", name, Value{Lo: v}.hex())
		} else {
			put("%s=%s/%s", name, Value{Lo: v}.hex(), Value{Lo: mk}.hex())
		}
	}
	u64 := func(name string, f Field) {
		v, mk := key.Get(f), mask.Get(f)
		if mk == 0 {
			return
		}
		if mk == ^uint64(0) {
			put("%s=%s", name, Value{Lo: v}.hex())
		} else {
			put("%s=%s/%s", name, Value{Lo: v}.hex(), Value{Lo: mk}.hex())
		}
	}
	u16 := func(name string, f Field) {
		v, mk := key.Get(f), mask.Get(f)
		if mk == 0 {
			return
		}
		if mk == 0xffff {
			put("%s=%d", name, v)
		} else {
			put("%s=0x%x/0x%x", name, v, mk)
		}
	}
	ip := func(name string, f Field) {
		if mk := mask.Get(f); mk != 0 {
			put("%s=%s", name, formatIPv4Masked(key.Get(f), mk))
		}
	}
	ip6 := func(name string, f Field) {
		mh, ml := mask.Get128(f)
		if mh|ml != 0 {
			vh, vl := key.Get128(f)
			put("%s=%s", name, formatIPv6Masked(Value{vh, vl}, Value{mh, ml}))
		}
	}
	eth := func(name string, f Field) {
		if mk := mask.Get(f); mk != 0 {
			s := formatMAC(key.Get(f))
			if mk != 0xffffffffffff {
				s += "/" + formatMAC(mk)
			}
			put("%s=%s", name, s)
		}
	}

	if priority != DefaultPriority {
		put("priority=%d", priority)
	}
	u32("pkt_mark", FieldPktMark)
	if mask.Get(FieldConjID) != 0 {
		put("conj_id=%d", key.Get(FieldConjID))
	}
	if mk := mask.Get(FieldCtState); mk != 0 {
		put("ct_state=%s", formatFlags(key.Get(FieldCtState), mk, ctAll, ctStateNames))
	}
	u16("ct_zone", FieldCtZone)
	u32("ct_mark", FieldCtMark)
	if mh, ml := mask.Get128(FieldCtLabel); mh|ml != 0 {
		vh, vl := key.Get128(FieldCtLabel)
		if mh == ^uint64(0) && ml == ^uint64(0) {
			put("ct_label=%s", Value{vh, vl}.hex())
		} else {
			put("ct_label=%s/%s", Value{vh, vl}.hex(), Value{mh, ml}.hex())
		}
	}
	ip("ct_nw_src", FieldCtNwSrc)
	ip("ct_nw_dst", FieldCtNwDst)
	if mask.Get(FieldCtNwProto) != 0 {
		put("ct_nw_proto=%d", key.Get(FieldCtNwProto))
		u16("ct_tp_src", FieldCtTpSrc)
		u16("ct_tp_dst", FieldCtTpDst)
	}

	dlType := uint16(key.Get(FieldEthType))
	hasType := mask.Get(FieldEthType) != 0
	proto := uint8(key.Get(FieldNwProto))
	hasProto := mask.Get(FieldNwProto) != 0
	skipType, skipProto := false, false
	if hasType {
		skipType = true
		switch dlType {
		case EthTypeIPv4, EthTypeIPv6:
			v6 := dlType == EthTypeIPv6
			name := pick(v6, "ipv6", "ip")
			if hasProto {
				skipProto = true
				switch {
				case !v6 && proto == IPProtoICMP:
					name = "icmp"
				case v6 && proto == IPProtoICMPv6:
					name = "icmp6"
				case proto == IPProtoTCP:
					name = pick(v6, "tcp6", "tcp")
				case proto == IPProtoUDP:
					name = pick(v6, "udp6", "udp")
				case proto == IPProtoSCTP:
					name = pick(v6, "sctp6", "sctp")
				default:
					skipProto = false
				}
			}
			put("%s", name)
		case EthTypeARP:
			put("arp")
		case EthTypeRARP:
			put("rarp")
		default:
			skipType = false
		}
	}
	for i := range 16 {
		u32(fmt.Sprintf("reg%d", i), FieldReg0+Field(i))
	}
	u64("tun_id", FieldTunID)
	ip("tun_src", FieldTunSrc)
	ip("tun_dst", FieldTunDst)
	u64("metadata", FieldMetadata)
	if mask.Get(FieldInPort) != 0 {
		put("in_port=%s", formatPort(uint32(key.Get(FieldInPort))))
	}
	if tm := uint16(mask.Get(FieldVLANTCI)); tm != 0 {
		tci := uint16(key.Get(FieldVLANTCI))
		vidMask, pcpMask, cfi := tm&0x0fff, tm&0xe000, tm&0x1000
		if cfi != 0 && tci&0x1000 != 0 && (vidMask == 0 || vidMask == 0x0fff) &&
			(pcpMask == 0 || pcpMask == 0xe000) && (vidMask != 0 || pcpMask != 0) {
			if vidMask != 0 {
				put("dl_vlan=%d", tci&0x0fff)
			}
			if pcpMask != 0 {
				put("dl_vlan_pcp=%d", tci>>13)
			}
		} else if tm == 0xffff {
			put("vlan_tci=0x%04x", tci)
		} else {
			put("vlan_tci=0x%04x/0x%04x", tci, tm)
		}
	}
	eth("dl_src", FieldEthSrc)
	eth("dl_dst", FieldEthDst)
	if !skipType && hasType {
		put("dl_type=0x%04x", dlType)
	}
	isARP := dlType == EthTypeARP || dlType == EthTypeRARP
	switch {
	case dlType == EthTypeIPv6:
		ip6("ipv6_src", FieldIPv6Src)
		ip6("ipv6_dst", FieldIPv6Dst)
		if mk := mask.Get(FieldIPv6Label); mk != 0 {
			if mk == 0xfffff {
				put("ipv6_label=0x%05x", key.Get(FieldIPv6Label))
			} else {
				put("ipv6_label=0x%05x/0x%05x", key.Get(FieldIPv6Label), mk)
			}
		}
	case isARP:
		ip("arp_spa", FieldNwSrc)
		ip("arp_tpa", FieldNwDst)
	default:
		ip("nw_src", FieldNwSrc)
		ip("nw_dst", FieldNwDst)
	}
	if !skipProto && hasProto {
		if isARP {
			put("arp_op=%d", proto)
		} else {
			put("nw_proto=%d", proto)
		}
	}
	if isARP {
		eth("arp_sha", FieldArpSha)
		eth("arp_tha", FieldArpTha)
	}
	tos, tosMask := key.Get(FieldNwTOS), mask.Get(FieldNwTOS)
	if tosMask&0xfc != 0 {
		put("nw_tos=%d", tos&0xfc)
	}
	if tosMask&0x03 != 0 {
		put("nw_ecn=%d", tos&0x03)
	}
	if mask.Get(FieldNwTTL) != 0 {
		put("nw_ttl=%d", key.Get(FieldNwTTL))
	}
	frag, fragMask := key.Get(FieldNwFrag), mask.Get(FieldNwFrag)
	switch fragMask & (fragAny | fragLater) {
	case fragAny | fragLater:
		switch {
		case frag&fragAny != 0 && frag&fragLater != 0:
			put("nw_frag=later")
		case frag&fragAny != 0:
			put("nw_frag=first")
		case frag&fragLater != 0:
			put("nw_frag=<error>")
		default:
			put("nw_frag=no")
		}
	case fragAny:
		put("nw_frag=%s", pick(frag&fragAny != 0, "yes", "no"))
	case fragLater:
		put("nw_frag=%s", pick(frag&fragLater != 0, "later", "not_later"))
	}
	switch {
	case dlType == EthTypeIPv4 && proto == IPProtoICMP:
		u16("icmp_type", FieldTpSrc)
		u16("icmp_code", FieldTpDst)
	case dlType == EthTypeIPv6 && proto == IPProtoICMPv6:
		u16("icmp_type", FieldTpSrc)
		u16("icmp_code", FieldTpDst)
		ip6("nd_target", FieldNdTarget)
		eth("nd_sll", FieldNdSll)
		eth("nd_tll", FieldNdTll)
	default:
		u16("tp_src", FieldTpSrc)
		u16("tp_dst", FieldTpDst)
	}
	if (dlType == EthTypeIPv4 || dlType == EthTypeIPv6) && proto == IPProtoTCP {
		if mk := mask.Get(FieldTCPFlags); mk != 0 {
			put("tcp_flags=%s", formatFlags(key.Get(FieldTCPFlags), mk, tcpAll, tcpFlagNames))
		}
	}
	if b.Len() > start {
		s := b.String()
		if strings.HasSuffix(s, ",") {
			// strings.Builder cannot truncate: rebuild without the trailing comma.
			b.Reset()
			b.WriteString(s[:len(s)-1])
		}
	}
}
