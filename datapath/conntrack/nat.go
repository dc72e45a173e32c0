package conntrack

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
)

// Validate checks n the way a flow compiler must before a ct action uses it: matching
// address families, ordered ranges, an IPv6 range of at most 2^32 addresses.
func (n NAT) Validate() error {
	if n.Kind != NATSrc && n.Kind != NATDst {
		if n.MinAddr.IsValid() || n.MinPort != 0 {
			return fmt.Errorf("nat range without src or dst")
		}
		return nil
	}
	if n.MinAddr.IsValid() != n.MaxAddr.IsValid() {
		return fmt.Errorf("nat address range needs both ends")
	}
	if n.MinAddr.IsValid() {
		if n.MinAddr.Is4() != n.MaxAddr.Is4() {
			return fmt.Errorf("nat address range %s-%s mixes families", n.MinAddr, n.MaxAddr)
		}
		if n.MaxAddr.Less(n.MinAddr) {
			return fmt.Errorf("nat address range %s-%s is reversed", n.MinAddr, n.MaxAddr)
		}
	}
	if n.MaxPort < n.MinPort || (n.MinPort == 0) != (n.MaxPort == 0) {
		return fmt.Errorf("nat port range %d-%d is invalid", n.MinPort, n.MaxPort)
	}
	return nil
}

// Ephemeral port ranges OVS searches when the source port has to change and no range was given.
const (
	minEphemeral = 1024
	maxEphemeral = 65535
	maxAttempts  = 128
)

// addrOffset returns the number of addresses from lo to hi (hi-lo), capped at 2^32-1, and
// false when they are not of one family or hi < lo.
func addrSpan(lo, hi netip.Addr) (uint32, bool) {
	if lo.Is4() != hi.Is4() || hi.Less(lo) {
		return 0, false
	}
	l, h := lo.As16(), hi.As16()
	lh, ll := binary.BigEndian.Uint64(l[:8]), binary.BigEndian.Uint64(l[8:])
	hh, hl := binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:])
	if hh != lh || hl-ll > 0xffffffff {
		return 0xffffffff, true
	}
	return uint32(hl - ll), true
}

func addrAdd(a netip.Addr, off uint32) netip.Addr {
	b := a.As16()
	lo := binary.BigEndian.Uint64(b[8:])
	n := lo + uint64(off)
	if n < lo {
		binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(b[:8])+1)
	}
	binary.BigEndian.PutUint64(b[8:], n)
	r := netip.AddrFrom16(b)
	if a.Is4() {
		return r.Unmap()
	}
	return r
}

func (t *Table) natHash(fwd *key, n *NAT, persistent bool) uint64 {
	h := t.seed
	s0, s1 := addrWords(fwd.src)
	h = mix(h, s0)
	h = mix(h, s1)
	if !persistent {
		d0, d1 := addrWords(fwd.dst)
		h = mix(h, d0)
		h = mix(h, d1)
		h = mix(h, uint64(fwd.sport)|uint64(fwd.dport)<<16)
	}
	a0, a1 := addrWords(n.MinAddr)
	b0, b1 := addrWords(n.MaxAddr)
	h = mix(h, a0^b1)
	h = mix(h, a1^b0)
	h = mix(h, uint64(n.MinPort)|uint64(n.MaxPort)<<16|uint64(fwd.zone)<<32|uint64(fwd.proto)<<48)
	h ^= h >> 31
	return h
}

// portRange is the range a port is searched in, and where the search starts.
func defaultPortRange(port uint16) (lo, hi uint16) {
	switch {
	case port < 512:
		return 1, 511
	case port < 1024:
		return 600, 1023
	}
	return minEphemeral, maxEphemeral
}

