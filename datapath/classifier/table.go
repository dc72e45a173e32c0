package classifier

import (
	"iter"

	"github.com/sluicenet/sluice/datapath/flow"
)

// Table is one flow table as of one Snapshot. It is immutable and safe for concurrent lookups.
// A nil *Table is an empty table.
type Table[P any] struct {
	owner  uint64                    // the transaction that made this copy: only it may change it
	subs   []*subtable[P]            // non-empty subtables in OVS's pvector order (see finish)
	byMask map[flow.Key]*subtable[P] // every non-empty subtable, by mask
	rules  int
}

// subtable holds every rule of a table that has one mask.
type subtable[P any] struct {
	owner uint64
	mask  flow.Key // the full mask
	maskWords
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
	shardMaxBuckets = 128 // split a subtable's shards when they average more buckets than this
	minSlots        = 8
)

// maskWords is a mask as the list of words it touches and their values, so hashing and
// comparing a key under the mask reads only those words.
type maskWords struct {
	idx []uint8  // words the mask touches
	mw  []uint64 // mask.W[idx[j]]
}

func newMaskWords(mask *flow.Key) maskWords {
	var m maskWords
	for i, w := range mask.W {
		if w != 0 {
			m.idx = append(m.idx, uint8(i))
			m.mw = append(m.mw, w)
		}
	}
	return m
}

// hash hashes k under the mask.
func (m *maskWords) hash(k *flow.Key, seed uint64) uint64 {
	h := seed
	for j, w := range m.idx {
		h ^= k.W[w] & m.mw[j]
		h *= 0x9e3779b97f4a7c15
		h ^= h >> 32
	}
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return h
}

func (st *subtable[P]) hash(k *flow.Key) uint64 {
	return st.maskWords.hash(k, st.seed) & st.hashMask
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

// All yields every flow of the table, by subtable (highest priority first once committed); the
// order within a subtable is unspecified.
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
	var buf [16]softMatch[P]
	soft := buf[:0]
	hard, softMax, soft := t.search(k, wc, soft, true)
	if hard != nil && int(hard.Priority) >= softMax || len(soft) == 0 {
		return hard, 0, false
	}
	return t.resolve(k, wc, hard, soft)
}

// search is OVS's main lookup loop: it visits subtables by maximum priority until none can beat
// the best ordinary flow, and returns that flow. With allowConj, buckets whose highest-priority
// flow is a clause flow (and beats the best so far) are appended to soft and softMax is their
// highest priority; without (the second lookup, after a conjunction completed) such buckets are
// skipped whole, flows under the clause flow included, as in OVS.
func (t *Table[P]) search(k *flow.Key, wc *flow.Key, soft []softMatch[P], allowConj bool) (hard *Rule[P], softMax int, _ []softMatch[P]) {
	softMax = -1
	for _, st := range t.subs {
		if hard != nil && st.maxPri <= int(hard.Priority) {
			break
		}
		if wc != nil {
			st.unwildcard(wc)
		}
		rules := st.find(k)
		if rules == nil {
			continue
		}
		head := rules[0]
		switch {
		case hard != nil && head.Priority <= hard.Priority:
		case !head.IsClause():
			hard = head
		case allowConj:
			soft = append(soft, softMatch[P]{rules: rules})
			softMax = max(softMax, int(head.Priority))
		}
	}
	return hard, softMax, soft
}

// Overlaps reports whether some flow of the given priority could match a packet together with
// match m (OpenFlow's OFPFF_CHECK_OVERLAP test).
func (t *Table[P]) Overlaps(m *flow.Match, priority uint16) bool {
	if t == nil {
		return false
	}
	for _, st := range t.subs {
		if st.maxPri < int(priority) {
			continue // not break: a transaction's view is not sorted yet
		}
		for _, sh := range st.shards {
			for _, s := range sh.slots {
				for _, r := range s.rules {
					if r.Priority == priority && overlap(&r.Match, m) {
						return true
					}
				}
			}
		}
	}
	return false
}

// overlap reports whether a packet could match both a and b: they agree wherever both care.
func overlap(a, b *flow.Match) bool {
	for i := range a.Key.W {
		if (a.Key.W[i]^b.Key.W[i])&a.Mask.W[i]&b.Mask.W[i] != 0 {
			return false
		}
	}
	return true
}
