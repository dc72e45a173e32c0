package classifier

import (
	"math/bits"
	"math/rand/v2"

	"github.com/sluicenet/sluice/datapath/flow"
)

// Cache is an exact-match cache from a whole flow.Key to a value V (a table's *Rule, or the
// executor's verdict for the whole pipeline). It is four-way set associative with a fixed number
// of entries, so it never grows; an insert into a full set evicts its oldest entry. The 64-bit
// hashes of a set sit together in one cache line, so a lookup reads that line and then only the
// entry whose hash matched.
//
// Every entry records the generation it was computed at (Snapshot.Gen). Lookup serves an entry
// only if that generation equals the caller's current one, so after any table change every
// older entry is dead at once: a stale verdict cannot be served. The caller must take the
// generation from the same snapshot it computes the value with.
//
// A Cache is not safe for concurrent use: give each packet goroutine its own (like OVS's per-PMD
// EMC). Lookup and Insert do not allocate.
type Cache[V any] struct {
	tags    []uint64 // hash of each entry (0: empty), cacheWays per set
	entries []cacheEntry[V]
	mask    uint64 // len(entries)-1
	seed    uint64
	tick    uint64
	stats   CacheStats
}

const cacheWays = 4

type cacheEntry[V any] struct {
	gen  uint64
	tick uint64 // insertion time, for eviction
	key  flow.Key
	val  V
}

// CacheOptions configures a Cache.
type CacheOptions struct {
	// Entries is the capacity, rounded up to a power of two (at least 4).
	Entries int
}

// DefaultCacheOptions returns 8192 entries (OVS's EMC size): about 2.2 MiB for a pointer-sized V.
func DefaultCacheOptions() CacheOptions { return CacheOptions{Entries: 8192} }

// CacheStats counts what a Cache did.
type CacheStats struct {
	Hits      uint64
	Misses    uint64
	Inserts   uint64
	Evictions uint64 // live entries (current generation) pushed out by an insert
}

// NewCache returns an empty cache.
func NewCache[V any](opts CacheOptions) *Cache[V] {
	n := max(cacheWays, pow2(opts.Entries))
	return &Cache[V]{
		tags:    make([]uint64, n),
		entries: make([]cacheEntry[V], n),
		mask:    uint64(n - 1),
		seed:    rand.Uint64(),
	}
}

// Len returns the capacity.
func (c *Cache[V]) Len() int { return len(c.entries) }

// Stats returns the counters.
func (c *Cache[V]) Stats() CacheStats { return c.stats }

func (c *Cache[V]) hash(k *flow.Key) uint64 {
	return hashKey(k, c.seed) | 1 // never 0, which marks an empty entry
}

// Lookup returns the value cached for k at generation gen (which must not be 0).
func (c *Cache[V]) Lookup(k *flow.Key, gen uint64) (V, bool) {
	h := c.hash(k)
	base := h & c.mask &^ (cacheWays - 1)
	tags := c.tags[base : base+cacheWays : base+cacheWays]
	for w, tag := range tags {
		if tag != h {
			continue
		}
		if e := &c.entries[base+uint64(w)]; e.gen == gen && e.key == *k {
			c.stats.Hits++
			return e.val, true
		}
	}
	c.stats.Misses++
	var zero V
	return zero, false
}

// Insert caches v for k at generation gen (which must not be 0).
func (c *Cache[V]) Insert(k *flow.Key, gen uint64, v V) {
	h := c.hash(k)
	base := h & c.mask &^ (cacheWays - 1)
	victim := c.victim(base, h, k, gen)
	i := base + uint64(victim)
	e := &c.entries[i]
	if e.gen == gen && c.tags[i] != h {
		c.stats.Evictions++
	}
	c.tick++
	c.stats.Inserts++
	c.tags[i] = h
	e.gen, e.tick, e.key, e.val = gen, c.tick, *k, v
}

// victim picks the way of set base for k: its own entry if present, else an entry not of
// generation gen (empty or stale), else the oldest.
func (c *Cache[V]) victim(base, h uint64, k *flow.Key, gen uint64) int {
	for w := range cacheWays {
		if c.tags[base+uint64(w)] == h && c.entries[base+uint64(w)].key == *k {
			return w
		}
	}
	oldest := 0
	for w := range cacheWays {
		e := &c.entries[base+uint64(w)]
		if e.gen != gen {
			return w
		}
		if e.tick < c.entries[base+uint64(oldest)].tick {
			oldest = w
		}
	}
	return oldest
}

// Flush empties the cache (dropping references to the cached values).
func (c *Cache[V]) Flush() {
	clear(c.tags)
	clear(c.entries)
}

// hashKey hashes all words of k in four independent lanes.
func hashKey(k *flow.Key, seed uint64) uint64 {
	const p1, p2 = 0x9e3779b97f4a7c15, 0xc2b2ae3d27d4eb4f
	a, b, c, d := seed, seed^p2, seed+p1, bits.RotateLeft64(seed, 17)
	w := &k.W
	for i := 0; i+4 <= flow.Words; i += 4 {
		a = bits.RotateLeft64((a^w[i])*p1, 29)
		b = bits.RotateLeft64((b^w[i+1])*p1, 29)
		c = bits.RotateLeft64((c^w[i+2])*p1, 29)
		d = bits.RotateLeft64((d^w[i+3])*p1, 29)
	}
	for i := flow.Words &^ 3; i < flow.Words; i++ {
		a = bits.RotateLeft64((a^w[i])*p2, 31)
	}
	h := a ^ bits.RotateLeft64(b, 16) ^ bits.RotateLeft64(c, 32) ^ bits.RotateLeft64(d, 48)
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
