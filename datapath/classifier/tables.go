package classifier

import (
	"cmp"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sluicenet/sluice/datapath/flow"
)

// Options configures a Tables.
type Options struct {
	// HashSeed seeds the subtable hashes; 0 picks a random seed. Flows added by learn come from
	// packets, so an unpredictable seed keeps a sender from lining up hash collisions.
	HashSeed uint64

	// hashMask narrows every hash (tests force collisions with it); 0 means all bits.
	hashMask uint64
}

// DefaultOptions returns the options New uses for a zero Options: a random hash seed.
func DefaultOptions() Options { return Options{} }

// Tables is the set of flow tables of one bridge. Lookups go through Load and never block;
// changes go through a Transaction (or the one-change helpers, each its own transaction).
// Tables is safe for concurrent use.
type Tables[P any] struct {
	mu       sync.Mutex // held by the open Transaction
	cur      atomic.Pointer[Snapshot[P]]
	seed     uint64
	hashMask uint64
	nextTx   uint64 // guarded by mu
}

// Snapshot is every table of a Tables at one generation. It is immutable: a packet goroutine
// that loaded it can use it for as long as it likes.
type Snapshot[P any] struct {
	gen    uint64
	tables [NumTables]*Table[P]
}

// New returns empty tables at generation 1.
func New[P any](opts Options) *Tables[P] {
	ts := &Tables[P]{seed: opts.HashSeed, hashMask: opts.hashMask}
	if ts.seed == 0 {
		ts.seed = rand.Uint64() | 1
	}
	if ts.hashMask == 0 {
		ts.hashMask = ^uint64(0)
	}
	ts.cur.Store(&Snapshot[P]{gen: 1})
	return ts
}

// Load returns the current snapshot.
func (ts *Tables[P]) Load() *Snapshot[P] { return ts.cur.Load() }

// Gen returns the snapshot's generation. It increases by one with every commit that changed
// something and is never 0.
func (s *Snapshot[P]) Gen() uint64 { return s.gen }

// Table returns table id (an empty table is a nil *Table, which is valid).
func (s *Snapshot[P]) Table(id uint8) *Table[P] { return s.tables[id] }

// Len returns the number of flows in all tables.
func (s *Snapshot[P]) Len() int {
	n := 0
	for _, t := range s.tables {
		n += t.Len()
	}
	return n
}

// Transaction is a set of changes that becomes visible all at once on Commit. It holds the
// Tables' writer lock from Begin until Commit or Discard, one of which must be called. A
// Transaction is for one goroutine.
type Transaction[P any] struct {
	ts      *Tables[P]
	id      uint64
	base    *Snapshot[P]
	tables  [NumTables]*Table[P]
	changed bool
	done    bool
}

// Begin starts a transaction, waiting for any other writer to finish.
func (ts *Tables[P]) Begin() *Transaction[P] {
	ts.mu.Lock()
	ts.nextTx++
	base := ts.cur.Load()
	return &Transaction[P]{ts: ts, id: ts.nextTx, base: base, tables: base.tables}
}

// Commit publishes the changes as one new snapshot and returns it (the old snapshot if nothing
// changed).
func (tx *Transaction[P]) Commit() *Snapshot[P] {
	if tx.done {
		return tx.ts.cur.Load()
	}
	tx.done = true
	defer tx.ts.mu.Unlock()
	if !tx.changed {
		return tx.base
	}
	s := &Snapshot[P]{gen: tx.base.gen + 1}
	for i, t := range tx.tables {
		if t != nil && t.owner == tx.id {
			t.finish()
			if t.rules == 0 {
				t = nil
			}
		}
		s.tables[i] = t
	}
	tx.ts.cur.Store(s)
	return s
}

// Discard drops the changes.
func (tx *Transaction[P]) Discard() {
	if tx.done {
		return
	}
	tx.done = true
	tx.ts.mu.Unlock()
}

// Table returns the transaction's current (uncommitted) view of table id for reading with Find,
// All and Select. It must not be used for Lookup and not after the next change.
func (tx *Transaction[P]) Table(id uint8) *Table[P] {
	return tx.tables[id]
}

