package packet

import (
	"encoding/binary"

	"github.com/sluicenet/sluice/datapath/flow"
)

// Info records where each layer of a frame starts, so the datapath's actions rewrite headers
// without parsing the frame again. Offsets count from the first byte of the Ethernet header;
// 0 means the layer is absent (no real layer can start at 0 but Ethernet itself).
type Info struct {
	L3       uint16 // IPv4, IPv6 or ARP header; 0 if none passed its sanity check
	L4       uint16 // first byte after the IP header and its extension headers; 0 if no IP
	L7       uint16 // first byte after the L4 header; 0 unless the L4 header was parsed
	End      uint16 // end of the IP datagram (Ethernet padding excluded), else len(frame)
	VLAN     uint16 // the 802.1Q tag (TPID), 0 if untagged
	EthType  uint16 // dl_type as in the key (after the tag, SNAP-decoded, 0x05ff for plain 802.2)
	Proto    uint8  // nw_proto as in the key (44 for an IPv6 fragment after the first)
	Frag     uint8  // nw_frag as in the key (FragAny, FragLater)
	Flags    Flags  // what else Extract saw
	NDTarget uint16 // ND target address, 0 unless a well-formed NS/NA carries one
	NDSLL    uint16 // the MAC inside a source link-layer address option, 0 if none
	NDTLL    uint16 // the MAC inside a target link-layer address option, 0 if none
	IPv6Frag uint16 // the IPv6 fragment header (for reassembly), 0 if none
}

// Flags are facts about a frame that the offsets do not carry.
type Flags uint8

// The Info flags.
const (
	FlagL4        Flags = 1 << iota // a complete TCP/UDP/SCTP/ICMP/ICMPv6/IGMP header is at L4
	FlagIPv4                        // L3 is a sane IPv4 header
	FlagIPv6                        // L3 is a sane IPv6 header
	FlagARP                         // L3 is an Ethernet/IPv4 ARP packet
	FlagIPv6Route                   // an IPv6 routing header with segments left > 0 precedes L4
)

// The key's fields as Extract writes them: the key is zeroed first, so each is an OR at a
// fixed word and shift (read from flow's table once, so the layout stays flow's to define).
var (
	fiInPort   = flow.FieldInPort.Info()
	fiEthType  = flow.FieldEthType.Info()
	fiVLANTCI  = flow.FieldVLANTCI.Info()
	fiEthSrc   = flow.FieldEthSrc.Info()
	fiEthDst   = flow.FieldEthDst.Info()
	fiNwProto  = flow.FieldNwProto.Info()
	fiNwTOS    = flow.FieldNwTOS.Info()
	fiNwTTL    = flow.FieldNwTTL.Info()
	fiNwFrag   = flow.FieldNwFrag.Info()
	fiNwSrc    = flow.FieldNwSrc.Info()
	fiNwDst    = flow.FieldNwDst.Info()
	fiTpSrc    = flow.FieldTpSrc.Info()
	fiTpDst    = flow.FieldTpDst.Info()
	fiTCPFlags = flow.FieldTCPFlags.Info()
	fiIPv6Src  = flow.FieldIPv6Src.Info()
	fiIPv6Dst  = flow.FieldIPv6Dst.Info()
	fiLabel    = flow.FieldIPv6Label.Info()
	fiArpSha   = flow.FieldArpSha.Info()
	fiArpTha   = flow.FieldArpTha.Info()
	fiNdTarget = flow.FieldNdTarget.Info()
)

func put(k *flow.Key, fi *flow.FieldInfo, v uint64) { k.W[fi.Word] |= v << fi.Shift }

func put128(k *flow.Key, fi *flow.FieldInfo, b []byte) {
	k.W[fi.Word] = binary.BigEndian.Uint64(b)
	k.W[fi.Word+1] = binary.BigEndian.Uint64(b[8:])
}

func mac48(b []byte) uint64 {
	return uint64(binary.BigEndian.Uint16(b))<<32 | uint64(binary.BigEndian.Uint32(b[2:]))
}

