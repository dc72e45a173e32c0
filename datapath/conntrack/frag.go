package conntrack

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/sluicenet/sluice/datapath/packet"
)

// Reassembler puts IPv4 fragments back together before conntrack sees them, like OVS's ipf:
// connection tracking needs the L4 header, which only the first fragment carries.
//
// Fragments are grouped by (zone, source, destination, protocol, IP ID). Each accepted
// fragment is copied; when the group covers the whole datagram, Add returns the reassembled
// packet and the original fragments (so the executor can forward either, OVS forwards the
// fragments with the reassembled packet's verdict). A fragment that overlaps one already held
// is refused (the group stays); a group that is not complete within Timeout is dropped.
//
// Memory is bounded by MaxDatagrams groups and MaxBytes of held fragments: when either is
// reached, new fragments are refused until groups complete or time out.
type Reassembler struct {
	opts ReassemblyOptions

	mu    sync.Mutex
	lists map[fragKey]*fragList
	queue []*fragList // in creation order, so the oldest expire first
	bytes int
	stats [numFragCounters]uint64
}

// ReassemblyOptions configure a Reassembler.
type ReassemblyOptions struct {
	MaxDatagrams int           // incomplete datagrams held at once
	MaxBytes     int           // bytes of fragments held at once
	MaxFragments int           // fragments per datagram
	MinFragment  int           // smallest accepted non-last fragment (IP total length)
	Timeout      time.Duration // how long an incomplete datagram waits
	Clock        func() time.Duration
}

// DefaultReassemblyOptions returns OVS's ipf defaults where it has them (minimum fragment
// 1200 bytes, 15 s timeout, 1000 fragments in total) and bounds memory at 4 MiB.
func DefaultReassemblyOptions() ReassemblyOptions {
	return ReassemblyOptions{
		MaxDatagrams: 256,
		MaxBytes:     4 << 20,
		MaxFragments: 64,
		MinFragment:  1200,
		Timeout:      15 * time.Second,
	}
}

// FragVerdict is what Add did with a packet.
type FragVerdict uint8

// Fragment verdicts.
const (
	FragNotFragment FragVerdict = iota // not a fragment: track it as it is
	FragHeld                           // held until the rest arrives: nothing to forward now
	FragComplete                       // the datagram is complete: see FragResult
	FragInvalid                        // malformed, too small, or overlapping: OVS lets it go on as +trk+inv
	FragNoRoom                         // a memory limit was reached: likewise +trk+inv
)

// FragCounter names a Reassembler counter.
type FragCounter int

// Reassembler counters.
const (
	FragAccepted  FragCounter = iota // fragments held
	FragCompleted                    // datagrams reassembled
	FragExpired                      // datagrams dropped by the timeout
	FragTooSmall                     // fragments below MinFragment
	FragOverlap                      // fragments overlapping held data
	FragMalformed                    // bad header, length or offset
	FragLimit                        // fragments refused by a limit
	numFragCounters
)

// FragResult is the outcome of Add.
type FragResult struct {
	Verdict FragVerdict
	// Packet is the reassembled IPv4 packet (appended to the caller's buffer) when Verdict
	// is FragComplete.
	Packet []byte
	// Fragments are the original fragments in offset order; the caller owns them.
	Fragments [][]byte
}

type fragKey struct {
	src, dst netip.Addr
	id       uint16
	proto    uint8
	zone     uint16
}

type frag struct {
	start, end int // payload bytes [start, end)
	pkt        []byte
	hdrLen     int
}

type fragList struct {
	key      fragKey
	frags    []frag
	total    int // payload length once the last fragment is seen, else -1
	haveHead bool
	expires  int64
	done     bool
	bytes    int
}

// NewReassembler returns a Reassembler; zero fields of opts take the defaults.
func NewReassembler(opts ReassemblyOptions) *Reassembler {
	def := DefaultReassemblyOptions()
	if opts.MaxDatagrams <= 0 {
		opts.MaxDatagrams = def.MaxDatagrams
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = def.MaxBytes
	}
	if opts.MaxFragments <= 0 {
		opts.MaxFragments = def.MaxFragments
	}
	if opts.MinFragment <= 0 {
		opts.MinFragment = def.MinFragment
	}
	if opts.Timeout <= 0 {
		opts.Timeout = def.Timeout
	}
	if opts.Clock == nil {
		start := time.Now()
		opts.Clock = func() time.Duration { return time.Since(start) }
	}
	return &Reassembler{opts: opts, lists: make(map[fragKey]*fragList)}
}

// Counter returns one counter's value.
func (r *Reassembler) Counter(c FragCounter) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c < 0 || c >= numFragCounters {
		return 0
	}
	return r.stats[c]
}

// Pending returns the number of incomplete datagrams and the bytes they hold.
func (r *Reassembler) Pending() (datagrams, bytes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lists), r.bytes
}

const (
	ipFlagMF     = 0x2000
	ipOffsetMask = 0x1fff
)

