package conntrack

import (
	"context"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// conn is one tracked connection. keys, nat and zone never change once the connection is
// in the index; the rest is guarded by mu, except expires (atomic, so lookups and the
// sweeper can test it without the lock).
type conn struct {
	keys [2]key // original, reply
	nat  NATKind
	seq  uint64 // commit order: the newest holder of a shared key wins lookups

	expires atomic.Int64 // clock value at which the connection is idle-expired; 0 once removed
	removed atomic.Bool  // set once, by whoever takes the connection out of the index

	mu      sync.Mutex
	tm      tmClass
	other   uint8 // otherFirst/Multiple/Bidir or icmpFirst/Reply
	tcp     [2]tcpPeer
	mark    uint32
	label   Label
	packets [2]uint64
	bytes   [2]uint64
	created int64
}

// "other" and ICMP states (OVS's OTHERS_* and ICMPS_*).
const (
	otherFirst uint8 = iota
	otherMultiple
	otherBidir
)

type entry struct {
	c     *conn
	reply bool
}

type shard struct {
	mu sync.RWMutex
	x  index
	_  [64]byte // 128 bytes a shard: neighbouring shards' locks stay off one cache line
}

// Table is a connection tracker: every zone's connections, their NAT bindings and timers.
// Its methods may be called concurrently.
type Table struct {
	opts     Options
	timeouts [numTM]int64
	seed     uint64
	clock    func() time.Duration
	shards   []shard
	mask     uint64

	// mu serialises every change to the index (commits, removals), so that a commit sees
	// a consistent index across shards. Holders may read shard maps without shard locks.
	mu         sync.Mutex
	seq        uint64 // commits so far, under mu: orders a key's holders
	n          atomic.Int64
	zoneN      map[uint16]int // connections per zone, under mu
	zoneLimits map[uint16]int // under mu

	stats [numCounters]atomic.Uint64
}

// Counter names one of the table's event counters.
type Counter int

// Counters.
const (
	CounterCommitted    Counter = iota // connections committed
	CounterFull                        // commits refused: table full
	CounterNATExhausted                // commits refused: no free NAT tuple
	CounterNATInvalid                  // commits refused: NAT range unusable for the packet
	CounterTupleClash                  // commits whose reply tuple shadows another connection's
	CounterZoneFull                    // commits refused: zone limit
	CounterInvalid                     // packets given +inv
	CounterExpired                     // connections removed by Sweep
	CounterFlushed                     // connections removed by Flush
	numCounters
)

var counterNames = [numCounters]string{"committed", "full", "nat_exhausted", "nat_invalid",
	"tuple_clash", "zone_full", "invalid", "expired", "flushed"}

// String names the counter.
func (c Counter) String() string {
	if c >= 0 && c < numCounters {
		return counterNames[c]
	}
	return "unknown"
}

// New returns an empty table. Zero fields of opts take DefaultOptions' values.
func New(opts Options) *Table {
	def := DefaultOptions()
	if opts.MaxConns <= 0 {
		opts.MaxConns = def.MaxConns
	}
	tos, defTos := opts.Timeouts.array(), def.Timeouts.array()
	for i := range tos {
		if tos[i] <= 0 {
			tos[i] = defTos[i]
		}
		tos[i] = min(tos[i], int64(100*365*24*time.Hour)) // no overflow when added to the clock
	}
	if opts.Shards <= 0 {
		opts.Shards = def.Shards
	}
	ns := 1 << bits.Len(uint(opts.Shards-1))
	zl := make(map[uint16]int, len(opts.ZoneLimits))
	for z, l := range opts.ZoneLimits {
		zl[z] = l
	}
	opts.ZoneLimits = nil
	t := &Table{opts: opts, zoneN: make(map[uint16]int), zoneLimits: zl, timeouts: tos, seed: opts.Seed, shards: make([]shard, ns), mask: uint64(ns - 1)}
	if t.seed == 0 {
		t.seed = rand.Uint64() | 1
	}
	t.clock = opts.Clock
	if t.clock == nil {
		start := time.Now()
		t.clock = func() time.Duration { return time.Since(start) }
	}
	return t
}

// Len returns the number of connections in the table, including expired ones Sweep has not
// removed yet.
func (t *Table) Len() int { return int(t.n.Load()) }

// Counter returns the current value of one counter.
func (t *Table) Counter(c Counter) uint64 {
	if c < 0 || c >= numCounters {
		return 0
	}
	return t.stats[c].Load()
}

func (t *Table) count(c Counter) { t.stats[c].Add(1) }

// now reads the clock; +1 keeps it positive, since an expiry of 0 marks a removed connection.
func (t *Table) now() int64 { return int64(t.clock()) + 1 }

func (t *Table) shardOf(k *key) (*shard, uint64) {
	h := k.hash(t.seed)
	return &t.shards[h&t.mask], h
}

func live(c *conn, now int64) bool { return now < c.expires.Load() }

// lookup finds the live connection k belongs to and whether k is its reply key.
func (t *Table) lookup(k *key, now int64) (*conn, bool) {
	s, h := t.shardOf(k)
	s.mu.RLock()
	e, ok := s.x.get(h, k, now)
	s.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return e.c, e.reply
}

// lookupLocked is lookup for a holder of t.mu.
func (t *Table) lookupLocked(k *key, now int64) *conn {
	s, h := t.shardOf(k)
	e, ok := s.x.get(h, k, now)
	if !ok {
		return nil
	}
	return e.c
}

// evictDeadLocked removes the expired connections that hold k.
func (t *Table) evictDeadLocked(k *key, now int64) {
	s, h := t.shardOf(k)
	var dead []*conn
	s.x.match(h, k, func(e entry) bool {
		if !live(e.c, now) {
			dead = append(dead, e.c)
		}
		return true
	})
	t.removeAllLocked(dead)
}

// insertLocked puts c's keys into the index, evicting dead connections holding them. A live
// holder of c's reply key stays, shadowed by c (the newest holder wins, as in OVS).
func (t *Table) insertLocked(c *conn, now int64) {
	t.seq++
	c.seq = t.seq
	for dir := range 2 {
		k := &c.keys[dir]
		if dir == 1 && *k == c.keys[0] {
			break // a connection to itself: one key serves both ways
		}
		t.evictDeadLocked(k, now)
		s, h := t.shardOf(k)
		s.mu.Lock()
		s.x.put(h, k, entry{c: c, reply: dir == 1})
		s.mu.Unlock()
	}
	t.n.Add(1)
	t.zoneN[c.keys[0].zone]++
}

// removeLocked takes c out of the index; it reports false if it was already out.
func (t *Table) removeLocked(c *conn) bool {
	if !c.removed.CompareAndSwap(false, true) {
		return false
	}
	c.expires.Store(0)
	for dir := range 2 {
		k := &c.keys[dir]
		s, h := t.shardOf(k)
		s.mu.Lock()
		s.x.del(h, c, dir == 1)
		s.mu.Unlock()
	}
	t.n.Add(-1)
	z := c.keys[0].zone
	if t.zoneN[z]--; t.zoneN[z] == 0 {
		delete(t.zoneN, z)
	}
	return true
}

// removeAllLocked removes cs and returns how many were still in the index.
func (t *Table) removeAllLocked(cs []*conn) int {
	n := 0
	for _, c := range cs {
		if t.removeLocked(c) {
			n++
		}
	}
	return n
}

// SetZoneLimit caps zone at limit connections (0: only DefaultZoneLimit applies). Existing
// connections beyond a lowered cap stay; new ones are refused until the zone shrinks.
func (t *Table) SetZoneLimit(zone uint16, limit int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if limit <= 0 {
		delete(t.zoneLimits, zone)
		return
	}
	t.zoneLimits[zone] = limit
}

// ZoneLen returns the number of connections in zone.
func (t *Table) ZoneLen(zone uint16) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.zoneN[zone]
}

