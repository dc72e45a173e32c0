// Package ipam allocates pod IP addresses from the node's pod CIDRs (node.spec.podCIDRs) and keeps
// every allocation on disk so that no crash, restart or second process ever hands one address
// out twice.
//
// # Pools
//
// Each pod CIDR is a pool. The network address and the gateway (network+1, given to the node's
// gateway interface, see Gateway) are never allocated, nor is the IPv4 broadcast address. A pod
// gets one address per family present (dual-stack: one IPv4 and one IPv6); several CIDRs of one
// family are tried in order.
//
// # Keys and idempotency
//
// An allocation is keyed by (container ID, interface name), the identity CNI gives an attachment,
// and records the pod namespace and name. Allocate for a key that already holds an address of a
// family returns that address, so a retried CNI ADD gets the same IP; Release of an unknown key
// succeeds, so a retried DEL does too.
//
// # Persistence and locking
//
// The state directory holds one file per allocated address, named by the address. A file is
// written whole to a temporary name, fsynced, then link(2)ed to its final name (link fails if
// the name exists, the same exclusive-create guarantee the reference host-local plugin gets from
// O_EXCL, but never exposing a half-written file), and the directory is fsynced before Allocate
// returns. A crash at any point therefore leaves either no file (nothing was handed out) or a
// complete one (the address is held, at worst by an attachment whose ADD never returned: the one
// in-flight allocation, which the retried ADD gets back or GC releases). Orphaned temporary files
// are removed by the next directory read (after a crash, the next operation of any process).
// Every operation takes an exclusive flock(2) on the
// directory's lock file, so the agent and a CNI fallback sharing the directory serialise; within a
// process a mutex does the same. The lock file also holds a generation counter that every
// process advances, still under the lock, before it changes an allocation file: a process whose
// cached view carries the current generation skips re-reading the directory, any other re-reads
// it (advancing before the change means a writer that dies midway still forces the re-read).
//
// # Round-robin
//
// The search for a free address starts after the last address handed out in that family
// (recorded in last-ipv4/last-ipv6) rather than at the lowest address, so an address that was
// just released is not reused at once: a stale endpoint, conntrack entry or ARP cache for the old
// pod would otherwise reach the new one. The cursor is a hint; losing it only restarts the scan.
//
// # Garbage collection and pod CIDR changes
//
// GC releases every allocation whose attachment is no longer live (the agent asks the API server
// which pods exist) and every allocation outside the current pod CIDRs, which happens when the
// node is re-created with another podCIDR; the report lists both. A file that fails to parse keeps
// its address reserved and is reported, never guessed at.
package ipam

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
)

// Key identifies one network attachment: the CNI container ID and interface name.
type Key struct {
	ContainerID string
	IfName      string
}

// Pod names the pod that owns an allocation, for operators and for GC against the API server.
type Pod struct {
	Namespace string
	Name      string
}

// Allocation is one address held by one attachment.
type Allocation struct {
	IP   netip.Addr
	CIDR netip.Prefix // the pool it came from
	Key  Key
	Pod  Pod
}

// Lease is what Allocate returns for one family: the address, its pool and the pool's gateway.
type Lease struct {
	IP      netip.Addr
	CIDR    netip.Prefix
	Gateway netip.Addr
}

// ErrExhausted is wrapped by every ExhaustedError.
var ErrExhausted = errors.New("ip pool exhausted")

// ExhaustedError says that no address is free in any pod CIDR of one family.
type ExhaustedError struct {
	CIDRs []netip.Prefix
}

// Error names the exhausted CIDRs.
func (e *ExhaustedError) Error() string {
	s := make([]string, len(e.CIDRs))
	for i, c := range e.CIDRs {
		s[i] = c.String()
	}
	return fmt.Sprintf("ip pool exhausted: no free address in %s", strings.Join(s, ", "))
}

// Unwrap returns ErrExhausted.
func (e *ExhaustedError) Unwrap() error { return ErrExhausted }

// Options configures Open.
type Options struct {
	// StateDir holds the allocation files and the lock; created (0700) if missing. It must be on a
	// local file system that supports flock and link (e.g. /var/lib/sluice/ipam).
	StateDir string
	// CIDRs are the node's pod CIDRs (node.spec.podCIDRs), at least one.
	CIDRs []netip.Prefix
	// Logger receives the allocator's log; nil discards.
	Logger *slog.Logger
}

// DefaultOptions returns Options with StateDir /var/lib/sluice/ipam, no CIDRs (the caller sets
// them from the Node object) and no logger.
func DefaultOptions() Options {
	return Options{StateDir: "/var/lib/sluice/ipam"}
}

// Allocator hands out addresses from the pools. Its methods are safe for concurrent use, also
// across processes sharing StateDir.
type Allocator struct {
	dir   string
	log   *slog.Logger
	mu    sync.Mutex
	lock  *os.File
	pools []pool

	// cache is the state as of generation cacheGen of the lock file's counter; bumped marks that
	// this operation already advanced the counter. All three are guarded by mu and the flock.
	cache    *state
	cacheGen uint64
	bumped   bool

	// crashPoint is a test hook called between the steps of a durable write.
	crashPoint func(string)
}

