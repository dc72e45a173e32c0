// Package packet parses and rewrites packets in place, with no allocation, for the Sluice
// datapath.
//
// A frame is a []byte holding one Ethernet frame (in an AF_XDP UMEM chunk, usually). The
// datapath handles it in three steps:
//
//	frame ──Extract──> flow.Key + Info ──classifier──> actions ──SetField/PushVLAN/Encap…──> frame
//
// Extract reads the headers once — Ethernet, one 802.1Q/802.1ad tag, LLC/SNAP, ARP, IPv4
// (options, fragments), IPv6 (hop-by-hop, routing, fragment, destination options and AH
// headers walked to the L4 header), TCP, UDP, SCTP, ICMP, IGMP, ICMPv6 and neighbour
// discovery — and fills two things: the packed flow.Key the classifier hashes, built field by
// field the way Open vSwitch's miniflow_extract builds its flow so that a flow table matches
// here exactly as it does in OVS; and an Info holding the offset of every layer, so actions
// write the bytes they change without parsing again. A malformed frame yields a DropReason
// (counted in DropCounters, never an error value or a log line per packet) and still the key
// OVS would have built.
//
// Rewrites (SetField, SetField128, DecTTL, SetICMPID) change header bytes in place and patch
// the IPv4 header and L4 checksums incrementally (RFC 1624), so their cost is independent of
// the packet's length; SCTP's CRC32c, which cannot be patched, is recomputed. PushVLAN,
// PopVLAN and Encap grow or shrink a frame at its front: the caller passes the buffer and the
// frame's start in it, the address bytes or outer headers move into the buffer's headroom and
// the payload never moves. Decap returns the inner frame's offset; the inner frame is a
// sub-slice. CompleteChecksums computes checksums from scratch, for frames sent with a
// partial checksum left to offload hardware.
//
// Header views (IPv4, TCP, GeneveHeader, …) are named []byte types with accessor methods:
// converting a sub-slice costs nothing, and they are for code that needs a field the key
// does not carry (TCP sequence numbers for conntrack, the IPv4 ID for reassembly).
//
// Build goes the other way, from a flow.Key to a valid frame with correct checksums, for
// tests and for the differential harness against OVS.
//
// Nothing in the package keeps state or locks: any number of goroutines may work on different
// frames at once. Offsets are uint16, so frames longer than 65535 bytes are refused.
package packet
