package packet

import (
	"encoding/binary"

	"github.com/sluicenet/sluice/datapath/flow"
)

// Rewrites change header fields in place and keep every checksum right by RFC 1624's
// incremental update (HC' = ~(~HC + ~m + m')), so their cost does not depend on the packet's
// length. They rely on the Info that Extract filled for the frame and keep it valid. A rewrite
// that finds no header to change (set tp_src on an ARP frame, an L4 field of a later fragment)
// changes nothing and returns false; OpenFlow prerequisites normally rule that out.
//
// Checksum rules, as OVS's packet_set_* functions apply them:
//   - IPv4 addresses change the IPv4 header checksum and the TCP/UDP checksum (pseudo-header);
//     a UDP checksum of 0 (none) stays 0, and an updated one that comes out 0 is sent as 0xffff.
//   - IPv6 addresses change TCP/UDP/ICMPv6 checksums, except that the destination does not when
//     a routing header with segments left is present (the pseudo-header holds the final
//     destination).
//   - L4 fields of a fragment's first piece are updated incrementally (the checksum covers the
//     whole datagram, but the difference is the same); later fragments have no L4 header.
//   - SCTP's CRC32c is not incremental: after a port change it is recomputed over the packet
//     and the old error, if any, carried over (new = old ^ crc(old bytes) ^ crc(new bytes)).
//     OVS does this over a first fragment's bytes too (which cannot give the datagram's CRC);
//     so does SetField, to send the same bytes.
//   - ARP fields are written into ARP frames only: OVS accepts set_field arp_* on RARP but
//     does not change the frame. Of an ND packet's link-layer options only the first one is
//     rewritable (nd_sll when the SLL option comes first, else nd_tll), as OVS's packet_set_nd.

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

func put16(b []byte, v uint16) { binary.BigEndian.PutUint16(b, v) }

// l4CsumOff returns the offset of the 16-bit checksum within the L4 header, or -1.
func l4CsumOff(proto uint8) int {
	switch proto {
	case ProtoTCP:
		return 16
	case ProtoUDP:
		return 6
	case ProtoICMP, ProtoICMPv6, ProtoIGMP:
		return 2
	}
	return -1
}

// pseudoCovered reports whether proto's checksum covers the pseudo-header on this IP version.
func pseudoCovered(proto uint8, v6 bool) bool {
	return proto == ProtoTCP || proto == ProtoUDP || (v6 && proto == ProtoICMPv6)
}

// l4Csum returns the frame's L4 checksum field if it has one to keep up to date: a parsed
// L4 header with a 16-bit checksum that is in use (an IPv4 UDP checksum of 0 means none).
func l4Csum(frame []byte, info *Info) ([]byte, bool) {
	if info.Flags&FlagL4 == 0 {
		return nil, false
	}
	o := l4CsumOff(info.Proto)
	if o < 0 {
		return nil, false
	}
	c := frame[int(info.L4)+o:]
	if info.Proto == ProtoUDP && be16(c) == 0 {
		return nil, false
	}
	return c, true
}

// putL4Csum stores an updated L4 checksum; UDP sends a computed 0 as 0xffff (0 means none).
func putL4Csum(c []byte, info *Info, hc uint16) {
	if hc == 0 && info.Proto == ProtoUDP {
		hc = 0xffff
	}
	put16(c, hc)
}

// fixL4 applies an incremental update for bytes old → new (16-bit aligned within the covered
// data) to the L4 checksum, if the frame has one.
func fixL4(frame []byte, info *Info, old, new []byte) {
	if c, ok := l4Csum(frame, info); ok {
		putL4Csum(c, info, updateChecksumBytes(be16(c), old, new))
	}
}

// write16 stores v at frame[at:] and fixes the L4 checksum (if withL4) and the IPv4 header
// checksum (if withIP) for the change.
func write16(frame []byte, info *Info, at int, v uint16, withIP, withL4 bool) {
	old := be16(frame[at:])
	if withL4 {
		if c, ok := l4Csum(frame, info); ok {
			putL4Csum(c, info, UpdateChecksum16(be16(c), old, v))
		}
	}
	if withIP {
		c := frame[int(info.L3)+10:]
		put16(c, UpdateChecksum16(be16(c), old, v))
	}
	put16(frame[at:], v)
}

