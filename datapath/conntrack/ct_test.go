package conntrack

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestUDP(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	q := udpPkt(cli, srv, 5000, 53)
	r := udpPkt(srv, cli, 53, 5000)
	steps := []struct {
		name string
		p    *Packet
		a    Action
		want State
	}{
		{"first", q, commit, trk | nw},
		{"second before reply", q, track, trk | nw},
		{"reply", r, track, trk | est | rpl},
		{"after reply", q, track, trk | est},
		{"second reply", r, track, trk | est | rpl},
	}
	for _, s := range steps {
		if md := run(t, tbl, s.p, s.a); md.State != s.want {
			t.Fatalf("%s: ct_state = %v, want %v", s.name, md.State, s.want)
		}
	}
	e := entries(tbl, Filter{})[0]
	if e.OrigPackets != 3 || e.ReplyPackets != 2 || e.OrigBytes != 300 {
		t.Errorf("counters = %d/%d packets, %d bytes, want 3/2, 300", e.OrigPackets, e.ReplyPackets, e.OrigBytes)
	}
}

func TestOrigTuple(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	run(t, tbl, udpPkt(cli, srv, 5000, 53), commit)
	md := run(t, tbl, udpPkt(srv, cli, 53, 5000), track)
	want := Tuple{Src: cli, Dst: srv, SrcPort: 5000, DstPort: 53, Proto: ProtoUDP}
	if md.Orig != want {
		t.Errorf("reply's orig tuple = %+v, want %+v", md.Orig, want)
	}
	run(t, tbl, echoPkt(cli, srv, icmpEchoRequest, 9), commit)
	md = run(t, tbl, echoPkt(srv, cli, icmpEchoReply, 9), track)
	want = Tuple{Src: cli, Dst: srv, SrcPort: icmpEchoRequest, DstPort: 0, Proto: ProtoICMP}
	if md.Orig != want {
		t.Errorf("echo reply's orig tuple = %+v, want %+v (type, code as ports)", md.Orig, want)
	}
	md = run(t, tbl, &Packet{Src: cli, Dst: srv, Proto: ProtoTCP, Fragment: true}, commit)
	if md.State != trk|inv || md.Orig != (Tuple{}) {
		t.Errorf("unparsable: %v %+v, want +inv+trk and no tuple", md.State, md.Orig)
	}
}

func TestSCTPAndOther(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	s := &Packet{Src: cli, Dst: srv, Proto: ProtoSCTP, SrcPort: 7000, DstPort: 38412}
	sr := &Packet{Src: srv, Dst: cli, Proto: ProtoSCTP, SrcPort: 38412, DstPort: 7000}
	wantState(t, run(t, tbl, s, commit), trk|nw)
	wantState(t, run(t, tbl, sr, track), trk|est|rpl)
	wantState(t, run(t, tbl, &Packet{Src: cli, Dst: srv, Proto: ProtoSCTP, SrcPort: 0, DstPort: 1}, commit), trk|inv)
	gre := &Packet{Src: cli, Dst: srv, Proto: 47}
	wantState(t, run(t, tbl, gre, commit), trk|nw)
	wantState(t, run(t, tbl, &Packet{Src: srv, Dst: cli, Proto: 47}, track), trk|est|rpl)
}

func TestICMPEcho(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "v4", true: "v6"}[v6], func(t *testing.T) {
			tbl, _ := newTestTable(t, nil)
			c, s := cli, srv
			req, rep := uint8(icmpEchoRequest), uint8(icmpEchoReply)
			if v6 {
				c, s = cli6, srv6
				req, rep = icmp6EchoRequest, icmp6EchoReply
			}
			wantState(t, run(t, tbl, echoPkt(c, s, rep, 1), commit), trk|inv) // a reply opens nothing
			wantState(t, run(t, tbl, echoPkt(c, s, req, 1), commit), trk|nw)
			wantState(t, run(t, tbl, echoPkt(c, s, req, 1), track), trk|nw)
			wantState(t, run(t, tbl, echoPkt(s, c, rep, 1), track), trk|est|rpl)
			wantState(t, run(t, tbl, echoPkt(c, s, req, 1), track), trk|est)
			wantState(t, run(t, tbl, echoPkt(c, s, req, 2), track), trk|nw) // another id, another connection
		})
	}
}

