package packet

import (
	"encoding/binary"

	"github.com/sluicenet/sluice/datapath/flow"
)

// Build returns a new Ethernet frame whose headers carry the key's fields and whose checksums
// are right, with payload after the innermost header it writes. It is meant for tests and the
// differential harness, and allocates. Extract of the result gives the key back (in_port and
// metadata aside) for every key Extract can produce, except where OVS's key loses information
// (an ARP opcode above 255, the proto of a later IPv6 fragment).
//
// What it writes, by dl_type: a tag when vlan_tci has the CFI bit (TPID 0x8100, the bit
// cleared on the wire); ARP/RARP with arp_op from nw_proto's bits; IPv4 (no options, ID 0; a
// FragAny fragment has MF set, a FragLater one also offset 100 × 8, like OVS's flow_compose);
// IPv6 (a fragment header when nw_frag says fragment; the key's nw_proto 44 of a later
// fragment becomes next-header 59 inside it); TCP (data offset 5, tcp_flags, window 65535),
// UDP, SCTP, ICMP/IGMP (type/code from tp_src/tp_dst, 4 zero bytes), ICMPv6 and ND NS/NA with
// the target and the SLL/TLL options the key has (the one tcp_flags names first). For other
// EtherTypes or IP protocols the payload follows the last header written.
func Build(key *flow.Key, payload []byte) []byte {
	b := make([]byte, 0, 128+len(payload))
	b = appendMAC(b, key.Get(flow.FieldEthDst))
	b = appendMAC(b, key.Get(flow.FieldEthSrc))
	if tci := uint16(key.Get(flow.FieldVLANTCI)); tci&VLANCFI != 0 {
		b = binary.BigEndian.AppendUint16(b, EtherTypeVLAN)
		b = binary.BigEndian.AppendUint16(b, tci&^VLANCFI)
	}
	typ := uint16(key.Get(flow.FieldEthType))
	if typ < etherTypeMin {
		// 802.3 length then LLC without SNAP: Extract reports dl_type 0x05ff.
		b = binary.BigEndian.AppendUint16(b, uint16(3+len(payload)))
		b = append(b, 0x42, 0x42, 0x03)
		return append(b, payload...)
	}
	b = binary.BigEndian.AppendUint16(b, typ)
	l3 := len(b)
	switch typ {
	case EtherTypeARP, EtherTypeRARP:
		b = binary.BigEndian.AppendUint16(b, 1)
		b = binary.BigEndian.AppendUint16(b, EtherTypeIPv4)
		b = append(b, 6, 4)
		b = binary.BigEndian.AppendUint16(b, uint16(key.Get(flow.FieldArpOp)))
		b = appendMAC(b, key.Get(flow.FieldArpSha))
		b = binary.BigEndian.AppendUint32(b, uint32(key.Get(flow.FieldArpSpa)))
		b = appendMAC(b, key.Get(flow.FieldArpTha))
		b = binary.BigEndian.AppendUint32(b, uint32(key.Get(flow.FieldArpTpa)))
		return append(b, payload...)
	case EtherTypeIPv4:
		frag := uint8(key.Get(flow.FieldNwFrag))
		proto := uint8(key.Get(flow.FieldNwProto))
		b = append(b, 0x45, uint8(key.Get(flow.FieldNwTOS)), 0, 0, 0, 0, 0, 0,
			uint8(key.Get(flow.FieldNwTTL)), proto, 0, 0)
		if frag&FragAny != 0 {
			fo := uint16(0x2000)
			if frag&FragLater != 0 {
				fo |= 100
			}
			put16(b[l3+6:], fo)
		}
		b = binary.BigEndian.AppendUint32(b, uint32(key.Get(flow.FieldNwSrc)))
		b = binary.BigEndian.AppendUint32(b, uint32(key.Get(flow.FieldNwDst)))
		if frag&FragLater == 0 {
			b = appendL4(b, key, proto)
		}
		b = append(b, payload...)
		put16(b[l3+2:], uint16(len(b)-l3))
	case EtherTypeIPv6:
		frag := uint8(key.Get(flow.FieldNwFrag))
		proto := uint8(key.Get(flow.FieldNwProto))
		vtf := 6<<28 | uint32(key.Get(flow.FieldNwTOS))<<20 | uint32(key.Get(flow.FieldIPv6Label))
		b = binary.BigEndian.AppendUint32(b, vtf)
		b = append(b, 0, 0, proto, uint8(key.Get(flow.FieldNwTTL)))
		b = append128(b, key, flow.FieldIPv6Src)
		b = append128(b, key, flow.FieldIPv6Dst)
		if frag&FragAny != 0 {
			b[l3+6] = ProtoFragment
			next, fo := proto, uint16(1) // M
			if frag&FragLater != 0 {
				next, fo = 59, 100<<3|1
			}
			b = append(b, next, 0, 0, 0, 0, 0, 0, 0)
			put16(b[len(b)-6:], fo)
		}
		if frag&FragLater == 0 {
			b = appendL4(b, key, proto)
		}
		b = append(b, payload...)
		put16(b[l3+4:], uint16(len(b)-l3-IPv6HeaderLen))
	default:
		return append(b, payload...)
	}
	var info Info
	var k flow.Key
	Extract(b, 0, &k, &info)
	if info.Proto == ProtoUDP && info.Flags&FlagL4 != 0 {
		put16(b[info.L4+4:], info.End-info.L4)
	}
	if info.Frag&FragAny != 0 && info.Flags&FlagL4 != 0 {
		// A first fragment: checksum as if the datagram ended here (tests only).
		info.Frag = 0
	}
	CompleteChecksums(b, &info)
	if typ == EtherTypeIPv4 && info.Proto == ProtoUDP && info.Flags&FlagL4 != 0 && info.Frag == 0 {
		// CompleteChecksums keeps an IPv4 UDP checksum of 0 as "none"; Build fills it in.
		l4 := b[info.L4:info.End]
		c := ^Fold(Sum(l4, l4Sum(b, &info, len(l4))))
		if c == 0 {
			c = 0xffff
		}
		put16(l4[6:], c)
	}
	return b
}

