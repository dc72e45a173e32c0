package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicenet/sluice/datapath/classifier"
	"github.com/sluicenet/sluice/datapath/conntrack"
	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/packet"
)

// Limits OVS applies to one translation (ofproto-dpif-xlate.c) and to recirculation
// (dpif-netdev.c); the pipeline applies the same ones so loops end the same way.
const (
	MaxDepth       = 64   // nested resubmit/goto_table/group
	MaxResubmits   = 4096 // resubmits per packet pass (MaxDepth²)
	MaxRecircDepth = 6    // recirculations of one packet
)

// Options configures a Pipeline.
type Options struct {
	// Logger receives table-change events; nil discards them. Nothing is logged per packet.
	Logger *slog.Logger
	// Conntrack is the connection tracker ct() actions use; nil makes one with
	// conntrack.DefaultOptions().
	Conntrack *conntrack.Table
	// Ports are the OpenFlow port numbers that exist; output to any other port is dropped, as
	// OVS drops output to a nonexistent port. Nil accepts every port. LOCAL always exists.
	Ports []uint32
	// CacheEntries sizes each Runner's exact-match cache (0: classifier's default, 8192).
	CacheEntries int
	// Clock returns the time flows' timeouts and statistics use; nil uses time.Now.
	Clock func() time.Time
}

// DefaultOptions returns options with every default: no logging, a fresh connection tracker,
// every port valid, OVS-sized caches.
func DefaultOptions() Options { return Options{} }

// Pipeline is a bridge's flow tables, groups and connection tracker, ready to run packets.
type Pipeline struct {
	opts   Options
	log    *slog.Logger
	tables *classifier.Tables[*Entry]
	ct     *conntrack.Table

	mu      sync.Mutex                      // serialises writers (flows, groups, meters, ports)
	state   atomic.Pointer[state]           // tables, groups and meters, published together by a Tx
	ports   atomic.Pointer[map[uint32]bool] // nil: every port exists
	version atomic.Uint64                   // bumped after every change; never 0

	// now is a coarse clock (unix nanoseconds) for idle timeouts, advanced by Expire, so the
	// packet path never reads the time.
	now atomic.Int64

	drops     packet.DropCounters
	pipeDrops [NumDropReasons]atomic.Uint64
}

// Entry is what the classifier stores for one flow: the flow as added and its counters.
type Entry struct {
	Flow *flow.Flow

	// c is own, or the counters of the flow this one replaced when they carried over (an add
	// replacing a flow, a modify), so packets still counted into the replaced entry land in
	// the same counters, as OVS forwards a replaced rule's late statistics.
	c        *counters
	own      counters
	added    time.Time
	lastUsed atomic.Int64 // unix nanoseconds
}

// counters are a flow's packet and byte counts.
type counters struct {
	packets atomic.Uint64
	bytes   atomic.Uint64
}

// Stats returns the entry's packet and byte counters.
func (e *Entry) Stats() (packets, bytes uint64) { return e.c.packets.Load(), e.c.bytes.Load() }

// Added returns when the flow was installed (by a controller or by learn()); a modify keeps
// the time of the flow it modified, as OVS keeps a flow's duration.
func (e *Entry) Added() time.Time { return e.added }