func TestICMPErrorRelated(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	handshake(t, tbl, 40000)
	toSrv := tcpPkt(cli, srv, 40000, 80, TCPAck, 1001, 5001, 0)
	toCli := tcpPkt(srv, cli, 80, 40000, TCPAck, 5001, 1001, 0)
	other := tcpPkt(cli, srv, 40001, 80, TCPAck, 1001, 5001, 0)
	cases := []struct {
		name string
		p    *Packet
		want State
	}{
		{"error to originator", icmpErr(rtr, cli, toSrv), trk | rel | rpl},
		{"error to responder", icmpErr(rtr, srv, toCli), trk | rel},
		{"error about unknown connection", icmpErr(rtr, cli, other), trk | inv},
		{"inner source is not the outer destination", icmpErr(rtr, srv, toSrv), trk | inv},
		{"error without inner header", &Packet{Src: rtr, Dst: cli, Proto: ProtoICMP, ICMPType: icmpTimeExceeded}, trk | inv},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			md := run(t, tbl, c.p, commit)
			if md.State != c.want {
				t.Fatalf("ct_state = %v, want %v", md.State, c.want)
			}
			if tbl.Len() != 1 {
				t.Fatalf("Len = %d, want 1: errors never open connections", tbl.Len())
			}
		})
	}
	// ICMPv6 packet too big about a v6 UDP flow.
	run(t, tbl, udpPkt(cli6, srv6, 5000, 53), commit)
	p := &Packet{Src: srv6, Dst: cli6, Proto: ProtoICMPv6, ICMPType: icmp6PacketTooBig, HasInner: true,
		Inner: Inner{Src: cli6, Dst: srv6, Proto: ProtoUDP, SrcPort: 5000, DstPort: 53}}
	wantState(t, run(t, tbl, p, track), trk|rel|rpl)
}

func TestDNAT(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	dnat := Action{Commit: true, NAT: NAT{Kind: NATDst, MinAddr: srv, MaxAddr: srv, MinPort: 8080, MaxPort: 8080}}
	nat := Action{NAT: NAT{Kind: NATReverse}}

	md := run(t, tbl, udpPkt(cli, vip, 5000, 80), dnat)
	wantState(t, md, trk|nw|StateDNAT)
	want := Rewrite{Set: RewriteDst | RewriteDstPort, Dst: srv, DstPort: 8080}
	if md.Rewrite != want {
		t.Fatalf("first packet rewrite = %+v, want %+v", md.Rewrite, want)
	}
	md = run(t, tbl, udpPkt(srv, cli, 8080, 5000), nat)
	wantState(t, md, trk|est|rpl|StateSNAT)
	want = Rewrite{Set: RewriteSrc | RewriteSrcPort, Src: vip, SrcPort: 80}
	if md.Rewrite != want {
		t.Fatalf("reply rewrite = %+v, want %+v", md.Rewrite, want)
	}
	if md.Orig != (Tuple{Src: cli, Dst: vip, SrcPort: 5000, DstPort: 80, Proto: ProtoUDP}) {
		t.Errorf("reply's orig tuple = %+v, want the pre-DNAT tuple", md.Orig)
	}
	md = run(t, tbl, udpPkt(cli, vip, 5000, 80), nat)
	wantState(t, md, trk|est|StateDNAT)
	if md.Rewrite.Dst != srv || md.Rewrite.DstPort != 8080 {
		t.Fatalf("later packet rewrite = %+v, want dst %v:8080", md.Rewrite, srv)
	}
	// Without nat in the action, nothing is translated.
	md = run(t, tbl, udpPkt(cli, vip, 5000, 80), track)
	if md.Rewrite.Set != 0 || md.State&(StateSNAT|StateDNAT) != 0 {
		t.Fatalf("ct() without nat translated: %+v %v", md.Rewrite, md.State)
	}
	// The backend's own tuple is not a second connection.
	if got := len(entries(tbl, Filter{})); got != 1 {
		t.Fatalf("%d connections, want 1", got)
	}
}

func TestNATNotTwiceInZone(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	dnat := Action{Commit: true, NAT: NAT{Kind: NATDst, MinAddr: srv, MaxAddr: srv, MinPort: 8080, MaxPort: 8080}}
	var md Meta
	p := udpPkt(cli, vip, 5000, 80)
	tbl.Process(p, &Action{Zone: 3, NAT: NAT{Kind: NATReverse}}, &md)
	wantState(t, md, trk|nw)
	tbl.Process(p, &dnat, &md) // zone 0: a new zone resets the state
	wantState(t, md, trk|nw|StateDNAT)
	// The executor applies the rewrite, then a second ct(commit,nat) in the same zone.
	p2 := udpPkt(cli, srv, 5000, 8080)
	tbl.Process(p2, &dnat, &md)
	if md.Rewrite.Set != 0 {
		t.Fatalf("second ct(nat) in the zone rewrote again: %+v", md.Rewrite)
	}
	if md.State&StateDNAT == 0 || md.State&trk == 0 {
		t.Fatalf("second ct(nat) state = %v, want +dnat kept", md.State)
	}
	if tbl.Len() != 1 {
		t.Fatalf("Len = %d, want 1", tbl.Len())
	}
}

