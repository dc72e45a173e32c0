package conntrack

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestEstablishedLookupDoesNotAllocate(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	cs, ss := handshake(t, tbl, 40000)
	run(t, tbl, udpPkt(cli, vip, 5000, 80), Action{Commit: true, NAT: NAT{Kind: NATDst, MinAddr: srv, MaxAddr: srv, MinPort: 8080, MaxPort: 8080}})
	cases := []struct {
		name string
		p    *Packet
		a    Action
		want State
	}{
		{"tcp data", tcpPkt(cli, srv, 40000, 80, TCPAck, cs, ss, 0), track, trk | est},
		{"tcp data commit", tcpPkt(cli, srv, 40000, 80, TCPAck, cs, ss, 0), commit, trk | est},
		{"tcp reply", tcpPkt(srv, cli, 80, 40000, TCPAck, ss, cs, 0), track, trk | est | rpl},
		{"dnat reply", udpPkt(srv, cli, 8080, 5000), Action{NAT: NAT{Kind: NATReverse}}, trk | est | rpl | StateSNAT},
		{"dnat forward", udpPkt(cli, vip, 5000, 80), Action{Commit: true, NAT: NAT{Kind: NATDst, MinAddr: srv, MaxAddr: srv}}, trk | est | StateDNAT},
		{"uncommitted new", udpPkt(cli2, srv, 1, 2), track, trk | nw},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var md Meta
			allocs := testing.AllocsPerRun(100, func() {
				md = Meta{}
				tbl.Process(c.p, &c.a, &md)
			})
			if md.State != c.want {
				t.Fatalf("ct_state = %v, want %v", md.State, c.want)
			}
			if allocs != 0 {
				t.Fatalf("%v allocations per packet, want 0", allocs)
			}
		})
	}
}

// checkInvariants verifies the index against the connections it holds: the size limit,
// both keys of every live connection lead back to it in the right direction, and every NAT
// binding is reversible (the reply key, reversed, is the translated original).
func checkInvariants(tb testing.TB, t *Table) {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := t.Len(); n > t.opts.MaxConns || n < 0 {
		tb.Fatalf("Len %d outside [0, %d]", n, t.opts.MaxConns)
	}
	seen := map[*conn]int{}
	holders := make([]map[key]int, len(t.shards))
	for i := range t.shards {
		holders[i] = map[key]int{}
		for _, sl := range t.shards[i].x.slots {
			if sl.c == nil {
				continue
			}
			e := entry{c: sl.c, reply: sl.reply}
			k := e.c.keys[dirIndex(e.reply)]
			if sl.h != k.hash(t.seed) {
				tb.Fatalf("slot hash %#x is not its key's hash", sl.h)
			}
			own := false
			t.shards[i].x.match(sl.h, &k, func(g entry) bool { own = g == e; return !own })
			if !own {
				tb.Fatalf("key %+v does not find its own slot", k)
			}
			holders[i][k]++
			c := e.c
			if e.c.removed.Load() {
				tb.Fatalf("removed connection still indexed under %+v", k)
			}
			if s, _ := t.shardOf(&k); s != &t.shards[i] {
				tb.Fatalf("key %+v in the wrong shard", k)
			}
			seen[c]++
		}
	}
	for i, hs := range holders {
		dups := 0
		for _, n := range hs {
			dups += n - 1
		}
		if dups != t.shards[i].x.dups {
			tb.Fatalf("shard %d counts %d duplicate keys, holds %d", i, t.shards[i].x.dups, dups)
		}
	}
	if len(seen) != t.Len() {
		tb.Fatalf("index holds %d connections, Len says %d", len(seen), t.Len())
	}
	perZone := map[uint16]int{}
	for c := range seen {
		perZone[c.keys[0].zone]++
	}
	for z, n := range perZone {
		if t.zoneN[z] != n {
			tb.Fatalf("zone %d: count %d, index holds %d", z, t.zoneN[z], n)
		}
	}
	if len(t.zoneN) != len(perZone) {
		tb.Fatalf("zone counts for %d zones, index has %d", len(t.zoneN), len(perZone))
	}
	for c, n := range seen {
		want := 2
		if c.keys[0] == c.keys[1] {
			want = 1
		}
		if n != want {
			tb.Fatalf("connection %+v indexed %d times, want %d", c.keys[0], n, want)
		}
		fwd, rev := c.keys[0], c.keys[1].reversed()
		switch c.nat {
		case NATNone, NATReverse:
			if fwd != rev {
				tb.Fatalf("un-NATed connection's reply key %+v is not its original reversed", c.keys[1])
			}
		case NATSrc:
			if fwd.dst != rev.dst || fwd.dport != rev.dport && !isICMP(fwd.proto) || fwd.proto != rev.proto || fwd.zone != rev.zone {
				tb.Fatalf("SNAT changed more than the source: %+v -> %+v", fwd, rev)
			}
		case NATDst:
			if fwd.src != rev.src || fwd.proto != rev.proto || fwd.zone != rev.zone {
				tb.Fatalf("DNAT changed the source address: %+v -> %+v", fwd, rev)
			}
		}
		// Translating an original packet gives the reversed reply key, and back.
		if c.nat == NATSrc || c.nat == NATDst {
			p := Packet{Src: fwd.src, Dst: fwd.dst, Proto: fwd.proto, SrcPort: fwd.sport, DstPort: fwd.dport, ICMPID: fwd.sport}
			var md Meta
			natPacket(&p, c, false, false, &md)
			applyRewrite(&p, &md.Rewrite)
			if p.Src != rev.src || p.Dst != rev.dst || (!isICMP(fwd.proto) && (p.SrcPort != rev.sport || p.DstPort != rev.dport)) {
				tb.Fatalf("translated original %+v does not match reply key reversed %+v", p, rev)
			}
			r := Packet{Src: c.keys[1].src, Dst: c.keys[1].dst, Proto: fwd.proto, SrcPort: c.keys[1].sport, DstPort: c.keys[1].dport, ICMPID: c.keys[1].sport}
			md = Meta{}
			natPacket(&r, c, true, false, &md)
			applyRewrite(&r, &md.Rewrite)
			if r.Src != fwd.dst || r.Dst != fwd.src || (!isICMP(fwd.proto) && (r.SrcPort != fwd.dport || r.DstPort != fwd.sport)) {
				tb.Fatalf("translated reply %+v is not the original reversed %+v", r, fwd)
			}
		}
	}
}

