package packet

import (
	"encoding/binary"

	"github.com/sluicenet/sluice/datapath/flow"
)

// Encapsulation writes the outer headers into the headroom in front of an inner Ethernet
// frame, so the inner frame is never copied:
//
//	headroom                         inner frame
//	[ outer Eth 14 | IPv4 20 | UDP 8 | Geneve 8+opts or VXLAN 8 ][ Eth | ... ]
//	^ new start                                                  ^ old start
//
// Decapsulation is the reverse: the inner frame starts where the tunnel header ends, so it is
// a sub-slice of the outer one.

// TunnelKind selects the encapsulation.
type TunnelKind uint8

// The tunnel kinds.
const (
	Geneve TunnelKind = iota + 1
	VXLAN
)

// IANA-assigned UDP destination ports.
const (
	GenevePort = 6081
	VXLANPort  = 4789
)

// String returns "geneve" or "vxlan".
func (k TunnelKind) String() string {
	switch k {
	case Geneve:
		return "geneve"
	case VXLAN:
		return "vxlan"
	}
	return "unknown"
}

// Tunnel describes the outer headers of an encapsulated frame: what Encap writes and what
// Decap reads back.
type Tunnel struct {
	Kind           TunnelKind
	EthDst, EthSrc [6]byte
	Src, Dst       [4]byte // outer IPv4 addresses (tun_src, tun_dst)
	TOS, TTL       uint8
	DF             bool
	ID             uint16 // outer IPv4 identification
	SrcPort        uint16 // UDP source port: the inner flow's hash, for ECMP/RSS entropy
	DstPort        uint16 // 0 means the kind's IANA port
	VNI            uint32 // 24 bits (tun_id)
	// Options are Geneve's TLV options (a multiple of 4 bytes, at most 252). Decap sets it to a
	// sub-slice of the frame; Encap copies it.
	Options []byte
	// Critical is Geneve's C bit: options the receiver must understand are present.
	Critical bool
	// UDPChecksum makes Encap compute the outer UDP checksum over the whole packet; otherwise it
	// is 0, which IPv4 allows and which is what the kernel's tunnels send by default.
	UDPChecksum bool
}

// HeaderLen returns the bytes of headroom Encap needs for t.
func (t *Tunnel) HeaderLen() int {
	n := EthernetHeaderLen + IPv4HeaderLen + UDPHeaderLen + 8
	if t.Kind == Geneve {
		n += len(t.Options)
	}
	return n
}

// Encap writes t's outer Ethernet, IPv4, UDP and Geneve or VXLAN headers in front of the inner
// frame buf[start:] and returns the start of the encapsulated frame. It fails (false) when the
// headroom is smaller than t.HeaderLen(), the options are malformed, or the result would
// exceed the IPv4 total length.
func Encap(buf []byte, start int, t *Tunnel) (int, bool) {
	hl := t.HeaderLen()
	if start < hl || (t.Kind != Geneve && t.Kind != VXLAN) ||
		len(t.Options)%4 != 0 || len(t.Options) > 252 {
		return start, false
	}
	ipLen := len(buf) - start + hl - EthernetHeaderLen
	if ipLen > 0xffff {
		return start, false
	}
	n := start - hl
	f := buf[n:]
	copy(f[0:], t.EthDst[:])
	copy(f[6:], t.EthSrc[:])
	put16(f[12:], EtherTypeIPv4)

	ip := f[EthernetHeaderLen:]
	ip[0], ip[1] = 0x45, t.TOS
	put16(ip[2:], uint16(ipLen))
	put16(ip[4:], t.ID)
	put16(ip[6:], 0)
	if t.DF {
		ip[6] = 0x40
	}
	ip[8], ip[9] = t.TTL, ProtoUDP
	copy(ip[12:], t.Src[:])
	copy(ip[16:], t.Dst[:])
	IPv4(ip).SetChecksum()

	udp := ip[IPv4HeaderLen:]
	dport := t.DstPort
	if dport == 0 {
		dport = GenevePort
		if t.Kind == VXLAN {
			dport = VXLANPort
		}
	}
	put16(udp[0:], t.SrcPort)
	put16(udp[2:], dport)
	put16(udp[4:], uint16(ipLen-IPv4HeaderLen))
	put16(udp[6:], 0)

	h := udp[UDPHeaderLen:]
	if t.Kind == Geneve {
		h[0] = uint8(len(t.Options) / 4) // version 0, option length in 4-byte words
		h[1] = 0
		if t.Critical {
			h[1] = 0x40
		}
		put16(h[2:], EtherTypeTEB)
		copy(h[8:], t.Options)
	} else {
		h[0], h[1], h[2], h[3] = 0x08, 0, 0, 0 // I flag: the VNI is valid
	}
	binary.BigEndian.PutUint32(h[4:], t.VNI<<8)

	if t.UDPChecksum {
		u := udp[:ipLen-IPv4HeaderLen]
		c := ^Fold(Sum(u, pseudoSum(ip[12:16], ip[16:20], ProtoUDP, len(u))))
		if c == 0 {
			c = 0xffff
		}
		put16(udp[6:], c)
	}
	return n, true
}