func appendMAC(b []byte, v uint64) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(v>>32))
	return binary.BigEndian.AppendUint32(b, uint32(v))
}

func append128(b []byte, key *flow.Key, f flow.Field) []byte {
	hi, lo := key.Get128(f)
	b = binary.BigEndian.AppendUint64(b, hi)
	return binary.BigEndian.AppendUint64(b, lo)
}

// appendL4 appends the L4 header for proto with the key's fields and a zero checksum.
func appendL4(b []byte, key *flow.Key, proto uint8) []byte {
	sp, dp := uint16(key.Get(flow.FieldTpSrc)), uint16(key.Get(flow.FieldTpDst))
	switch proto {
	case ProtoTCP:
		b = binary.BigEndian.AppendUint16(b, sp)
		b = binary.BigEndian.AppendUint16(b, dp)
		b = append(b, 0, 0, 0, 1, 0, 0, 0, 0) // seq 1, ack 0
		b = binary.BigEndian.AppendUint16(b, 5<<12|uint16(key.Get(flow.FieldTCPFlags))&0x0fff)
		b = append(b, 0xff, 0xff, 0, 0, 0, 0)
	case ProtoUDP:
		b = binary.BigEndian.AppendUint16(b, sp)
		b = binary.BigEndian.AppendUint16(b, dp)
		b = append(b, 0, 0, 0, 0) // length set by Build after the payload
	case ProtoSCTP:
		b = binary.BigEndian.AppendUint16(b, sp)
		b = binary.BigEndian.AppendUint16(b, dp)
		b = append(b, 0, 0, 0, 1, 0, 0, 0, 0)
	case ProtoICMP, ProtoIGMP:
		b = append(b, uint8(sp), uint8(dp), 0, 0, 0, 0, 0, 0)
	case ProtoICMPv6:
		b = append(b, uint8(sp), uint8(dp), 0, 0, 0, 0, 0, 0)
		if dp == 0 && (sp == ICMPv6NeighborSolicit || sp == ICMPv6NeighborAdvert) {
			b = append128(b, key, flow.FieldNdTarget)
			sll, tll := key.Get(flow.FieldNdSll), key.Get(flow.FieldNdTll)
			first := uint8(key.Get(flow.FieldTCPFlags))
			opt := func(b []byte, typ uint8, mac uint64) []byte {
				return appendMAC(append(b, typ, 1), mac)
			}
			if first == NDOptTargetLLAddr {
				b = opt(b, NDOptTargetLLAddr, tll)
				if sll != 0 {
					b = opt(b, NDOptSourceLLAddr, sll)
				}
			} else {
				if sll != 0 || first == NDOptSourceLLAddr {
					b = opt(b, NDOptSourceLLAddr, sll)
				}
				if tll != 0 {
					b = opt(b, NDOptTargetLLAddr, tll)
				}
			}
		}
	}
	return b
}
