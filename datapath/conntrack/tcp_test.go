package conntrack

import (
	"testing"
	"time"
)

func tcpState(tb testing.TB, t *Table) string {
	tb.Helper()
	es := entries(t, Filter{Proto: ProtoTCP})
	if len(es) != 1 {
		tb.Fatalf("%d TCP connections, want 1", len(es))
	}
	return es[0].State
}

func TestTCPHandshakeDataTeardown(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	cs, ss := handshake(t, tbl, 40000)
	if got, want := tcpState(t, tbl), "ESTABLISHED/ESTABLISHED"; got != want {
		t.Fatalf("after handshake state = %s, want %s", got, want)
	}
	steps := []struct {
		name  string
		p     *Packet
		want  State
		state string
	}{
		{"client data", tcpPkt(cli, srv, 40000, 80, TCPAck|TCPPsh, cs, ss, 100), trk | est, "ESTABLISHED/ESTABLISHED"},
		{"server ack", tcpPkt(srv, cli, 80, 40000, TCPAck, ss, cs+100, 0), trk | est | rpl, "ESTABLISHED/ESTABLISHED"},
		{"server data", tcpPkt(srv, cli, 80, 40000, TCPAck|TCPPsh, ss, cs+100, 1000), trk | est | rpl, "ESTABLISHED/ESTABLISHED"},
		{"client fin", tcpPkt(cli, srv, 40000, 80, TCPFin|TCPAck, cs+100, ss+1000, 0), trk | est, "CLOSING/ESTABLISHED"},
		{"server fin ack", tcpPkt(srv, cli, 80, 40000, TCPFin|TCPAck, ss+1000, cs+101, 0), trk | est | rpl, "FIN_WAIT_2/CLOSING"},
		{"client last ack", tcpPkt(cli, srv, 40000, 80, TCPAck, cs+101, ss+1001, 0), trk | est, "FIN_WAIT_2/FIN_WAIT_2"},
	}
	for _, s := range steps {
		md := run(t, tbl, s.p, track)
		if md.State != s.want {
			t.Fatalf("%s: ct_state = %v, want %v", s.name, md.State, s.want)
		}
		if got := tcpState(t, tbl); got != s.state {
			t.Fatalf("%s: state = %s, want %s", s.name, got, s.state)
		}
	}
	// A new SYN on the closed tuple replaces the old connection.
	wantState(t, run(t, tbl, tcpPkt(cli, srv, 40000, 80, TCPSyn, 90000, 0, 0), commit), trk|nw)
	if got, want := tcpState(t, tbl), "SYN_SENT/CLOSED"; got != want {
		t.Fatalf("after reopening SYN state = %s, want %s", got, want)
	}
}

func TestTCPUncommittedLeavesNoTrace(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	md := run(t, tbl, tcpPkt(cli, srv, 40000, 80, TCPSyn, 1000, 0, 0), track)
	wantState(t, md, trk|nw)
	if md.Orig.Src != cli || md.Orig.DstPort != 80 || md.Orig.Proto != ProtoTCP {
		t.Errorf("orig tuple = %+v, want the packet's", md.Orig)
	}
	if tbl.Len() != 0 {
		t.Fatalf("Len = %d after ct() without commit, want 0", tbl.Len())
	}
	// The SYN-ACK of an uncommitted connection cannot open one.
	wantState(t, run(t, tbl, tcpPkt(srv, cli, 80, 40000, TCPSyn|TCPAck, 5000, 1001, 0), commit), trk|inv)
}

