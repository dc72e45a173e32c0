package classifier

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/flow"
)

const podBase = 0x0a000000 // 10.0.0.0: pod i is 10.0.0.0+i

// antreaLike returns about n flows shaped like one table of Antrea's pipeline folded together:
// 60% pod /32 forwarding flows, some /16 and /24 CIDRs, service IP+port flows, port ranges as
// masks, and a policy of n/10 clause flows (K8s NetworkPolicy-like: one priority, rules of ~10
// source IPs × ~8 destination pods × 2 ports, an IP in several rules gets several conjunction
// actions) plus its conj_id flows and a default flow. It also returns, per policy rule, a TCP
// packet that the rule's conjunction matches.
func antreaLike(n int, seed uint64) ([]Rule[int], []flow.Key) {
	r := rand.New(rand.NewPCG(seed, 1))
	var rules []Rule[int]
	add := func(pri uint16, m flow.Match, cs ...Conjunction) {
		rules = append(rules, Rule[int]{Priority: pri, Match: m, Conj: cs, Payload: len(rules)})
	}
	pods := n * 6 / 10
	for i := range pods {
		add(200, mt(ipv4(), dst(podBase+uint64(i))))
	}
	for i := range max(1, n/100) {
		add(190, mt(ipv4(), fv{f: flow.FieldNwDst, v: 0x0b000000 + uint64(i)<<16, m: 0xffff0000}))
		add(195, mt(ipv4(), fv{f: flow.FieldNwDst, v: 0x0c000000 + uint64(i)<<8, m: 0xffffff00}))
	}
	tcp := fv{f: flow.FieldNwProto, v: 6}
	for i := range n / 10 {
		add(210, mt(ipv4(), tcp, dst(0x0a600000+uint64(i)), tpDst(80)))
	}
	for i := range max(1, n/100) {
		lo := uint64(1024 + 64*(i%512))
		add(205, mt(ipv4(), tcp, fv{f: flow.FieldNwDst, v: 0x0d000000 + uint64(i)}, fv{f: flow.FieldTpDst, v: lo, m: 0xffc0}))
	}
	// Policy: merge clause flows with the same match (Antrea puts all of an IP's rules on one flow).
	type clauseKey struct {
		m flow.Match
	}
	merged := map[clauseKey][]Conjunction{}
	var order []clauseKey
	addClause := func(m flow.Match, c Conjunction) {
		k := clauseKey{m}
		if _, ok := merged[k]; !ok {
			order = append(order, k)
		}
		merged[k] = append(merged[k], c)
	}
	clauses := n / 10
	var hits []flow.Key
	for id := uint32(1); clauses > 0; id++ {
		s, d := podBase+uint64(r.IntN(pods)), podBase+uint64(r.IntN(pods))
		hits = append(hits, key(ipv4(), tcp, src(s), dst(d), tpDst(80)))
		addClause(mt(ipv4(), src(s)), conj(id, 1, 3))
		addClause(mt(ipv4(), dst(d)), conj(id, 2, 3))
		for range 9 {
			addClause(mt(ipv4(), src(podBase+uint64(r.IntN(pods)))), conj(id, 1, 3))
		}
		for range 7 {
			addClause(mt(ipv4(), dst(podBase+uint64(r.IntN(pods)))), conj(id, 2, 3))
		}
		for _, p := range []uint64{80, 443 + uint64(id%8)} {
			addClause(mt(ipv4(), tcp, tpDst(p)), conj(id, 3, 3))
		}
		add(300, mt(conjID(uint64(id))))
		clauses -= 20
	}
	for _, k := range order {
		add(300, k.m, merged[k]...)
	}
	add(0, mt())
	return rules, hits
}

