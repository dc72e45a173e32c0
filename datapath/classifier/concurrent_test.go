package classifier

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentReadersSeeWholeBundles runs lookups on several goroutines while a writer
// replaces a whole "policy" (many flows in several tables) per transaction. Every flow of bundle
// b carries payload b, so a reader that ever sees two payloads within one snapshot, or a
// generation that goes backwards, saw a half-applied bundle.
func TestConcurrentReadersSeeWholeBundles(t *testing.T) {
	const (
		flowsPerTable = 50
		tables        = 3
		bundles       = 200
		readers       = 3
	)
	ts := New[int](Options{})
	install := func(b int) {
		tx := ts.Begin()
		for tb := range uint8(tables) {
			// Old flows go by cookie, new ones come at a priority that alternates, so a reader
			// that saw a partial bundle would find an old and a new flow for the same key.
			tx.Delete(tb, Filter{Cookie: uint64(b - 1), CookieMask: ^uint64(0)}, nil)
			for i := range flowsPerTable {
				ru := Rule[int]{Priority: uint16(100 + b%2), Match: mt(src(uint64(i))), Cookie: uint64(b), Payload: b}
				if _, err := tx.Insert(tb, ru); err != nil {
					t.Errorf("bundle %d: %v", b, err)
				}
			}
		}
		tx.Commit()
	}
	install(0)

	var stop atomic.Bool
	var wg sync.WaitGroup
	var checked atomic.Int64
	for range readers {
		wg.Go(func() {
			var lastGen uint64
			for !stop.Load() {
				s := ts.Load()
				if s.Gen() < lastGen {
					t.Errorf("generation went back from %d to %d", lastGen, s.Gen())
					return
				}
				lastGen = s.Gen()
				want := -1
				for tb := range uint8(tables) {
					if n := s.Table(tb).Len(); n != flowsPerTable {
						t.Errorf("gen %d table %d has %d flows, want %d", s.Gen(), tb, n, flowsPerTable)
						return
					}
					for i := range flowsPerTable {
						k := key(src(uint64(i)))
						r := s.Table(tb).Lookup(&k, nil)
						if r == nil {
							t.Errorf("gen %d table %d src %d: no flow", s.Gen(), tb, i)
							return
						}
						if want < 0 {
							want = r.Payload
						} else if r.Payload != want {
							t.Errorf("gen %d: flows of bundles %d and %d in one snapshot", s.Gen(), want, r.Payload)
							return
						}
					}
				}
				checked.Add(1)
			}
		})
	}
	for b := 1; b <= bundles; b++ {
		install(b)
	}
	stop.Store(true)
	wg.Wait()
	if got := ts.Load().Gen(); got != bundles+2 {
		t.Errorf("final generation %d, want %d", got, bundles+2)
	}
	t.Logf("%d snapshots checked", checked.Load())
}

// TestConcurrentWriters checks that transactions from several goroutines serialize.
func TestConcurrentWriters(t *testing.T) {
	ts := New[int](Options{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 100 {
				tx := ts.Begin()
				tx.Insert(0, Rule[int]{Priority: 1, Match: mt(src(uint64(w*1000 + i)))})
				tx.Commit()
			}
		})
	}
	wg.Wait()
	if s := ts.Load(); s.Len() != 400 || s.Gen() != 401 {
		t.Fatalf("%d flows at generation %d, want 400 at 401", s.Len(), s.Gen())
	}
}
