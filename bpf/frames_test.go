package bpf

import (
	"encoding/binary"
	"net/netip"
)

// Frame builders for the program tests. Checksums are left zero: the steering program never
// looks at them.

var (
	testSrcMAC = []byte{0x02, 0, 0, 0, 0, 0x01}
	testDstMAC = []byte{0x02, 0, 0, 0, 0, 0x02}
	testSrc4   = netip.MustParseAddr("198.51.100.1")
	testSrc6   = netip.MustParseAddr("2001:db8:ffff::1")
)

const (
	etherIPv4 = 0x0800
	etherARP  = 0x0806
	etherIPv6 = 0x86dd
	etherVLAN = 0x8100
	etherQinQ = 0x88a8
	etherLLDP = 0x88cc

	protoHopOpts = 0
	protoTCP     = 6
	protoUDP     = 17
	protoFrag    = 44
	protoICMPv6  = 58
	protoSCTP    = 132
)

func ether(proto uint16, payload []byte) []byte {
	b := append([]byte{}, testDstMAC...)
	b = append(b, testSrcMAC...)
	b = binary.BigEndian.AppendUint16(b, proto)
	return append(b, payload...)
}

// vlanTag returns a VLAN tag (TCI 100) followed by the inner ethertype and payload; wrap it
// with ether(etherVLAN, ...).
func vlanTag(inner uint16, payload []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, 100)
	b = binary.BigEndian.AppendUint16(b, inner)
	return append(b, payload...)
}

func ipv4(dst string, proto uint8, l4 []byte) []byte { return ipv4Frag(dst, proto, 0, l4) }

// ipv4Frag builds an IPv4 header with the given fragment offset (in 8-byte units).
func ipv4Frag(dst string, proto uint8, fragOff uint16, l4 []byte) []byte {
	b := make([]byte, 20)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(l4)))
	binary.BigEndian.PutUint16(b[6:], fragOff&0x1fff)
	b[8] = 64
	b[9] = proto
	s := testSrc4.As4()
	copy(b[12:], s[:])
	d := netip.MustParseAddr(dst).As4()
	copy(b[16:], d[:])
	return append(b, l4...)
}

func ipv6(dst string, next uint8, payload []byte) []byte {
	b := make([]byte, 40)
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b[6] = next
	b[7] = 64
	s := testSrc6.As16()
	copy(b[8:], s[:])
	d := netip.MustParseAddr(dst).As16()
	copy(b[24:], d[:])
	return append(b, payload...)
}

// hopByHop is an 8-byte IPv6 hop-by-hop options header (PadN) in front of payload.
func hopByHop(next uint8, payload []byte) []byte {
	return append([]byte{next, 0, 1, 4, 0, 0, 0, 0}, payload...)
}

// fragment6 is an IPv6 fragment header with the given offset (in 8-byte units).
func fragment6(next uint8, off uint16, payload []byte) []byte {
	b := []byte{next, 0, 0, 0, 0, 0, 0, 1}
	binary.BigEndian.PutUint16(b[2:], off<<3)
	return append(b, payload...)
}

func ports(dport uint16, hdrLen int) []byte {
	b := make([]byte, hdrLen+16) // header plus a little payload
	binary.BigEndian.PutUint16(b[0:], 40000)
	binary.BigEndian.PutUint16(b[2:], dport)
	return b
}

func udp(dport uint16) []byte  { return ports(dport, 8) }
func tcp(dport uint16) []byte  { return ports(dport, 20) }
func sctp(dport uint16) []byte { return ports(dport, 12) }

// arp builds an Ethernet/IPv4 ARP message (op 1 request, 2 reply) for target.
func arp(op uint16, target string) []byte {
	b := []byte{0, 1, 0x08, 0x00, 6, 4, 0, byte(op)}
	b = append(b, testSrcMAC...)
	s := testSrc4.As4()
	b = append(b, s[:]...)
	b = append(b, make([]byte, 6)...)
	t := netip.MustParseAddr(target).As4()
	return append(b, t[:]...)
}

// nd builds an ICMPv6 neighbour solicitation (135) or advertisement (136) for target.
func nd(typ uint8, target string) []byte {
	b := []byte{typ, 0, 0, 0, 0, 0, 0, 0}
	t := netip.MustParseAddr(target).As16()
	return append(b, t[:]...)
}

// solicitedNode returns the solicited-node multicast address of target.
func solicitedNode(target string) string {
	t := netip.MustParseAddr(target).As16()
	a := netip.MustParseAddr("ff02::1:ff00:0").As16()
	copy(a[13:], t[13:])
	return netip.AddrFrom16(a).String()
}
