package pipeline

import (
	"encoding/binary"
	"net/netip"

	"github.com/sluicenet/sluice/datapath/conntrack"
	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/packet"
)

// fillCTPacket describes a parsed frame to the connection tracker. It reads only what Extract
// has bounds-checked (Info's offsets) and never allocates.
func fillCTPacket(f []byte, info *packet.Info, p *conntrack.Packet) {
	*p = conntrack.Packet{TCPWScale: -1, Len: uint32(len(f))}
	l3 := int(info.L3)
	switch {
	case info.Flags&packet.FlagIPv4 != 0:
		p.Src = netip.AddrFrom4([4]byte(f[l3+12 : l3+16]))
		p.Dst = netip.AddrFrom4([4]byte(f[l3+16 : l3+20]))
	case info.Flags&packet.FlagIPv6 != 0:
		p.Src = netip.AddrFrom16([16]byte(f[l3+8 : l3+24]))
		p.Dst = netip.AddrFrom16([16]byte(f[l3+24 : l3+40]))
	default:
		return
	}
	p.Proto = info.Proto
	p.Fragment = info.Frag != 0
	if info.Flags&packet.FlagL4 == 0 || p.Fragment {
		return
	}
	l4, end := int(info.L4), int(info.End)
	b := f[l4:end]
	switch p.Proto {
	case conntrack.ProtoTCP:
		p.SrcPort, p.DstPort = binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
		p.TCPSeq, p.TCPAck = binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:])
		p.TCPFlags = b[13]
		p.TCPWindow = binary.BigEndian.Uint16(b[14:])
		hl := int(b[12]>>4) * 4
		if hl > len(b) {
			hl = len(b)
		}
		p.TCPPayload = uint32(len(b) - hl)
		p.TCPWScale = tcpWScale(b[min(20, hl):hl])
	case conntrack.ProtoUDP, conntrack.ProtoSCTP:
		p.SrcPort, p.DstPort = binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
	case conntrack.ProtoICMP, conntrack.ProtoICMPv6:
		p.ICMPType, p.ICMPCode = b[0], b[1]
		if len(b) >= 8 {
			p.ICMPID = binary.BigEndian.Uint16(b[4:])
			fillInner(b[8:], p.Proto == conntrack.ProtoICMPv6, p)
		}
	}
}

// tcpWScale returns the window scale option's shift, or -1.
func tcpWScale(opts []byte) int8 {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case 0:
			return -1
		case 1:
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			return -1
		}
		if opts[i] == 3 && opts[i+1] == 3 {
			return int8(opts[i+2])
		}
		i += int(opts[i+1])
	}
	return -1
}

// fillInner parses the header an ICMP error carries (the offending packet's IP header and the
// first 8 bytes of its payload).
func fillInner(b []byte, v6 bool, p *conntrack.Packet) {
	in := &p.Inner
	var proto uint8
	var l4 []byte
	if !v6 {
		if len(b) < 20 || b[0]>>4 != 4 {
			return
		}
		hl := int(b[0]&0xf) * 4
		if hl < 20 || len(b) < hl {
			return
		}
		in.Src, in.Dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		proto, l4 = b[9], b[hl:]
	} else {
		if len(b) < 40 || b[0]>>4 != 6 {
			return
		}
		in.Src, in.Dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		proto, l4 = b[6], b[40:]
	}
	in.Proto = proto
	if len(l4) < 8 {
		return
	}
	switch proto {
	case conntrack.ProtoTCP, conntrack.ProtoUDP, conntrack.ProtoSCTP:
		in.SrcPort, in.DstPort = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
	case conntrack.ProtoICMP, conntrack.ProtoICMPv6:
		in.ICMPType, in.ICMPCode, in.ICMPID = l4[0], l4[1], binary.BigEndian.Uint16(l4[4:])
	default:
		return
	}
	p.HasInner = true
}

