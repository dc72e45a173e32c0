package classifier

import (
	"math/rand/v2"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

func TestCacheHitMissAndGeneration(t *testing.T) {
	c := NewCache[int](CacheOptions{Entries: 16})
	k := key(src(1), dst(2))
	if _, ok := c.Lookup(&k, 1); ok {
		t.Fatal("hit in an empty cache")
	}
	c.Insert(&k, 1, 42)
	if v, ok := c.Lookup(&k, 1); !ok || v != 42 {
		t.Fatalf("Lookup = %d, %v, want 42, true", v, ok)
	}
	if _, ok := c.Lookup(&k, 2); ok {
		t.Fatal("entry of generation 1 served at generation 2")
	}
	k2 := key(src(1), dst(3))
	if _, ok := c.Lookup(&k2, 1); ok {
		t.Fatal("hit for a key never inserted")
	}
	c.Insert(&k, 2, 43)
	if v, ok := c.Lookup(&k, 2); !ok || v != 43 {
		t.Fatalf("after re-insert Lookup = %d, %v, want 43, true", v, ok)
	}
	c.Flush()
	if _, ok := c.Lookup(&k, 2); ok {
		t.Fatal("hit after Flush")
	}
	st := c.Stats()
	if st.Hits != 2 || st.Inserts != 2 {
		t.Fatalf("stats = %+v, want 2 hits and 2 inserts", st)
	}
}

func TestCacheBoundedWithEviction(t *testing.T) {
	c := NewCache[int](CacheOptions{Entries: 64})
	if c.Len() != 64 {
		t.Fatalf("Len() = %d, want 64", c.Len())
	}
	for i := range 1000 {
		k := key(src(uint64(i)))
		c.Insert(&k, 1, i)
	}
	hits := 0
	for i := range 1000 {
		k := key(src(uint64(i)))
		if v, ok := c.Lookup(&k, 1); ok {
			if v != i {
				t.Fatalf("key %d served value %d", i, v)
			}
			hits++
		}
	}
	if hits > 64 || hits == 0 {
		t.Fatalf("%d of 1000 keys cached in a 64-entry cache", hits)
	}
	if c.Stats().Evictions == 0 {
		t.Fatal("no evictions counted")
	}
	// The most recent insert is always present.
	k := key(src(999))
	if _, ok := c.Lookup(&k, 1); !ok {
		t.Fatal("most recent insert evicted")
	}
}

func TestCacheZeroAllocs(t *testing.T) {
	c := NewCache[*Rule[int]](DefaultCacheOptions())
	k := key(src(1), dst(2), tpDst(80))
	r := &Rule[int]{}
	c.Insert(&k, 5, r)
	if n := testing.AllocsPerRun(1000, func() {
		if v, ok := c.Lookup(&k, 5); !ok || v != r {
			t.Fatal("miss")
		}
	}); n != 0 {
		t.Fatalf("Lookup hit allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { c.Insert(&k, 6, r) }); n != 0 {
		t.Fatalf("Insert allocates %v times", n)
	}
}

func TestLookupZeroAllocs(t *testing.T) {
	ts := load(t, docExample(100)...)
	ts.Insert(0, rule(1, mt(), "miss"))
	tb := ts.Load().Table(0)
	for _, k := range []flow.Key{key(ipv4(), src(4), dst(5)), key(ipv4(), src(3), dst(5))} {
		var wc flow.Key
		if n := testing.AllocsPerRun(1000, func() { tb.Lookup(&k, &wc) }); n != 0 {
			t.Fatalf("Lookup allocates %v times", n)
		}
	}
}

// TestCacheNeverStale mutates the tables at random and checks that whatever the cache serves at
// the current generation equals a fresh lookup.
func TestCacheNeverStale(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	g := &ruleGen{r: r}
	ts := New[int](Options{HashSeed: 3})
	c := NewCache[*Rule[int]](CacheOptions{Entries: 32})
	served := 0
	for step := range 3000 {
		switch r.IntN(4) {
		case 0:
			ts.Replace(diffTable, g.rule())
		case 1:
			ts.Delete(diffTable, g.filter(nil), nil)
		case 2:
			tx := ts.Begin()
			tx.Modify(diffTable, g.filter(nil), nil, func(ru *Rule[int]) { ru.Payload = -step })
			tx.Commit()
		}
		for range 10 {
			k := g.key()
			s := ts.Load()
			want := s.Table(diffTable).Lookup(&k, nil)
			if got, ok := c.Lookup(&k, s.Gen()); ok {
				served++
				if got != want {
					t.Fatalf("step %d: cache served #%d, table says #%d", step, payloadOf(got), payloadOf(want))
				}
			} else {
				c.Insert(&k, s.Gen(), want)
			}
		}
	}
	if served == 0 {
		t.Fatal("the cache never served anything: the test proves nothing")
	}
	t.Logf("served %d cached results", served)
}