// Open validates the CIDRs, creates the state directory and opens its lock file.
func Open(opts Options) (*Allocator, error) {
	if opts.StateDir == "" {
		return nil, errors.New("open ipam: empty state dir")
	}
	if len(opts.CIDRs) == 0 {
		return nil, errors.New("open ipam: no pod cidr")
	}
	al := &Allocator{dir: opts.StateDir, log: opts.Logger, crashPoint: func(string) {}}
	if al.log == nil {
		al.log = slog.New(slog.DiscardHandler)
	}
	for _, c := range opts.CIDRs {
		p, err := newPool(c)
		if err != nil {
			return nil, fmt.Errorf("open ipam: %w", err)
		}
		for _, q := range al.pools {
			if q.cidr.Overlaps(c) {
				return nil, fmt.Errorf("open ipam: pod cidrs %v and %v overlap", q.cidr, c)
			}
		}
		al.pools = append(al.pools, p)
	}
	if err := os.MkdirAll(al.dir, 0o700); err != nil {
		return nil, fmt.Errorf("open ipam: %w", err)
	}
	f, err := os.OpenFile(al.dir+"/"+lockName, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open ipam: %w", err)
	}
	al.lock = f
	return al, nil
}

// Close releases the lock file; allocations stay on disk.
func (al *Allocator) Close() error {
	return al.lock.Close()
}

// CIDRs returns the pod CIDRs the allocator serves.
func (al *Allocator) CIDRs() []netip.Prefix {
	out := make([]netip.Prefix, len(al.pools))
	for i, p := range al.pools {
		out[i] = p.cidr
	}
	return out
}

// locked runs fn holding the process mutex and the directory flock, with a fresh view of the state.
func (al *Allocator) locked(fn func(s *state) error) error {
	al.mu.Lock()
	defer al.mu.Unlock()
	if err := flock(al.lock); err != nil {
		return fmt.Errorf("lock %s: %w", al.lock.Name(), err)
	}
	defer funlock(al.lock)
	gen, err := al.readGenLocked()
	if err != nil {
		return err
	}
	al.bumped = false
	if al.cache == nil || gen != al.cacheGen {
		s, err := al.readStateLocked()
		if err != nil {
			return err
		}
		al.cache, al.cacheGen = s, gen
	}
	if err := fn(al.cache); err != nil {
		al.cache = nil // the disk may be ahead of or behind the cache: re-read next time
		return err
	}
	return nil
}

func checkKey(k Key, p Pod) error {
	for _, f := range []struct{ name, v string }{
		{"container id", k.ContainerID}, {"ifname", k.IfName},
		{"pod namespace", p.Namespace}, {"pod name", p.Name},
	} {
		if err := checkValue(f.name, f.v); err != nil {
			return err
		}
	}
	if k.ContainerID == "" || k.IfName == "" {
		return errors.New("empty container id or ifname")
	}
	return nil
}

// inPool returns the pool containing ip's usable range, or false.
func (al *Allocator) inPool(ip netip.Addr) (pool, bool) {
	for _, p := range al.pools {
		if p.usable(ip) {
			return p, true
		}
	}
	return pool{}, false
}