// SetField writes v into field f of the frame for the fields OpenFlow set_field/load can
// change on a packet, fixing checksums as it goes, and reports whether the frame had the
// field. Fields that share bits in the key are told apart by the frame: tp_src on an ICMP
// packet is its type, arp_sha on a neighbour solicitation is its nd_sll. The protocol-specific
// names (tcp_src, udp_dst, sctp_src, icmpv6_type, …) write only a frame of their protocol.
//
// Values are as in flow.Key: vlan_tci and vlan_vid carry the CFI/present bit (0x1000), which
// is never written to the wire (a value without it does nothing: use PopVLAN); nw_tos is the
// whole ToS/traffic-class byte, ip_dscp the 6 DSCP bits, nw_ecn the 2 ECN bits; arp_op takes
// the low 8 bits.
func SetField(frame []byte, info *Info, f flow.Field, v uint64) bool {
	switch f {
	case flow.FieldEthDst, flow.FieldEthSrc:
		if len(frame) < EthernetHeaderLen {
			return false
		}
		at := 0
		if f == flow.FieldEthSrc {
			at = 6
		}
		putMAC(frame[at:], v)
		return true
	case flow.FieldVLANTCI, flow.FieldVLANVID, flow.FieldVLANPCP:
		if info.VLAN == 0 {
			return false
		}
		p := frame[int(info.VLAN)+2:]
		tci := be16(p)
		switch f {
		case flow.FieldVLANTCI:
			if v&VLANCFI == 0 {
				return false
			}
			tci = uint16(v) &^ VLANCFI
		case flow.FieldVLANVID:
			if v&VLANCFI == 0 {
				return false
			}
			tci = tci&^0xfff | uint16(v)&0xfff
		default:
			tci = tci&^0xe000 | uint16(v&7)<<13
		}
		put16(p, tci)
		return true
	case flow.FieldNwSrc, flow.FieldNwDst, flow.FieldArpSpa, flow.FieldArpTpa:
		src := f == flow.FieldNwSrc || f == flow.FieldArpSpa
		switch {
		case info.Flags&FlagARP != 0:
			if info.EthType != EtherTypeARP {
				return false // OVS does not write ARP fields into RARP frames
			}
			at := int(info.L3) + 24
			if src {
				at = int(info.L3) + 14
			}
			binary.BigEndian.PutUint32(frame[at:], uint32(v))
			return true
		case info.Flags&FlagIPv4 != 0:
			at := int(info.L3) + 16
			if src {
				at = int(info.L3) + 12
			}
			setIPv4Addr(frame, info, at, uint32(v))
			return true
		}
		return false
	case flow.FieldNwTOS, flow.FieldIPDSCP, flow.FieldNwECN:
		tos, ok := TOS(frame, info)
		if !ok {
			return false
		}
		switch f {
		case flow.FieldNwTOS:
			tos = uint8(v)
		case flow.FieldIPDSCP:
			tos = tos&3 | uint8(v)<<2
		default:
			tos = tos&^3 | uint8(v&3)
		}
		return setTOS(frame, info, tos)
	case flow.FieldNwTTL:
		return setTTL(frame, info, uint8(v))
	case flow.FieldArpOp, flow.FieldNwProto:
		if info.Flags&FlagARP == 0 || info.EthType != EtherTypeARP {
			return false // nw_proto of an IP packet is not writable; RARP as OVS: not written
		}
		put16(frame[int(info.L3)+6:], uint16(v&0xff))
		info.Proto = uint8(v)
		return true
	case flow.FieldTpSrc, flow.FieldTpDst, flow.FieldIcmpType, flow.FieldIcmpCode:
		return setL4(frame, info, f == flow.FieldTpSrc || f == flow.FieldIcmpType, uint16(v))
	case flow.FieldTCPSrc, flow.FieldTCPDst, flow.FieldUDPSrc, flow.FieldUDPDst, flow.FieldSCTPSrc,
		flow.FieldSCTPDst, flow.FieldIcmpv6Type, flow.FieldIcmpv6Code:
		// The protocol-specific names write only a frame of their protocol.
		if info.Proto != l4ProtoOf[f] {
			return false
		}
		src := f == flow.FieldTCPSrc || f == flow.FieldUDPSrc || f == flow.FieldSCTPSrc || f == flow.FieldIcmpv6Type
		return setL4(frame, info, src, uint16(v))
	case flow.FieldIPv6Label:
		if info.Flags&FlagIPv6 == 0 {
			return false
		}
		p := frame[info.L3:]
		w := binary.BigEndian.Uint32(p)
		binary.BigEndian.PutUint32(p, w&^0xfffff|uint32(v)&0xfffff)
		return true
	case flow.FieldArpSha, flow.FieldArpTha, flow.FieldNdSll, flow.FieldNdTll:
		sha := f == flow.FieldArpSha || f == flow.FieldNdSll
		if info.Flags&FlagARP != 0 {
			if info.EthType != EtherTypeARP {
				return false
			}
			at := int(info.L3) + 18
			if sha {
				at = int(info.L3) + 8
			}
			putMAC(frame[at:], v)
			return true
		}
		// As OVS's packet_set_nd: only the first link-layer option of the packet is
		// rewritten, so nd_tll cannot change when an SLL option comes first, and vice versa.
		at, other := info.NDTLL, info.NDSLL
		if sha {
			at, other = info.NDSLL, info.NDTLL
		}
		if at == 0 || other != 0 && other < at {
			return false
		}
		var mac [6]byte
		putMAC(mac[:], v)
		fixL4(frame, info, frame[at:at+6], mac[:])
		copy(frame[at:], mac[:])
		return true
	case flow.FieldIPv6Src, flow.FieldIPv6Dst, flow.FieldNdTarget:
		return SetField128(frame, info, f, 0, v)
	}
	return false
}

