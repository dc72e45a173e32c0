package conntrack

// TCP tracking follows the window-tracking algorithm OVS took from OpenBSD pf (Guido van
// Rooij's "Real stateful TCP packet filtering"): each side remembers the lowest sequence
// number it has not yet sent past (seqLo), the highest sequence end the other side's window
// allows it (seqHi), the largest window it advertised (maxWin) and its window scale. A segment
// is in window when it ends at or below seqHi, starts no more than one window before seqLo,
// and acknowledges nothing more than a window away from what the other side sent.

// TCP peer states, ordered as OVS/pf compare them.
const (
	tcpClosed uint8 = iota
	tcpListen
	tcpSynSent
	tcpSynRecv
	tcpEstablished
	tcpCloseWait
	tcpFinWait1
	tcpClosing
	tcpLastAck
	tcpFinWait2
	tcpTimeWait
)

var tcpStateNames = [...]string{"CLOSED", "LISTEN", "SYN_SENT", "SYN_RECV", "ESTABLISHED",
	"CLOSE_WAIT", "FIN_WAIT_1", "CLOSING", "LAST_ACK", "FIN_WAIT_2", "TIME_WAIT"}

const (
	wscaleFlag    = 0x80 // the side sent a window scale option
	wscaleUnknown = 0x40 // picked up mid-stream: scale unknown, be liberal
	wscaleMask    = 0x0f
	maxWScale     = 14
	maxAckWindow  = 0xffff + 1500
)

type tcpPeer struct {
	seqLo, seqHi uint32
	maxWin       uint32
	state        uint8
	wscale       uint8
}

func seqGEQ(a, b uint32) bool { return int32(a-b) >= 0 }
func seqGT(a, b uint32) bool  { return int32(a-b) > 0 }

// tcpInvalidFlags reports flag combinations no stack sends.
func tcpInvalidFlags(f uint8) bool {
	if f&TCPSyn != 0 {
		if f&(TCPRst|TCPFin) != 0 {
			return true
		}
	} else if f&(TCPAck|TCPRst) == 0 {
		return true
	}
	if f&TCPAck == 0 && f&(TCPFin|TCPPsh|TCPUrg) != 0 {
		return true
	}
	return false
}

// tcpValidNew reports whether p may open a connection: sane flags and not a SYN+ACK (a
// connection is opened by a SYN, or picked up mid-stream, never half-open).
func tcpValidNew(p *Packet) bool {
	return !tcpInvalidFlags(p.TCPFlags) && p.TCPFlags&(TCPSyn|TCPAck) != (TCPSyn|TCPAck)
}

func optWScale(p *Packet) uint8 {
	if p.TCPWScale < 0 {
		return 0
	}
	return uint8(min(int(p.TCPWScale), maxWScale)) | wscaleFlag
}

func divRoundUp(a, b uint32) uint32 { return (a + b - 1) / b }

// tcpNew initialises c's TCP state from the packet that opens it.
func (c *conn) tcpNew(p *Packet) {
	src, dst := &c.tcp[0], &c.tcp[1]
	src.seqLo = p.TCPSeq
	src.seqHi = p.TCPSeq + p.TCPPayload + 1
	if p.TCPFlags&TCPSyn != 0 {
		src.seqHi++
		src.wscale = optWScale(p)
	} else {
		src.wscale = wscaleUnknown
		dst.wscale = wscaleUnknown
	}
	src.maxWin = max(uint32(p.TCPWindow), 1)
	if s := src.wscale & wscaleMask; s != 0 {
		src.maxWin = divRoundUp(src.maxWin, 1<<s)
	}
	if p.TCPFlags&TCPFin != 0 {
		src.seqHi++
	}
	dst.seqHi = 1
	dst.maxWin = 1
	src.state = tcpSynSent
	dst.state = tcpClosed
	c.tm = tmTCPFirst
}

type update uint8

const (
	updValid    update = iota // belongs to the connection: +est
	updInvalid                // breaks its rules: +inv
	updNew                    // a SYN reopening a closed connection: replace it
	updValidNew               // belongs, but the connection is still opening: +new
)