// applyRewrite does what the executor does with a Rewrite, on the Packet view.
func applyRewrite(p *Packet, rw *Rewrite) {
	if rw.Set&RewriteSrc != 0 {
		p.Src = rw.Src
	}
	if rw.Set&RewriteDst != 0 {
		p.Dst = rw.Dst
	}
	if rw.Set&RewriteSrcPort != 0 {
		p.SrcPort, p.ICMPID = rw.SrcPort, rw.SrcPort
	}
	if rw.Set&RewriteDstPort != 0 {
		p.DstPort = rw.DstPort
	}
	in := &p.Inner
	for _, f := range []struct {
		flag uint16
		do   func()
	}{
		{RewriteInnerSrc, func() { in.Src = rw.InnerSrc }},
		{RewriteInnerDst, func() { in.Dst = rw.InnerDst }},
		{RewriteInnerSrcPort, func() { in.SrcPort, in.ICMPID = rw.InnerSrcPort, rw.InnerSrcPort }},
		{RewriteInnerDstPort, func() { in.DstPort = rw.InnerDstPort }},
	} {
		if rw.Set&f.flag != 0 {
			f.do()
		}
	}
}

func TestConcurrent(t *testing.T) {
	tbl, clk := newTestTable(t, func(o *Options) { o.MaxConns = 2000; o.Shards = 8 })
	const workers, conns = 4, 400
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var bad [workers]int
	for w := range workers {
		wg.Go(func() {
			c := netip.AddrFrom4([4]byte{10, 1, byte(w), 1})
			snat := Action{Commit: true, NAT: NAT{Kind: NATSrc, MinAddr: natIP, MaxAddr: natIP, MinPort: 10000, MaxPort: 11999}}
			for i := range conns {
				sp := uint16(20000 + i)
				var md Meta
				tbl.Process(tcpPkt(c, srv, sp, 80, TCPSyn, 1000, 0, 0), &snat, &md)
				if md.Drop != DropNone {
					bad[w]++
					continue
				}
				port := sp
				if md.Rewrite.Set&RewriteSrcPort != 0 {
					port = md.Rewrite.SrcPort
				}
				md = Meta{}
				tbl.Process(tcpPkt(srv, natIP, 80, port, TCPSyn|TCPAck, 5000, 1001, 0), &Action{NAT: NAT{Kind: NATReverse}}, &md)
				if md.State != trk|est|rpl|StateDNAT || md.Rewrite.Dst != c || md.Rewrite.DstPort != sp && md.Rewrite.Set&RewriteDstPort != 0 {
					bad[w]++
				}
				md = Meta{}
				tbl.Process(tcpPkt(c, srv, sp, 80, TCPAck, 1001, 5001, 0), &track, &md)
				if md.State != trk|est {
					bad[w]++
				}
			}
		})
	}
	var sweeper sync.WaitGroup
	sweeper.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			clk.advance(time.Microsecond)
			tbl.Sweep()
			tbl.Dump(Filter{Proto: ProtoTCP}, func(Entry) bool { return true })
			tbl.Flush(Filter{Port: 1})
		}
	})
	wg.Wait()
	close(stop)
	sweeper.Wait()
	for w, n := range bad {
		if n != 0 {
			t.Errorf("worker %d: %d packets with a wrong verdict", w, n)
		}
	}
	if tbl.Len() != workers*conns {
		t.Errorf("Len = %d, want %d", tbl.Len(), workers*conns)
	}
	checkInvariants(t, tbl)
}