// Allocate returns one lease per family of the pod CIDRs for key, in the order of the CIDRs'
// families. An address key already holds in a current pool is returned again. If one family is
// exhausted, addresses newly taken for the other are given back and the error is an
// *ExhaustedError (errors.Is ErrExhausted).
func (al *Allocator) Allocate(key Key, pod Pod) ([]Lease, error) {
	if err := checkKey(key, pod); err != nil {
		return nil, fmt.Errorf("allocate: %w", err)
	}
	var leases []Lease
	err := al.locked(func(s *state) error {
		var fresh []netip.Addr
		for _, is4 := range al.families() {
			l, isNew, err := al.allocateFamilyLocked(s, key, pod, is4)
			if err != nil {
				for _, ip := range fresh {
					if rerr := al.removeAllocationLocked(s, ip); rerr != nil {
						err = errors.Join(err, rerr)
					}
				}
				return err
			}
			if isNew {
				fresh = append(fresh, l.IP)
			}
			leases = append(leases, l)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("allocate %s/%s: %w", key.ContainerID, key.IfName, err)
	}
	return leases, nil
}

// families lists the families of the pools in order of first appearance (true = IPv4).
func (al *Allocator) families() []bool {
	var fams []bool
	for _, p := range al.pools {
		if !slices.Contains(fams, p.cidr.Addr().Is4()) {
			fams = append(fams, p.cidr.Addr().Is4())
		}
	}
	return fams
}

func (al *Allocator) allocateFamilyLocked(s *state, key Key, pod Pod, is4 bool) (Lease, bool, error) {
	for ip, a := range s.byIP {
		if a.Key == key && ip.Is4() == is4 {
			if p, ok := al.inPool(ip); ok {
				return Lease{IP: ip, CIDR: p.cidr, Gateway: Gateway(p.cidr)}, false, nil
			}
		}
	}
	var pools []pool
	for _, p := range al.pools {
		if p.cidr.Addr().Is4() == is4 {
			pools = append(pools, p)
		}
	}
	// Start in the pool holding the cursor, just after it.
	start, cur := 0, netip.Addr{}
	if last, ok := s.last[is4]; ok {
		for i, p := range pools {
			if p.usable(last) {
				start, cur = i, last
			}
		}
	}
	for n := range len(pools) + 1 {
		p := pools[(start+n)%len(pools)]
		ip, ok := al.freeIn(s, p, cur)
		cur = netip.Addr{}
		if !ok {
			continue
		}
		a := Allocation{IP: ip, CIDR: p.cidr, Key: key, Pod: pod}
		if err := al.writeAllocationLocked(s, a); err != nil {
			return Lease{}, false, err
		}
		if err := al.writeLastLocked(ip); err != nil {
			al.log.Warn("round-robin cursor not saved", "err", err)
		}
		s.last[is4] = ip
		return Lease{IP: ip, CIDR: p.cidr, Gateway: Gateway(p.cidr)}, true, nil
	}
	e := &ExhaustedError{}
	for _, p := range pools {
		e.CIDRs = append(e.CIDRs, p.cidr)
	}
	return Lease{}, false, e
}

// freeIn returns the first free usable address of p after cur (or from p.first if cur is not in
// p). The scan is bounded: if fewer addresses of p are taken than it has, a free one is found
// within taken+1 steps.
func (al *Allocator) freeIn(s *state, p pool, cur netip.Addr) (netip.Addr, bool) {
	var taken uint64
	for ip := range s.byIP {
		if p.usable(ip) {
			taken++
		}
	}
	for ip := range s.corrupt {
		if p.usable(ip) {
			taken++
		}
	}
	if taken >= p.size {
		return netip.Addr{}, false
	}
	ip := p.first
	if p.usable(cur) {
		ip = p.next(cur)
	}
	for range taken + 1 {
		if !s.taken(ip) {
			return ip, true
		}
		ip = p.next(ip)
	}
	return netip.Addr{}, false // unreachable unless the count is wrong
}

// Release gives back every address key holds. Releasing an unknown key succeeds.
func (al *Allocator) Release(key Key) error {
	err := al.locked(func(s *state) error {
		for ip, a := range s.byIP {
			if a.Key == key {
				if err := al.removeAllocationLocked(s, ip); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("release %s/%s: %w", key.ContainerID, key.IfName, err)
	}
	return nil
}

// List returns every parsed allocation sorted by address, and the errors of files that do not
// parse (each names its file).
func (al *Allocator) List() ([]Allocation, []error, error) {
	var out []Allocation
	var bad []error
	err := al.locked(func(s *state) error {
		for _, a := range s.byIP {
			out = append(out, a)
		}
		for _, e := range s.corrupt {
			bad = append(bad, e)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list allocations: %w", err)
	}
	slices.SortFunc(out, func(a, b Allocation) int { return a.IP.Compare(b.IP) })
	return out, bad, nil
}

// GCReport says what GC released and what it could not judge.
type GCReport struct {
	Released   []Allocation // attachments that are no longer live
	OutOfRange []Allocation // addresses outside the current pod CIDRs (podCIDR changed)
	Corrupt    []error      // files that do not parse; their addresses stay reserved
}

// GC releases every allocation for which live returns false, and every allocation outside the
// current pod CIDRs whatever live says. live is called with the lock held and must not call the
// allocator.
func (al *Allocator) GC(live func(Allocation) bool) (GCReport, error) {
	var r GCReport
	err := al.locked(func(s *state) error {
		for ip, a := range s.byIP {
			_, inRange := al.inPool(ip)
			switch {
			case !inRange:
				r.OutOfRange = append(r.OutOfRange, a)
			case !live(a):
				r.Released = append(r.Released, a)
			default:
				continue
			}
			if err := al.removeAllocationLocked(s, ip); err != nil {
				return err
			}
		}
		for _, e := range s.corrupt {
			r.Corrupt = append(r.Corrupt, e)
		}
		return nil
	})
	byIP := func(a, b Allocation) int { return a.IP.Compare(b.IP) }
	slices.SortFunc(r.Released, byIP)
	slices.SortFunc(r.OutOfRange, byIP)
	for _, a := range r.OutOfRange {
		al.log.Warn("released allocation outside the pod cidrs", "ip", a.IP, "cidr", a.CIDR,
			"pod", a.Pod.Namespace+"/"+a.Pod.Name, "container", a.Key.ContainerID)
	}
	for _, a := range r.Released {
		al.log.Info("released allocation of a gone pod", "ip", a.IP,
			"pod", a.Pod.Namespace+"/"+a.Pod.Name, "container", a.Key.ContainerID)
	}
	if err != nil {
		return r, fmt.Errorf("gc allocations: %w", err)
	}
	return r, nil
}

// Reconcile is GC against the set of attachments known to exist (e.g. from the pods the API
// server lists and the runtime's CNI GC valid-attachments list).
func (al *Allocator) Reconcile(known map[Key]bool) (GCReport, error) {
	return al.GC(func(a Allocation) bool { return known[a.Key] })
}
