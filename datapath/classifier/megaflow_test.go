package classifier

import (
	"math/rand/v2"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

// TestMegaflowCacheNeverWrong fills a megaflow cache from lookups' wildcards while the table
// changes at random, and checks every answer it gives against a fresh lookup. It is the end-to-
// end test of the wildcard tracking: a mask that missed a bit the verdict depends on shows up
// as a wrong answer for another key in the same region.
func TestMegaflowCacheNeverWrong(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 9))
		g := &ruleGen{r: r, conjHeavy: seed%2 == 0}
		ts := New[int](Options{HashSeed: seed + 1})
		c := NewMegaflowCache[*Rule[int]](MegaflowOptions{MaxMasks: 4, EntriesPerMask: 16})
		for range 30 {
			ts.Replace(diffTable, g.rule())
		}
		served := 0
		for step := range 400 {
			switch r.IntN(8) {
			case 0:
				ts.Replace(diffTable, g.rule())
			case 1:
				ts.Delete(diffTable, g.filter(nil), nil)
			}
			for range 10 {
				k := g.key()
				s := ts.Load()
				var wc flow.Key
				want := s.Table(diffTable).Lookup(&k, &wc)
				if got, ok := c.Lookup(&k, s.Gen()); ok {
					served++
					if got != want {
						t.Fatalf("seed %d step %d: megaflow cache served #%d, table says #%d", seed, step, payloadOf(got), payloadOf(want))
					}
				} else {
					c.Insert(&k, &wc, s.Gen(), want)
				}
				if c.Masks() > 4 {
					t.Fatalf("%d masks held, limit 4", c.Masks())
				}
			}
		}
		if served == 0 {
			t.Fatalf("seed %d: nothing served from the cache", seed)
		}
	}
}

func TestMegaflowCacheGenerationAndAllocs(t *testing.T) {
	c := NewMegaflowCache[int](DefaultMegaflowOptions())
	var mask flow.Key
	mask.Set(flow.FieldNwDst, 0xffffffff)
	k := key(src(1), dst(2), tpDst(80))
	c.Insert(&k, &mask, 1, 7)
	other := key(src(9), dst(2), tpDst(443))
	if v, ok := c.Lookup(&other, 1); !ok || v != 7 {
		t.Fatalf("key in the same region: got %d, %v, want 7, true", v, ok)
	}
	far := key(src(1), dst(3), tpDst(80))
	if _, ok := c.Lookup(&far, 1); ok {
		t.Fatal("hit for a key outside the region")
	}
	if n := testing.AllocsPerRun(1000, func() { c.Lookup(&other, 1) }); n != 0 {
		t.Fatalf("hit allocates %v times", n)
	}
	if _, ok := c.Lookup(&other, 2); ok {
		t.Fatal("entry of generation 1 served at generation 2")
	}
	if c.Masks() != 0 {
		t.Fatalf("%d masks after a generation change, want 0", c.Masks())
	}
}