func TestSNATPortAllocation(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	snat := Action{Commit: true, NAT: NAT{Kind: NATSrc, MinAddr: natIP, MaxAddr: natIP}}
	nat := Action{NAT: NAT{Kind: NATReverse}}
	md1 := run(t, tbl, udpPkt(cli, srv, 40000, 53), snat)
	if md1.Rewrite != (Rewrite{Set: RewriteSrc, Src: natIP}) {
		t.Fatalf("first client rewrite = %+v, want src %v and its own port", md1.Rewrite, natIP)
	}
	md2 := run(t, tbl, udpPkt(cli2, srv, 40000, 53), snat)
	if md2.Rewrite.Set != RewriteSrc|RewriteSrcPort || md2.Rewrite.SrcPort < minEphemeral {
		t.Fatalf("second client rewrite = %+v, want src and a new ephemeral port", md2.Rewrite)
	}
	for _, c := range []struct {
		port uint16
		want netip.Addr
	}{{40000, cli}, {md2.Rewrite.SrcPort, cli2}} {
		md := run(t, tbl, udpPkt(srv, natIP, 53, c.port), nat)
		if md.Rewrite.Dst != c.want || md.State != trk|est|rpl|StateDNAT {
			t.Fatalf("reply to port %d: %v rewrite %+v, want dst %v", c.port, md.State, md.Rewrite, c.want)
		}
		if c.port != 40000 && md.Rewrite.DstPort != 40000 {
			t.Fatalf("reply to port %d: dst port rewritten to %d, want 40000", c.port, md.Rewrite.DstPort)
		}
	}
	// Privileged source ports stay privileged.
	md := run(t, tbl, udpPkt(cli2, srv, 123, 53), snat)
	md = run(t, tbl, udpPkt(cli, srv, 123, 53), snat)
	if md.Rewrite.SrcPort == 0 || md.Rewrite.SrcPort >= 512 {
		t.Fatalf("source port 123 clash mapped to %d, want 1..511", md.Rewrite.SrcPort)
	}
}

func TestNATExhaustion(t *testing.T) {
	for _, kind := range []NATKind{NATSrc, NATDst} {
		t.Run(map[NATKind]string{NATSrc: "snat", NATDst: "dnat"}[kind], func(t *testing.T) {
			tbl, _ := newTestTable(t, nil)
			a := Action{Commit: true, NAT: NAT{Kind: NATSrc, MinAddr: natIP, MaxAddr: natIP, MinPort: 5000, MaxPort: 5001}}
			mk := func(i int) *Packet { return udpPkt(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), srv, 6000, 53) }
			if kind == NATDst {
				// All clients share one source tuple space: same source, a VIP with one backend port.
				a.NAT = NAT{Kind: NATDst, MinAddr: srv, MaxAddr: srv, MinPort: 8080, MaxPort: 8081}
				mk = func(i int) *Packet { return udpPkt(cli, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 6000, 80) }
			}
			for i := range 2 {
				if md := run(t, tbl, mk(i), a); md.Drop != DropNone {
					t.Fatalf("connection %d refused: %v", i, md.Drop)
				}
			}
			if kind == NATDst {
				// DNAT falls back to changing the source port when the destination ports run out.
				md := run(t, tbl, mk(2), a)
				if md.Drop != DropNone || md.Rewrite.Set&RewriteSrcPort == 0 {
					t.Fatalf("third DNAT connection: %v %+v, want a new source port", md.Drop, md.Rewrite)
				}
				return
			}
			md := run(t, tbl, mk(2), a)
			if md.Drop != DropNATExhausted {
				t.Fatalf("third connection in a 2-port range: drop %v, want %v", md.Drop, DropNATExhausted)
			}
			if md.State != trk|nw || md.Rewrite.Set != 0 {
				t.Fatalf("refused connection: %v %+v, want +trk+new and no rewrite", md.State, md.Rewrite)
			}
			if tbl.Len() != 2 || tbl.Counter(CounterNATExhausted) != 1 {
				t.Fatalf("Len %d, exhausted counter %d, want 2, 1", tbl.Len(), tbl.Counter(CounterNATExhausted))
			}
		})
	}
}