// tcpUpdate runs one segment through c's state machine; c.mu is held. It returns the verdict
// and the timeout class to set (numTM for "leave the timeout alone").
func (c *conn) tcpUpdate(p *Packet, reply, liberal bool) (update, tmClass) {
	si, di := 0, 1
	if reply {
		si, di = 1, 0
	}
	src, dst := &c.tcp[si], &c.tcp[di]
	flags := p.TCPFlags
	if tcpInvalidFlags(flags) {
		return updInvalid, numTM
	}
	if flags&(TCPSyn|TCPAck) == TCPSyn {
		if dst.state >= tcpFinWait2 && src.state >= tcpFinWait2 {
			src.state, dst.state = tcpClosed, tcpClosed
			return updNew, numTM
		} else if src.state <= tcpSynSent {
			src.state = tcpSynSent
			return updValidNew, tmTCPFirst
		}
	}

	var sws, dws uint8
	if src.wscale&wscaleFlag != 0 && dst.wscale&wscaleFlag != 0 && flags&TCPSyn == 0 {
		sws, dws = src.wscale&wscaleMask, dst.wscale&wscaleMask
	} else if src.wscale&wscaleUnknown != 0 && dst.wscale&wscaleUnknown != 0 && flags&TCPSyn == 0 {
		sws, dws = maxWScale, maxWScale
	}

	win := uint32(p.TCPWindow)
	seq := p.TCPSeq
	origSeq := seq
	ack := p.TCPAck
	end := seq + p.TCPPayload
	if flags&TCPSyn != 0 {
		end++
	}
	if flags&TCPFin != 0 {
		end++
	}
	checkAckSkew := true
	if src.state < tcpSynSent {
		// First packet from this side: learn its sequence space.
		if flags&TCPSyn != 0 && dst.wscale&wscaleFlag != 0 {
			src.wscale = optWScale(p)
			if src.wscale&wscaleFlag != 0 {
				sws = src.wscale & wscaleMask
				win = divRoundUp(win, 1<<sws)
				dws = dst.wscale & wscaleMask
			} else {
				dst.maxWin <<= dst.wscale & wscaleMask
				dst.wscale = 0
			}
		}
		src.seqLo = seq
		src.state = tcpSynSent
		if src.seqHi == 1 || seqGEQ(end+max(1, dst.maxWin<<dws), src.seqHi) {
			src.seqHi = end + max(1, dst.maxWin<<dws)
			checkAckSkew = false
		}
		if win > src.maxWin {
			src.maxWin = win
		}
	}
	if flags&TCPAck == 0 || (ack == 0 && flags&(TCPAck|TCPRst) == TCPAck|TCPRst) {
		ack = dst.seqLo // nothing acknowledged: let it through the skew check
	}
	if seq == end {
		seq = src.seqLo // no data: relax the sequence checks
		end = seq
	}
	ackSkew := int64(0)
	if checkAckSkew {
		ackSkew = int64(int32(dst.seqLo - ack))
	}

	inWindow := seqGEQ(src.seqHi, end) &&
		seqGEQ(seq, src.seqLo-(dst.maxWin<<dws)) &&
		ackSkew >= -maxAckWindow &&
		ackSkew <= int64(maxAckWindow)<<sws &&
		(flags&TCPRst == 0 || origSeq == src.seqLo || origSeq == src.seqLo+1 || origSeq+1 == src.seqLo)

	slide := func() {
		if src.maxWin < win {
			src.maxWin = win
		}
		if seqGT(end, src.seqLo) {
			src.seqLo = end
		}
		if seqGEQ(ack+(win<<sws), dst.seqHi) {
			dst.seqHi = ack + max(win<<sws, 1)
		}
	}

	switch {
	case inWindow || liberal:
		slide()
		if flags&TCPSyn != 0 && src.state < tcpSynSent {
			src.state = tcpSynSent
		}
		if flags&TCPFin != 0 && src.state < tcpClosing {
			src.state = tcpClosing
		}
		if flags&TCPAck != 0 {
			switch dst.state {
			case tcpSynSent:
				dst.state = tcpEstablished
			case tcpClosing:
				dst.state = tcpFinWait2
			}
		}
		if flags&TCPRst != 0 {
			src.state, dst.state = tcpTimeWait, tcpTimeWait
		}
		switch {
		case src.state >= tcpFinWait2 && dst.state >= tcpFinWait2:
			return updValid, tmTCPClosed
		case src.state >= tcpClosing && dst.state >= tcpClosing:
			return updValid, tmTCPFinWait
		case src.state < tcpEstablished || dst.state < tcpEstablished:
			return updValid, tmTCPOpening
		case src.state >= tcpClosing || dst.state >= tcpClosing:
			return updValid, tmTCPClosing
		default:
			return updValid, tmTCPEstablished
		}
	case (dst.state < tcpSynSent || dst.state >= tcpFinWait2 || src.state >= tcpFinWait2) &&
		seqGEQ(src.seqHi+maxAckWindow, end) && seqGEQ(seq, src.seqLo-maxAckWindow):
		// Shotgunned SYNs, a stream picked up after establishment, or stragglers after
		// close: accept, but do not refresh the timeout (so floods do not keep it alive).
		slide()
		if flags&TCPFin != 0 && src.state < tcpClosing {
			src.state = tcpClosing
		}
		if flags&TCPRst != 0 {
			src.state, dst.state = tcpTimeWait, tcpTimeWait
		}
		return updValid, numTM
	}
	return updInvalid, numTM
}
