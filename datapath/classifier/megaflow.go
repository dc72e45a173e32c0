package classifier

import (
	"math/rand/v2"

	"github.com/sluicenet/sluice/datapath/flow"
)

// MegaflowCache caches values for whole regions of keys: an entry is a mask (the wildcards a
// lookup reported, see Table.Lookup) and the key's bits under it, and it answers for every key
// that agrees on those bits. A new TCP connection from a known client to a known service hits
// an entry made by an earlier connection whose verdict did not depend on the source port, which
// an exact-match Cache cannot do.
//
// It is a small tuple-space search of its own: one four-way set-associative table per distinct
// mask, visited most-hit first. It is bounded: at most MaxMasks masks of EntriesPerMask entries
// each; a new mask past the limit replaces the least-hit one. Entries are valid for one
// generation: the first Lookup or Insert with a newer generation empties the cache, so a table
// change can never be answered from it.
//
// Correctness rests on the caller: the mask given to Insert must cover every bit the value
// depends on (for a pipeline: the union of every table's wildcards and every field an action
// read). Overlapping entries are harmless, since each is right for all keys it covers.
//
// A MegaflowCache is not safe for concurrent use: one per packet goroutine. A hit does not
// allocate.
type MegaflowCache[V any] struct {
	masks []*megaMask[V] // by hits, most first (kept roughly sorted)
	gen   uint64
	opts  MegaflowOptions
	seed  uint64
	stats CacheStats
}

type megaMask[V any] struct {
	mask flow.Key
	maskWords
	hits    uint64
	tags    []uint64 // hash of each entry (0: empty)
	entries []megaEntry[V]
	tick    uint64
}

type megaEntry[V any] struct {
	tick uint64
	key  []uint64 // the key's words idx under the mask
	val  V
}

// MegaflowOptions configures a MegaflowCache.
type MegaflowOptions struct {
	MaxMasks       int // distinct masks kept (default 32)
	EntriesPerMask int // entries per mask, rounded up to a power of two (default 1024)
}

// DefaultMegaflowOptions returns 32 masks of 1024 entries.
func DefaultMegaflowOptions() MegaflowOptions {
	return MegaflowOptions{MaxMasks: 32, EntriesPerMask: 1024}
}

// NewMegaflowCache returns an empty cache.
func NewMegaflowCache[V any](opts MegaflowOptions) *MegaflowCache[V] {
	d := DefaultMegaflowOptions()
	if opts.MaxMasks <= 0 {
		opts.MaxMasks = d.MaxMasks
	}
	if opts.EntriesPerMask <= 0 {
		opts.EntriesPerMask = d.EntriesPerMask
	}
	opts.EntriesPerMask = max(cacheWays, pow2(opts.EntriesPerMask))
	return &MegaflowCache[V]{opts: opts, seed: rand.Uint64()}
}

// Stats returns the counters (Evictions counts masks pushed out).
func (c *MegaflowCache[V]) Stats() CacheStats { return c.stats }

// Masks returns the number of masks held.
func (c *MegaflowCache[V]) Masks() int { return len(c.masks) }

// Flush empties the cache.
func (c *MegaflowCache[V]) Flush() {
	clear(c.masks)
	c.masks = c.masks[:0]
}

func (c *MegaflowCache[V]) setGen(gen uint64) {
	if gen != c.gen {
		c.Flush()
		c.gen = gen
	}
}

// Lookup returns the value of an entry that covers k at generation gen.
func (c *MegaflowCache[V]) Lookup(k *flow.Key, gen uint64) (V, bool) {
	c.setGen(gen)
	for i, m := range c.masks {
		h := m.hash(k, c.seed) | 1 // 0 marks an empty entry
		base := h & uint64(len(m.tags)-1) &^ (cacheWays - 1)
		for w := range uint64(cacheWays) {
			if m.tags[base+w] != h {
				continue
			}
			e := &m.entries[base+w]
			if !m.covers(k, e.key) {
				continue
			}
			m.hits++
			if i > 0 && m.hits > c.masks[i-1].hits {
				c.masks[i-1], c.masks[i] = m, c.masks[i-1]
			}
			c.stats.Hits++
			return e.val, true
		}
	}
	c.stats.Misses++
	var zero V
	return zero, false
}

func (m *megaMask[V]) covers(k *flow.Key, key []uint64) bool {
	for j, w := range m.idx {
		if k.W[w]&m.mw[j] != key[j] {
			return false
		}
	}
	return true
}

// Insert caches v for every key that agrees with k on mask, at generation gen.
func (c *MegaflowCache[V]) Insert(k *flow.Key, mask *flow.Key, gen uint64, v V) {
	c.setGen(gen)
	m := c.maskFor(mask)
	h := m.hash(k, c.seed) | 1
	base := h & uint64(len(m.tags)-1) &^ (cacheWays - 1)
	victim := m.victim(k, h, base)
	i := base + uint64(victim)
	e := &m.entries[i]
	if e.key == nil {
		e.key = make([]uint64, len(m.idx))
	}
	for j, w := range m.idx {
		e.key[j] = k.W[w] & m.mw[j]
	}
	m.tick++
	m.tags[i], e.tick, e.val = h, m.tick, v
	c.stats.Inserts++
}

// victim picks the way of set base for k: its own entry, else an empty one, else the oldest.
func (m *megaMask[V]) victim(k *flow.Key, h, base uint64) int {
	for w := range cacheWays {
		if i := base + uint64(w); m.tags[i] == h && m.covers(k, m.entries[i].key) {
			return w
		}
	}
	oldest := 0
	for w := range cacheWays {
		i := base + uint64(w)
		if m.tags[i] == 0 {
			return w
		}
		if m.entries[i].tick < m.entries[base+uint64(oldest)].tick {
			oldest = w
		}
	}
	return oldest
}

// maskFor returns the table for mask, creating it (and evicting the least-hit one) if needed.
func (c *MegaflowCache[V]) maskFor(mask *flow.Key) *megaMask[V] {
	for _, m := range c.masks {
		if m.mask == *mask {
			return m
		}
	}
	m := &megaMask[V]{
		mask:      *mask,
		maskWords: newMaskWords(mask),
		tags:      make([]uint64, c.opts.EntriesPerMask),
		entries:   make([]megaEntry[V], c.opts.EntriesPerMask),
	}
	if len(c.masks) >= c.opts.MaxMasks {
		// The list is roughly sorted by hits: replace the last.
		c.masks[len(c.masks)-1] = m
		c.stats.Evictions++
		return m
	}
	c.masks = append(c.masks, m)
	return m
}