func TestNATInvalidFamily(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	a := Action{Commit: true, NAT: NAT{Kind: NATSrc, MinAddr: natIP, MaxAddr: natIP}}
	md := run(t, tbl, udpPkt(cli6, srv6, 5000, 53), a)
	if md.Drop != DropNATInvalid || tbl.Len() != 0 {
		t.Fatalf("v4 range on a v6 packet: drop %v Len %d, want %v 0", md.Drop, tbl.Len(), DropNATInvalid)
	}
	if err := a.NAT.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", a.NAT, err)
	}
	bad := []NAT{
		{Kind: NATSrc, MinAddr: natIP, MaxAddr: srv6},
		{Kind: NATSrc, MinAddr: srv, MaxAddr: cli},
		{Kind: NATDst, MinPort: 10, MaxPort: 5},
		{Kind: NATReverse, MinAddr: srv, MaxAddr: srv},
	}
	for _, n := range bad {
		if n.Validate() == nil {
			t.Errorf("Validate(%+v) = nil, want an error", n)
		}
	}
}

func TestICMPRelatedNAT(t *testing.T) {
	nat := Action{NAT: NAT{Kind: NATReverse}}
	t.Run("dnat", func(t *testing.T) {
		tbl, _ := newTestTable(t, nil)
		run(t, tbl, tcpPkt(cli, vip, 40000, 80, TCPSyn, 1000, 0, 0),
			Action{Commit: true, NAT: NAT{Kind: NATDst, MinAddr: srv, MaxAddr: srv, MinPort: 8080, MaxPort: 8080}})
		// A router on the way to the backend returns an error about the translated packet.
		md := run(t, tbl, icmpErr(rtr, cli, tcpPkt(cli, srv, 40000, 8080, TCPSyn, 1000, 0, 0)), nat)
		wantNAT(t, md, trk|rel|rpl|StateSNAT,
			Rewrite{Set: RewriteSrc | RewriteInnerDst | RewriteInnerDstPort, Src: vip, InnerDst: vip, InnerDstPort: 80})
	})
	t.Run("snat", func(t *testing.T) {
		tbl, _ := newTestTable(t, nil)
		run(t, tbl, udpPkt(cli2, srv, 40000, 53), Action{Commit: true, NAT: NAT{Kind: NATSrc, MinAddr: natIP, MaxAddr: natIP}})
		md := run(t, tbl, udpPkt(cli, srv, 40000, 53), Action{Commit: true, NAT: NAT{Kind: NATSrc, MinAddr: natIP, MaxAddr: natIP}})
		port := md.Rewrite.SrcPort
		md = run(t, tbl, icmpErr(srv, natIP, udpPkt(natIP, srv, port, 53)), nat)
		wantNAT(t, md, trk|rel|rpl|StateDNAT,
			Rewrite{Set: RewriteDst | RewriteInnerSrc | RewriteInnerSrcPort, Dst: cli, InnerSrc: cli, InnerSrcPort: 40000})
	})
	t.Run("snat icmp echo", func(t *testing.T) {
		tbl, _ := newTestTable(t, nil)
		snat := Action{Commit: true, NAT: NAT{Kind: NATSrc, MinAddr: natIP, MaxAddr: natIP}}
		run(t, tbl, echoPkt(cli, srv, icmpEchoRequest, 1500), snat)
		md := run(t, tbl, echoPkt(cli2, srv, icmpEchoRequest, 1500), snat)
		if md.Rewrite.Set&RewriteSrcPort == 0 || md.Rewrite.SrcPort == 1500 {
			t.Fatalf("second pinger with the same id: rewrite %+v, want a new id", md.Rewrite)
		}
		id := md.Rewrite.SrcPort
		md = run(t, tbl, echoPkt(srv, natIP, icmpEchoReply, id), nat)
		wantNAT(t, md, trk|est|rpl|StateDNAT, Rewrite{Set: RewriteDst | RewriteSrcPort, Dst: cli2, SrcPort: 1500})
		// A time-exceeded about the translated echo goes back to the second pinger.
		md = run(t, tbl, icmpErr(rtr, natIP, echoPkt(natIP, srv, icmpEchoRequest, id)), nat)
		wantNAT(t, md, trk|rel|rpl|StateDNAT,
			Rewrite{Set: RewriteDst | RewriteInnerSrc | RewriteInnerSrcPort, Dst: cli2, InnerSrc: cli2, InnerSrcPort: 1500})
	})
}

