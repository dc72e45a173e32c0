package pipeline

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/datapath/conntrack"
	"github.com/sluicenet/sluice/datapath/flow"
)

// scaledAntrea returns the Antrea fixture plus extra flows of the kinds that grow with a
// cluster (per-pod spoof guard, L3 and L2 forwarding, policy clauses), n flows in all.
func scaledAntrea(tb testing.TB, n int) []*flow.Flow {
	tb.Helper()
	base, err := os.ReadFile(flowsDir + "/antrea.txt")
	if err != nil {
		tb.Fatal(err)
	}
	var sb strings.Builder
	sb.Write(base)
	extra := n - strings.Count(string(base), "\ntable=")
	for i := 0; extra > 0; i++ {
		ip := fmt.Sprintf("10.%d.%d.%d", 20+i>>16&0xff, i>>8&0xff, i&0xff)
		mac := fmt.Sprintf("0a:58:%02x:%02x:%02x:%02x", 20+i>>16&0xff, i>>8&0xff, i&0xff, 7)
		port := 100 + i
		lines := []string{
			fmt.Sprintf("table=4,priority=200,ip,in_port=%d,dl_src=%s,nw_src=%s,actions=goto_table:5", port, mac, ip),
			fmt.Sprintf("table=17,priority=200,ip,reg0=0x200/0x200,nw_dst=%s,actions=set_field:0e:00:00:00:00:01->eth_src,set_field:%s->eth_dst,set_field:0x30/0xf0->reg0,goto_table:19", ip, mac),
			fmt.Sprintf("table=22,priority=200,dl_dst=%s,actions=set_field:%#x->reg1,set_field:0x200000/0x600000->reg0,goto_table:23", mac, port),
			fmt.Sprintf("table=24,priority=14000,ip,nw_src=%s,actions=conjunction(%d,1/2)", ip, 1000+i%200),
		}
		for _, l := range lines {
			if extra == 0 {
				break
			}
			sb.WriteString(l + "\n")
			extra--
		}
	}
	for c := 0; c < 200; c++ {
		fmt.Fprintf(&sb, "table=24,priority=14000,reg1=%#x,actions=conjunction(%d,2/2)\n", 100+c, 1000+c)
		fmt.Fprintf(&sb, "table=24,priority=14000,conj_id=%d,ip,actions=set_field:%#x->reg6,goto_table:27\n", 1000+c, 1000+c)
	}
	flows, err := flow.ParseFlows(strings.NewReader(sb.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return flows
}

func antreaPipeline(tb testing.TB, n int) *Pipeline {
	tb.Helper()
	groups, err := os.ReadFile(flowsDir + "/antrea.groups")
	if err != nil {
		tb.Fatal(err)
	}
	p := newTestPipeline(tb, "", string(groups), func(o *Options) {
		o.Conntrack = conntrack.New(conntrack.Options{MaxConns: 1 << 20})
	})
	if err := p.AddFlows(scaledAntrea(tb, n)); err != nil {
		tb.Fatal(err)
	}
	return p
}

// establish runs a TCP handshake pod-b -> pod-a:80 and returns the client's ACK frame.
func establish(tb testing.TB, r *Runner, sport uint16) []byte {
	var res Result
	syn := tcpSegFrom(withMACs(tcp4("", 4, "10.10.0.4", "10.10.0.3", sport, 80, 0), 0x0a580a0a0004, 0x0a580a0a0003), 0x002, 100, 0)
	r.Process(syn.frame, 4, &res)
	synack := tcpSegFrom(withMACs(tcp4("", 3, "10.10.0.3", "10.10.0.4", 80, sport, 0), 0x0a580a0a0003, 0x0a580a0a0004), 0x012, 500, 101)
	r.Process(synack.frame, 3, &res)
	ack := tcpSegFrom(withMACs(tcp4("", 4, "10.10.0.4", "10.10.0.3", sport, 80, 0), 0x0a580a0a0004, 0x0a580a0a0003), 0x010, 101, 501)
	r.Process(ack.frame, 4, &res)
	if len(res.Outputs) != 1 {
		tb.Fatalf("handshake did not get through: outputs %v", outputsOf(&res))
	}
	return ack.frame
}

// BenchmarkCachedPath is an established TCP connection through the Antrea pipeline: two
// passes (a recirculation through conntrack), each one cache lookup plus its ops.
func BenchmarkCachedPath(b *testing.B) { benchEstablished(b, false) }

// BenchmarkSlowPath is the same established packet with the caches bypassed: every pass is
// translated again (classifier lookups in every table it visits, conjunctions, ct).
func BenchmarkSlowPath(b *testing.B) { benchEstablished(b, true) }

func benchEstablished(b *testing.B, noCache bool) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("flows=%d", n), func(b *testing.B) {
			p := antreaPipeline(b, n)
			r := p.NewRunner()
			ack := establish(b, r, 40000)
			r.noCache = noCache
			var res Result
			b.SetBytes(int64(len(ack)))
			b.ReportAllocs()
			for b.Loop() {
				r.Process(ack, 4, &res)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

// BenchmarkCompile adds n flows in one transaction and reports the memory the tables hold.
func BenchmarkCompile(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("flows=%d", n), func(b *testing.B) {
			flows := scaledAntrea(b, n)
			groupsText, err := os.ReadFile(flowsDir + "/antrea.groups")
			if err != nil {
				b.Fatal(err)
			}
			groups, err := flow.ParseGroups(strings.NewReader(string(groupsText)))
			if err != nil {
				b.Fatal(err)
			}
			var heap uint64
			b.ReportAllocs()
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				p := New(Options{})
				if err := p.AddGroups(groups); err != nil {
					b.Fatal(err)
				}
				if err := p.AddFlows(flows); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				heap = after.HeapAlloc - before.HeapAlloc
				runtime.KeepAlive(p)
			}
			b.ReportMetric(float64(heap)/float64(n), "heap-B/flow")
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e9/float64(n), "ns/flow")
		})
	}
}

