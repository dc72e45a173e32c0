package packet

import (
	"encoding/binary"
	"net/netip"
)

// EtherTypes the parser knows.
const (
	EtherTypeIPv4     = 0x0800
	EtherTypeARP      = 0x0806
	EtherTypeRARP     = 0x8035
	EtherTypeVLAN     = 0x8100 // 802.1Q
	EtherTypeQinQ     = 0x88a8 // 802.1ad service tag
	EtherTypeIPv6     = 0x86dd
	EtherTypeTEB      = 0x6558 // transparent Ethernet bridging (Geneve payload)
	EtherTypeNone     = 0x05ff // OVS's dl_type for an 802.2 frame without a SNAP EtherType
	etherTypeMin      = 0x0600 // smaller values in the type field are 802.3 lengths
	EthernetHeaderLen = 14
	VLANHeaderLen     = 4
)

// IP protocol numbers the parser knows.
const (
	ProtoHopOpts  = 0
	ProtoICMP     = 1
	ProtoIGMP     = 2
	ProtoTCP      = 6
	ProtoUDP      = 17
	ProtoRouting  = 43
	ProtoFragment = 44
	ProtoAH       = 51
	ProtoICMPv6   = 58
	ProtoDstOpts  = 60
	ProtoSCTP     = 132
)

// Header lengths.
const (
	IPv4HeaderLen   = 20
	IPv6HeaderLen   = 40
	ARPEthLen       = 28
	TCPHeaderLen    = 20
	UDPHeaderLen    = 8
	SCTPHeaderLen   = 12
	ICMPHeaderLen   = 8
	ICMPv6HeaderLen = 8
	GeneveHeaderLen = 8
	VXLANHeaderLen  = 8
)

// ICMPv6 neighbour discovery.
const (
	ICMPv6NeighborSolicit = 135
	ICMPv6NeighborAdvert  = 136
	NDOptSourceLLAddr     = 1
	NDOptTargetLLAddr     = 2
)

// nw_frag bits, as OVS defines them (FLOW_NW_FRAG_*).
const (
	FragAny   = 1 // the packet is a fragment (IPv4 MF or offset, IPv6 fragment header)
	FragLater = 2 // the packet is a fragment other than the first: it has no L4 header
)

// VLANCFI is the bit OVS sets in vlan_tci to say a tag is present (the wire's DEI bit is not
// kept).
const VLANCFI = 0x1000

// The views below are zero-allocation typed windows onto a frame: a conversion of a sub-slice
// (packet.IPv4(frame[info.L3:])) costs nothing, and each accessor reads or writes the wire
// bytes in place. They do not check lengths: make a view only over bytes Extract (or your own
// check) has shown to be long enough, or the accessor panics like any out-of-range index.

// Ethernet is a view of an Ethernet II header.
type Ethernet []byte

// Dst returns the destination MAC address.
func (e Ethernet) Dst() [6]byte { return [6]byte(e[0:6]) }

// Src returns the source MAC address.
func (e Ethernet) Src() [6]byte { return [6]byte(e[6:12]) }

// Type returns the EtherType field that follows the addresses (the TPID when tagged).
func (e Ethernet) Type() uint16 { return binary.BigEndian.Uint16(e[12:]) }

// VLAN is a view of an 802.1Q tag: TPID then TCI.
type VLAN []byte

// TPID returns the tag protocol identifier (0x8100 or 0x88a8).
func (v VLAN) TPID() uint16 { return binary.BigEndian.Uint16(v[0:]) }

// TCI returns the tag control information as on the wire (PCP, DEI, VID).
func (v VLAN) TCI() uint16 { return binary.BigEndian.Uint16(v[2:]) }

// VID returns the 12-bit VLAN ID.
func (v VLAN) VID() uint16 { return v.TCI() & 0xfff }

// PCP returns the 3-bit priority code point.
func (v VLAN) PCP() uint8 { return uint8(v.TCI() >> 13) }

// ARP is a view of an Ethernet/IPv4 ARP packet.
type ARP []byte

// Op returns the operation (1 request, 2 reply).
func (a ARP) Op() uint16 { return binary.BigEndian.Uint16(a[6:]) }

// SHA returns the sender hardware address.
func (a ARP) SHA() [6]byte { return [6]byte(a[8:14]) }

// SPA returns the sender protocol address.
func (a ARP) SPA() netip.Addr { return netip.AddrFrom4([4]byte(a[14:18])) }

// THA returns the target hardware address.
func (a ARP) THA() [6]byte { return [6]byte(a[18:24]) }

// TPA returns the target protocol address.
func (a ARP) TPA() netip.Addr { return netip.AddrFrom4([4]byte(a[24:28])) }

// IPv4 is a view of an IPv4 header.
type IPv4 []byte

// HeaderLen returns the header length in bytes (IHL × 4).
func (ip IPv4) HeaderLen() int { return int(ip[0]&0xf) * 4 }

// TOS returns the whole type-of-service byte (DSCP << 2 | ECN).
func (ip IPv4) TOS() uint8 { return ip[1] }

// TotalLen returns the total length field.
func (ip IPv4) TotalLen() uint16 { return binary.BigEndian.Uint16(ip[2:]) }

// ID returns the identification field.
func (ip IPv4) ID() uint16 { return binary.BigEndian.Uint16(ip[4:]) }