func TestZonesIsolate(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	q, r := udpPkt(cli, srv, 5000, 53), udpPkt(srv, cli, 53, 5000)
	run(t, tbl, q, Action{Zone: 1, Commit: true})
	wantState(t, run(t, tbl, r, Action{Zone: 2}), trk|nw)
	wantState(t, run(t, tbl, r, Action{Zone: 1}), trk|est|rpl)
	md := run(t, tbl, q, Action{Zone: 65535, Commit: true})
	wantState(t, md, trk|nw)
	if md.Zone != 65535 || tbl.Len() != 2 {
		t.Fatalf("zone %d, Len %d, want 65535, 2", md.Zone, tbl.Len())
	}
}

func TestMarkLabel(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	q := udpPkt(cli, srv, 5000, 53)
	lbl := Label{Hi: 0xdead, Lo: 0xbeef}
	md := run(t, tbl, q, Action{Commit: true, Mark: 0x5, MarkMask: 0xff, Label: lbl, LabelMask: Label{^uint64(0), ^uint64(0)}})
	if md.Mark != 5 || md.Label != lbl {
		t.Fatalf("committing packet sees mark %#x label %+v, want 0x5 %+v", md.Mark, md.Label, lbl)
	}
	md = run(t, tbl, udpPkt(srv, cli, 53, 5000), track)
	if md.Mark != 5 || md.Label != lbl {
		t.Fatalf("reply sees mark %#x label %+v, want 0x5 %+v", md.Mark, md.Label, lbl)
	}
	md = run(t, tbl, q, Action{Commit: true, Mark: 0x100, MarkMask: 0xf00, Label: Label{Lo: 0x1_0000}, LabelMask: Label{Lo: 0xf_0000}})
	if md.Mark != 0x105 || md.Label != (Label{Hi: 0xdead, Lo: 0x1beef}) {
		t.Fatalf("masked update: mark %#x label %+v, want 0x105 {0xdead 0x1beef}", md.Mark, md.Label)
	}
	// Without commit exec(set_field) does nothing.
	md = run(t, tbl, q, Action{Mark: 0xffffffff, MarkMask: 0xffffffff})
	if md.Mark != 0x105 {
		t.Fatalf("uncommitted set: mark %#x, want 0x105", md.Mark)
	}
	// A new connection not committed has no mark.
	md = run(t, tbl, udpPkt(cli2, srv, 5000, 53), Action{Mark: 1, MarkMask: 1})
	if md.Mark != 0 {
		t.Fatalf("uncommitted new connection has mark %#x", md.Mark)
	}
}

func TestSizeLimit(t *testing.T) {
	tbl, clk := newTestTable(t, func(o *Options) { o.MaxConns = 2 })
	for i := range 2 {
		if md := run(t, tbl, udpPkt(cli, srv, uint16(5000+i), 53), commit); md.Drop != DropNone {
			t.Fatalf("connection %d: drop %v", i, md.Drop)
		}
	}
	md := run(t, tbl, udpPkt(cli, srv, 5002, 53), commit)
	if md.Drop != DropTableFull || md.State != trk|nw || tbl.Len() != 2 {
		t.Fatalf("third connection: drop %v state %v Len %d, want %v +trk+new 2", md.Drop, md.State, tbl.Len(), DropTableFull)
	}
	if tbl.Counter(CounterFull) != 1 {
		t.Errorf("full counter = %d, want 1", tbl.Counter(CounterFull))
	}
	// Existing connections keep working.
	wantState(t, run(t, tbl, udpPkt(srv, cli, 53, 5000), track), trk|est|rpl)
	// Room again once one expires and is swept.
	clk.advance(DefaultTimeouts().UDPMultiple)
	tbl.Sweep()
	if md := run(t, tbl, udpPkt(cli, srv, 5002, 53), commit); md.Drop != DropNone {
		t.Fatalf("after sweep: drop %v", md.Drop)
	}
}