// SetField128 writes a 128-bit field (ipv6_src, ipv6_dst, nd_target) given as high and low
// halves, fixing the L4 checksum, and reports whether the frame had the field.
func SetField128(frame []byte, info *Info, f flow.Field, hi, lo uint64) bool {
	var at int
	switch f {
	case flow.FieldIPv6Src, flow.FieldIPv6Dst:
		if info.Flags&FlagIPv6 == 0 {
			return false
		}
		at = int(info.L3) + 8
		if f == flow.FieldIPv6Dst {
			at += 16
		}
	case flow.FieldNdTarget:
		if info.NDTarget == 0 {
			return false
		}
		at = int(info.NDTarget)
	default:
		if f < flow.NumFields && f.Info().Bits <= 64 {
			return SetField(frame, info, f, lo)
		}
		return false
	}
	var a [16]byte
	binary.BigEndian.PutUint64(a[:], hi)
	binary.BigEndian.PutUint64(a[8:], lo)
	if f == flow.FieldNdTarget || pseudoCovered(info.Proto, true) &&
		!(f == flow.FieldIPv6Dst && info.Flags&FlagIPv6Route != 0) {
		fixL4(frame, info, frame[at:at+16], a[:])
	}
	copy(frame[at:], a[:])
	return true
}

// l4ProtoOf is the IP protocol of each protocol-specific L4 field.
var l4ProtoOf = [flow.NumFields]uint8{
	flow.FieldTCPSrc: ProtoTCP, flow.FieldTCPDst: ProtoTCP,
	flow.FieldUDPSrc: ProtoUDP, flow.FieldUDPDst: ProtoUDP,
	flow.FieldSCTPSrc: ProtoSCTP, flow.FieldSCTPDst: ProtoSCTP,
	flow.FieldIcmpv6Type: ProtoICMPv6, flow.FieldIcmpv6Code: ProtoICMPv6,
}

func putMAC(b []byte, v uint64) {
	put16(b, uint16(v>>32))
	binary.BigEndian.PutUint32(b[2:], uint32(v))
}

func setIPv4Addr(frame []byte, info *Info, at int, addr uint32) {
	old := binary.BigEndian.Uint32(frame[at:])
	if pseudoCovered(info.Proto, false) {
		if c, ok := l4Csum(frame, info); ok {
			putL4Csum(c, info, UpdateChecksum32(be16(c), old, addr))
		}
	}
	c := frame[int(info.L3)+10:]
	put16(c, UpdateChecksum32(be16(c), old, addr))
	binary.BigEndian.PutUint32(frame[at:], addr)
}

// TOS returns the IPv4 ToS byte or IPv6 traffic class of the frame.
func TOS(frame []byte, info *Info) (uint8, bool) {
	switch {
	case info.Flags&FlagIPv4 != 0:
		return frame[int(info.L3)+1], true
	case info.Flags&FlagIPv6 != 0:
		return IPv6(frame[info.L3:]).TrafficClass(), true
	}
	return 0, false
}

func setTOS(frame []byte, info *Info, tos uint8) bool {
	l3 := int(info.L3)
	if info.Flags&FlagIPv4 != 0 {
		write16(frame, info, l3, uint16(frame[l3])<<8|uint16(tos), true, false)
		return true
	}
	w := binary.BigEndian.Uint32(frame[l3:])
	binary.BigEndian.PutUint32(frame[l3:], w&^0x0ff00000|uint32(tos)<<20)
	return true
}

func setTTL(frame []byte, info *Info, ttl uint8) bool {
	l3 := int(info.L3)
	switch {
	case info.Flags&FlagIPv4 != 0:
		write16(frame, info, l3+8, uint16(ttl)<<8|uint16(frame[l3+9]), true, false)
		return true
	case info.Flags&FlagIPv6 != 0:
		frame[l3+7] = ttl
		return true
	}
	return false
}