// finish re-sorts the subtables of a table the transaction owns by maximum priority, stably,
// starting from their previous order: new subtables were appended and removed ones replaced by
// the last, exactly as OVS's pvector does, so subtables of equal priority are visited in the
// same order as in ovs-vswitchd given the same sequence of flow_mods. Owner marks need no
// clearing: transaction ids are never reused.
func (t *Table[P]) finish() {
	slices.SortStableFunc(t.subs, func(a, b *subtable[P]) int { return cmp.Compare(b.maxPri, a.maxPri) })
}

// ownTable returns a copy of table id that this transaction may change.
func (tx *Transaction[P]) ownTable(id uint8) *Table[P] {
	t := tx.tables[id]
	if t != nil && t.owner == tx.id {
		return t
	}
	nt := &Table[P]{owner: tx.id}
	if t != nil {
		nt.byMask = maps.Clone(t.byMask)
		nt.rules = t.rules
		nt.subs = slices.Clone(t.subs)
	} else {
		nt.byMask = make(map[flow.Key]*subtable[P])
	}
	tx.tables[id] = nt
	return nt
}

// ownSub returns a copy of st that this transaction may change, installed in t.
func (tx *Transaction[P]) ownSub(t *Table[P], st *subtable[P]) *subtable[P] {
	if st.owner == tx.id {
		return st
	}
	n := *st
	n.owner = tx.id
	n.shards = slices.Clone(st.shards)
	t.byMask[st.mask] = &n
	t.subs[slices.Index(t.subs, st)] = &n
	return &n
}

// newSub creates an empty subtable for mask in t.
func (tx *Transaction[P]) newSub(t *Table[P], mask *flow.Key) *subtable[P] {
	st := &subtable[P]{
		owner:     tx.id,
		mask:      *mask,
		maskWords: newMaskWords(mask),
		seed:      tx.ts.seed,
		hashMask:  tx.ts.hashMask,
		maxPri:    -1,
		shift:     64,
		shards:    []*shard[P]{{owner: tx.id, slots: make([]slot[P], minSlots)}},
	}
	t.byMask[*mask] = st
	t.subs = append(t.subs, st)
	return st
}

// ownShard returns a copy of the shard for hash h that this transaction may change.
func (tx *Transaction[P]) ownShard(st *subtable[P], h uint64) *shard[P] {
	i := h >> st.shift
	sh := st.shards[i]
	if sh.owner == tx.id {
		return sh
	}
	n := &shard[P]{owner: tx.id, n: sh.n, slots: slices.Clone(sh.slots)}
	st.shards[i] = n
	return n
}

// slotIndex returns the slot of the bucket with rule r's match in sh, or the empty slot where it
// would go.
func (st *subtable[P]) slotIndex(sh *shard[P], h uint64, key *flow.Key) (int, bool) {
	m := uint64(len(sh.slots) - 1)
	for i := h & m; ; i = (i + 1) & m {
		s := &sh.slots[i]
		if s.rules == nil {
			return int(i), false
		}
		if s.hash == h && st.equal(key, s.rules[0]) {
			return int(i), true
		}
	}
}

// Insert adds r to table id. It fails with ErrExists if a flow with the same match and priority
// is there (use Replace to overwrite it). It returns the stored rule.
func (tx *Transaction[P]) Insert(id uint8, r Rule[P]) (*Rule[P], error) {
	nr, _, err := tx.put(id, r, false)
	return nr, err
}

// Replace adds r to table id, replacing the flow with the same match and priority if there is
// one (OFPFC_ADD). It returns the stored rule and the replaced one (or nil). The new rule takes
// the old one's place in its bucket, so ties resolve as before.
func (tx *Transaction[P]) Replace(id uint8, r Rule[P]) (nr, old *Rule[P], err error) {
	return tx.put(id, r, true)
}