// benchKeys returns TCP packets between random pods (some to port 80, which the policy
// covers), to service IPs and to CIDR destinations.
func benchKeys(n int, count int) []flow.Key {
	r := rand.New(rand.NewPCG(99, 1))
	pods := n * 6 / 10
	keys := make([]flow.Key, count)
	for i := range keys {
		k := key(ipv4(), fv{f: flow.FieldNwProto, v: 6}, src(podBase+uint64(r.IntN(pods))), tpDst([]uint64{80, 443, 8080}[r.IntN(3)]))
		switch r.IntN(10) {
		case 0:
			k.Set(flow.FieldNwDst, 0x0a600000+uint64(r.IntN(max(1, n/10))))
		case 1:
			k.Set(flow.FieldNwDst, 0x0b000000+uint64(r.IntN(max(1, n/100)))<<16+1)
		default:
			k.Set(flow.FieldNwDst, podBase+uint64(r.IntN(pods)))
		}
		keys[i] = k
	}
	return keys
}

func buildTables(b *testing.B, rules []Rule[int]) *Tables[int] {
	b.Helper()
	ts := New[int](Options{})
	tx := ts.Begin()
	for _, ru := range rules {
		if _, err := tx.Insert(0, ru); err != nil {
			b.Fatal(err)
		}
	}
	tx.Commit()
	return ts
}

var benchSizes = []int{10_000, 100_000}