func TestTCPInvalid(t *testing.T) {
	cases := []struct {
		name    string
		liberal bool
		p       func(cs, ss uint32) *Packet
		want    State
	}{
		{"out of window data", false, func(cs, ss uint32) *Packet {
			return tcpPkt(cli, srv, 40000, 80, TCPAck, cs+10_000_000, ss, 100)
		}, trk | inv},
		{"out of window data liberal", true, func(cs, ss uint32) *Packet {
			return tcpPkt(cli, srv, 40000, 80, TCPAck, cs+10_000_000, ss, 100)
		}, trk | est},
		{"ack far ahead", false, func(cs, ss uint32) *Packet {
			return tcpPkt(cli, srv, 40000, 80, TCPAck, cs, ss+1_000_000, 0)
		}, trk | inv},
		{"syn fin", false, func(cs, ss uint32) *Packet {
			return tcpPkt(cli, srv, 40000, 80, TCPSyn|TCPFin, cs, 0, 0)
		}, trk | inv},
		{"syn fin liberal", true, func(cs, ss uint32) *Packet {
			return tcpPkt(cli, srv, 40000, 80, TCPSyn|TCPFin, cs, 0, 0)
		}, trk | inv},
		{"no flags", false, func(cs, ss uint32) *Packet {
			return tcpPkt(cli, srv, 40000, 80, 0, cs, ss, 0)
		}, trk | inv},
		{"fin without ack", false, func(cs, ss uint32) *Packet {
			return tcpPkt(cli, srv, 40000, 80, TCPFin, cs, ss, 0)
		}, trk | inv},
		{"rst bad seq", false, func(cs, ss uint32) *Packet {
			return tcpPkt(srv, cli, 80, 40000, TCPRst, ss+5000, 0, 0)
		}, trk | inv},
		{"rst bad seq liberal", true, func(cs, ss uint32) *Packet {
			return tcpPkt(srv, cli, 80, 40000, TCPRst, ss+5000, 0, 0)
		}, trk | est | rpl},
		{"retransmission", false, func(cs, ss uint32) *Packet {
			return tcpPkt(cli, srv, 40000, 80, TCPAck, cs-100, ss, 100)
		}, trk | est},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tbl, _ := newTestTable(t, func(o *Options) { o.Liberal = c.liberal })
			cs, ss := handshake(t, tbl, 40000)
			md := run(t, tbl, c.p(cs, ss), track)
			if md.State != c.want {
				t.Fatalf("ct_state = %v, want %v", md.State, c.want)
			}
			if c.want&inv != 0 && tbl.Counter(CounterInvalid) == 0 {
				t.Errorf("invalid counter not incremented")
			}
		})
	}
}

func TestTCPRst(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	cs, ss := handshake(t, tbl, 40000)
	wantState(t, run(t, tbl, tcpPkt(srv, cli, 80, 40000, TCPRst, ss, 0, 0), track), trk|est|rpl)
	if got, want := tcpState(t, tbl), "TIME_WAIT/TIME_WAIT"; got != want {
		t.Fatalf("state after RST = %s, want %s", got, want)
	}
	if e := entries(tbl, Filter{})[0]; e.Expires != 30*time.Second {
		t.Errorf("timeout after RST = %v, want the 30s close timeout", e.Expires)
	}
	_ = cs
}

func TestTCPRetransmittedSyn(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	syn := tcpPkt(cli, srv, 40000, 80, TCPSyn, 1000, 0, 0)
	wantState(t, run(t, tbl, syn, commit), trk|nw)
	wantState(t, run(t, tbl, syn, commit), trk|nw)
	wantState(t, run(t, tbl, syn, track), trk|nw)
	if tbl.Len() != 1 {
		t.Fatalf("Len = %d after SYN retransmissions, want 1", tbl.Len())
	}
	wantState(t, run(t, tbl, tcpPkt(srv, cli, 80, 40000, TCPSyn|TCPAck, 5000, 1001, 0), track), trk|est|rpl)
}

func TestTCPWindowScaling(t *testing.T) {
	for _, scaled := range []bool{true, false} {
		name := map[bool]string{true: "scaled", false: "unscaled"}[scaled]
		t.Run(name, func(t *testing.T) {
			tbl, _ := newTestTable(t, nil)
			syn := tcpPkt(cli, srv, 40000, 80, TCPSyn, 1000, 0, 0)
			synack := tcpPkt(srv, cli, 80, 40000, TCPSyn|TCPAck, 5000, 1001, 0)
			synack.TCPWindow = 512
			if scaled {
				syn.TCPWScale, synack.TCPWScale = 7, 7
			}
			run(t, tbl, syn, commit)
			run(t, tbl, synack, track)
			ack := tcpPkt(cli, srv, 40000, 80, TCPAck, 1001, 5001, 0)
			ack.TCPWindow = 512
			wantState(t, run(t, tbl, ack, track), trk|est)
			sack := tcpPkt(srv, cli, 80, 40000, TCPAck, 5001, 1001, 0)
			sack.TCPWindow = 512 // scaled: 64 KiB
			wantState(t, run(t, tbl, sack, track), trk|est|rpl)
			// 60000 bytes ahead: inside 512<<7, far outside 512.
			data := tcpPkt(cli, srv, 40000, 80, TCPAck, 1001+60000, 5001, 1000)
			want := trk | est
			if !scaled {
				want = trk | inv
			}
			wantState(t, run(t, tbl, data, track), want)
		})
	}
}