// zoneFullLocked reports whether zone is at its cap.
func (t *Table) zoneFullLocked(zone uint16) bool {
	limit, ok := t.zoneLimits[zone]
	if !ok {
		limit = t.opts.DefaultZoneLimit
	}
	return limit > 0 && t.zoneN[zone] >= limit
}

// expire makes c invisible to lookups at once; Sweep (or a commit of the same tuple) removes it.
func (t *Table) expire(c *conn) { c.expires.Store(0) }

func (t *Table) setTimeoutLocked(c *conn, tm tmClass, now int64) {
	c.tm = tm
	for {
		old := c.expires.Load()
		if old == 0 || c.expires.CompareAndSwap(old, now+t.timeouts[tm]) {
			return // 0: forced out or removed, stays dead
		}
	}
}

// Sweep removes connections whose idle timeout has passed and returns how many it removed.
// Call it periodically (every second or so): expired connections are already invisible to
// lookups but keep their slot until swept. It takes the insert lock one shard at a time.
func (t *Table) Sweep() int {
	now := t.now()
	var dead []*conn
	removed := 0
	for i := range t.shards {
		t.mu.Lock()
		dead = dead[:0]
		t.shards[i].x.each(func(e entry) {
			if !live(e.c, now) {
				dead = append(dead, e.c)
			}
		})
		removed += t.removeAllLocked(dead)
		t.mu.Unlock()
	}
	t.stats[CounterExpired].Add(uint64(removed))
	return removed
}

// SweepEvery calls Sweep every interval until ctx is done; run it on one goroutine per table.
func (t *Table) SweepEvery(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.Sweep()
		}
	}
}

// Stats is a snapshot of a table's size and counters, for metrics.
type Stats struct {
	Conns    int
	Counters map[string]uint64 // by Counter.String()
}

// Stats returns the current size and every counter.
func (t *Table) Stats() Stats {
	s := Stats{Conns: t.Len(), Counters: make(map[string]uint64, numCounters)}
	for c := range numCounters {
		s.Counters[c.String()] = t.Counter(c)
	}
	return s
}
