package pipeline

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sluicenet/sluice/datapath/classifier"
	"github.com/sluicenet/sluice/datapath/flow"
)

// state is what one translation reads: the flow tables, groups and meters of one moment.
// A Tx publishes all three with one pointer store, so a packet never sees a flow change
// without the group change committed with it.
type state struct {
	snap   *classifier.Snapshot[*Entry]
	groups map[uint32]*flow.GroupEntry
	meters map[uint32]*flow.MeterEntry
}

// Tx is a pipeline change set: flow additions, modifications and deletions and group and meter
// changes, in any order, that packets see all at once on Commit or not at all on Discard.
// Reads through the Tx (Group, Flows) see its uncommitted changes. Begin holds the pipeline's
// writer lock until Commit or Discard, one of which must be called; a Tx is for one goroutine.
type Tx struct {
	p       *Pipeline
	tx      *classifier.Transaction[*Entry]
	groups  map[uint32]*flow.GroupEntry // cloned on the first group change
	meters  map[uint32]*flow.MeterEntry // cloned on the first meter change
	ownG    bool
	ownM    bool
	now     time.Time
	removed []*Entry
	done    bool
}

// Begin starts a transaction, waiting for any other writer to finish.
func (p *Pipeline) Begin() *Tx {
	p.mu.Lock()
	st := p.state.Load()
	return &Tx{p: p, tx: p.tables.Begin(), groups: st.groups, meters: st.meters, now: p.opts.Clock()}
}

// Commit publishes every change at once and returns the flows the transaction deleted (by
// DeleteFlows, DeleteGroup or DeleteMeter; not those an add replaced), with their counters as
// they were at commit.
func (t *Tx) Commit() []*Entry {
	if t.done {
		return nil
	}
	t.done = true
	defer t.p.mu.Unlock()
	snap := t.tx.Commit()
	t.p.state.Store(&state{snap: snap, groups: t.groups, meters: t.meters})
	t.p.version.Add(1)
	return t.removed
}

// Discard drops every change.
func (t *Tx) Discard() {
	if t.done {
		return
	}
	t.done = true
	t.tx.Discard()
	t.p.mu.Unlock()
}

// AddFlow adds f with OpenFlow's add semantics: a flow with the same table, match and priority
// is replaced, and, as in OVS, its packet and byte counters carry over to f unless f has the
// reset_counts flag. f is validated as OVS validates a flow_mod, against the transaction's
// groups and meters.
func (t *Tx) AddFlow(f *flow.Flow) error {
	if err := t.p.checkFlow(f, t.groups, t.meters); err != nil {
		return err
	}
	nr, old, err := t.tx.Replace(f.Table, ruleFor(f, t.now))
	if err != nil {
		return fmt.Errorf("add flow %q: %w", f.String(), err)
	}
	if old != nil && f.Flags&flow.FlagResetCounts == 0 {
		t.keepCounters(old.Payload, nr.Payload)
	}
	return nil
}

// keepCounters makes to share from's counters: what packets count into either (also a packet
// translated before the Commit that counts into from afterwards) is to's count.
func (t *Tx) keepCounters(from, to *Entry) { to.c = from.c }

// learnFlow is AddFlow without validation (learned flows are not checked, as in OVS).
func (t *Tx) learnFlow(f *flow.Flow) error {
	_, _, err := t.tx.Replace(f.Table, ruleFor(f, t.now))
	return err
}

// tables returns the table ids a change addresses: table, or every table when all is set.
func tables(table uint8, all bool) []uint8 {
	if !all {
		return []uint8{table}
	}
	ids := make([]uint8, classifier.NumTables)
	for i := range ids {
		ids[i] = uint8(i)
	}
	return ids
}

// where adapts an Entry predicate to the classifier's rule predicate.
func where(sel func(*Entry) bool) func(*classifier.Rule[*Entry]) bool {
	if sel == nil {
		return nil
	}
	return func(r *classifier.Rule[*Entry]) bool { return sel(r.Payload) }
}

// DeleteFlows removes the flows of table (every table when all is set) that filter selects and
// sel (if not nil) accepts, and returns them; Commit returns them again with all other deletions.
func (t *Tx) DeleteFlows(table uint8, all bool, filter classifier.Filter, sel func(*Entry) bool) []*Entry {
	var out []*Entry
	for _, id := range tables(table, all) {
		if t.tx.Table(id) == nil {
			continue
		}
		for _, r := range t.tx.Delete(id, filter, where(sel)) {
			out = append(out, r.Payload)
		}
	}
	t.removed = append(t.removed, out...)
	return out
}

