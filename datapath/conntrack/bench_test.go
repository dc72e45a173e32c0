package conntrack

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkCommit measures committing new UDP connections (new connections/s). Every 64k
// connections the clock jumps past their timeout and Sweep clears them, off the timer, so
// memory stays bounded.
func BenchmarkCommit(b *testing.B) {
	cases := []struct {
		name     string
		nat      bool
		manyDsts bool
	}{
		{"plain", false, true},
		{"snat many destinations", true, true},
		{"snat one destination half full", true, false}, // the port search's worst case
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			tbl, clk := newTestTable(b, func(o *Options) { o.MaxConns = 1 << 20 })
			a := commit
			if c.nat {
				a.NAT = NAT{Kind: NATSrc, MinAddr: natIP, MaxAddr: natIP}
			}
			p := udpPkt(cli, srv, 0, 53)
			var md Meta
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				if i&0x7fff == 0 { // at most half the ephemeral ports in use
					b.StopTimer()
					clk.advance(time.Hour)
					tbl.Sweep()
					b.StartTimer()
				}
				p.Src = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
				p.SrcPort = uint16(32768 + mix(0, uint64(i))%28232) // Linux's ephemeral range
				if c.manyDsts {
					p.Dst = netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
				}
				md = Meta{}
				tbl.Process(p, &a, &md)
			}
			if md.Drop != DropNone {
				b.Fatalf("last commit refused: %v", md.Drop)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
		})
	}
}

// BenchmarkEstablished measures one packet of an established TCP connection in a table of
// 100k connections: the hot path.
func BenchmarkEstablished(b *testing.B) {
	tbl, _ := newTestTable(b, nil)
	const n = 100_000
	for i := range n {
		c := netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})
		run(b, tbl, udpPkt(c, srv, 5000, 53), commit)
		run(b, tbl, udpPkt(srv, c, 53, 5000), track)
	}
	handshake(b, tbl, 40000)
	p := tcpPkt(cli, srv, 40000, 80, TCPAck, 1001, 5001, 0)
	b.Run("serial", func(b *testing.B) {
		var md Meta
		b.ReportAllocs()
		for b.Loop() {
			md = Meta{}
			tbl.Process(p, &track, &md)
		}
		if md.State != trk|est {
			b.Fatalf("state %v", md.State)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	})
	b.Run("serial 100k conns", func(b *testing.B) {
		var md Meta
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			q := walkPacket(i)
			md = Meta{}
			tbl.Process(&q, &track, &md)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var md Meta
			i := 0
			for pb.Next() {
				i++
				q := walkPacket(i)
				md = Meta{}
				tbl.Process(&q, &track, &md)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	})
	b.Run("dnat reply", func(b *testing.B) {
		run(b, tbl, udpPkt(cli, vip, 5000, 80), Action{Commit: true, NAT: NAT{Kind: NATDst, MinAddr: srv, MaxAddr: srv, MinPort: 8080, MaxPort: 8080}})
		q := udpPkt(srv, cli, 8080, 5000)
		a := Action{NAT: NAT{Kind: NATReverse}}
		var md Meta
		b.ReportAllocs()
		for b.Loop() {
			md = Meta{}
			tbl.Process(q, &a, &md)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	})
}

// BenchmarkReassemble measures reassembling a 3-fragment datagram.
func BenchmarkReassemble(b *testing.B) {
	r, _ := newTestReassembler(nil)
	fr := fragment(ipv4Datagram(1, 3000), 1232)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(3020)
	for b.Loop() {
		for _, f := range fr {
			r.Add(0, f, buf[:0])
		}
	}
}

// walkPacket returns a packet of the i-th of the 32k UDP connections BenchmarkEstablished
// sets up, so successive packets hit cold connections.
func walkPacket(i int) Packet {
	c := netip.AddrFrom4([4]byte{10, 2, byte(i >> 8 & 0x7f), byte(i)})
	return Packet{Src: c, Dst: srv, Proto: ProtoUDP, SrcPort: 5000, DstPort: 53, Len: 100}
}