// Extract parses frame (an Ethernet frame that arrived on inPort) and fills key and info the
// way Open vSwitch's miniflow_extract fills a flow, so that the classifier matches exactly as
// OVS does. The whole key is overwritten: metadata (tunnel, conntrack, registers) is zero
// afterwards and the caller sets what it has. It never allocates and never panics.
//
// OVS semantics reproduced here:
//   - vlan_tci carries the first 802.1Q or 802.1ad tag with the CFI bit (0x1000) forced on,
//     meaning "tag present"; only one tag is parsed (OVS's default vlan-limit of 1), so a second
//     tag's TPID becomes dl_type.
//   - A type field below 0x600 is an 802.3 length: an LLC/SNAP header with OUI 0 yields its
//     EtherType, anything else dl_type 0x05ff.
//   - IPv4: nw_tos is the whole ToS byte, nw_frag FragAny for MF or a non-zero offset, plus
//     FragLater for a non-zero offset. The IP version nibble is not checked. Ethernet padding
//     beyond the total length is ignored.
//   - IPv6: nw_tos is the traffic class; hop-by-hop, routing, destination options, AH and
//     fragment headers are walked to the L4 header. A fragment header with a non-zero offset
//     makes nw_proto 44 and nw_frag FragAny|FragLater; any other non-zero offset/flags word
//     gives FragAny.
//   - Later fragments have no L4 fields. TCP/UDP/SCTP fill tp_src/tp_dst, TCP also the 12
//     tcp_flags bits; ICMP, ICMPv6 and IGMP put type and code in tp_src and tp_dst. The L4
//     protocol is chosen by nw_proto alone, whatever the IP version, as OVS does.
//   - ICMPv6 NS/NA (code 0) fill nd_target and the first SLL/TLL options (nd_sll in arp_sha's
//     bits, nd_tll in arp_tha's) and, as OVS's nd_options_type, the type of the first
//     link-layer option in tcp_flags. A repeated non-zero option clears target and addresses.
//   - ARP/RARP with Ethernet/IPv4 addresses fill arp_spa/arp_tpa (nw_src/nw_dst bits),
//     arp_sha/arp_tha and arp_op in nw_proto's bits — only when the opcode fits 8 bits.
//
// Where OVS stops parsing a malformed frame, Extract stops at the same point and returns the
// reason; the fields filled up to there are exactly OVS's. A truncated L4 header leaves the L3
// fields and zero L4 fields (DropL4Truncated); a failed extension-header walk keeps only the
// IPv6 addresses (DropIPv6ExtHeader), as in OVS.
func Extract(frame []byte, inPort uint32, key *flow.Key, info *Info) DropReason {
	*key = flow.Key{}
	*info = Info{}
	put(key, &fiInPort, uint64(inPort))
	if len(frame) > 0xffff {
		return DropFrameTooLong
	}
	info.End = uint16(len(frame))
	if len(frame) < EthernetHeaderLen {
		return DropEthernetTruncated
	}
	put(key, &fiEthDst, mac48(frame[0:]))
	put(key, &fiEthSrc, mac48(frame[6:]))

	off := 12
	typ := binary.BigEndian.Uint16(frame[off:])
	if (typ == EtherTypeVLAN || typ == EtherTypeQinQ) && len(frame)-off >= 6 {
		put(key, &fiVLANTCI, uint64(binary.BigEndian.Uint16(frame[off+2:])|VLANCFI))
		info.VLAN = uint16(off)
		off += 4
		typ = binary.BigEndian.Uint16(frame[off:])
	}
	off += 2
	if typ < etherTypeMin {
		typ = EtherTypeNone
		// LLC DSAP/SSAP 0xaa, control 3, OUI 00-00-00, then an EtherType.
		if len(frame)-off >= 8 && frame[off] == 0xaa && frame[off+1] == 0xaa && frame[off+2] == 3 &&
			frame[off+3] == 0 && frame[off+4] == 0 && frame[off+5] == 0 {
			off += 8
			if t := binary.BigEndian.Uint16(frame[off-2:]); t >= etherTypeMin {
				typ = t
			}
		}
	}
	info.EthType = typ
	put(key, &fiEthType, uint64(typ))

	switch typ {
	case EtherTypeIPv4:
		return extractIPv4(frame, off, key, info)
	case EtherTypeIPv6:
		return extractIPv6(frame, off, key, info)
	case EtherTypeARP, EtherTypeRARP:
		return extractARP(frame, off, key, info)
	}
	return ReasonNone
}