// New returns a pipeline with empty tables.
func New(opts Options) *Pipeline {
	p := &Pipeline{opts: opts, log: opts.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.opts.Clock == nil {
		p.opts.Clock = time.Now
	}
	p.ct = opts.Conntrack
	if p.ct == nil {
		p.ct = conntrack.New(conntrack.DefaultOptions())
	}
	p.tables = classifier.New[*Entry](classifier.DefaultOptions())
	p.state.Store(&state{snap: p.tables.Load(), groups: map[uint32]*flow.GroupEntry{}, meters: map[uint32]*flow.MeterEntry{}})
	if opts.Ports != nil {
		p.SetPorts(opts.Ports)
	}
	p.version.Store(1)
	p.now.Store(p.opts.Clock().UnixNano())
	return p
}

// ExpireReason is why Expire removed a flow (OpenFlow's flow-removed reason).
type ExpireReason uint8

// The reasons a timeout removes a flow.
const (
	ExpireIdle ExpireReason = iota // OFPRR_IDLE_TIMEOUT
	ExpireHard                     // OFPRR_HARD_TIMEOUT
)

// String returns the reason as ovs-ofctl prints it.
func (r ExpireReason) String() string {
	if r == ExpireHard {
		return "hard"
	}
	return "idle"
}

// Expired is a flow a timeout removed: its entry (flow, counters as of the removal, install
// time) and which timeout it was.
type Expired struct {
	*Entry
	Reason ExpireReason
}

// Expire removes the flows whose hard timeout has passed since they were added or whose idle
// timeout has passed since a packet last matched them, and returns them with their counters
// and reason (for flow-removed messages; the hard timeout wins when both passed, as in OVS).
// Call it periodically (OVS checks about once a second); it also advances the coarse clock
// that packets stamp flows with, so idle times are accurate to that period.
func (p *Pipeline) Expire(now time.Time) []Expired {
	p.now.Store(now.UnixNano())
	snap := p.state.Load().snap
	type victim struct {
		table  uint8
		r      *classifier.Rule[*Entry]
		reason ExpireReason
	}
	var vs []victim
	for id := 0; id < classifier.NumTables; id++ {
		for r := range snap.Table(uint8(id)).All() {
			e := r.Payload
			f := e.Flow
			hard := f.HardTimeout != 0 && now.Sub(e.added) >= time.Duration(f.HardTimeout)*time.Second
			idle := f.IdleTimeout != 0 && now.UnixNano()-e.lastUsed.Load() >= int64(time.Duration(f.IdleTimeout)*time.Second)
			switch {
			case hard:
				vs = append(vs, victim{uint8(id), r, ExpireHard})
			case idle:
				vs = append(vs, victim{uint8(id), r, ExpireIdle})
			}
		}
	}
	if len(vs) == 0 {
		return nil
	}
	tx := p.Begin()
	var out []Expired
	for _, v := range vs {
		if tx.tx.DeleteRule(v.table, v.r) {
			out = append(out, Expired{Entry: v.r.Payload, Reason: v.reason})
		}
	}
	tx.Commit()
	p.log.Debug("flows expired", "count", len(out))
	return out
}

// Conntrack returns the pipeline's connection tracker.
func (p *Pipeline) Conntrack() *conntrack.Table { return p.ct }

// Version returns the number that changes with every flow, group or port change.
func (p *Pipeline) Version() uint64 { return p.version.Load() }

// SetPorts replaces the set of existing OpenFlow ports (nil: every port exists).
func (p *Pipeline) SetPorts(ports []uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ports == nil {
		p.ports.Store(nil)
	} else {
		m := make(map[uint32]bool, len(ports)+1)
		for _, n := range ports {
			m[n] = true
		}
		p.ports.Store(&m)
	}
	p.version.Add(1)
}

func (p *Pipeline) portExists(n uint32) bool {
	if n == flow.PortLocal {
		return true
	}
	m := p.ports.Load()
	return m == nil || (*m)[n]
}

// sortedPorts returns the existing ports in order (for FLOOD and ALL), nil when unknown.
func (p *Pipeline) sortedPorts() []uint32 {
	m := p.ports.Load()
	if m == nil {
		return nil
	}
	ports := slices.Sorted(maps.Keys(*m))
	if !(*m)[flow.PortLocal] {
		ports = append(ports, flow.PortLocal)
	}
	return ports
}

// ErrUnknownGroup is returned for a flow whose group action names a group that does not exist
// (OpenFlow's OFPBAC_BAD_OUT_GROUP).
var ErrUnknownGroup = errors.New("unknown group")

// ErrUnknownMeter is returned for a flow whose meter action names a meter that does not exist
// (OpenFlow's OFPMMFC_INVALID_METER).
var ErrUnknownMeter = errors.New("unknown meter")

// AddFlows adds flows with OpenFlow's add semantics (a flow with the same table, match and
// priority is replaced) as one transaction: all become visible at once, or, if any is invalid,
// none. The error names the offending flow.
func (p *Pipeline) AddFlows(flows []*flow.Flow) error {
	tx := p.Begin()
	for _, f := range flows {
		if err := tx.AddFlow(f); err != nil {
			tx.Discard()
			return err
		}
	}
	tx.Commit()
	p.log.Debug("flows added", "count", len(flows))
	return nil
}

// checkFlow validates f as ovs-vswitchd would before accepting it.
func (p *Pipeline) checkFlow(f *flow.Flow, groups map[uint32]*flow.GroupEntry, meters map[uint32]*flow.MeterEntry) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("add flow %q: %w", f.String(), err)
	}
	for _, acts := range [][]flow.Action{f.Instructions.Apply, f.Instructions.Write} {
		for _, a := range acts {
			switch a := a.(type) {
			case *flow.Group:
				if groups[a.GroupID] == nil {
					return fmt.Errorf("add flow %q: group %d: %w", f.String(), a.GroupID, ErrUnknownGroup)
				}
			case *flow.Meter:
				if meters[a.MeterID] == nil {
					return fmt.Errorf("add flow %q: meter %d: %w", f.String(), a.MeterID, ErrUnknownMeter)
				}
			}
		}
	}
	return nil
}

