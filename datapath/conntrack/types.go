package conntrack

import (
	"net/netip"
	"strings"
)

// State is a set of ct_state bits, with OVS's values.
type State uint8

// The ct_state bits (ovs-fields(7)).
const (
	StateNew         State = 0x01 // first packet(s) of a connection not yet seen both ways
	StateEstablished State = 0x02 // part of a connection that has seen traffic both ways
	StateRelated     State = 0x04 // an ICMP error about a tracked connection
	StateReply       State = 0x08 // travels in the reply direction
	StateInvalid     State = 0x10 // could not be tracked or breaks its connection's rules
	StateTracked     State = 0x20 // went through ct()
	StateSNAT        State = 0x40 // its source was translated
	StateDNAT        State = 0x80 // its destination was translated
)

var stateNames = [8]string{"new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"}

// String returns the bits in ovs-ofctl's form, e.g. "+trk+est+rpl", or "0".
func (s State) String() string {
	if s == 0 {
		return "0"
	}
	var b strings.Builder
	for i, n := range stateNames {
		if s&(1<<i) != 0 {
			b.WriteByte('+')
			b.WriteString(n)
		}
	}
	return b.String()
}

// IP protocol numbers the tracker treats specially.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
	ProtoSCTP   uint8 = 132
)

// TCP flag bits as they appear in the header's flags byte.
const (
	TCPFin uint8 = 0x01
	TCPSyn uint8 = 0x02
	TCPRst uint8 = 0x04
	TCPPsh uint8 = 0x08
	TCPAck uint8 = 0x10
	TCPUrg uint8 = 0x20
)

// Label is a 128-bit ct_label, high half first like flow.Key's 128-bit fields.
type Label struct {
	Hi, Lo uint64
}

// Tuple is a connection's original-direction tuple as OVS exposes it in ct_nw_src,
// ct_nw_dst, ct_nw_proto, ct_tp_src and ct_tp_dst: for ICMP the ports hold the ICMP type and
// code of the packet that opened the connection.
type Tuple struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
}

// Inner is the header embedded in an ICMP error, as the packet parser found it: the
// addresses, protocol and ports (or ICMP type, code and identifier) of the packet that caused
// the error, in the direction that packet travelled.
type Inner struct {
	Src, Dst           netip.Addr
	Proto              uint8
	SrcPort, DstPort   uint16
	ICMPType, ICMPCode uint8
	ICMPID             uint16
}

// Packet is what the tracker needs to know about one packet; the executor fills it from the
// parsed headers. Addresses are both IPv4 or both IPv6 (not IPv4-mapped).
type Packet struct {
	Src, Dst netip.Addr
	Proto    uint8

	// SrcPort and DstPort are the TCP, UDP or SCTP ports.
	SrcPort, DstPort uint16

	// ICMPType, ICMPCode and ICMPID describe an ICMP or ICMPv6 packet; ICMPID is the echo
	// (or timestamp/info) identifier.
	ICMPType, ICMPCode uint8
	ICMPID             uint16

	// TCP header fields. TCPWScale is the window scale option's shift, or -1 when the
	// packet has none. TCPPayload is the number of TCP payload bytes.
	TCPFlags   uint8
	TCPSeq     uint32
	TCPAck     uint32
	TCPWindow  uint16
	TCPWScale  int8
	TCPPayload uint32

	// HasInner says Inner holds the embedded header of an ICMP error.
	HasInner bool
	Inner    Inner

	// Fragment marks an IPv4 fragment that was not reassembled: it cannot be tracked.
	Fragment bool

	// Len is the packet's length in bytes, for the connection's counters.
	Len uint32
}

// NATKind says which side of a connection NAT translates.
type NATKind uint8

// NAT kinds. NATNone means the ct action has no nat at all; NATReverse is a bare "nat": it
// applies the translation an existing connection already has, and sets none up.
const (
	NATNone NATKind = iota
	NATReverse
	NATSrc
	NATDst
)

// NAT is the nat(...) part of a ct action.
type NAT struct {
	Kind NATKind
	// MinAddr..MaxAddr is the address range; the zero Addr keeps the address unchanged
	// (only the port is translated). An IPv6 range wider than 2^32 uses its first 2^32.
	MinAddr, MaxAddr netip.Addr
	// MinPort..MaxPort is the port range; 0 means none was given (SNAT keeps the source
	// port if it can, DNAT keeps the destination port).
	MinPort, MaxPort uint16
	// Persistent chooses the address from the source address alone, so one client always
	// gets the same address. Random chooses the starting port at random instead of by hash.
	Persistent, Random bool
}

// Action is one ct(...) action.
type Action struct {
	Zone   uint16
	Commit bool
	// Force deletes an existing connection when the packet is in its reply direction, and
	// commits a new one in the packet's direction (ct(force,commit)).
	Force bool
	NAT   NAT
	// MarkMask and LabelMask select the bits exec(set_field:…->ct_mark/ct_label) sets; they
	// apply to committed connections only. Mark and Label hold the values.
	Mark, MarkMask   uint32
	Label, LabelMask Label
}

// Rewrite flags: which fields of the packet the executor must set.
const (
	RewriteSrc          uint16 = 1 << iota // outer source address := Rewrite.Src
	RewriteDst                             // outer destination address := Rewrite.Dst
	RewriteSrcPort                         // L4 source port (for ICMP echo: the identifier) := Rewrite.SrcPort
	RewriteDstPort                         // L4 destination port := Rewrite.DstPort
	RewriteInnerSrc                        // ICMP error's embedded source address
	RewriteInnerDst                        // ICMP error's embedded destination address
	RewriteInnerSrcPort                    // embedded source port (or ICMP identifier)
	RewriteInnerDstPort                    // embedded destination port
)

// Rewrite is the NAT translation the executor must apply to the packet it passed to Process.
// Only fields whose flag is set in Set change.
type Rewrite struct {
	Set                        uint16
	Src, Dst                   netip.Addr
	SrcPort, DstPort           uint16
	InnerSrc, InnerDst         netip.Addr
	InnerSrcPort, InnerDstPort uint16
}

// DropReason says why a connection that should have been committed was not. The packet
// itself still has its ct_state (+trk+new, like OVS, which lets it continue); the executor
// decides whether to drop it.
type DropReason uint8

// Drop reasons.
const (
	DropNone         DropReason = iota
	DropTableFull               // the table holds Options.MaxConns connections
	DropNATExhausted            // no free address/port in the NAT range
	DropNATInvalid              // the NAT range does not fit the packet (address family)
	DropTupleClash              // the reply tuple belongs to another connection
)

var dropNames = [...]string{"none", "table-full", "nat-exhausted", "nat-invalid", "tuple-clash"}

// String names the reason.
func (d DropReason) String() string {
	if int(d) < len(dropNames) {
		return dropNames[d]
	}
	return "unknown"
}

// Meta is a packet's conntrack metadata, the pkt->md of OVS: it goes into Process and comes
// out updated. A packet that has not been through ct() has the zero Meta; the executor keeps
// one per packet across recirculations so that a second ct() in the same zone reuses the
// first one's lookup and does not translate twice.
type Meta struct {
	State State
	Zone  uint16
	Mark  uint32
	Label Label
	// Orig is the connection's original-direction tuple (ct_nw_*/ct_tp_*); for a packet of
	// an uncommitted connection it is the packet's own tuple, zero if it could not be parsed.
	Orig Tuple
	// Rewrite is the translation to apply to the packet, reset by every Process call.
	Rewrite Rewrite
	// Drop is set when a commit was refused; reset by every Process call.
	Drop DropReason

	conn    *conn
	reply   bool
	related bool
}