func extractARP(frame []byte, off int, key *flow.Key, info *Info) DropReason {
	if len(frame)-off < ARPEthLen {
		return DropARPTruncated
	}
	a := frame[off:]
	// Hardware type Ethernet, protocol IPv4, address lengths 6 and 4; other ARPs keep L2 only.
	if binary.BigEndian.Uint16(a) != 1 || binary.BigEndian.Uint16(a[2:]) != EtherTypeIPv4 ||
		a[4] != 6 || a[5] != 4 {
		return ReasonNone
	}
	info.L3 = uint16(off)
	info.Flags |= FlagARP
	put(key, &fiNwSrc, uint64(binary.BigEndian.Uint32(a[14:])))
	put(key, &fiNwDst, uint64(binary.BigEndian.Uint32(a[24:])))
	if op := binary.BigEndian.Uint16(a[6:]); op <= 0xff {
		put(key, &fiNwProto, uint64(op))
		info.Proto = uint8(op)
	}
	put(key, &fiArpSha, mac48(a[8:]))
	put(key, &fiArpTha, mac48(a[18:]))
	return ReasonNone
}

func extractIPv4(frame []byte, off int, key *flow.Key, info *Info) DropReason {
	size := len(frame) - off
	if size < IPv4HeaderLen {
		return DropIPv4Truncated
	}
	ip := frame[off:]
	hl := int(ip[0]&0xf) * 4
	if hl < IPv4HeaderLen || size < hl {
		return DropIPv4HeaderLength
	}
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	if tot > size || hl > tot {
		return DropIPv4TotalLength
	}
	info.L3 = uint16(off)
	info.End = uint16(off + tot)
	info.Flags |= FlagIPv4
	put(key, &fiNwSrc, uint64(binary.BigEndian.Uint32(ip[12:])))
	put(key, &fiNwDst, uint64(binary.BigEndian.Uint32(ip[16:])))

	var frag uint8
	if fo := binary.BigEndian.Uint16(ip[6:]); fo&0x3fff != 0 {
		frag = FragAny
		if fo&0x1fff != 0 {
			frag |= FragLater
		}
	}
	proto := ip[9]
	putNw(key, info, frag, ip[1], ip[8], proto)
	return extractL4(frame, off+hl, off+tot, proto, key, info)
}

// putNw writes the word OVS pushes as one unit: nw_frag, nw_tos, nw_ttl, nw_proto.
func putNw(key *flow.Key, info *Info, frag, tos, ttl, proto uint8) {
	put(key, &fiNwFrag, uint64(frag))
	put(key, &fiNwTOS, uint64(tos))
	put(key, &fiNwTTL, uint64(ttl))
	put(key, &fiNwProto, uint64(proto))
	info.Proto = proto
	info.Frag = frag
}

func extractIPv6(frame []byte, off int, key *flow.Key, info *Info) DropReason {
	size := len(frame) - off
	if size < IPv6HeaderLen {
		return DropIPv6Truncated
	}
	ip := frame[off:]
	plen := int(binary.BigEndian.Uint16(ip[4:]))
	if plen+IPv6HeaderLen > size {
		return DropIPv6PayloadLength
	}
	end := off + IPv6HeaderLen + plen
	info.L3 = uint16(off)
	info.End = uint16(end)
	info.Flags |= FlagIPv6
	put128(key, &fiIPv6Src, ip[8:])
	put128(key, &fiIPv6Dst, ip[24:])

	vtf := binary.BigEndian.Uint32(ip)
	proto := ip[6]
	var frag uint8
	p := off + IPv6HeaderLen
	for {
		if proto != ProtoHopOpts && proto != ProtoRouting && proto != ProtoDstOpts &&
			proto != ProtoAH && proto != ProtoFragment {
			break
		}
		// Every extension header is at least 8 bytes; only those are read before its length
		// is checked against what is left.
		if end-p < 8 {
			return DropIPv6ExtHeader
		}
		h := frame[p:]
		cur := proto
		proto = h[0]
		var n int
		switch cur {
		case ProtoHopOpts, ProtoDstOpts:
			n = (int(h[1]) + 1) * 8
		case ProtoRouting:
			if h[3] != 0 {
				info.Flags |= FlagIPv6Route
			}
			n = (int(h[1]) + 1) * 8
		case ProtoAH:
			n = (int(h[1]) + 2) * 4
		default: // ProtoFragment
			n = 8
		}
		if end-p < n {
			return DropIPv6ExtHeader
		}
		p += n
		if cur == ProtoFragment {
			if info.IPv6Frag == 0 {
				info.IPv6Frag = uint16(p - n)
			}
			// Offset (13 bits), 2 reserved bits, M. Only an all-zero word is no fragment.
			if fo := binary.BigEndian.Uint16(h[2:]); fo != 0 {
				frag = FragAny
				if fo&0xfff8 != 0 {
					frag |= FragLater
					proto = ProtoFragment
					break
				}
			}
		}
	}
	put(key, &fiLabel, uint64(vtf&0xfffff))
	putNw(key, info, frag, uint8(vtf>>20), ip[7], proto)
	return extractL4(frame, p, end, proto, key, info)
}

