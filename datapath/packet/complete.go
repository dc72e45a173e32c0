package packet

import "encoding/binary"

// l4Sum returns the unfolded sum a from-scratch L4 checksum starts from: the pseudo-header for
// protocols that cover it, else 0.
func l4Sum(frame []byte, info *Info, l4len int) uint64 {
	l3 := int(info.L3)
	switch {
	case info.Flags&FlagIPv4 != 0 && pseudoCovered(info.Proto, false):
		return pseudoSum(frame[l3+12:l3+16], frame[l3+16:l3+20], info.Proto, l4len)
	case info.Flags&FlagIPv6 != 0 && pseudoCovered(info.Proto, true):
		return pseudoSum(frame[l3+8:l3+24], frame[l3+24:l3+40], info.Proto, l4len)
	}
	return 0
}

// completable reports whether the frame's L4 checksum can be computed from this frame alone:
// a parsed L4 header that is not part of a fragmented datagram.
func completable(info *Info) bool {
	return info.Flags&FlagL4 != 0 && info.Frag == 0
}

// CompleteChecksums computes the IPv4 header checksum and the L4 checksum (TCP, UDP, ICMP,
// ICMPv6, IGMP, and SCTP's CRC32c) of the frame from scratch, whatever the fields held before —
// for frames whose sender left a partial checksum to offload hardware (a veth with TX
// checksum offload on). An IPv4 UDP checksum of 0 stays 0 (none). Fragments keep their L4
// checksum: it covers bytes this frame does not have. The IPv6 pseudo-header uses the
// header's destination even when a routing header names another final destination.
func CompleteChecksums(frame []byte, info *Info) {
	if info.Flags&FlagIPv4 != 0 {
		IPv4(frame[info.L3:]).SetChecksum()
	}
	if !completable(info) {
		return
	}
	l4 := frame[info.L4:info.End]
	if info.Proto == ProtoSCTP {
		binary.LittleEndian.PutUint32(l4[8:], sctpChecksum(l4))
		return
	}
	o := l4CsumOff(info.Proto)
	if o < 0 {
		return
	}
	if info.Proto == ProtoUDP && info.Flags&FlagIPv4 != 0 && be16(l4[o:]) == 0 {
		return
	}
	l4[o], l4[o+1] = 0, 0
	c := ^Fold(Sum(l4, l4Sum(frame, info, len(l4))))
	if c == 0 && info.Proto == ProtoUDP {
		c = 0xffff
	}
	put16(l4[o:], c)
}

// VerifyChecksums reports whether the IPv4 header checksum (true when there is none) and the
// L4 checksum (true when it cannot be checked from this frame, or is an IPv4 UDP 0) are right.
func VerifyChecksums(frame []byte, info *Info) (ipOK, l4OK bool) {
	ipOK, l4OK = true, true
	if info.Flags&FlagIPv4 != 0 {
		ip := IPv4(frame[info.L3:])
		ipOK = Fold(Sum(ip[:ip.HeaderLen()], 0)) == 0xffff
	}
	if !completable(info) {
		return ipOK, l4OK
	}
	l4 := frame[info.L4:info.End]
	if info.Proto == ProtoSCTP {
		return ipOK, binary.LittleEndian.Uint32(l4[8:]) == sctpChecksum(l4)
	}
	o := l4CsumOff(info.Proto)
	if o < 0 || (info.Proto == ProtoUDP && info.Flags&FlagIPv4 != 0 && be16(l4[o:]) == 0) {
		return ipOK, l4OK
	}
	return ipOK, Fold(Sum(l4, l4Sum(frame, info, len(l4)))) == 0xffff
}
