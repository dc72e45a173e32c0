package conntrack

import (
	"encoding/binary"
	"net/netip"
)

// key is one direction of a connection: what a packet in that direction carries. For ICMP
// queries both ports hold the identifier and the types say which way the query goes (an echo
// request's key has stype 8 and dtype 0, its reply's the other way round), as in OVS.
type key struct {
	src, dst     netip.Addr
	sport, dport uint16
	zone         uint16
	proto        uint8
	stype, dtype uint8
}

func (k *key) reverse() {
	k.src, k.dst = k.dst, k.src
	k.sport, k.dport = k.dport, k.sport
	k.stype, k.dtype = k.dtype, k.stype
}

func (k *key) reversed() key {
	r := *k
	r.reverse()
	return r
}

func isICMP(proto uint8) bool { return proto == ProtoICMP || proto == ProtoICMPv6 }

// tuple returns the key as OVS reports an original-direction tuple.
func (k *key) tuple() Tuple {
	t := Tuple{Src: k.src, Dst: k.dst, Proto: k.proto, SrcPort: k.sport, DstPort: k.dport}
	if isICMP(k.proto) {
		t.SrcPort, t.DstPort = uint16(k.stype), 0
	}
	return t
}

const (
	m1 = 0x9E3779B97F4A7C15
	m2 = 0xC2B2AE3D27D4EB4F
)

func mix(h, v uint64) uint64 {
	h ^= v * m1
	h = (h<<31 | h>>33) * m2
	return h
}

func addrWords(a netip.Addr) (uint64, uint64) {
	b := a.As16()
	return binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])
}

func (k *key) hash(seed uint64) uint64 {
	h := seed
	s0, s1 := addrWords(k.src)
	d0, d1 := addrWords(k.dst)
	h = mix(h, s0)
	h = mix(h, s1)
	h = mix(h, d0)
	h = mix(h, d1)
	h = mix(h, uint64(k.sport)|uint64(k.dport)<<16|uint64(k.zone)<<32|uint64(k.proto)<<48)
	h = mix(h, uint64(k.stype)|uint64(k.dtype)<<8)
	h ^= h >> 29
	return h
}

// ICMP message types the tracker knows.
const (
	icmpEchoReply      = 0
	icmpDstUnreach     = 3
	icmpSourceQuench   = 4
	icmpRedirect       = 5
	icmpEchoRequest    = 8
	icmpTimeExceeded   = 11
	icmpParamProb      = 12
	icmpTimestamp      = 13
	icmpTimestampReply = 14
	icmpInfoRequest    = 15
	icmpInfoReply      = 16

	icmp6DstUnreach   = 1
	icmp6PacketTooBig = 2
	icmp6TimeExceeded = 3
	icmp6ParamProb    = 4
	icmp6EchoRequest  = 128
	icmp6EchoReply    = 129
)

// icmpQueryReverse returns the type answering a query type, and whether t is a query.
func icmpQueryReverse(proto, t uint8) (uint8, bool) {
	if proto == ProtoICMP {
		switch t {
		case icmpEchoRequest:
			return icmpEchoReply, true
		case icmpEchoReply:
			return icmpEchoRequest, true
		case icmpTimestamp:
			return icmpTimestampReply, true
		case icmpTimestampReply:
			return icmpTimestamp, true
		case icmpInfoRequest:
			return icmpInfoReply, true
		case icmpInfoReply:
			return icmpInfoRequest, true
		}
		return 0, false
	}
	switch t {
	case icmp6EchoRequest:
		return icmp6EchoReply, true
	case icmp6EchoReply:
		return icmp6EchoRequest, true
	}
	return 0, false
}

func icmpIsError(proto, t uint8) bool {
	if proto == ProtoICMP {
		switch t {
		case icmpDstUnreach, icmpTimeExceeded, icmpParamProb, icmpSourceQuench, icmpRedirect:
			return true
		}
		return false
	}
	switch t {
	case icmp6DstUnreach, icmp6PacketTooBig, icmp6TimeExceeded, icmp6ParamProb:
		return true
	}
	return false
}

// fillL4 sets the L4 part of k for a (non-error) packet of protocol proto; false when the
// packet cannot be tracked (OVS's extract_l4 failing).
func fillL4(k *key, proto uint8, sport, dport uint16, itype, icode uint8, id uint16) bool {
	switch proto {
	case ProtoTCP, ProtoUDP:
		k.sport, k.dport = sport, dport
	case ProtoSCTP:
		if sport == 0 || dport == 0 {
			return false
		}
		k.sport, k.dport = sport, dport
	case ProtoICMP, ProtoICMPv6:
		rt, ok := icmpQueryReverse(proto, itype)
		if !ok || icode != 0 {
			return false
		}
		k.sport, k.dport = id, id
		k.stype, k.dtype = itype, rt
	}
	return true
}

// extract builds the lookup key of p in zone. For an ICMP error it is the embedded packet's
// key reversed, and related is true. ok is false for packets that cannot be tracked.
func extract(p *Packet, zone uint16, k *key) (related, ok bool) {
	if p.Fragment || !p.Src.IsValid() || p.Src.Is4() != p.Dst.Is4() {
		return false, false
	}
	if (p.Proto == ProtoICMP && !p.Src.Is4()) || (p.Proto == ProtoICMPv6 && p.Src.Is4()) {
		return false, false
	}
	*k = key{src: p.Src, dst: p.Dst, zone: zone, proto: p.Proto}
	if isICMP(p.Proto) && icmpIsError(p.Proto, p.ICMPType) {
		in := &p.Inner
		if !p.HasInner || in.Src != p.Dst || !in.Dst.IsValid() || in.Dst.Is4() != p.Src.Is4() {
			return false, false
		}
		if isICMP(in.Proto) && in.Proto != p.Proto {
			return false, false
		}
		// An error about an error is not related to anything: only queries qualify.
		*k = key{src: in.Src, dst: in.Dst, zone: zone, proto: in.Proto}
		if !fillL4(k, in.Proto, in.SrcPort, in.DstPort, in.ICMPType, in.ICMPCode, in.ICMPID) {
			return false, false
		}
		k.reverse()
		return true, true
	}
	return false, fillL4(k, p.Proto, p.SrcPort, p.DstPort, p.ICMPType, p.ICMPCode, p.ICMPID)
}