func TestTCPMidStreamPickup(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	// An ACK of a connection established before the table existed opens it.
	wantState(t, run(t, tbl, tcpPkt(cli, srv, 40000, 80, TCPAck, 7777, 8888, 100), commit), trk|nw)
	wantState(t, run(t, tbl, tcpPkt(srv, cli, 80, 40000, TCPAck, 8888, 7877, 100), track), trk|est|rpl)
	wantState(t, run(t, tbl, tcpPkt(cli, srv, 40000, 80, TCPAck, 7877, 8988, 100), track), trk|est)
}

func TestTimeouts(t *testing.T) {
	to := DefaultTimeouts()
	type step struct {
		p *Packet
		a Action
	}
	synC := tcpPkt(cli, srv, 40000, 80, TCPSyn, 1000, 0, 0)
	synAckS := tcpPkt(srv, cli, 80, 40000, TCPSyn|TCPAck, 5000, 1001, 0)
	ackC := tcpPkt(cli, srv, 40000, 80, TCPAck, 1001, 5001, 0)
	finC := tcpPkt(cli, srv, 40000, 80, TCPFin|TCPAck, 1001, 5001, 0)
	finAckS := tcpPkt(srv, cli, 80, 40000, TCPFin|TCPAck, 5001, 1002, 0)
	lastC := tcpPkt(cli, srv, 40000, 80, TCPAck, 1002, 5002, 0)
	u := udpPkt(cli, srv, 5000, 53)
	ur := udpPkt(srv, cli, 53, 5000)
	e := echoPkt(cli, srv, icmpEchoRequest, 7)
	er := echoPkt(srv, cli, icmpEchoReply, 7)
	cases := []struct {
		name  string
		steps []step
		want  time.Duration
	}{
		{"tcp syn_sent", []step{{synC, commit}}, to.TCPSynSent},
		{"tcp syn_recv", []step{{synC, commit}, {synAckS, track}}, to.TCPSynRecv},
		{"tcp established", []step{{synC, commit}, {synAckS, track}, {ackC, track}}, to.TCPEstablished},
		{"tcp fin_wait", []step{{synC, commit}, {synAckS, track}, {ackC, track}, {finC, track}}, to.TCPFinWait},
		{"tcp time_wait", []step{{synC, commit}, {synAckS, track}, {ackC, track}, {finC, track}, {finAckS, track}}, to.TCPTimeWait},
		{"tcp closed", []step{{synC, commit}, {synAckS, track}, {ackC, track}, {finC, track}, {finAckS, track}, {lastC, track}}, to.TCPClose},
		{"udp first", []step{{u, commit}}, to.UDPFirst},
		{"udp single", []step{{u, commit}, {u, track}}, to.UDPSingle},
		{"udp multiple", []step{{u, commit}, {ur, track}}, to.UDPMultiple},
		{"icmp first", []step{{e, commit}}, to.ICMPFirst},
		{"icmp reply", []step{{e, commit}, {er, track}}, to.ICMPReply},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tbl, clk := newTestTable(t, nil)
			for _, s := range c.steps {
				run(t, tbl, s.p, s.a)
			}
			es := entries(tbl, Filter{})
			if len(es) != 1 {
				t.Fatalf("%d connections, want 1", len(es))
			}
			if es[0].Expires != c.want {
				t.Fatalf("timeout = %v (state %s), want %v", es[0].Expires, es[0].State, c.want)
			}
			clk.advance(c.want - time.Nanosecond)
			if n := tbl.Sweep(); n != 0 {
				t.Fatalf("Sweep before the timeout removed %d", n)
			}
			clk.advance(time.Nanosecond)
			if got := len(entries(tbl, Filter{})); got != 0 {
				t.Fatalf("%d connections visible at the timeout, want 0", got)
			}
			if n := tbl.Sweep(); n != 1 || tbl.Len() != 0 {
				t.Fatalf("Sweep at the timeout removed %d (Len %d), want 1 (0)", n, tbl.Len())
			}
			if tbl.Counter(CounterExpired) != 1 {
				t.Errorf("expired counter = %d, want 1", tbl.Counter(CounterExpired))
			}
		})
	}
}