// Add offers one IPv4 packet (starting at its IP header) in zone. A packet that is not a
// fragment gets FragNotFragment and is not copied. out is where a reassembled packet is
// appended (pass a reusable buffer).
func (r *Reassembler) Add(zone uint16, pkt []byte, out []byte) FragResult {
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		return FragResult{Verdict: FragNotFragment}
	}
	fo := binary.BigEndian.Uint16(pkt[6:8])
	if fo&(ipFlagMF|ipOffsetMask) == 0 {
		return FragResult{Verdict: FragNotFragment}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := int64(r.opts.Clock())
	r.expireLocked(now)

	hl := int(pkt[0]&0x0f) * 4
	tot := int(binary.BigEndian.Uint16(pkt[2:4]))
	if hl < 20 || tot < hl || tot > len(pkt) || packet.Checksum(pkt[:hl]) != 0 {
		r.stats[FragMalformed]++
		return FragResult{Verdict: FragInvalid}
	}
	pkt = pkt[:tot]
	more := fo&ipFlagMF != 0
	start := int(fo&ipOffsetMask) * 8
	end := start + tot - hl
	if end > 65535-hl || (more && (end-start)%8 != 0) || end == start {
		r.stats[FragMalformed]++
		return FragResult{Verdict: FragInvalid}
	}
	if more && tot < r.opts.MinFragment {
		r.stats[FragTooSmall]++
		return FragResult{Verdict: FragInvalid}
	}
	k := fragKey{
		src:   netip.AddrFrom4([4]byte(pkt[12:16])),
		dst:   netip.AddrFrom4([4]byte(pkt[16:20])),
		id:    binary.BigEndian.Uint16(pkt[4:6]),
		proto: pkt[9],
		zone:  zone,
	}
	if r.bytes+len(pkt) > r.opts.MaxBytes {
		r.stats[FragLimit]++
		return FragResult{Verdict: FragNoRoom}
	}
	l := r.lists[k]
	if l == nil {
		if len(r.lists) >= r.opts.MaxDatagrams {
			r.stats[FragLimit]++
			return FragResult{Verdict: FragNoRoom}
		}
		l = &fragList{key: k, total: -1, expires: now + int64(r.opts.Timeout)}
		r.lists[k] = l
		r.queue = append(r.queue, l)
	}
	for _, f := range l.frags {
		if start < f.end && f.start < end {
			r.stats[FragOverlap]++
			return FragResult{Verdict: FragInvalid}
		}
	}
	if !more && l.total >= 0 || (l.total >= 0 && end > l.total) || (!more && slices.ContainsFunc(l.frags, func(f frag) bool { return f.end > end })) {
		r.stats[FragMalformed]++ // a second last fragment, or data past the end
		return FragResult{Verdict: FragInvalid}
	}
	if len(l.frags) >= r.opts.MaxFragments {
		r.stats[FragLimit]++
		return FragResult{Verdict: FragNoRoom}
	}
	f := frag{start: start, end: end, pkt: slices.Clone(pkt), hdrLen: hl}
	i, _ := slices.BinarySearchFunc(l.frags, start, func(f frag, s int) int { return f.start - s })
	l.frags = slices.Insert(l.frags, i, f)
	l.bytes += len(pkt)
	r.bytes += len(pkt)
	r.stats[FragAccepted]++
	if !more {
		l.total = end
	}
	if start == 0 {
		l.haveHead = true
	}
	if !l.complete() {
		return FragResult{Verdict: FragHeld}
	}
	r.dropLocked(l)
	r.stats[FragCompleted]++
	head := l.frags[0]
	base := len(out)
	out = append(out, head.pkt[:head.hdrLen]...)
	for _, f := range l.frags {
		out = append(out, f.pkt[f.hdrLen:]...)
	}
	h := out[base:]
	binary.BigEndian.PutUint16(h[2:4], uint16(head.hdrLen+l.total))
	binary.BigEndian.PutUint16(h[6:8], binary.BigEndian.Uint16(h[6:8])&^(ipFlagMF|ipOffsetMask))
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:12], packet.Checksum(h[:head.hdrLen]))
	frags := make([][]byte, len(l.frags))
	for i, f := range l.frags {
		frags[i] = f.pkt
	}
	return FragResult{Verdict: FragComplete, Packet: out, Fragments: frags}
}

func (l *fragList) complete() bool {
	if l.total < 0 || !l.haveHead {
		return false
	}
	next := 0
	for _, f := range l.frags {
		if f.start != next {
			return false
		}
		next = f.end
	}
	return next == l.total
}

func (r *Reassembler) dropLocked(l *fragList) {
	l.done = true
	delete(r.lists, l.key)
	r.bytes -= l.bytes
}

// expireLocked drops datagrams whose timeout passed and compacts the queue.
func (r *Reassembler) expireLocked(now int64) {
	i := 0
	for ; i < len(r.queue); i++ {
		l := r.queue[i]
		if l.done {
			continue
		}
		if l.expires > now {
			break
		}
		r.dropLocked(l)
		r.stats[FragExpired]++
	}
	if i > 0 {
		r.queue = slices.Delete(r.queue, 0, i)
	}
	if len(r.queue) > 2*r.opts.MaxDatagrams {
		r.queue = slices.DeleteFunc(r.queue, func(l *fragList) bool { return l.done })
	}
}

// Expire drops incomplete datagrams whose timeout passed; Add does this too, so call it only
// to free memory when no fragments arrive.
func (r *Reassembler) Expire() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireLocked(int64(r.opts.Clock()))
}