// AddMeters adds or replaces meters. Flows may then name them in meter actions; the pipeline
// counts metered packets but does not enforce rates (see docs/pipeline.md).
func (p *Pipeline) AddMeters(meters []*flow.MeterEntry) {
	tx := p.Begin()
	for _, e := range meters {
		tx.SetMeter(e)
	}
	tx.Commit()
}

// ruleFor wraps a flow as a classifier rule; a flow whose only actions are conjunction()
// (and note) is a clause flow.
func ruleFor(f *flow.Flow, now time.Time) classifier.Rule[*Entry] {
	r := classifier.Rule[*Entry]{Match: f.Match, Priority: f.Priority, Cookie: f.Cookie,
		Payload: &Entry{Flow: f, added: now}}
	r.Payload.c = &r.Payload.own
	for _, a := range f.Instructions.Apply {
		if c, ok := a.(*flow.Conjunction); ok {
			r.Conj = append(r.Conj, classifier.Conjunction{ID: c.ID, Clause: c.Clause, NClauses: c.NClauses})
		}
	}
	r.Payload.lastUsed.Store(now.UnixNano())
	return r
}

// DeleteFlows removes the flows of table (or every table when all is true) that filter selects
// and returns how many went.
func (p *Pipeline) DeleteFlows(table uint8, all bool, filter classifier.Filter) int {
	tx := p.Begin()
	n := len(tx.DeleteFlows(table, all, filter, nil))
	tx.Commit()
	return n
}

// Flows returns every flow, by table, then priority descending, then the time it was added.
func (p *Pipeline) Flows() []*Entry {
	snap := p.state.Load().snap
	var out []*Entry
	for id := 0; id < classifier.NumTables; id++ {
		var rules []*classifier.Rule[*Entry]
		for r := range snap.Table(uint8(id)).All() {
			rules = append(rules, r)
		}
		slices.SortFunc(rules, func(a, b *classifier.Rule[*Entry]) int {
			if a.Priority != b.Priority {
				return int(b.Priority) - int(a.Priority)
			}
			return a.Payload.added.Compare(b.Payload.added)
		})
		for _, r := range rules {
			out = append(out, r.Payload)
		}
	}
	return out
}

// AddGroups adds or replaces groups (OpenFlow's add then modify) in one transaction; buckets
// without an ID are numbered by position, as OVS numbers them.
func (p *Pipeline) AddGroups(groups []*flow.GroupEntry) error {
	tx := p.Begin()
	for _, g := range groups {
		if err := tx.SetGroup(g); err != nil {
			tx.Discard()
			return err
		}
	}
	tx.Commit()
	return nil
}

// DeleteGroup removes a group and, as OVS does, every flow that sends packets to it.
func (p *Pipeline) DeleteGroup(id uint32) {
	tx := p.Begin()
	tx.DeleteGroup(id)
	tx.Commit()
}

// Group returns a group by ID, or nil.
func (p *Pipeline) Group(id uint32) *flow.GroupEntry { return p.state.Load().groups[id] }

// DropReason is why the pipeline dropped a packet it parsed (parse failures are counted by
// packet.DropReason, see Drops).
type DropReason uint8

// The pipeline's own drop reasons.
const (
	DropNone           DropReason = iota
	DropRecursion                 // translation exceeded MaxDepth
	DropTooManyResub              // translation exceeded MaxResubmits
	DropRecircDepth               // more than MaxRecircDepth recirculations
	DropNoHeadroom                // push_vlan without room in front of the frame
	DropConntrackFull             // ct(commit) refused: table full (the packet continues, as in OVS)
	DropNATExhausted              // ct(commit,nat) found no free tuple (the packet continues)
	DropOutputTooLarge            // the output buffer limit was reached
	NumDropReasons
)

var dropNames = [NumDropReasons]string{"none", "recursion_too_deep", "too_many_resubmits",
	"recirc_too_deep", "no_headroom", "conntrack_full", "nat_exhausted", "output_too_large"}

// String returns the reason's metric label.
func (r DropReason) String() string {
	if r >= NumDropReasons {
		return fmt.Sprintf("reason(%d)", uint8(r))
	}
	return dropNames[r]
}

// Drops returns the count of one pipeline drop reason.
func (p *Pipeline) Drops(r DropReason) uint64 {
	if r >= NumDropReasons {
		return 0
	}
	return p.pipeDrops[r].Load()
}

// ParseDrops returns the count of frames dropped because Extract found them malformed.
func (p *Pipeline) ParseDrops(r packet.DropReason) uint64 { return p.drops.Load(r) }

func (p *Pipeline) countDrop(r DropReason) {
	if r != DropNone && r < NumDropReasons {
		p.pipeDrops[r].Add(1)
	}
}