func TestFlush(t *testing.T) {
	setup := func(t *testing.T) *Table {
		tbl, _ := newTestTable(t, nil)
		run(t, tbl, udpPkt(cli, srv, 5000, 53), Action{Zone: 1, Commit: true})
		run(t, tbl, udpPkt(cli, srv2, 5000, 53), Action{Zone: 1, Commit: true})
		run(t, tbl, tcpPkt(cli2, srv, 6000, 80, TCPSyn, 1, 0, 0), Action{Zone: 2, Commit: true})
		run(t, tbl, echoPkt(cli, srv, icmpEchoRequest, 53), Action{Zone: 2, Commit: true})
		// DNAT'd to srv2:8080; its reply tuple holds the backend.
		run(t, tbl, udpPkt(cli2, vip, 7000, 80), Action{Zone: 3, Commit: true,
			NAT: NAT{Kind: NATDst, MinAddr: srv2, MaxAddr: srv2, MinPort: 8080, MaxPort: 8080}})
		return tbl
	}
	cases := []struct {
		name string
		f    Filter
		want int
	}{
		{"all", Filter{}, 5},
		{"zone 1", Filter{Zone: 1, HasZone: true}, 2},
		{"zone 0", Filter{HasZone: true}, 0},
		{"address", Filter{Addr: cli}, 3},
		{"address in reply tuple", Filter{Addr: srv2}, 2},
		{"port", Filter{Port: 53}, 2},
		{"backend port", Filter{Port: 8080}, 1},
		{"protocol", Filter{Proto: ProtoTCP}, 1},
		{"udp endpoint", Filter{Addr: srv2, Proto: ProtoUDP}, 2},
		{"zone and port", Filter{Zone: 2, HasZone: true, Port: 80}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tbl := setup(t)
			if got := len(entries(tbl, c.f)); got != c.want {
				t.Fatalf("Dump matched %d, want %d", got, c.want)
			}
			if got := tbl.Flush(c.f); got != c.want {
				t.Fatalf("Flush removed %d, want %d", got, c.want)
			}
			if tbl.Len() != 5-c.want || len(entries(tbl, Filter{})) != 5-c.want {
				t.Fatalf("after flush Len %d, want %d", tbl.Len(), 5-c.want)
			}
			if len(entries(tbl, c.f)) != 0 {
				t.Fatalf("flushed connections still dumped")
			}
		})
	}
}

func TestForce(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	run(t, tbl, udpPkt(cli, srv, 5000, 53), commit)
	md := run(t, tbl, udpPkt(srv, cli, 53, 5000), Action{Commit: true, Force: true})
	wantState(t, md, trk|nw)
	if md.Orig.Src != srv {
		t.Fatalf("forced connection orig src = %v, want %v", md.Orig.Src, srv)
	}
	wantState(t, run(t, tbl, udpPkt(cli, srv, 5000, 53), track), trk|est|rpl)
}

func TestCachedSecondPass(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	handshake(t, tbl, 40000)
	var md Meta
	p := tcpPkt(cli, srv, 40000, 80, TCPAck, 1001, 5001, 0)
	tbl.Process(p, &track, &md)
	wantState(t, md, trk|est)
	// ct(commit) after recirculation with a mark: same zone, cached connection.
	tbl.Process(p, &Action{Commit: true, Mark: 7, MarkMask: 0xff}, &md)
	wantState(t, md, trk|est)
	if md.Mark != 7 {
		t.Fatalf("mark %d, want 7", md.Mark)
	}
	// Another zone starts over.
	tbl.Process(p, &Action{Zone: 9}, &md)
	wantState(t, md, trk|nw)
}

func TestStateString(t *testing.T) {
	for _, c := range []struct {
		s    State
		want string
	}{{0, "0"}, {trk | est | rpl, "+est+rpl+trk"}, {trk | nw | StateDNAT, "+new+trk+dnat"}} {
		if got := c.s.String(); got != c.want {
			t.Errorf("%#x.String() = %q, want %q", uint8(c.s), got, c.want)
		}
	}
	tbl, _ := newTestTable(t, nil)
	run(t, tbl, udpPkt(cli, srv, 5000, 53), Action{Zone: 4, Commit: true, Mark: 1, MarkMask: 1})
	got := entries(tbl, Filter{})[0].String()
	want := fmt.Sprintf("udp,orig=(src=%s,dst=%s,sport=5000,dport=53),reply=(src=%s,dst=%s,sport=53,dport=5000),zone=4,mark=1,protoinfo=(state=FIRST)", cli, srv, srv, cli)
	if got != want {
		t.Errorf("Entry.String() = %s, want %s", got, want)
	}
}