// FragOff returns the fragment offset in 8-byte units.
func (ip IPv4) FragOff() uint16 { return binary.BigEndian.Uint16(ip[6:]) & 0x1fff }

// MF reports whether the more-fragments flag is set.
func (ip IPv4) MF() bool { return ip[6]&0x20 != 0 }

// DF reports whether the don't-fragment flag is set.
func (ip IPv4) DF() bool { return ip[6]&0x40 != 0 }

// TTL returns the time to live.
func (ip IPv4) TTL() uint8 { return ip[8] }

// Proto returns the protocol field.
func (ip IPv4) Proto() uint8 { return ip[9] }

// Checksum returns the header checksum field.
func (ip IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(ip[10:]) }

// Src returns the source address.
func (ip IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(ip[12:16])) }

// Dst returns the destination address.
func (ip IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(ip[16:20])) }

// Options returns the options bytes between the fixed header and HeaderLen.
func (ip IPv4) Options() []byte { return ip[IPv4HeaderLen:ip.HeaderLen()] }

// SetChecksum recomputes the header checksum from scratch.
func (ip IPv4) SetChecksum() {
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], Checksum(ip[:ip.HeaderLen()]))
}

// IPv6 is a view of an IPv6 fixed header.
type IPv6 []byte

// TrafficClass returns the traffic class byte (DSCP << 2 | ECN).
func (ip IPv6) TrafficClass() uint8 { return uint8(binary.BigEndian.Uint32(ip) >> 20) }

// FlowLabel returns the 20-bit flow label.
func (ip IPv6) FlowLabel() uint32 { return binary.BigEndian.Uint32(ip) & 0xfffff }

// PayloadLen returns the payload length field.
func (ip IPv6) PayloadLen() uint16 { return binary.BigEndian.Uint16(ip[4:]) }

// NextHeader returns the next-header field of the fixed header.
func (ip IPv6) NextHeader() uint8 { return ip[6] }

// HopLimit returns the hop limit.
func (ip IPv6) HopLimit() uint8 { return ip[7] }

// Src returns the source address.
func (ip IPv6) Src() netip.Addr { return netip.AddrFrom16([16]byte(ip[8:24])) }

// Dst returns the destination address.
func (ip IPv6) Dst() netip.Addr { return netip.AddrFrom16([16]byte(ip[24:40])) }

// TCP is a view of a TCP header.
type TCP []byte

// SrcPort returns the source port.
func (t TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(t[0:]) }

// DstPort returns the destination port.
func (t TCP) DstPort() uint16 { return binary.BigEndian.Uint16(t[2:]) }

// Seq returns the sequence number.
func (t TCP) Seq() uint32 { return binary.BigEndian.Uint32(t[4:]) }

// Ack returns the acknowledgement number.
func (t TCP) Ack() uint32 { return binary.BigEndian.Uint32(t[8:]) }

// HeaderLen returns the data offset in bytes.
func (t TCP) HeaderLen() int { return int(t[12]>>4) * 4 }

// Flags returns the 12 flag bits (NS and the reserved bits included), as OVS's tcp_flags.
func (t TCP) Flags() uint16 { return binary.BigEndian.Uint16(t[12:]) & 0x0fff }

// Window returns the window field.
func (t TCP) Window() uint16 { return binary.BigEndian.Uint16(t[14:]) }

// Checksum returns the checksum field.
func (t TCP) Checksum() uint16 { return binary.BigEndian.Uint16(t[16:]) }

// TCP flag bits.
const (
	TCPFin = 0x001
	TCPSyn = 0x002
	TCPRst = 0x004
	TCPPsh = 0x008
	TCPAck = 0x010
	TCPUrg = 0x020
	TCPEce = 0x040
	TCPCwr = 0x080
	TCPNs  = 0x100
)

// UDP is a view of a UDP header.
type UDP []byte

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[0:]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[2:]) }

// Length returns the length field (header and payload).
func (u UDP) Length() uint16 { return binary.BigEndian.Uint16(u[4:]) }

// Checksum returns the checksum field (0: none, IPv4 only).
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[6:]) }

// SCTP is a view of an SCTP common header.
type SCTP []byte

// SrcPort returns the source port.
func (s SCTP) SrcPort() uint16 { return binary.BigEndian.Uint16(s[0:]) }

// DstPort returns the destination port.
func (s SCTP) DstPort() uint16 { return binary.BigEndian.Uint16(s[2:]) }

// VerificationTag returns the verification tag.
func (s SCTP) VerificationTag() uint32 { return binary.BigEndian.Uint32(s[4:]) }

// Checksum returns the CRC32c as stored (little-endian on the wire).
func (s SCTP) Checksum() uint32 { return binary.LittleEndian.Uint32(s[8:]) }

// ICMP is a view of an ICMP or ICMPv6 header (type, code, checksum, 4 bytes of rest).
type ICMP []byte

// Type returns the message type.
func (c ICMP) Type() uint8 { return c[0] }

// Code returns the message code.
func (c ICMP) Code() uint8 { return c[1] }

// Checksum returns the checksum field.
func (c ICMP) Checksum() uint16 { return binary.BigEndian.Uint16(c[2:]) }

// ID returns the identifier of an echo request or reply.
func (c ICMP) ID() uint16 { return binary.BigEndian.Uint16(c[4:]) }

// Seq returns the sequence number of an echo request or reply.
func (c ICMP) Seq() uint16 { return binary.BigEndian.Uint16(c[6:]) }