// ModifyFlows replaces each flow of table (every table when all is set) that filter selects and
// sel (if not nil) accepts with update's result, which must keep the table, match and priority.
// The new flow keeps the old one's install time and, unless resetCounts (OpenFlow's
// OFPFF_RESET_COUNTS on the modify), its packet and byte counters, as OVS's modify does. The
// new flows are validated like AddFlow; on an error the caller should Discard.
func (t *Tx) ModifyFlows(table uint8, all bool, filter classifier.Filter, sel func(*Entry) bool, resetCounts bool, update func(*flow.Flow) *flow.Flow) ([]*Entry, error) {
	var out []*Entry
	var firstErr error
	for _, id := range tables(table, all) {
		if t.tx.Table(id) == nil {
			continue
		}
		rules, err := t.tx.Modify(id, filter, where(sel), func(r *classifier.Rule[*Entry]) {
			old := r.Payload
			f := update(old.Flow)
			if err := t.p.checkFlow(f, t.groups, t.meters); err != nil && firstErr == nil {
				firstErr = err
			}
			n := ruleFor(f, old.added)
			n.Payload.lastUsed.Store(old.lastUsed.Load())
			if !resetCounts {
				t.keepCounters(old, n.Payload)
			}
			r.Payload, r.Cookie, r.Conj = n.Payload, n.Cookie, n.Conj
		})
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("modify flows in table %d: %w", id, err)
		}
		for _, r := range rules {
			out = append(out, r.Payload)
		}
	}
	return out, firstErr
}

// Flows returns the flows of table as the transaction sees them, in no particular order.
func (t *Tx) Flows(table uint8) []*Entry {
	tb := t.tx.Table(table)
	if tb == nil {
		return nil
	}
	var out []*Entry
	for r := range tb.All() {
		out = append(out, r.Payload)
	}
	return out
}

// SetGroup adds or replaces a group; buckets without an ID are numbered by position, as OVS
// numbers them.
func (t *Tx) SetGroup(g *flow.GroupEntry) error {
	if g.Type == flow.GroupSelect && g.SelectionMethod == "hash" && len(g.Fields) == 0 {
		return fmt.Errorf("add group %d: selection_method=hash needs fields", g.ID)
	}
	c := *g
	c.Buckets = slices.Clone(g.Buckets)
	for i := range c.Buckets {
		if c.Buckets[i].ID == flow.BucketIDNone {
			c.Buckets[i].ID = uint32(i)
		}
	}
	t.ownGroups()
	t.groups[g.ID] = &c
	return nil
}

func (t *Tx) ownGroups() {
	if !t.ownG {
		t.groups, t.ownG = maps.Clone(t.groups), true
	}
}

// Group returns a group as the transaction sees it, or nil.
func (t *Tx) Group(id uint32) *flow.GroupEntry { return t.groups[id] }

// DeleteGroup removes a group and, as OVS does, every flow that sends packets to it; it returns
// those flows.
func (t *Tx) DeleteGroup(id uint32) []*Entry {
	t.ownGroups()
	delete(t.groups, id)
	return t.DeleteFlows(0, true, classifier.Filter{}, func(e *Entry) bool { return UsesGroup(e.Flow, id) })
}

// SetMeter adds or replaces a meter.
func (t *Tx) SetMeter(m *flow.MeterEntry) {
	t.ownMeters()
	t.meters[m.ID] = m
}

func (t *Tx) ownMeters() {
	if !t.ownM {
		t.meters, t.ownM = maps.Clone(t.meters), true
	}
}

// DeleteMeter removes a meter and, as OVS does, every flow that uses it; it returns those flows.
func (t *Tx) DeleteMeter(id uint32) []*Entry {
	t.ownMeters()
	delete(t.meters, id)
	return t.DeleteFlows(0, true, classifier.Filter{}, func(e *Entry) bool { return UsesMeter(e.Flow, id) })
}

// UsesGroup reports whether f has a group action naming id.
func UsesGroup(f *flow.Flow, id uint32) bool {
	for _, acts := range [][]flow.Action{f.Instructions.Apply, f.Instructions.Write} {
		for _, a := range acts {
			if g, ok := a.(*flow.Group); ok && g.GroupID == id {
				return true
			}
		}
	}
	return false
}

// UsesMeter reports whether f has a meter action naming id.
func UsesMeter(f *flow.Flow, id uint32) bool {
	for _, acts := range [][]flow.Action{f.Instructions.Apply, f.Instructions.Write} {
		for _, a := range acts {
			if m, ok := a.(*flow.Meter); ok && m.MeterID == id {
				return true
			}
		}
	}
	return false
}