func TestTupleClash(t *testing.T) {
	tbl, clk := newTestTable(t, nil)
	nat := Action{NAT: NAT{Kind: NATReverse}}
	run(t, tbl, udpPkt(cli, vip, 5000, 80), Action{Commit: true, NAT: NAT{Kind: NATDst, MinAddr: srv, MaxAddr: srv, MinPort: 8080, MaxPort: 8080}})
	clk.advance(time.Second)
	// The same client port straight to the backend: OVS commits it, and its reply tuple
	// (the DNAT connection's too) now leads to it, the newest holder.
	md := run(t, tbl, udpPkt(cli, srv, 5000, 8080), commit)
	if md.Drop != DropNone || tbl.Len() != 2 || tbl.Counter(CounterTupleClash) != 1 {
		t.Fatalf("direct connection: drop %v Len %d clashes %d, want none 2 1", md.Drop, tbl.Len(), tbl.Counter(CounterTupleClash))
	}
	wantNAT(t, run(t, tbl, udpPkt(srv, cli, 8080, 5000), nat), trk|est|rpl, Rewrite{})
	checkInvariants(t, tbl)
	// Once the direct connection expires (30s after its reply, before the DNAT one's 60s),
	// the DNAT connection has its reply tuple back.
	clk.advance(DefaultTimeouts().UDPMultiple)
	wantNAT(t, run(t, tbl, udpPkt(srv, cli, 8080, 5000), nat), trk|est|rpl|StateSNAT,
		Rewrite{Set: RewriteSrc | RewriteSrcPort, Src: vip, SrcPort: 80})
	tbl.Sweep()
	checkInvariants(t, tbl)
	if tbl.Len() != 1 {
		t.Fatalf("Len %d after the direct connection expired, want 1", tbl.Len())
	}
}

func TestZoneLimit(t *testing.T) {
	tbl, _ := newTestTable(t, func(o *Options) {
		o.ZoneLimits = map[uint16]int{1: 1}
		o.DefaultZoneLimit = 2
	})
	cases := []struct {
		zone uint16
		port uint16
		want DropReason
	}{
		{1, 1, DropNone}, {1, 2, DropZoneFull},
		{2, 1, DropNone}, {2, 2, DropNone}, {2, 3, DropZoneFull},
	}
	for _, c := range cases {
		md := run(t, tbl, udpPkt(cli, srv, c.port, 53), Action{Zone: c.zone, Commit: true})
		if md.Drop != c.want {
			t.Fatalf("zone %d port %d: drop %v, want %v", c.zone, c.port, md.Drop, c.want)
		}
	}
	tbl.SetZoneLimit(2, 5)
	if md := run(t, tbl, udpPkt(cli, srv, 3, 53), Action{Zone: 2, Commit: true}); md.Drop != DropNone {
		t.Fatalf("after raising zone 2's limit: drop %v", md.Drop)
	}
	if tbl.ZoneLen(2) != 3 || tbl.ZoneLen(1) != 1 || tbl.Counter(CounterZoneFull) != 2 {
		t.Fatalf("zone lengths %d, %d, zone_full %d, want 3, 1, 2", tbl.ZoneLen(2), tbl.ZoneLen(1), tbl.Counter(CounterZoneFull))
	}
	tbl.Flush(Filter{Zone: 2, HasZone: true})
	if tbl.ZoneLen(2) != 0 {
		t.Fatalf("zone 2 holds %d after flush", tbl.ZoneLen(2))
	}
}

func TestUntrackable(t *testing.T) {
	cases := []struct {
		name string
		p    *Packet
	}{
		{"tcp port 0", tcpPkt(cli, srv, 0, 80, TCPSyn, 1, 0, 0)},
		{"udp port 0", udpPkt(cli, srv, 5000, 0)},
		{"malformed", &Packet{Src: cli, Dst: srv, Proto: ProtoUDP, SrcPort: 1, DstPort: 2, Malformed: true}},
		{"fragment", &Packet{Src: cli, Dst: srv, Proto: ProtoUDP, SrcPort: 1, DstPort: 2, Fragment: true}},
		{"mixed families", udpPkt(cli, srv6, 1, 2)},
		{"no addresses", &Packet{Proto: ProtoUDP, SrcPort: 1, DstPort: 2}},
		{"icmpv6 in ipv4", &Packet{Src: cli, Dst: srv, Proto: ProtoICMPv6, ICMPType: icmp6EchoRequest}},
		{"icmp echo with code", &Packet{Src: cli, Dst: srv, Proto: ProtoICMP, ICMPType: icmpEchoRequest, ICMPCode: 1}},
		{"icmpv6 neighbour solicitation", &Packet{Src: cli6, Dst: srv6, Proto: ProtoICMPv6, ICMPType: 135}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tbl, _ := newTestTable(t, nil)
			md := run(t, tbl, c.p, commit)
			if md.State != trk|inv || tbl.Len() != 0 {
				t.Fatalf("ct_state %v Len %d, want +inv+trk and nothing stored", md.State, tbl.Len())
			}
		})
	}
}

