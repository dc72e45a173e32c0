package classifier

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

const diffTable = 7

func payloadOf(r *Rule[int]) int {
	if r == nil {
		return -1
	}
	return r.Payload
}

// checkAgainstRef compares lookups of random keys, the megaflow property of the tracked
// wildcards, and the table's contents with the reference.
func checkAgainstRef(t *testing.T, ctx string, ts *Tables[int], rt *refTable, g *ruleGen, nKeys int) {
	t.Helper()
	tbl := ts.Load().Table(diffTable)
	if got, want := tbl.Len(), len(rt.rules); got != want {
		t.Fatalf("%s: Len() = %d, want %d", ctx, got, want)
	}
	var gotAll, wantAll []int
	for r := range tbl.All() {
		gotAll = append(gotAll, r.Payload)
	}
	for _, r := range rt.rules {
		wantAll = append(wantAll, r.payload)
	}
	slices.Sort(gotAll)
	slices.Sort(wantAll)
	if !slices.Equal(gotAll, wantAll) {
		t.Fatalf("%s: All() = %v, want %v", ctx, gotAll, wantAll)
	}
	for range nKeys {
		k := g.key()
		var wc flow.Key
		r, id, via := tbl.LookupConj(&k, &wc)
		wp, wid, wvia := rt.lookup(&k)
		diffStats[0]++
		if wvia {
			diffStats[1]++
		}
		if wp < 0 {
			diffStats[2]++
		}
		if payloadOf(r) != wp || id != wid || via != wvia {
			t.Fatalf("%s: key in_port=%d nw_src=%#x tp_dst=%d reg0=%d conj_id=%d: got #%d (conj %d %v), want #%d (conj %d %v)\nflows:\n%s",
				ctx, k.Get(flow.FieldInPort), k.Get(flow.FieldNwSrc), k.Get(flow.FieldTpDst), k.Get(flow.FieldReg0), k.Get(flow.FieldConjID),
				payloadOf(r), id, via, wp, wid, wvia, describe(rt))
		}
		if r2 := tbl.Lookup(&k, nil); r2 != r {
			t.Fatalf("%s: Lookup without wildcards = #%d, with = #%d", ctx, payloadOf(r2), payloadOf(r))
		}
		// Any key that agrees with k on the tracked bits must get the same verdict.
		for range 3 {
			k2 := g.key()
			for i := range k2.W {
				k2.W[i] = k.W[i]&wc.W[i] | k2.W[i]&^wc.W[i]
			}
			if wp2, _, _ := rt.lookup(&k2); wp2 != wp {
				t.Fatalf("%s: megaflow mask too wide: key and key2 agree on %x but get #%d and #%d", ctx, wc.W[:22], wp, wp2)
			}
		}
	}
}

// diffStats counts lookups, conjunctive results and misses, to show the cases are not trivial.
var diffStats [3]int

func TestDifferentialRandom(t *testing.T) {
	defer func() {
		t.Logf("lookups %d, via conjunction %d, no match %d", diffStats[0], diffStats[1], diffStats[2])
	}()
	cases := 1500
	if testing.Short() || raceEnabled {
		cases = 300
	}
	for seed := range uint64(cases) { // seeds are the case numbers
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		opts := Options{HashSeed: seed + 1}
		if seed%3 == 0 {
			opts.hashMask = 0x7 // every subtable hash collides a lot
		}
		ts := New[int](opts)
		rt := &refTable{}
		g := &ruleGen{r: r, conjHeavy: seed%2 == 1, manyIDs: seed%5 == 2}
		ctx := func(step string) string { return fmt.Sprintf("seed %d %s", seed, step) }

		// Build in transactions of random size.
		for n := 1 + r.IntN(40); n > 0; {
			tx := ts.Begin()
			for m := 1 + r.IntN(8); m > 0 && n > 0; m, n = m-1, n-1 {
				ru := g.rule()
				if _, _, err := tx.Replace(diffTable, ru); err != nil {
					t.Fatalf("%s: Replace: %v", ctx("build"), err)
				}
				rt.replace(ru.Match, ru.Priority, ru.Cookie, ru.Conj, ru.Payload)
			}
			tx.Commit()
			rt.commit()
		}
		checkAgainstRef(t, ctx("built"), ts, rt, g, 40)

		// Mutate: strict and non-strict deletes, replacements, modifications.
		for step := range 6 {
			tx := ts.Begin()
			switch r.IntN(4) {
			case 0: // strict delete of an existing flow
				if len(rt.rules) == 0 {
					break
				}
				rr := rt.rules[r.IntN(len(rt.rules))]
				f := Filter{Match: rr.m, Priority: rr.pri, Strict: true}
				checkDeleted(t, ctx("strict delete"), tx.Delete(diffTable, f, nil), rt.delete(f))
			case 1:
				f := g.filter(nil)
				checkDeleted(t, ctx("non-strict delete"), tx.Delete(diffTable, f, nil), rt.delete(f))
			case 2:
				for range 1 + r.IntN(5) {
					ru := g.rule()
					tx.Replace(diffTable, ru)
					rt.replace(ru.Match, ru.Priority, ru.Cookie, ru.Conj, ru.Payload)
				}
			case 3: // modify payloads of a non-strict selection
				f := g.filter(nil)
				g.payload++
				p := g.payload * 1000
				got, err := tx.Modify(diffTable, f, nil, func(r *Rule[int]) { r.Payload += p })
				if err != nil {
					t.Fatalf("%s: Modify: %v", ctx("modify"), err)
				}
				n := 0
				for _, rr := range rt.rules {
					if rt.selects(&f, rr) {
						rr.payload += p
						n++
					}
				}
				if len(got) != n {
					t.Fatalf("%s: Modify changed %d flows, want %d", ctx("modify"), len(got), n)
				}
			}
			tx.Commit()
			rt.commit()
			checkAgainstRef(t, ctx(fmt.Sprintf("after mutation %d", step)), ts, rt, g, 20)
		}
	}
}

func checkDeleted(t *testing.T, ctx string, got []*Rule[int], want []int) {
	t.Helper()
	var gp []int
	for _, r := range got {
		gp = append(gp, r.Payload)
	}
	slices.Sort(gp)
	if !slices.Equal(gp, want) {
		t.Fatalf("%s: deleted %v, want %v", ctx, gp, want)
	}
}
