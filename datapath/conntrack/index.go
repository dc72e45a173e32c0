package conntrack

// The index is an open-addressing hash table per shard, keyed by the connection keys'
// 64-bit hash: a slot holds the hash, the connection and which of its two keys the slot
// stands for, so a probe compares hashes and touches a connection's key only on a hash
// match. The low bits of the hash pick the shard, the high bits the slot. Deleted slots
// become tombstones until the next rehash. Readers hold the shard's read lock; writers hold
// the table's insert mutex and the shard's write lock.

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
}

func (x *index) pos(h uint64) uint64 { return h >> 20 }

// get finds k (with hash h).
func (x *index) get(h uint64, k *key) (entry, bool) {
	if len(x.slots) == 0 {
		return entry{}, false
	}
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
			return entry{c: s.c, reply: s.reply}, true
		}
	}
}

// put adds k (hash h) for e; k must not be present.
func (x *index) put(h uint64, e entry) {
	if (x.used+x.tombs+1)*4 > len(x.slots)*3 {
		x.rehash()
	}
	mask := uint64(len(x.slots) - 1)
	for i := x.pos(h) & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.c == nil {
			if s.h == tombstone {
				x.tombs--
			}
			*s = slot{h: h, c: e.c, reply: e.reply}
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
			return true
		}
	}
}

// rehash grows the table when more than half full of live slots, else rebuilds it at the
// same size to clear tombstones.
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
			x.put(s.h, entry{c: s.c, reply: s.reply})
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
