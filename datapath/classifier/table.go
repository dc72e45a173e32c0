package classifier

import (
	"iter"

	"github.com/sluicenet/sluice/datapath/flow"
)

// Table is one flow table as of one Snapshot. It is immutable and safe for concurrent lookups.
// A nil *Table is an empty table.
type Table[P any] struct {
	owner  uint64                    // transaction that may still mutate it (0: published)
	subs   []*subtable[P]            // non-empty subtables by maxPri descending (set at commit)
	byMask map[flow.Key]*subtable[P] // every non-empty subtable, by mask
	rules  int
}

// subtable holds every rule of a table that has one mask.
type subtable[P any] struct {
	owner    uint64
	id       uint64   // creation order, to order subtables of equal maxPri deterministically
	mask     flow.Key // the full mask
	idx      []uint8  // words the mask touches
	mw       []uint64 // mask.W[idx[j]]
	seed     uint64
	hashMask uint64 // ^0 normally; tests narrow it to force collisions

	maxPri   int // highest priority of any rule here
	nMax     int // rules at maxPri
	nRules   int
	nBuckets int
	shift    uint // shard index is hash >> shift
	shards   []*shard[P]
}

// shard is an open-addressing hash table (linear probing) of buckets.
type shard[P any] struct {
	owner uint64
	n     int
	slots []slot[P] // power-of-two length, load at most 3/4
}

// slot is one bucket: the rules with one exact match, by priority descending (nil: empty slot).
type slot[P any] struct {
	hash  uint64
	rules []*Rule[P]
}

const (
	shardMaxBuckets = 256 // split a subtable's shards when they average more buckets than this
	minSlots        = 8
)

func (st *subtable[P]) hash(k *flow.Key) uint64 {
	h := st.seed
	for j, w := range st.idx {
		h ^= k.W[w] & st.mw[j]
		h *= 0x9e3779b97f4a7c15
		h ^= h >> 32
	}
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return h & st.hashMask
}

// equal reports whether k, masked by the subtable's mask, equals the (masked) key of r.
func (st *subtable[P]) equal(k *flow.Key, r *Rule[P]) bool {
	for j, w := range st.idx {
		if k.W[w]&st.mw[j] != r.Match.Key.W[w] {
			return false
		}
	}
	return true
}

// find returns the bucket that matches k, or nil.
func (st *subtable[P]) find(k *flow.Key) []*Rule[P] {
	h := st.hash(k)
	sh := st.shards[h>>st.shift]
	m := uint64(len(sh.slots) - 1)
	for i := h & m; ; i = (i + 1) & m {
		s := &sh.slots[i]
		if s.rules == nil {
			return nil
		}
		if s.hash == h && st.equal(k, s.rules[0]) {
			return s.rules
		}
	}
}

func (st *subtable[P]) unwildcard(wc *flow.Key) {
	for j, w := range st.idx {
		wc.W[w] |= st.mw[j]
	}
}

// Len returns the number of flows in the table.
func (t *Table[P]) Len() int {
	if t == nil {
		return 0
	}
	return t.rules
}

// Subtables returns the number of distinct masks in the table.
func (t *Table[P]) Subtables() int {
	if t == nil {
		return 0
	}
	return len(t.subs)
}

// All yields every flow of the table, highest-priority subtable first (the order within is
// unspecified).
func (t *Table[P]) All() iter.Seq[*Rule[P]] {
	return func(yield func(*Rule[P]) bool) {
		if t == nil {
			return
		}
		for _, st := range t.subs {
			for _, sh := range st.shards {
				for _, s := range sh.slots {
					for _, r := range s.rules {
						if !yield(r) {
							return
						}
					}
				}
			}
		}
	}
}

// Select yields the flows f selects (for dumps and statistics requests).
func (t *Table[P]) Select(f Filter) iter.Seq[*Rule[P]] {
	return func(yield func(*Rule[P]) bool) {
		if t == nil {
			return
		}
		if f.Strict {
			if r := t.Find(&f.Match, f.Priority); r != nil && f.Selects(&r.Match, r.Priority, r.Cookie) {
				yield(r)
			}
			return
		}
		for _, st := range t.subs {
			if !subsumes(&f.Match, &st.mask) {
				continue
			}
			for _, sh := range st.shards {
				for _, s := range sh.slots {
					for _, r := range s.rules {
						if f.Selects(&r.Match, r.Priority, r.Cookie) && !yield(r) {
							return
						}
					}
				}
			}
		}
	}
}

// Find returns the flow with exactly match m and priority, or nil.
func (t *Table[P]) Find(m *flow.Match, priority uint16) *Rule[P] {
	if t == nil {
		return nil
	}
	st := t.byMask[m.Mask]
	if st == nil {
		return nil
	}
	key := m.Key
	key.And(&m.Mask)
	for _, r := range st.find(&key) {
		if r.Priority == priority {
			return r
		}
	}
	return nil
}

// Lookup returns the flow that matches packet key k, with OVS's semantics including conjunctive
// matches, or nil when none does. If wc is not nil, the masks of every subtable the lookup
// consulted are OR'ed into it: the result is the same for every key that agrees with k on wc's
// bits (the megaflow mask).
func (t *Table[P]) Lookup(k *flow.Key, wc *flow.Key) *Rule[P] {
	r, _, _ := t.LookupConj(k, wc)
	return r
}

// LookupConj is Lookup that also says whether the flow was found through a conjunctive match,
// and the conjunction id that matched (for traces).
func (t *Table[P]) LookupConj(k *flow.Key, wc *flow.Key) (r *Rule[P], conjID uint32, viaConj bool) {
	if t == nil {
		return nil, 0, false
	}
	var buf [16]*Rule[P]
	soft := buf[:0]
	var hard *Rule[P]
	for _, st := range t.subs {
		if hard != nil && st.maxPri < int(hard.Priority) {
			break
		}
		if wc != nil {
			st.unwildcard(wc)
		}
		rules := st.find(k)
		// Walk the bucket down to its first ordinary flow: clause flows above the best
		// ordinary flow are candidates, ordinary flows below it cannot win.
		for _, c := range rules {
			if hard != nil && c.Priority <= hard.Priority {
				if c.Priority == hard.Priority && !c.IsClause() && c.seq < hard.seq {
					hard = c
				}
				break
			}
			if !c.IsClause() {
				hard = c
				break
			}
			soft = append(soft, c)
		}
	}
	if len(soft) == 0 {
		return hard, 0, false
	}
	return t.resolve(k, wc, hard, soft)
}

// lookupHard is the second lookup after a conjunction completed: ordinary flows only, and a
// bucket whose highest-priority flow is a clause flow hides the whole bucket (as in OVS).
func (t *Table[P]) lookupHard(k *flow.Key, wc *flow.Key) *Rule[P] {
	var hard *Rule[P]
	for _, st := range t.subs {
		if hard != nil && st.maxPri < int(hard.Priority) {
			break
		}
		if wc != nil {
			st.unwildcard(wc)
		}
		rules := st.find(k)
		if rules == nil || rules[0].IsClause() {
			continue
		}
		if c := rules[0]; hard == nil || better(c, hard) {
			hard = c
		}
	}
	return hard
}
