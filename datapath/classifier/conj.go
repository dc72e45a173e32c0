package classifier

import (
	"cmp"
	"slices"
	"sync"

	"github.com/sluicenet/sluice/datapath/flow"
)

// resolve finishes a lookup that found clause flows: soft holds every matching clause flow that
// may beat hard (the best ordinary flow, or nil). See the package comment for the algorithm.
func (t *Table[P]) resolve(k *flow.Key, wc *flow.Key, hard *Rule[P], soft []*Rule[P]) (*Rule[P], uint32, bool) {
	n := 0
	for _, s := range soft {
		if hard == nil || s.Priority > hard.Priority {
			soft[n] = s
			n++
		}
	}
	soft = soft[:n]
	if len(soft) == 0 {
		return hard, 0, false
	}
	sortSoft(soft)
	var acc conjAcc
	defer acc.release()
	for i := 0; i < len(soft); {
		j := i + 1
		for j < len(soft) && soft[j].Priority == soft[i].Priority {
			j++
		}
		if r, id, ok := t.resolveLevel(k, wc, soft[i:j], &acc); ok {
			return r, id, true
		}
		i = j
	}
	return hard, 0, false
}

// resolveLevel walks the clause flows of one priority, in insertion order, the way OVS's
// find_conjunctive_match does, and returns the flow the first completed conjunction leads to.
func (t *Table[P]) resolveLevel(k *flow.Key, wc *flow.Key, level []*Rule[P], acc *conjAcc) (*Rule[P], uint32, bool) {
	acc.reset()
	nl := len(level)
	for _, s := range level {
		if nl < int(s.minN) {
			continue
		}
		for _, c := range s.Conj {
			if int(c.NClauses) > nl {
				continue
			}
			if !acc.add(c.ID, c.Clause, c.NClauses) {
				continue
			}
			kk := *k
			kk.Set(flow.FieldConjID, uint64(c.ID))
			if r := t.lookupHard(&kk, wc); r != nil {
				return r, c.ID, true
			}
			// OVS stops looking at this flow's conjunctions once one completed.
			break
		}
	}
	return nil, 0, false
}

// sortSoft orders clause flows by priority descending, then insertion order.
func sortSoft[P any](s []*Rule[P]) {
	less := func(a, b *Rule[P]) int {
		if a.Priority != b.Priority {
			return cmp.Compare(b.Priority, a.Priority)
		}
		return cmp.Compare(a.seq, b.seq)
	}
	if len(s) <= 12 {
		for i := 1; i < len(s); i++ {
			for j := i; j > 0 && less(s[j], s[j-1]) < 0; j-- {
				s[j], s[j-1] = s[j-1], s[j]
			}
		}
		return
	}
	slices.SortFunc(s, less)
}

// conjAcc records, per conjunction id, which clauses have been seen at one priority. Bits start
// as ^0 << n (OVS's arithmetic, so n=64 starts complete) and the id is complete at ^0. Up to
// len(small) ids live in a stack array; beyond that a pooled open-addressing table takes over,
// emptied in O(1) by bumping its stamp.
type conjAcc struct {
	small [16]conjBits
	n     int
	big   *conjTable
}

type conjBits struct {
	id   uint32
	bits uint64
}

type conjTable struct {
	stamp uint32
	n     int
	slots []conjSlot // power of two
}

type conjSlot struct {
	stamp uint32 // slot is in use iff stamp == table stamp
	id    uint32
	bits  uint64
}

var conjTablePool = sync.Pool{New: func() any { return &conjTable{slots: make([]conjSlot, 64)} }}

func (a *conjAcc) reset() {
	a.n = 0
	if a.big != nil {
		a.big.reset()
	}
}

func (a *conjAcc) release() {
	if a.big != nil {
		conjTablePool.Put(a.big)
		a.big = nil
	}
}

func (t *conjTable) reset() {
	t.n = 0
	t.stamp++
	if t.stamp == 0 {
		clear(t.slots)
		t.stamp = 1
	}
}

// slot returns the entry for id, creating it with bits init if absent.
func (t *conjTable) slot(id uint32, init uint64) *conjSlot {
	if (t.n+1)*2 > len(t.slots) {
		t.grow()
	}
	m := uint32(len(t.slots) - 1)
	for i := (id * 0x9e3779b1) & m; ; i = (i + 1) & m {
		s := &t.slots[i]
		if s.stamp != t.stamp {
			*s = conjSlot{stamp: t.stamp, id: id, bits: init}
			t.n++
			return s
		}
		if s.id == id {
			return s
		}
	}
}

func (t *conjTable) grow() {
	old, stamp := t.slots, t.stamp
	t.slots = make([]conjSlot, len(old)*2)
	t.stamp, t.n = 1, 0
	for _, s := range old {
		if s.stamp == stamp {
			t.slot(s.id, s.bits)
		}
	}
}

// add records clause (1-based) of conjunction id with n clauses and reports whether id is now
// complete.
func (a *conjAcc) add(id uint32, clause, n uint8) bool {
	bit := uint64(1) << (clause - 1)
	init := ^uint64(0) << (n & 63)
	if a.big == nil {
		for i := 0; i < a.n; i++ {
			if a.small[i].id == id {
				a.small[i].bits |= bit
				return a.small[i].bits == ^uint64(0)
			}
		}
		if a.n < len(a.small) {
			a.small[a.n] = conjBits{id, init | bit}
			a.n++
			return init|bit == ^uint64(0)
		}
		a.big = conjTablePool.Get().(*conjTable)
		a.big.reset()
	}
	if a.n > 0 {
		// Move the small entries over once, so every id lives in one place.
		for _, e := range a.small[:a.n] {
			a.big.slot(e.id, e.bits)
		}
		a.n = 0
	}
	s := a.big.slot(id, init)
	s.bits |= bit
	return s.bits == ^uint64(0)
}
