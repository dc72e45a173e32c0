package classifier_test

import (
	"fmt"

	"github.com/sluicenet/sluice/datapath/classifier"
	"github.com/sluicenet/sluice/datapath/flow"
)

// A policy as conjunction flows: allow 10.0.0.1 or 10.0.0.2 to reach 10.0.0.9 on port 80,
// drop everything else. The payload here is just a verdict string.
func Example() {
	ipv4 := func(m *flow.Match) { m.Set(flow.FieldEthType, 0x0800, 0xffff) }
	match := func(f flow.Field, v uint64) flow.Match {
		var m flow.Match
		ipv4(&m)
		m.Set(f, v, f.Info().Mask64())
		return m
	}
	clause := func(id uint32, k, n uint8) []classifier.Conjunction {
		return []classifier.Conjunction{{ID: id, Clause: k, NClauses: n}}
	}

	ts := classifier.New[string](classifier.DefaultOptions())
	tx := ts.Begin()
	tx.Insert(0, classifier.Rule[string]{Priority: 100, Match: match(flow.FieldNwSrc, 0x0a000001), Conj: clause(7, 1, 3)})
	tx.Insert(0, classifier.Rule[string]{Priority: 100, Match: match(flow.FieldNwSrc, 0x0a000002), Conj: clause(7, 1, 3)})
	tx.Insert(0, classifier.Rule[string]{Priority: 100, Match: match(flow.FieldNwDst, 0x0a000009), Conj: clause(7, 2, 3)})
	tx.Insert(0, classifier.Rule[string]{Priority: 100, Match: match(flow.FieldTpDst, 80), Conj: clause(7, 3, 3)})
	tx.Insert(0, classifier.Rule[string]{Priority: 100, Match: match(flow.FieldConjID, 7), Payload: "allow"})
	tx.Insert(0, classifier.Rule[string]{Priority: 0, Payload: "drop"})
	tx.Commit()

	// A packet goroutine: its own cache, the snapshot's generation with every lookup.
	cache := classifier.NewCache[*classifier.Rule[string]](classifier.DefaultCacheOptions())
	verdict := func(src, dst, port uint64) string {
		var k flow.Key
		k.Set(flow.FieldEthType, 0x0800)
		k.Set(flow.FieldNwSrc, src)
		k.Set(flow.FieldNwDst, dst)
		k.Set(flow.FieldTpDst, port)
		s := ts.Load()
		r, ok := cache.Lookup(&k, s.Gen())
		if !ok {
			r = s.Table(0).Lookup(&k, nil)
			cache.Insert(&k, s.Gen(), r)
		}
		return r.Payload
	}
	fmt.Println(verdict(0x0a000002, 0x0a000009, 80))
	fmt.Println(verdict(0x0a000002, 0x0a000009, 81))
	fmt.Println(verdict(0x0a000003, 0x0a000009, 80))
	fmt.Println(verdict(0x0a000002, 0x0a000009, 80), cache.Stats().Hits)
	// Output:
	// allow
	// drop
	// drop
	// allow 1
}