func BenchmarkLookup(b *testing.B) {
	for _, n := range benchSizes {
		rules, hits := antreaLike(n, 1)
		ts := buildTables(b, rules)
		keys := benchKeys(n, 4096)
		// One packet in 8 is one a policy conjunction allows.
		for i := 0; i < len(keys); i += 8 {
			keys[i] = hits[i/8%len(hits)]
		}
		tb := ts.Load().Table(0)
		via := 0
		for i := range keys {
			if _, _, ok := tb.LookupConj(&keys[i], nil); ok {
				via++
			}
		}
		for _, wcOn := range []bool{false, true} {
			b.Run(fmt.Sprintf("flows=%d/subtables=%d/wildcards=%v", len(rules), tb.Subtables(), wcOn), func(b *testing.B) {
				b.ReportAllocs()
				var wc flow.Key
				var wcp *flow.Key
				if wcOn {
					wcp = &wc
				}
				i := 0
				cpu := cpuTime()
				for b.Loop() {
					tb.Lookup(&keys[i&4095], wcp)
					i++
				}
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
				b.ReportMetric(float64(via)/float64(len(keys)), "conj-share")
			})
		}
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkInsert builds whole tables in transactions of 1000 flows (a bundle-sized batch) and
// reports flows/s and the heap the table keeps per flow.
func BenchmarkInsert(b *testing.B) {
	for _, n := range benchSizes {
		rules, _ := antreaLike(n, 2)
		b.Run(fmt.Sprintf("flows=%d/batch=1000", len(rules)), func(b *testing.B) {
			b.ReportAllocs()
			var perFlow float64
			cpu := cpuTime()
			for b.Loop() {
				before := heapInUse()
				ts := New[int](Options{})
				for i := 0; i < len(rules); i += 1000 {
					tx := ts.Begin()
					for _, ru := range rules[i:min(i+1000, len(rules))] {
						tx.Insert(0, ru)
					}
					tx.Commit()
				}
				b.StopTimer()
				perFlow = float64(heapInUse()-before) / float64(len(rules))
				runtime.KeepAlive(ts)
				b.StartTimer()
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(b.N*len(rules))/b.Elapsed().Seconds(), "flows/s")
			b.ReportMetric(perFlow, "bytes/flow")
		})
	}
}

// BenchmarkCommitOne measures one flow added and removed, each in its own transaction, in a
// table that already holds n flows (what a pod add costs per flow outside a bundle).
func BenchmarkCommitOne(b *testing.B) {
	for _, n := range benchSizes {
		rules, _ := antreaLike(n, 3)
		ts := buildTables(b, rules)
		b.Run(fmt.Sprintf("flows=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			ru := Rule[int]{Priority: 200, Match: mt(ipv4(), dst(podBase+0xfffff))}
			f := Filter{Match: ru.Match, Priority: 200, Strict: true}
			cpu := cpuTime()
			for b.Loop() {
				ts.Insert(0, ru)
				ts.Delete(0, f, nil)
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(2*float64(b.N)/b.Elapsed().Seconds(), "commits/s")
		})
	}
}

func BenchmarkCacheHit(b *testing.B) {
	c := NewCache[*Rule[int]](DefaultCacheOptions())
	keys := benchKeys(10_000, 1024)
	r := &Rule[int]{}
	for i := range keys {
		c.Insert(&keys[i], 1, r)
	}
	b.ReportAllocs()
	i := 0
	cpu := cpuTime()
	for b.Loop() {
		c.Lookup(&keys[i&1023], 1)
		i++
	}
	reportCache(b, cpu, c.Stats())
}

// reportCache reports CPU time per packet, packets per second and the cache's hit rate.
func reportCache(b *testing.B, cpu time.Duration, st CacheStats) {
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(st.Hits)/float64(st.Hits+st.Misses), "hit-rate")
}

// BenchmarkCachedLookup is the packet path: cache first, classifier on a miss, for a working
// set that fits in the cache (hit rate reported).
func BenchmarkCachedLookup(b *testing.B) {
	for _, n := range benchSizes {
		rules, _ := antreaLike(n, 1)
		ts := buildTables(b, rules)
		keys := benchKeys(n, 4096)
		b.Run(fmt.Sprintf("flows=%d", n), func(b *testing.B) {
			c := NewCache[*Rule[int]](DefaultCacheOptions())
			b.ReportAllocs()
			i := 0
			cpu := cpuTime()
			for b.Loop() {
				s := ts.Load()
				k := &keys[i&4095]
				if _, ok := c.Lookup(k, s.Gen()); !ok {
					c.Insert(k, s.Gen(), s.Table(0).Lookup(k, nil))
				}
				i++
			}
			reportCache(b, cpu, c.Stats())
		})
	}
}

// BenchmarkNewConnections is a TCP_CRR-like load: 256 client/server pairs, every packet from a
// new source port. The exact-match cache never sees a key twice; a megaflow cache fed with the
// lookup's wildcards answers every connection after the first of its pair.
func BenchmarkNewConnections(b *testing.B) {
	const n = 100_000
	rules, _ := antreaLike(n, 1)
	ts := buildTables(b, rules)
	base := benchKeys(n, 256)
	r := rand.New(rand.NewPCG(7, 7))
	keys := make([]flow.Key, 1<<16)
	for i := range keys {
		keys[i] = base[r.IntN(len(base))]
		keys[i].Set(flow.FieldTpSrc, uint64(1024+r.IntN(60000)))
	}
	for _, megaflow := range []bool{false, true} {
		name := map[bool]string{false: "exact", true: "megaflow"}[megaflow]
		b.Run(name, func(b *testing.B) {
			exact := NewCache[*Rule[int]](DefaultCacheOptions())
			mf := NewMegaflowCache[*Rule[int]](DefaultMegaflowOptions())
			b.ReportAllocs()
			i := 0
			cpu := cpuTime()
			for b.Loop() {
				s := ts.Load()
				k := &keys[i&(len(keys)-1)]
				i++
				if !megaflow {
					if _, ok := exact.Lookup(k, s.Gen()); !ok {
						exact.Insert(k, s.Gen(), s.Table(0).Lookup(k, nil))
					}
					continue
				}
				if _, ok := mf.Lookup(k, s.Gen()); !ok {
					var wc flow.Key
					v := s.Table(0).Lookup(k, &wc)
					mf.Insert(k, &wc, s.Gen(), v)
				}
			}
			st := exact.Stats()
			if megaflow {
				st = mf.Stats()
			}
			reportCache(b, cpu, st)
		})
	}
}