// BenchmarkCRR is a TCP_CRR-like load: every connection is new (handshake, one request and
// response, FIN both ways). It reports the exact-match cache's hit rate (it only helps within
// a connection) and the rate with the megaflow cache behind it.
func BenchmarkCRR(b *testing.B) {
	p := antreaPipeline(b, 10000)
	r := p.NewRunner()
	var res Result
	type seg struct {
		in       uint32
		fromPod  bool
		flags    uint64
		seq, ack uint32
	}
	script := []seg{
		{4, true, 0x002, 100, 0}, {3, false, 0x012, 500, 101}, {4, true, 0x010, 101, 501},
		{4, true, 0x018, 101, 501}, {3, false, 0x018, 501, 102}, {4, true, 0x011, 102, 502},
		{3, false, 0x011, 502, 103}, {4, true, 0x010, 103, 503},
	}
	// Frames are prepared outside the timed loop: 8 per connection, sport cycling.
	const conns = 4096
	frames := make([][][]byte, conns)
	for c := range conns {
		sport := uint16(1024 + c)
		for _, s := range script {
			var pk testPacket
			if s.fromPod {
				pk = withMACs(tcp4("", 4, "10.10.0.4", "10.10.0.3", sport, 80, 0), 0x0a580a0a0004, 0x0a580a0a0003)
			} else {
				pk = withMACs(tcp4("", 3, "10.10.0.3", "10.10.0.4", 80, sport, 0), 0x0a580a0a0003, 0x0a580a0a0004)
			}
			frames[c] = append(frames[c], tcpSegFrom(pk, s.flags, s.seq, s.ack).frame)
		}
	}
	start := r.CacheStats()
	mfStart, _, _ := r.MegaflowStats()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := i % conns
		if c == 0 && i > 0 {
			p.Conntrack().Flush(conntrack.Filter{})
		}
		for j, f := range frames[c] {
			r.Process(f, script[j].in, &res)
		}
		i++
	}
	st := r.CacheStats()
	hits, misses := st.Hits-start.Hits, st.Misses-start.Misses
	mfHits, _, _ := r.MegaflowStats()
	mfHits -= mfStart
	b.ReportMetric(float64(hits)/float64(hits+misses), "emc-hit-rate")
	b.ReportMetric(float64(hits+mfHits)/float64(hits+misses), "cache-hit-rate")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
}

// BenchmarkTranslateOnly measures one translation of the first pass of a new packet.
func BenchmarkTranslateOnly(b *testing.B) {
	p := antreaPipeline(b, 10000)
	pk := withMACs(tcp4("", 4, "10.10.0.4", "10.10.0.3", 40000, 80, 0), 0x0a580a0a0004, 0x0a580a0a0003)
	b.ReportAllocs()
	for b.Loop() {
		p.translate(&pk.key, 0, nil, false)
	}
}
