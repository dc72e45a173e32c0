package packet

import (
	"fmt"
	"sync/atomic"
)

// DropReason says why Extract found a frame malformed. ReasonNone means it parsed cleanly.
// Every other reason is a frame the Sluice datapath drops and counts; the flow key Extract
// filled is still the one OVS would have built for the same frame (see Extract), so a caller
// that wants OVS's forwarding behaviour for malformed frames can ignore the reason.
type DropReason uint8

// The drop reasons. Names are stable: they become metric label values.
const (
	ReasonNone            DropReason = iota
	DropFrameTooLong                 // longer than 65535 bytes: offsets do not fit Info
	DropEthernetTruncated            // shorter than an Ethernet header
	DropARPTruncated                 // EtherType ARP/RARP with fewer than 28 bytes
	DropIPv4Truncated                // fewer than 20 bytes of IPv4 header
	DropIPv4HeaderLength             // IHL below 5 or beyond the frame
	DropIPv4TotalLength              // total length beyond the frame or below the header length
	DropIPv6Truncated                // fewer than 40 bytes of IPv6 header
	DropIPv6PayloadLength            // payload length beyond the frame
	DropIPv6ExtHeader                // an extension header runs past the payload
	DropL4Truncated                  // the L4 header is cut short (key keeps L3, L4 fields zero)
	DropTCPHeaderLength              // TCP data offset below 5 or beyond the packet
	DropNDOption                     // neighbour discovery with a repeated link-layer option

	NumDropReasons
)

var reasonNames = [NumDropReasons]string{
	ReasonNone:            "none",
	DropFrameTooLong:      "frame_too_long",
	DropEthernetTruncated: "ethernet_truncated",
	DropARPTruncated:      "arp_truncated",
	DropIPv4Truncated:     "ipv4_truncated",
	DropIPv4HeaderLength:  "ipv4_header_length",
	DropIPv4TotalLength:   "ipv4_total_length",
	DropIPv6Truncated:     "ipv6_truncated",
	DropIPv6PayloadLength: "ipv6_payload_length",
	DropIPv6ExtHeader:     "ipv6_ext_header",
	DropL4Truncated:       "l4_truncated",
	DropTCPHeaderLength:   "tcp_header_length",
	DropNDOption:          "nd_option",
}

// String returns the reason's metric label, e.g. "ipv4_total_length".
func (r DropReason) String() string {
	if r >= NumDropReasons {
		return fmt.Sprintf("reason(%d)", uint8(r))
	}
	return reasonNames[r]
}

// DropCounters counts drops per reason. Any goroutine may call Inc and Load; the zero value is
// ready. Drops are rare, so an atomic add per drop costs nothing measurable on the fast path.
type DropCounters struct {
	n [NumDropReasons]atomic.Uint64
}

// Inc counts one drop for r (ReasonNone and out-of-range reasons are ignored).
func (c *DropCounters) Inc(r DropReason) {
	if r != ReasonNone && r < NumDropReasons {
		c.n[r].Add(1)
	}
}

// Load returns the count for r.
func (c *DropCounters) Load(r DropReason) uint64 {
	if r >= NumDropReasons {
		return 0
	}
	return c.n[r].Load()
}

// Snapshot returns every reason's count, indexed by DropReason.
func (c *DropCounters) Snapshot() [NumDropReasons]uint64 {
	var s [NumDropReasons]uint64
	for i := range s {
		s[i] = c.n[i].Load()
	}
	return s
}