func (tx *Transaction[P]) put(id uint8, r Rule[P], replace bool) (*Rule[P], *Rule[P], error) {
	if tx.done {
		return nil, nil, ErrDone
	}
	if err := r.validate(); err != nil {
		return nil, nil, err
	}
	if !replace {
		if tx.tables[id].Find(&r.Match, r.Priority) != nil {
			return nil, nil, ErrExists
		}
	}
	t := tx.ownTable(id)
	st := t.byMask[r.Match.Mask]
	if st == nil {
		st = tx.newSub(t, &r.Match.Mask)
	} else {
		st = tx.ownSub(t, st)
	}
	nr := new(Rule[P])
	*nr = r
	nr.Conj = slices.Clone(r.Conj)
	h := st.hash(&nr.Match.Key)
	sh := tx.ownShard(st, h)
	i, found := st.slotIndex(sh, h, &nr.Match.Key)
	tx.changed = true
	if found {
		old := sh.slots[i].rules
		for j, o := range old {
			if o.Priority == nr.Priority {
				rules := slices.Clone(old)
				rules[j] = nr
				sh.slots[i].rules = rules
				return nr, o, nil
			}
		}
		pos, _ := slices.BinarySearchFunc(old, nr.Priority, func(o *Rule[P], p uint16) int {
			return cmp.Compare(p, o.Priority)
		})
		sh.slots[i].rules = slices.Insert(slices.Clip(old), pos, nr)
	} else {
		sh.slots[i] = slot[P]{hash: h, rules: []*Rule[P]{nr}}
		sh.n++
		st.nBuckets++
		if sh.n*4 > len(sh.slots)*3 {
			sh.rehash(len(sh.slots) * 2)
		}
		if st.nBuckets > shardMaxBuckets*len(st.shards) {
			tx.reshard(st, len(st.shards)*2)
		}
	}
	st.nRules++
	t.rules++
	switch p := int(nr.Priority); {
	case p > st.maxPri:
		st.maxPri, st.nMax = p, 1
	case p == st.maxPri:
		st.nMax++
	}
	return nr, nil, nil
}

// rehash rebuilds an owned shard with n slots.
func (sh *shard[P]) rehash(n int) {
	old := sh.slots
	sh.slots = make([]slot[P], n)
	m := uint64(n - 1)
	for _, s := range old {
		if s.rules == nil {
			continue
		}
		i := s.hash & m
		for sh.slots[i].rules != nil {
			i = (i + 1) & m
		}
		sh.slots[i] = s
	}
}

// reshard spreads an owned subtable's buckets over n shards.
func (tx *Transaction[P]) reshard(st *subtable[P], n int) {
	shift := uint(64)
	for s := n; s > 1; s >>= 1 {
		shift--
	}
	shards := make([]*shard[P], n)
	per := max(minSlots, pow2(st.nBuckets/n*2))
	for i := range shards {
		shards[i] = &shard[P]{owner: tx.id, slots: make([]slot[P], per)}
	}
	for _, sh := range st.shards {
		for _, s := range sh.slots {
			if s.rules == nil {
				continue
			}
			d := shards[s.hash>>shift]
			if (d.n+1)*4 > len(d.slots)*3 {
				d.rehash(len(d.slots) * 2)
			}
			m := uint64(len(d.slots) - 1)
			i := s.hash & m
			for d.slots[i].rules != nil {
				i = (i + 1) & m
			}
			d.slots[i] = s
			d.n++
		}
	}
	st.shards, st.shift = shards, shift
}

func pow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// remove deletes rule r (which is in table t) and returns whether it was there.
func (tx *Transaction[P]) remove(t *Table[P], r *Rule[P]) bool {
	st := t.byMask[r.Match.Mask]
	if st == nil {
		return false
	}
	st = tx.ownSub(t, st)
	h := st.hash(&r.Match.Key)
	sh := tx.ownShard(st, h)
	i, found := st.slotIndex(sh, h, &r.Match.Key)
	if !found {
		return false
	}
	old := sh.slots[i].rules
	j := slices.Index(old, r)
	if j < 0 {
		return false
	}
	tx.changed = true
	if len(old) > 1 {
		sh.slots[i].rules = slices.Delete(slices.Clone(old), j, j+1)
	} else {
		sh.deleteSlot(i)
		st.nBuckets--
	}
	st.nRules--
	t.rules--
	if int(r.Priority) == st.maxPri {
		st.nMax--
		if st.nMax == 0 {
			st.recomputeMax()
		}
	}
	if st.nRules == 0 {
		delete(t.byMask, st.mask)
		i := slices.Index(t.subs, st)
		last := len(t.subs) - 1
		t.subs[i] = t.subs[last]
		t.subs[last] = nil
		t.subs = t.subs[:last]
	}
	return true
}

