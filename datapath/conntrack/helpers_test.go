package conntrack

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is an injected clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Duration      { return time.Duration(c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newTestTable(tb testing.TB, mod func(*Options)) (*Table, *fakeClock) {
	tb.Helper()
	clk := &fakeClock{}
	clk.ns.Store(int64(time.Hour)) // not zero: zero means "removed" to the table
	o := DefaultOptions()
	o.Clock = clk.now
	o.Seed = 42
	if mod != nil {
		mod(&o)
	}
	return New(o), clk
}

var (
	cli    = netip.MustParseAddr("192.0.2.1")
	cli2   = netip.MustParseAddr("192.0.2.2")
	srv    = netip.MustParseAddr("198.51.100.1")
	srv2   = netip.MustParseAddr("198.51.100.2")
	vip    = netip.MustParseAddr("203.0.113.10")
	natIP  = netip.MustParseAddr("203.0.113.1")
	rtr    = netip.MustParseAddr("198.51.100.254")
	cli6   = netip.MustParseAddr("2001:db8::1")
	srv6   = netip.MustParseAddr("2001:db8::2")
	commit = Action{Commit: true}
	track  = Action{}
)

func tcpPkt(src, dst netip.Addr, sp, dp uint16, flags uint8, seq, ack, payload uint32) *Packet {
	return &Packet{Src: src, Dst: dst, Proto: ProtoTCP, SrcPort: sp, DstPort: dp, TCPFlags: flags,
		TCPSeq: seq, TCPAck: ack, TCPWindow: 65535, TCPWScale: -1, TCPPayload: payload, Len: 54 + payload}
}

func udpPkt(src, dst netip.Addr, sp, dp uint16) *Packet {
	return &Packet{Src: src, Dst: dst, Proto: ProtoUDP, SrcPort: sp, DstPort: dp, Len: 100}
}

func echoPkt(src, dst netip.Addr, typ uint8, id uint16) *Packet {
	proto := ProtoICMP
	if !src.Is4() {
		proto = ProtoICMPv6
	}
	return &Packet{Src: src, Dst: dst, Proto: proto, ICMPType: typ, ICMPID: id, Len: 84}
}

// icmpErr builds an ICMP destination-unreachable from src to dst about inner.
func icmpErr(src, dst netip.Addr, inner *Packet) *Packet {
	return &Packet{Src: src, Dst: dst, Proto: ProtoICMP, ICMPType: icmpDstUnreach, ICMPCode: 3, HasInner: true,
		Inner: Inner{Src: inner.Src, Dst: inner.Dst, Proto: inner.Proto, SrcPort: inner.SrcPort,
			DstPort: inner.DstPort, ICMPType: inner.ICMPType, ICMPCode: inner.ICMPCode, ICMPID: inner.ICMPID}}
}

// run passes a fresh packet through one ct action.
func run(tb testing.TB, t *Table, p *Packet, a Action) Meta {
	tb.Helper()
	var md Meta
	t.Process(p, &a, &md)
	return md
}

func wantState(tb testing.TB, md Meta, want State) {
	tb.Helper()
	if md.State != want {
		tb.Fatalf("ct_state = %v, want %v", md.State, want)
	}
}

const (
	trk = StateTracked
	nw  = StateNew
	est = StateEstablished
	rpl = StateReply
	rel = StateRelated
	inv = StateInvalid
)

func entries(t *Table, f Filter) []Entry {
	var out []Entry
	t.Dump(f, func(e Entry) bool { out = append(out, e); return true })
	return out
}

// handshake opens a TCP connection cli:sp -> srv:80 (client ISN 1000, server 5000) and
// returns the next client and server sequence numbers.
func handshake(tb testing.TB, t *Table, sp uint16) (uint32, uint32) {
	tb.Helper()
	wantState(tb, run(tb, t, tcpPkt(cli, srv, sp, 80, TCPSyn, 1000, 0, 0), commit), trk|nw)
	wantState(tb, run(tb, t, tcpPkt(srv, cli, 80, sp, TCPSyn|TCPAck, 5000, 1001, 0), commit), trk|est|rpl)
	wantState(tb, run(tb, t, tcpPkt(cli, srv, sp, 80, TCPAck, 1001, 5001, 0), commit), trk|est)
	return 1001, 5001
}

func wantNAT(tb testing.TB, md Meta, state State, rw Rewrite) {
	tb.Helper()
	if md.State != state || md.Rewrite != rw {
		tb.Fatalf("got %v %+v, want %v %+v", md.State, md.Rewrite, state, rw)
	}
}