// natTupleLocked chooses c's reply key for n so that it clashes with no live connection. It
// returns a drop reason on failure. Holds t.mu.
func (t *Table) natTupleLocked(c *conn, n *NAT, now int64) DropReason {
	fwd := &c.keys[0]
	rev := &c.keys[1]
	if n.MinAddr.IsValid() && n.MinAddr.Is4() != fwd.src.Is4() {
		return DropNATInvalid
	}
	pat := fwd.proto == ProtoTCP || fwd.proto == ProtoUDP || fwd.proto == ProtoSCTP || fwd.proto == ProtoICMP
	hash := t.natHash(fwd, n, n.Persistent)
	portOff := uint32(hash)
	if n.Random {
		portOff = rand.Uint32()
	} else if n.Persistent {
		portOff = uint32(t.natHash(fwd, n, false))
	}

	if n.MinAddr.IsValid() {
		span, ok := addrSpan(n.MinAddr, n.MaxAddr)
		if !ok {
			return DropNATInvalid
		}
		off := uint32(hash >> 32)
		if span != 0xffffffff {
			off %= span + 1
		}
		a := addrAdd(n.MinAddr, off)
		if n.Kind == NATSrc {
			rev.dst = a
		} else {
			rev.src = a
		}
	}
	if !pat {
		if t.lookupLocked(rev, now) != nil {
			return DropNATExhausted
		}
		return DropNone
	}

	// Source port search range: the given range for SNAT with ports; otherwise the class
	// of the original source port, starting at that port.
	var sCur, sMin, sMax uint16
	if n.Kind == NATSrc && n.MinPort != 0 {
		sMin, sMax = n.MinPort, n.MaxPort
		sCur = sMin + uint16(portOff%(uint32(sMax-sMin)+1))
	} else {
		sCur = fwd.sport
		sMin, sMax = defaultPortRange(sCur)
		if sCur < sMin { // port 0
			sCur = sMin
		}
	}
	dCur, dMin, dMax := fwd.dport, fwd.dport, fwd.dport
	if n.Kind == NATDst && n.MinPort != 0 {
		dMin, dMax = n.MinPort, n.MaxPort
		dCur = dMin + uint16(portOff%(uint32(dMax-dMin)+1))
	}
	icmp := fwd.proto == ProtoICMP
	if !icmp {
		rev.sport, rev.dport = dCur, sCur
	}

	if n.Kind == NATDst && n.MinPort != 0 && !icmp {
		if t.searchPortLocked(rev, &rev.sport, nil, dCur, dMin, dMax, now) {
			return DropNone
		}
	}
	var peer *uint16
	if icmp {
		peer = &rev.sport // ICMP: the identifier is both "ports"
	}
	if t.searchPortLocked(rev, &rev.dport, peer, sCur, sMin, sMax, now) {
		return DropNone
	}
	return DropNATExhausted
}

// searchPortLocked tries ports for *port from cur, wrapping in [lo,hi], until rev is free:
// at most 128 in a row, then random restarts with half as many tries while that stays >= 16.
func (t *Table) searchPortLocked(rev *key, port, peer *uint16, cur, lo, hi uint16, now int64) bool {
	span := uint32(hi-lo) + 1
	attempts := min(span, maxAttempts)
	orig := cur
	for {
		p := cur
		for range attempts {
			*port = p
			if peer != nil {
				*peer = p
			}
			if t.lookupLocked(rev, now) == nil {
				return true
			}
			if p == hi {
				p = lo
			} else {
				p++
			}
		}
		if attempts >= span || attempts < 16 {
			break
		}
		attempts /= 2
		cur = lo + uint16(rand.Uint32()%span)
	}
	*port = orig
	if peer != nil {
		*peer = orig
	}
	return false
}

func reverseKind(k NATKind) NATKind {
	switch k {
	case NATSrc:
		return NATDst
	case NATDst:
		return NATSrc
	}
	return k
}

// natPacket fills md.Rewrite (and the +snat/+dnat bits) for a packet of c in the given
// direction. The packet's new header is the other direction's key, reversed.
func natPacket(p *Packet, c *conn, reply, related bool, md *Meta) {
	kind := c.nat
	k := &c.keys[1] // forward packets become the reversed reply key
	if reply {
		kind = reverseKind(kind)
		k = &c.keys[0]
	}
	var rw Rewrite
	switch kind {
	case NATSrc:
		md.State |= StateSNAT
		if p.Src != k.dst {
			rw.Set |= RewriteSrc
			rw.Src = k.dst
		}
	case NATDst:
		md.State |= StateDNAT
		if p.Dst != k.src {
			rw.Set |= RewriteDst
			rw.Dst = k.src
		}
	default:
		return
	}
	if related {
		// The embedded header is the packet this error is about, which travelled the
		// other way: it becomes the other direction's key, unreversed.
		in := &p.Inner
		if in.Src != k.src {
			rw.Set |= RewriteInnerSrc
			rw.InnerSrc = k.src
		}
		if in.Dst != k.dst {
			rw.Set |= RewriteInnerDst
			rw.InnerDst = k.dst
		}
		switch {
		case isICMP(k.proto):
			if in.ICMPID != k.sport {
				rw.Set |= RewriteInnerSrcPort
				rw.InnerSrcPort = k.sport
			}
		case k.proto == ProtoTCP || k.proto == ProtoUDP || k.proto == ProtoSCTP:
			if in.SrcPort != k.sport {
				rw.Set |= RewriteInnerSrcPort
				rw.InnerSrcPort = k.sport
			}
			if in.DstPort != k.dport {
				rw.Set |= RewriteInnerDstPort
				rw.InnerDstPort = k.dport
			}
		}
	} else {
		switch {
		case isICMP(k.proto):
			if p.ICMPID != k.sport {
				rw.Set |= RewriteSrcPort
				rw.SrcPort = k.sport
			}
		case k.proto == ProtoTCP || k.proto == ProtoUDP || k.proto == ProtoSCTP:
			if p.SrcPort != k.dport {
				rw.Set |= RewriteSrcPort
				rw.SrcPort = k.dport
			}
			if p.DstPort != k.sport {
				rw.Set |= RewriteDstPort
				rw.DstPort = k.sport
			}
		}
	}
	md.Rewrite = rw
}