// Decap checks that the frame, as Extract parsed it into info, is an IPv4/UDP packet carrying
// a tunnel header of the given kind, fills t from the outer headers and returns the offset
// of the inner Ethernet frame within frame (the inner frame is frame[inner:info.End]). It
// does not look at the UDP port: the caller picked kind by port. The checks: Geneve version 0,
// options within the packet, protocol 0x6558 (Ethernet); VXLAN's I flag set.
func Decap(frame []byte, info *Info, kind TunnelKind, t *Tunnel) (inner int, ok bool) {
	if info.Flags&(FlagIPv4|FlagL4) != FlagIPv4|FlagL4 || info.Proto != ProtoUDP {
		return 0, false
	}
	h := frame[info.L7:info.End]
	if len(h) < 8 {
		return 0, false
	}
	var hl int
	switch kind {
	case Geneve:
		hl = 8 + int(h[0]&0x3f)*4
		if h[0]>>6 != 0 || len(h) < hl || be16(h[2:]) != EtherTypeTEB {
			return 0, false
		}
		t.Options = h[8:hl:hl]
		t.Critical = h[1]&0x40 != 0
	case VXLAN:
		hl = 8
		if h[0]&0x08 == 0 {
			return 0, false
		}
		t.Options = nil
		t.Critical = false
	default:
		return 0, false
	}
	t.Kind = kind
	t.VNI = binary.BigEndian.Uint32(h[4:]) >> 8
	t.EthDst = [6]byte(frame[0:6])
	t.EthSrc = [6]byte(frame[6:12])
	ip := frame[info.L3:]
	t.TOS, t.TTL = ip[1], ip[8]
	t.DF = ip[6]&0x40 != 0
	t.ID = be16(ip[4:])
	t.Src, t.Dst = [4]byte(ip[12:16]), [4]byte(ip[16:20])
	udp := frame[info.L4:]
	t.SrcPort, t.DstPort = be16(udp), be16(udp[2:])
	t.UDPChecksum = be16(udp[6:]) != 0
	return int(info.L7) + hl, true
}

// SetKey stores the tunnel metadata OVS matches on after decapsulation — tun_id (the VNI),
// tun_src and tun_dst — into k, which Extract filled from the inner frame.
func (t *Tunnel) SetKey(k *flow.Key) {
	k.Set(flow.FieldTunID, uint64(t.VNI))
	k.Set(flow.FieldTunSrc, uint64(binary.BigEndian.Uint32(t.Src[:])))
	k.Set(flow.FieldTunDst, uint64(binary.BigEndian.Uint32(t.Dst[:])))
}

// GeneveHeader is a view of a Geneve header (RFC 8926).
type GeneveHeader []byte

// Version returns the 2-bit version (0).
func (g GeneveHeader) Version() uint8 { return g[0] >> 6 }

// OptionsLen returns the length of the options in bytes.
func (g GeneveHeader) OptionsLen() int { return int(g[0]&0x3f) * 4 }

// OAM reports whether the O bit (control packet) is set.
func (g GeneveHeader) OAM() bool { return g[1]&0x80 != 0 }

// Critical reports whether the C bit (critical options present) is set.
func (g GeneveHeader) Critical() bool { return g[1]&0x40 != 0 }

// Protocol returns the EtherType of the payload (0x6558 for Ethernet).
func (g GeneveHeader) Protocol() uint16 { return be16(g[2:]) }

// VNI returns the 24-bit virtual network identifier.
func (g GeneveHeader) VNI() uint32 { return binary.BigEndian.Uint32(g[4:]) >> 8 }

// VXLANHeader is a view of a VXLAN header (RFC 7348).
type VXLANHeader []byte

// ValidVNI reports whether the I flag is set.
func (v VXLANHeader) ValidVNI() bool { return v[0]&0x08 != 0 }

// VNI returns the 24-bit VXLAN network identifier.
func (v VXLANHeader) VNI() uint32 { return binary.BigEndian.Uint32(v[4:]) >> 8 }
