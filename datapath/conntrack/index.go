package conntrack

// The index is an open-addressing hash table per shard, keyed by the connection keys'
// 64-bit hash: a slot holds the hash, the connection and which of its two keys the slot
// stands for, so a probe compares hashes and touches a connection's key only on a hash
// match. The low bits of the hash pick the shard, the high bits the slot. Deleted slots
// become tombstones until the next rehash. Readers hold the shard's read lock; writers hold
// the table's insert mutex and the shard's write lock.
//
// A key may be held by more than one connection, as in OVS: a commit whose reply tuple is
// already another connection's still goes in, and the newest live holder wins lookups (OVS
// puts the newest node first in its hash chain). Such duplicates are rare, so the index
// counts them and only a shard that has some pays for scanning a whole probe chain.

const tombstone = 1 // slot.h of a deleted slot (slot.c is nil); an empty slot is all zero

type slot struct {
	h     uint64
	c     *conn
	reply bool
}

type index struct {
	slots []slot
	used  int // live slots
	tombs int // deleted slots
	dups  int // slots whose key another slot also holds, counted once per extra holder
}

func (x *index) pos(h uint64) uint64 { return h >> 20 }

// match calls fn for every slot holding k (hash h), in probe order, until fn returns false.
func (x *index) match(h uint64, k *key, fn func(entry) bool) {
	if len(x.slots) == 0 {
		return
	}
	mask := uint64(len(x.slots) - 1)
	for i := x.pos(h) & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.c == nil {
			if s.h == 0 {
				return
			}
			continue
		}
		if s.h == h && s.c.keys[dirIndex(s.reply)] == *k && !fn(entry{c: s.c, reply: s.reply}) {
			return
		}
	}
}

// anyTime makes get accept expired holders too.
const anyTime = -1 << 63

// get returns the holder of k (hash h) that lookups at time now see: with no duplicates in
// the shard the first one found (if live), else the newest live one. now == anyTime accepts
// expired holders.
func (x *index) get(h uint64, k *key, now int64) (entry, bool) {
	if len(x.slots) == 0 {
		return entry{}, false
	}
	if x.dups == 0 {
		mask := uint64(len(x.slots) - 1)
		for i := x.pos(h) & mask; ; i = (i + 1) & mask {
			s := &x.slots[i]
			if s.c == nil {
				if s.h == 0 {
					return entry{}, false
				}
				continue
			}
			if s.h == h && s.c.keys[dirIndex(s.reply)] == *k {
				return entry{c: s.c, reply: s.reply}, now == anyTime || live(s.c, now)
			}
		}
	}
	var best entry
	found := false
	x.match(h, k, func(e entry) bool {
		if (now == anyTime || live(e.c, now)) && (!found || e.c.seq > best.c.seq) {
			best, found = e, true
		}
		return true
	})
	return best, found
}

// put adds a slot for k (hash h) held by e.
func (x *index) put(h uint64, k *key, e entry) {
	if (x.used+x.tombs+1)*4 > len(x.slots)*3 {
		x.rehash()
	}
	if _, ok := x.get(h, k, anyTime); ok {
		x.dups++
	}
	x.putSlot(slot{h: h, c: e.c, reply: e.reply})
}

func (x *index) putSlot(n slot) {
	mask := uint64(len(x.slots) - 1)
	for i := x.pos(n.h) & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.c == nil {
			if s.h == tombstone {
				x.tombs--
			}
			*s = n
			x.used++
			return
		}
	}
}

// del removes the slot for c's key in direction reply (hash h), if present.
func (x *index) del(h uint64, c *conn, reply bool) bool {
	if len(x.slots) == 0 {
		return false
	}
	mask := uint64(len(x.slots) - 1)
	for i := x.pos(h) & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.c == nil {
			if s.h == 0 {
				return false
			}
			continue
		}
		if s.c == c && s.reply == reply {
			*s = slot{h: tombstone}
			x.used--
			x.tombs++
			if x.dups > 0 {
				if _, ok := x.get(h, &c.keys[dirIndex(reply)], anyTime); ok {
					x.dups-- // another holder remains: one duplicate fewer
				}
			}
			return true
		}
	}
}

// rehash grows the table when more than half full of live slots, else rebuilds it at the
// same size to clear tombstones. Probe order among duplicates may change; get does not
// depend on it.
func (x *index) rehash() {
	n := max(len(x.slots), 16)
	if (x.used+1)*2 > n {
		n *= 2
	}
	old := x.slots
	x.slots = make([]slot, n)
	x.used, x.tombs = 0, 0
	for _, s := range old {
		if s.c != nil {
			x.putSlot(s)
		}
	}
}

// each calls fn for every live slot.
func (x *index) each(fn func(entry)) {
	for _, s := range x.slots {
		if s.c != nil {
			fn(entry{c: s.c, reply: s.reply})
		}
	}
}
