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
// as ^0 << n (OVS's arithmetic, so n=64 starts complete) and the id is complete at ^0.
type conjAcc struct {
	small [16]conjBits
	n     int
	big   map[uint32]uint64 // once more than len(small) ids were seen
}

type conjBits struct {
	id   uint32
	bits uint64
}

var bigAccPool = sync.Pool{New: func() any { return make(map[uint32]uint64) }}

func (a *conjAcc) reset() {
	a.n = 0
	if a.big != nil {
		clear(a.big)
	}
}

func (a *conjAcc) release() {
	if a.big != nil {
		clear(a.big)
		bigAccPool.Put(a.big)
		a.big = nil
	}
}

// add records clause (1-based) of conjunction id with n clauses and reports whether id is now
// complete.
func (a *conjAcc) add(id uint32, clause, n uint8) bool {
	bit := uint64(1) << (clause - 1)
	for i := 0; i < a.n; i++ {
		if a.small[i].id == id {
			a.small[i].bits |= bit
			return a.small[i].bits == ^uint64(0)
		}
	}
	if a.big != nil {
		if b, ok := a.big[id]; ok {
			b |= bit
			a.big[id] = b
			return b == ^uint64(0)
		}
	}
	b := ^uint64(0)<<(n&63) | bit
	if a.n < len(a.small) {
		a.small[a.n] = conjBits{id, b}
		a.n++
	} else {
		if a.big == nil {
			a.big = bigAccPool.Get().(map[uint32]uint64)
		}
		a.big[id] = b
	}
	return b == ^uint64(0)
}