func TestPartialTimeouts(t *testing.T) {
	tbl, _ := newTestTable(t, func(o *Options) { o.Timeouts = Timeouts{UDPFirst: 7 * time.Second} })
	run(t, tbl, udpPkt(cli, srv, 5000, 53), commit)
	run(t, tbl, tcpPkt(cli, srv, 5000, 80, TCPSyn, 1, 0, 0), commit)
	for _, e := range entries(tbl, Filter{}) {
		want := DefaultTimeouts().TCPSynSent
		if e.Orig.Proto == ProtoUDP {
			want = 7 * time.Second
		}
		if e.Expires != want {
			t.Errorf("%s: timeout %v, want %v", e.String(), e.Expires, want)
		}
	}
}

func TestNATAddressRange(t *testing.T) {
	cases := []struct {
		name     string
		lo, hi   netip.Addr
		client   func(i int) netip.Addr
		persist  bool
		random   bool
		spreads  bool // several addresses of the range get used
		sameAddr bool // one client always gets one address
	}{
		{"v4 hash", netip.MustParseAddr("203.0.113.100"), netip.MustParseAddr("203.0.113.103"),
			func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}) }, false, false, true, false},
		{"v6 hash", netip.MustParseAddr("2001:db8:1::fffe"), netip.MustParseAddr("2001:db8:1::1:0001"),
			func(i int) netip.Addr {
				return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i), 14: byte(i >> 8)})
			}, false, false, true, false},
		{"persistent", netip.MustParseAddr("203.0.113.100"), netip.MustParseAddr("203.0.113.103"),
			func(int) netip.Addr { return cli }, true, false, false, true},
		{"random ports", netip.MustParseAddr("203.0.113.100"), netip.MustParseAddr("203.0.113.103"),
			func(int) netip.Addr { return cli }, true, true, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tbl, _ := newTestTable(t, nil)
			a := Action{Commit: true, NAT: NAT{Kind: NATSrc, MinAddr: c.lo, MaxAddr: c.hi, MinPort: 20000, MaxPort: 20999,
				Persistent: c.persist, Random: c.random}}
			if err := a.NAT.Validate(); err != nil {
				t.Fatal(err)
			}
			used := map[netip.Addr]bool{}
			for i := range 64 {
				dst := srv
				if c.lo.Is6() {
					dst = srv6
				}
				md := run(t, tbl, udpPkt(c.client(i), dst, uint16(30000+i), uint16(53+i)), a)
				got := md.Rewrite.Src
				if md.Drop != DropNone || got.Less(c.lo) || c.hi.Less(got) {
					t.Fatalf("connection %d: drop %v, address %v outside %v-%v", i, md.Drop, got, c.lo, c.hi)
				}
				if p := md.Rewrite.SrcPort; p < 20000 || p > 20999 {
					t.Fatalf("connection %d: port %d outside 20000-20999", i, p)
				}
				used[got] = true
			}
			if c.spreads && len(used) < 2 {
				t.Errorf("64 clients all mapped to one address of the range")
			}
			if c.sameAddr && len(used) != 1 {
				t.Errorf("one client mapped to %d addresses, want 1", len(used))
			}
			checkInvariants(t, tbl)
		})
	}
}

func TestStatsAndSweepEvery(t *testing.T) {
	tbl, clk := newTestTable(t, nil)
	run(t, tbl, udpPkt(cli, srv, 5000, 53), commit)
	run(t, tbl, udpPkt(cli, srv, 5000, 0), commit)
	st := tbl.Stats()
	if st.Conns != 1 || st.Counters["committed"] != 1 || st.Counters["invalid"] != 1 || len(st.Counters) != int(numCounters) {
		t.Fatalf("Stats = %+v, want 1 connection, committed 1, invalid 1", st)
	}
	clk.advance(time.Hour)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { tbl.SweepEvery(ctx, time.Millisecond); close(done) }()
	for tbl.Len() != 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if got := tbl.Counter(CounterExpired); got != 1 {
		t.Fatalf("expired = %d, want 1", got)
	}
}