// DecTTL decrements the IPv4 TTL or IPv6 hop limit, fixing the IPv4 checksum, as OpenFlow's
// dec_ttl. It reports expired (and changes nothing) when the TTL is 0 or 1, and ok=false when
// the frame has no IP header.
func DecTTL(frame []byte, info *Info) (expired, ok bool) {
	l3 := int(info.L3)
	var ttl uint8
	switch {
	case info.Flags&FlagIPv4 != 0:
		ttl = frame[l3+8]
	case info.Flags&FlagIPv6 != 0:
		ttl = frame[l3+7]
	default:
		return false, false
	}
	if ttl <= 1 {
		return true, true
	}
	setTTL(frame, info, ttl-1)
	return false, true
}

// setL4 writes the source (src) or destination port of TCP/UDP/SCTP, or the type (src) or
// code of ICMP/ICMPv6.
func setL4(frame []byte, info *Info, src bool, v uint16) bool {
	if info.Flags&FlagL4 == 0 {
		return false
	}
	l4 := int(info.L4)
	switch info.Proto {
	case ProtoTCP, ProtoUDP:
		at := l4 + 2
		if src {
			at = l4
		}
		write16(frame, info, at, v, false, true)
		return true
	case ProtoSCTP:
		at := l4 + 2
		if src {
			at = l4
		}
		setSCTPPort(frame, info, at, v)
		return true
	case ProtoICMP, ProtoICMPv6:
		tc := be16(frame[l4:])
		if src {
			tc = tc&0x00ff | v<<8
		} else {
			tc = tc&0xff00 | v&0xff
		}
		write16(frame, info, l4, tc, false, true)
		return true
	}
	return false
}

func setSCTPPort(frame []byte, info *Info, at int, v uint16) {
	s := frame[info.L4:info.End]
	old := binary.LittleEndian.Uint32(s[8:])
	before := sctpChecksum(s)
	put16(frame[at:], v)
	binary.LittleEndian.PutUint32(s[8:], old^before^sctpChecksum(s))
}

// SetICMPID rewrites the identifier of an ICMP or ICMPv6 echo request/reply (conntrack's NAT
// of ICMP), fixing the checksum. It reports false when the frame has no ICMP header.
func SetICMPID(frame []byte, info *Info, id uint16) bool {
	if info.Flags&FlagL4 == 0 || (info.Proto != ProtoICMP && info.Proto != ProtoICMPv6) {
		return false
	}
	write16(frame, info, int(info.L4)+4, id, false, true)
	return true
}

// shiftOffsets adds d to every non-zero offset in info.
func (info *Info) shiftOffsets(d int) {
	for _, p := range [...]*uint16{&info.L3, &info.L4, &info.L7, &info.VLAN, &info.NDTarget, &info.NDSLL,
		&info.NDTLL, &info.IPv6Frag} {
		if *p != 0 {
			*p = uint16(int(*p) + d)
		}
	}
	info.End = uint16(int(info.End) + d)
}

// PushVLAN inserts an 802.1Q tag (tpid 0x8100 or 0x88a8, tci as on the wire: the CFI/present
// bit of a key value must be cleared) in front of the EtherType. The frame is buf[start:]: the
// 12 address bytes move 4 bytes towards the front, into headroom, and everything after them
// stays put, so start must be at least 4. A frame already tagged gets the new tag outermost.
// It returns the frame's new start and shifts info's offsets to match.
func PushVLAN(buf []byte, start int, info *Info, tpid, tci uint16) (int, bool) {
	if start < VLANHeaderLen || len(buf)-start < EthernetHeaderLen || len(buf)-start+VLANHeaderLen > 0xffff {
		return start, false
	}
	n := start - VLANHeaderLen
	copy(buf[n:], buf[start:start+12])
	put16(buf[n+12:], tpid)
	put16(buf[n+14:], tci)
	info.shiftOffsets(VLANHeaderLen)
	info.VLAN = 12
	return n, true
}

// PopVLAN removes the outermost 802.1Q tag of the frame buf[start:], moving the 12 address
// bytes 4 bytes back, and returns the frame's new start (start+4) with info's offsets shifted.
// After popping the outer tag of a double-tagged frame, run Extract again to parse the inner
// headers.
func PopVLAN(buf []byte, start int, info *Info) (int, bool) {
	if info.VLAN == 0 {
		return start, false
	}
	n := start + VLANHeaderLen
	copy(buf[n:n+12], buf[start:start+12])
	info.shiftOffsets(-VLANHeaderLen)
	info.VLAN = 0
	if t := be16(buf[n+12:]); (t == EtherTypeVLAN || t == EtherTypeQinQ) && len(buf)-n >= 18 {
		// As Extract: a tag counts only with its TCI and the next type present.
		info.VLAN = 12
	}
	return n, true
}
