package classifier

import (
	"sync"

	"github.com/sluicenet/sluice/datapath/flow"
)

// softMatch is a bucket whose current flow (rules[i]) is a clause flow that matched; a nil
// rules marks an entry to drop.
type softMatch[P any] struct {
	rules []*Rule[P]
	i     int
}

func (m *softMatch[P]) cur() *Rule[P] { return m.rules[m.i] }

// resolve finishes a lookup that found clause flows above the best ordinary flow hard (or nil).
// soft holds the matching buckets whose highest-priority flow is a clause flow, in subtable
// order. This is OVS's soft-match loop (classifier_lookup__) step by step, including its order
// of entries, which decides between conjunctions that complete at the same priority.
func (t *Table[P]) resolve(k *flow.Key, wc *flow.Key, hard *Rule[P], soft []softMatch[P]) (*Rule[P], uint32, bool) {
	var acc conjAcc
	defer acc.release()
	for {
		// Drop finished entries and those that cannot beat hard (swapping in the last one,
		// as OVS does: it changes the order of what follows).
		for i := 0; i < len(soft); {
			if soft[i].rules == nil || hard != nil && soft[i].cur().Priority <= hard.Priority {
				soft[i] = soft[len(soft)-1]
				soft = soft[:len(soft)-1]
			} else {
				i++
			}
		}
		if len(soft) == 0 {
			break
		}
		pri, n := -1, 0
		for i := range soft {
			switch p := int(soft[i].cur().Priority); {
			case p > pri:
				pri, n = p, 1
			case p == pri:
				n++
			}
		}
		acc.reset()
		for i := range soft {
			if s := soft[i].cur(); int(s.Priority) == pri {
				if r, id, ok := t.conjunctive(k, wc, s, n, &acc); ok {
					return r, id, true
				}
			}
		}
		// Nothing at this priority: fall back to the next flow with the identical match.
		for i := range soft {
			e := &soft[i]
			if int(e.cur().Priority) != pri {
				continue
			}
			if e.i+1 == len(e.rules) {
				e.rules = nil
				continue
			}
			e.i++
			if c := e.cur(); !c.IsClause() {
				if hard == nil || c.Priority > hard.Priority {
					hard = c
				}
				e.rules = nil
			}
		}
	}
	return hard, 0, false
}

// conjunctive records clause flow s's conjunctions (OVS's find_conjunctive_match, with n clause
// flows matched at this priority) and, when one completes, returns what the second lookup with
// conj_id set finds. After a completion the rest of s's conjunctions are not counted.
func (t *Table[P]) conjunctive(k *flow.Key, wc *flow.Key, s *Rule[P], n int, acc *conjAcc) (*Rule[P], uint32, bool) {
	if n < int(s.minN) {
		return nil, 0, false
	}
	for _, c := range s.Conj {
		if int(c.NClauses) > n {
			continue
		}
		if !acc.add(c.ID, c.Clause, c.NClauses) {
			continue
		}
		kk := *k
		kk.Set(flow.FieldConjID, uint64(c.ID))
		if r, _, _ := t.search(&kk, wc, nil, false); r != nil {
			return r, c.ID, true
		}
		return nil, 0, false
	}
	return nil, 0, false
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