// applyRewrite applies the tracker's NAT translation to the frame with incremental checksums.
func applyRewrite(f []byte, info *packet.Info, rw *conntrack.Rewrite) {
	setAddr := func(v4, v6 flow.Field, a netip.Addr) {
		if a.Is4() {
			b := a.As4()
			packet.SetField(f, info, v4, uint64(binary.BigEndian.Uint32(b[:])))
		} else {
			b := a.As16()
			packet.SetField128(f, info, v6, binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]))
		}
	}
	if rw.Set&conntrack.RewriteSrc != 0 {
		setAddr(flow.FieldNwSrc, flow.FieldIPv6Src, rw.Src)
	}
	if rw.Set&conntrack.RewriteDst != 0 {
		setAddr(flow.FieldNwDst, flow.FieldIPv6Dst, rw.Dst)
	}
	icmp := info.Proto == conntrack.ProtoICMP || info.Proto == conntrack.ProtoICMPv6
	if rw.Set&conntrack.RewriteSrcPort != 0 {
		if icmp {
			packet.SetICMPID(f, info, rw.SrcPort)
		} else {
			packet.SetField(f, info, flow.FieldTpSrc, uint64(rw.SrcPort))
		}
	}
	if rw.Set&conntrack.RewriteDstPort != 0 && !icmp {
		packet.SetField(f, info, flow.FieldTpDst, uint64(rw.DstPort))
	}
	if rw.Set&(conntrack.RewriteInnerSrc|conntrack.RewriteInnerDst|conntrack.RewriteInnerSrcPort|conntrack.RewriteInnerDstPort) != 0 {
		rewriteInner(f, info, rw)
	}
}

// rewriteInner translates the header inside an ICMP error and recomputes the checksums it
// covers (the inner IPv4 header's, then the ICMP message's).
func rewriteInner(f []byte, info *packet.Info, rw *conntrack.Rewrite) {
	if info.Flags&packet.FlagL4 == 0 {
		return
	}
	b := f[int(info.L4)+8 : int(info.End)]
	var l4 []byte
	v4 := info.Flags&packet.FlagIPv4 != 0
	if v4 {
		if len(b) < 20 {
			return
		}
		hl := int(b[0]&0xf) * 4
		if hl < 20 || len(b) < hl+4 {
			return
		}
		if rw.Set&conntrack.RewriteInnerSrc != 0 && rw.InnerSrc.Is4() {
			a := rw.InnerSrc.As4()
			copy(b[12:16], a[:])
		}
		if rw.Set&conntrack.RewriteInnerDst != 0 && rw.InnerDst.Is4() {
			a := rw.InnerDst.As4()
			copy(b[16:20], a[:])
		}
		b[10], b[11] = 0, 0
		binary.BigEndian.PutUint16(b[10:], packet.Checksum(b[:hl]))
		l4 = b[hl:]
	} else {
		if len(b) < 44 {
			return
		}
		if rw.Set&conntrack.RewriteInnerSrc != 0 {
			a := rw.InnerSrc.As16()
			copy(b[8:24], a[:])
		}
		if rw.Set&conntrack.RewriteInnerDst != 0 {
			a := rw.InnerDst.As16()
			copy(b[24:40], a[:])
		}
		l4 = b[40:]
	}
	if rw.Set&conntrack.RewriteInnerSrcPort != 0 {
		binary.BigEndian.PutUint16(l4, rw.InnerSrcPort)
	}
	if rw.Set&conntrack.RewriteInnerDstPort != 0 {
		binary.BigEndian.PutUint16(l4[2:], rw.InnerDstPort)
	}
	packet.CompleteChecksums(f, info)
}

// simulateNAT is ofproto/trace's NAT model for the recirculated copy: the range's first
// address and (if given) first port replace the source or destination.
func simulateNAT(st *pktState, n *flow.NAT) {
	f, info := st.frame(), &st.info
	rw := conntrack.Rewrite{}
	if n.Src {
		rw.Set |= conntrack.RewriteSrc
		rw.Src = n.MinAddr
		if n.MinPort != 0 {
			rw.Set |= conntrack.RewriteSrcPort
			rw.SrcPort = n.MinPort
		}
	} else if n.Dst {
		rw.Set |= conntrack.RewriteDst
		rw.Dst = n.MinAddr
		if n.MinPort != 0 {
			rw.Set |= conntrack.RewriteDstPort
			rw.DstPort = n.MinPort
		}
	}
	applyRewrite(f, info, &rw)
}