// deleteSlot empties slot i with backward-shift deletion, so probes need no tombstones.
func (sh *shard[P]) deleteSlot(i int) {
	m := len(sh.slots) - 1
	j := i
	for {
		j = (j + 1) & m
		s := sh.slots[j]
		if s.rules == nil {
			break
		}
		home := int(s.hash) & m
		// s may move to i only if its home is not cyclically within (i, j].
		if i <= j {
			if i < home && home <= j {
				continue
			}
		} else if i < home || home <= j {
			continue
		}
		sh.slots[i] = s
		i = j
	}
	sh.slots[i] = slot[P]{}
	sh.n--
}

func (st *subtable[P]) recomputeMax() {
	st.maxPri, st.nMax = -1, 0
	for _, sh := range st.shards {
		for _, s := range sh.slots {
			for _, r := range s.rules {
				switch p := int(r.Priority); {
				case p > st.maxPri:
					st.maxPri, st.nMax = p, 1
				case p == st.maxPri:
					st.nMax++
				}
			}
		}
	}
}

// selected returns the rules of table id that f (and where, if not nil) selects.
func (tx *Transaction[P]) selected(id uint8, f Filter, where func(*Rule[P]) bool) []*Rule[P] {
	var out []*Rule[P]
	for r := range tx.Table(id).Select(f) {
		if where == nil || where(r) {
			out = append(out, r)
		}
	}
	return out
}

// Delete removes the flows of table id that f selects and where (if not nil) accepts, and
// returns them (for flow-removed messages).
func (tx *Transaction[P]) Delete(id uint8, f Filter, where func(*Rule[P]) bool) []*Rule[P] {
	if tx.done {
		return nil
	}
	rules := tx.selected(id, f, where)
	if len(rules) == 0 {
		return nil
	}
	t := tx.ownTable(id)
	for _, r := range rules {
		tx.remove(t, r)
	}
	return rules
}

// DeleteRule removes exactly rule r (as returned by a lookup or Select) from table id and
// reports whether it was there (it may have been replaced or deleted meanwhile). Timeouts use it.
func (tx *Transaction[P]) DeleteRule(id uint8, r *Rule[P]) bool {
	if tx.done || tx.tables[id].Find(&r.Match, r.Priority) != r {
		return false
	}
	return tx.remove(tx.ownTable(id), r)
}

// Modify replaces every flow of table id that f selects and where (if not nil) accepts with a
// copy changed by update, and returns the new rules. update may change Payload, Cookie and Conj;
// changes to Match or Priority are ignored. If update
// leaves an invalid conjunction, that flow is left unchanged and the error is returned after
// the others were modified.
func (tx *Transaction[P]) Modify(id uint8, f Filter, where func(*Rule[P]) bool, update func(*Rule[P])) ([]*Rule[P], error) {
	if tx.done {
		return nil, ErrDone
	}
	var out []*Rule[P]
	var firstErr error
	for _, o := range tx.selected(id, f, where) {
		n := *o
		n.Conj = slices.Clone(o.Conj)
		update(&n)
		n.Match, n.Priority = o.Match, o.Priority
		nr, _, err := tx.put(id, n, true)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out = append(out, nr)
	}
	return out, firstErr
}

// Clear removes every flow of table id.
func (tx *Transaction[P]) Clear(id uint8) {
	if tx.done || tx.tables[id] == nil {
		return
	}
	tx.tables[id] = nil
	tx.changed = true
}

// Insert adds one flow in its own transaction (see Transaction.Insert).
func (ts *Tables[P]) Insert(id uint8, r Rule[P]) (*Rule[P], error) {
	tx := ts.Begin()
	nr, err := tx.Insert(id, r)
	tx.Commit()
	return nr, err
}

// Replace adds or replaces one flow in its own transaction (see Transaction.Replace).
func (ts *Tables[P]) Replace(id uint8, r Rule[P]) (nr, old *Rule[P], err error) {
	tx := ts.Begin()
	nr, old, err = tx.Replace(id, r)
	tx.Commit()
	return nr, old, err
}

// Delete removes flows in its own transaction (see Transaction.Delete).
func (ts *Tables[P]) Delete(id uint8, f Filter, where func(*Rule[P]) bool) []*Rule[P] {
	tx := ts.Begin()
	rules := tx.Delete(id, f, where)
	tx.Commit()
	return rules
}
