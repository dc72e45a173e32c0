package conntrack

import (
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
	m  map[key]entry
	_  [40]byte // keep neighbouring shards' locks off one cache line
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
	mu sync.Mutex
	n  atomic.Int64

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
	CounterTupleClash                  // commits refused: reply tuple already in use
	CounterInvalid                     // packets given +inv
	CounterExpired                     // connections removed by Sweep
	CounterFlushed                     // connections removed by Flush
	numCounters
)

var counterNames = [numCounters]string{"committed", "full", "nat_exhausted", "nat_invalid",
	"tuple_clash", "invalid", "expired", "flushed"}

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
	if opts.Timeouts == (Timeouts{}) {
		opts.Timeouts = def.Timeouts
	}
	if opts.Shards <= 0 {
		opts.Shards = def.Shards
	}
	ns := 1 << bits.Len(uint(opts.Shards-1))
	t := &Table{opts: opts, timeouts: opts.Timeouts.array(), seed: opts.Seed, shards: make([]shard, ns), mask: uint64(ns - 1)}
	if t.seed == 0 {
		t.seed = rand.Uint64() | 1
	}
	for i := range t.shards {
		t.shards[i].m = make(map[key]entry)
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

func (t *Table) now() int64 { return int64(t.clock()) }

func (t *Table) shardOf(k *key) *shard {
	return &t.shards[k.hash(t.seed)&t.mask]
}

func live(c *conn, now int64) bool { return now < c.expires.Load() }

// lookup finds the live connection k belongs to and whether k is its reply key.
func (t *Table) lookup(k *key, now int64) (*conn, bool) {
	s := t.shardOf(k)
	s.mu.RLock()
	e, ok := s.m[*k]
	s.mu.RUnlock()
	if !ok || !live(e.c, now) {
		return nil, false
	}
	return e.c, e.reply
}

// lookupLocked is lookup for a holder of t.mu.
func (t *Table) lookupLocked(k *key, now int64) *conn {
	e, ok := t.shardOf(k).m[*k]
	if !ok || !live(e.c, now) {
		return nil
	}
	return e.c
}

// insertLocked puts c's keys into the index, evicting dead connections holding them.
func (t *Table) insertLocked(c *conn) {
	for dir := range 2 {
		k := &c.keys[dir]
		if dir == 1 && *k == c.keys[0] {
			break // a connection to itself: one key serves both ways
		}
		s := t.shardOf(k)
		if old, ok := s.m[*k]; ok && old.c != c {
			t.removeLocked(old.c)
		}
		s.mu.Lock()
		s.m[*k] = entry{c: c, reply: dir == 1}
		s.mu.Unlock()
	}
	t.n.Add(1)
}

// removeLocked takes c out of the index; it reports false if it was already out.
func (t *Table) removeLocked(c *conn) bool {
	if !c.removed.CompareAndSwap(false, true) {
		return false
	}
	c.expires.Store(0)
	for dir := range 2 {
		k := &c.keys[dir]
		s := t.shardOf(k)
		if e, ok := s.m[*k]; ok && e.c == c {
			s.mu.Lock()
			delete(s.m, *k)
			s.mu.Unlock()
		}
	}
	t.n.Add(-1)
	return true
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
		for _, e := range t.shards[i].m {
			if !live(e.c, now) {
				dead = append(dead, e.c)
			}
		}
		for _, c := range dead {
			if t.removeLocked(c) {
				removed++
			}
		}
		t.mu.Unlock()
	}
	t.stats[CounterExpired].Add(uint64(removed))
	return removed
}