// extractL4 fills the L4 fields from the header at frame[off:end] (end is the IP datagram's
// end, so Ethernet padding is never taken for L4 bytes).
func extractL4(frame []byte, off, end int, proto uint8, key *flow.Key, info *Info) DropReason {
	info.L4 = uint16(off)
	if info.Frag&FragLater != 0 {
		return ReasonNone
	}
	size := end - off
	l4 := frame[off:end]
	switch proto {
	case ProtoTCP:
		if size < TCPHeaderLen {
			return DropL4Truncated
		}
		hl := int(l4[12]>>4) * 4
		if hl < TCPHeaderLen || size < hl {
			return DropTCPHeaderLength
		}
		put(key, &fiTCPFlags, uint64(binary.BigEndian.Uint16(l4[12:])&0x0fff))
		return ports(l4, hl, key, info)
	case ProtoUDP, ProtoSCTP:
		hl := UDPHeaderLen
		if proto == ProtoSCTP {
			hl = SCTPHeaderLen
		}
		if size < hl {
			return DropL4Truncated
		}
		return ports(l4, hl, key, info)
	case ProtoICMP, ProtoIGMP:
		if size < ICMPHeaderLen {
			return DropL4Truncated
		}
		return typeCode(l4, ICMPHeaderLen, key, info)
	case ProtoICMPv6:
		if size < ICMPv6HeaderLen {
			return DropL4Truncated
		}
		r := ReasonNone
		if l4[1] == 0 && (l4[0] == ICMPv6NeighborSolicit || l4[0] == ICMPv6NeighborAdvert) {
			r = extractND(l4, off, key, info)
		}
		typeCode(l4, ICMPv6HeaderLen, key, info)
		return r
	}
	return ReasonNone
}

func ports(l4 []byte, hl int, key *flow.Key, info *Info) DropReason {
	put(key, &fiTpSrc, uint64(binary.BigEndian.Uint16(l4)))
	put(key, &fiTpDst, uint64(binary.BigEndian.Uint16(l4[2:])))
	info.Flags |= FlagL4
	info.L7 = info.L4 + uint16(hl)
	return ReasonNone
}

func typeCode(l4 []byte, hl int, key *flow.Key, info *Info) DropReason {
	put(key, &fiTpSrc, uint64(l4[0]))
	put(key, &fiTpDst, uint64(l4[1]))
	info.Flags |= FlagL4
	info.L7 = info.L4 + uint16(hl)
	return ReasonNone
}

// extractND parses a neighbour solicitation or advertisement: the target address after the
// 8-byte ICMPv6 header, then 8-byte-unit options. OVS keeps the first SLL and the first TLL
// (only 8-byte options carry an Ethernet address), stops quietly at a zero-length or
// overlong option, and treats a second non-zero SLL (or TLL) as invalid: target and both
// addresses are cleared, but the recorded option type stays.
func extractND(l4 []byte, off int, key *flow.Key, info *Info) DropReason {
	if len(l4) < ICMPv6HeaderLen+16 {
		return ReasonNone // OVS: an ND packet without a target, no fields
	}
	var sll, tll uint64
	var sllOff, tllOff int
	var optType uint8
	p := ICMPv6HeaderLen + 16
	for len(l4)-p >= 8 {
		typ, n := l4[p], int(l4[p+1])*8
		if n == 0 || n > len(l4)-p {
			break
		}
		if n == 8 && (typ == NDOptSourceLLAddr || typ == NDOptTargetLLAddr) {
			mac := mac48(l4[p+2:])
			cur, curOff := &sll, &sllOff
			if typ == NDOptTargetLLAddr {
				cur, curOff = &tll, &tllOff
			}
			if *cur != 0 {
				put(key, &fiTCPFlags, uint64(optType))
				return DropNDOption
			}
			*cur = mac
			if *curOff == 0 {
				*curOff = off + p + 2 // the first such option, as OVS's rewrite finds it
			}
			if optType == 0 {
				optType = typ
			}
		}
		p += n
	}
	put128(key, &fiNdTarget, l4[ICMPv6HeaderLen:])
	put(key, &fiArpSha, sll)
	put(key, &fiArpTha, tll)
	put(key, &fiTCPFlags, uint64(optType))
	info.NDTarget = uint16(off + ICMPv6HeaderLen)
	info.NDSLL = uint16(sllOff)
	info.NDTLL = uint16(tllOff)
	return ReasonNone
}