func TestTimeoutRefresh(t *testing.T) {
	tbl, clk := newTestTable(t, nil)
	u := udpPkt(cli, srv, 5000, 53)
	run(t, tbl, u, commit)
	for range 5 {
		clk.advance(50 * time.Second)
		wantState(t, run(t, tbl, u, track), trk|nw)
	}
	if tbl.Sweep() != 0 || tbl.Len() != 1 {
		t.Fatalf("a connection with traffic every 50s expired (timeout 60s)")
	}
}

func TestConfiguredTimeouts(t *testing.T) {
	tbl, clk := newTestTable(t, func(o *Options) { o.Timeouts.UDPFirst = 5 * time.Second })
	run(t, tbl, udpPkt(cli, srv, 5000, 53), commit)
	clk.advance(5 * time.Second)
	if got := tbl.Sweep(); got != 1 {
		t.Fatalf("Sweep after the configured 5s removed %d, want 1", got)
	}
}

// TestTCPBulkTransfer plays a Linux-like connection (window scale 7, 1448-byte segments,
// the sender filling the receiver's window before each ACK, then a close) and expects
// every segment to be in window.
func TestTCPBulkTransfer(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	const mss, win = 1448, 502 // 502<<7 = 64256 bytes
	seg := func(src bool, flags uint8, seq, ack, n uint32) *Packet {
		p := tcpPkt(cli, srv, 40000, 80, flags, seq, ack, n)
		if !src {
			p = tcpPkt(srv, cli, 80, 40000, flags, seq, ack, n)
		}
		p.TCPWindow = win
		return p
	}
	syn := seg(true, TCPSyn, 1_000_000, 0, 0)
	syn.TCPWindow, syn.TCPWScale = 64240, 7
	synack := seg(false, TCPSyn|TCPAck, 4_000_000_000, 1_000_001, 0) // server ISN wraps
	synack.TCPWindow, synack.TCPWScale = 65160, 7
	wantState(t, run(t, tbl, syn, commit), trk|nw)
	wantState(t, run(t, tbl, synack, track), trk|est|rpl)
	cs, ss := uint32(1_000_001), uint32(4_000_000_001)
	wantState(t, run(t, tbl, seg(true, TCPAck, cs, ss, 0), track), trk|est)
	// 4 MiB from client to server, one window of segments per ACK.
	for sent := 0; sent < 4<<20; {
		flight := 0
		for flight+mss <= win<<7 {
			if md := run(t, tbl, seg(true, TCPAck|TCPPsh, cs, ss, mss), track); md.State != trk|est {
				t.Fatalf("data at offset %d: %v", sent, md.State)
			}
			cs += mss
			flight += mss
			sent += mss
		}
		if md := run(t, tbl, seg(false, TCPAck, ss, cs, 0), track); md.State != trk|est|rpl {
			t.Fatalf("ack at offset %d: %v", sent, md.State)
		}
	}
	// A response from the server across the sequence wrap.
	for range 100 {
		wantState(t, run(t, tbl, seg(false, TCPAck|TCPPsh, ss, cs, mss), track), trk|est|rpl)
		ss += mss
		wantState(t, run(t, tbl, seg(true, TCPAck, cs, ss, 0), track), trk|est)
	}
	wantState(t, run(t, tbl, seg(true, TCPFin|TCPAck, cs, ss, 0), track), trk|est)
	wantState(t, run(t, tbl, seg(false, TCPFin|TCPAck, ss, cs+1, 0), track), trk|est|rpl)
	wantState(t, run(t, tbl, seg(true, TCPAck, cs+1, ss+1, 0), track), trk|est)
	if got, want := tcpState(t, tbl), "FIN_WAIT_2/FIN_WAIT_2"; got != want {
		t.Fatalf("after close: %s, want %s", got, want)
	}
	// Beyond the window the receiver advertised: invalid.
	tbl2, _ := newTestTable(t, nil)
	run(t, tbl2, syn, commit)
	run(t, tbl2, synack, track)
	run(t, tbl2, seg(true, TCPAck, 1_000_001, 4_000_000_001, 0), track)
	run(t, tbl2, seg(false, TCPAck, 4_000_000_001, 1_000_001, 0), track)
	wantState(t, run(t, tbl2, seg(true, TCPAck, 1_000_001+win<<7, 4_000_000_001, mss), track), trk|inv)
}
