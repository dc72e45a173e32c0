package ofswitch

import (
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/sluicenet/sluice/datapath/classifier"
	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/openflow"
	"github.com/sluicenet/sluice/datapath/pipeline"
)

// Error codes the codec has no variable for.
var (
	errBadTimeout    = openflow.Error{ErrType: openflow.ErrTypeFlowModFailed, Code: 5} // OFPFMFC_BAD_TIMEOUT (unused: 16-bit wire)
	errBadFlags      = openflow.Error{ErrType: openflow.ErrTypeFlowModFailed, Code: 7} // OFPFMFC_BAD_FLAGS
	errGroupInvalid  = openflow.ErrGroupInvalid
	errMeterInvalid  = openflow.Error{ErrType: openflow.ErrTypeMeterModFailed, Code: 2} // OFPMMFC_INVALID_METER
	errMeterBadBand  = openflow.Error{ErrType: openflow.ErrTypeMeterModFailed, Code: 7} // OFPMMFC_BAD_BAND
	errMeterBadFlags = openflow.Error{ErrType: openflow.ErrTypeMeterModFailed, Code: 6} // OFPMMFC_BAD_FLAGS
	errBadInstTable  = openflow.ErrBadInstTableID
)

var _ = errBadTimeout

// op is one modification message: alone, or one of a bundle's.
type op struct {
	xid uint32
	raw []byte
	msg openflow.Message
	// Filled by prepare.
	f     *flow.Flow       // add: the flow; modify/delete: the filter flow (match, cookie)
	group *flow.GroupEntry // group mods
	meter *flow.MeterEntry // meter mods
}

// removed is a flow taken out of the tables, for FLOW_REMOVED.
type removed struct {
	f       *flow.Flow
	table   uint8
	reason  uint8
	added   time.Time
	packets uint64
	bytes   uint64
}

// flowKey identifies a flow within the tables.
type flowKey struct {
	table uint8
	pri   uint16
	match flow.Match
}

func keyOf(f *flow.Flow) flowKey {
	m := f.Match
	m.Key.And(&m.Mask)
	return flowKey{f.Table, f.Priority, m}
}

// apply handles one FLOW_MOD, GROUP_MOD, METER_MOD or PACKET_OUT outside a bundle.
func (s *Switch) apply(c *conn, xid uint32, m openflow.Message, raw []byte) *openflow.Error {
	if po, ok := m.(*openflow.PacketOut); ok {
		return s.packetOut(c, po)
	}
	o := op{xid: xid, raw: raw, msg: m}
	if e := s.prepare(&o); e != nil {
		return e
	}
	s.mu.Lock()
	rem, _, e := s.commitLocked([]op{o})
	s.mu.Unlock()
	s.sendRemoved(rem, nil)
	return e
}

// prepare decodes a modification into the flow model and checks what does not depend on the
// switch's state.
func (s *Switch) prepare(o *op) *openflow.Error {
	switch m := o.msg.(type) {
	case *openflow.FlowMod:
		if m.Command > openflow.FlowDeleteStrict {
			return &openflow.ErrFlowModBadCommand
		}
		if m.TableID == openflow.TableAll && m.Command == openflow.FlowAdd {
			return &openflow.ErrFlowModBadTableID
		}
		if m.TableID >= nTables && m.TableID != openflow.TableAll {
			return &openflow.ErrFlowModBadTableID
		}
		if m.BufferID != openflow.NoBuffer {
			return &errBufferUnknown
		}
		if m.Flags&^0x1f != 0 {
			return &errBadFlags
		}
		f, err := m.Flow()
		if err != nil {
			return unsupportedError(m.Instructions)
		}
		if f.Instructions.HasGotoTable && (f.Instructions.GotoTable <= f.Table && m.Command == openflow.FlowAdd || f.Instructions.GotoTable >= nTables) {
			return &errBadInstTable
		}
		if m.Command == openflow.FlowAdd {
			f.CookieMask = 0
			if err := f.Validate(); err != nil {
				return validationError(err)
			}
		}
		o.f = f
	case *openflow.GroupMod:
		g, err := m.Entry()
		if err != nil {
			if errors.Is(err, openflow.ErrUnsupported) && len(m.Properties) > 0 {
				// OVS's selection_method property: Sluice's select groups use their own hash.
				return &openflow.Error{ErrType: openflow.ErrTypeBadProperty, Code: 0} // OFPBPC_BAD_TYPE
			}
			return &openflow.ErrBadActionType
		}
		switch m.Command {
		case openflow.GroupAdd, openflow.GroupModify, openflow.GroupAddOrModify,
			openflow.GroupDelete, openflow.GroupInsertBucket, openflow.GroupRemoveBucket:
		default:
			return &openflow.ErrGroupBadCommand
		}
		if m.GroupType > openflow.GroupTypeFastFailover {
			return &openflow.ErrGroupBadType
		}
		if m.GroupID > openflow.BucketMax && m.GroupID != openflow.GroupAll || m.GroupID == openflow.GroupAll && m.Command != openflow.GroupDelete {
			return &errGroupInvalid
		}
		for _, b := range g.Buckets {
			f := &flow.Flow{Instructions: flow.Instructions{Apply: b.Actions}}
			if err := f.Validate(); err != nil {
				return validationError(err)
			}
		}
		o.group = g
	case *openflow.MeterMod:
		e, err := m.Entry()
		if err != nil {
			return &errMeterBadBand
		}
		switch m.Command {
		case openflow.MeterAdd, openflow.MeterModify, openflow.MeterDelete:
		default:
			return &openflow.ErrMeterBadCommand
		}
		if m.MeterID == 0 || m.MeterID > 0xffff0000 && !(m.Command == openflow.MeterDelete && m.MeterID == openflow.MeterAll) {
			return &errMeterInvalid
		}
		if m.Command != openflow.MeterDelete {
			if m.Flags&^0xf != 0 || m.Flags&(openflow.MeterFlagKbps|openflow.MeterFlagPktps) == openflow.MeterFlagKbps|openflow.MeterFlagPktps {
				return &errMeterBadFlags
			}
			if len(e.Bands) == 0 {
				return &errMeterBadBand
			}
		}
		o.meter = e
	default:
		return &openflow.ErrBundleMsgUnsup
	}
	return nil
}

// unsupportedError names what the flow model could not take: an instruction or an action.
func unsupportedError(insts []openflow.Instruction) *openflow.Error {
	for _, in := range insts {
		if _, ok := in.(*openflow.RawInstruction); ok {
			return &openflow.ErrBadInstUnknown
		}
	}
	return &openflow.ErrBadActionType
}

// validationError maps a flow the model refuses (Flow.Validate) to OpenFlow's error: ovs-vswitchd
// reports these as bad actions or bad matches; the action ones are the common kind.
func validationError(err error) *openflow.Error {
	switch {
	case errors.Is(err, pipeline.ErrUnknownGroup):
		return &openflow.ErrBadActionOutGroup
	case errors.Is(err, pipeline.ErrUnknownMeter):
		return &openflow.ErrMeterUnknown
	}
	return &openflow.ErrBadActionArgument
}

// batch collects flow additions and modifications that become visible in one pipeline
// transaction. The index by table/match/priority is built only when a modify needs it: a run of
// plain adds (the bulk of a large bundle) goes to the pipeline as it is, whose add replaces an
// earlier flow with the same key.
type batch struct {
	flows []*flow.Flow // nil: replaced by a later entry
	at    []time.Time  // add time of each flow
	byKey map[flowKey]int
}

func (b *batch) put(f *flow.Flow, at time.Time) {
	if b.byKey != nil {
		k := keyOf(f)
		if i, ok := b.byKey[k]; ok {
			b.flows[i], b.at[i] = f, at
			return
		}
		b.byKey[k] = len(b.flows)
	}
	b.flows = append(b.flows, f)
	b.at = append(b.at, at)
}

// index builds byKey, dropping entries a later one with the same key replaces.
func (b *batch) index() {
	if b.byKey != nil {
		return
	}
	b.byKey = make(map[flowKey]int, len(b.flows))
	for i, f := range b.flows {
		k := keyOf(f)
		if j, ok := b.byKey[k]; ok {
			b.flows[j] = nil
		}
		b.byKey[k] = i
	}
}

// live returns the batch's flows without replaced entries.
func (b *batch) live() []*flow.Flow {
	if b.byKey == nil {
		return b.flows
	}
	out := make([]*flow.Flow, 0, len(b.byKey))
	for _, f := range b.flows {
		if f != nil {
			out = append(out, f)
		}
	}
	return out
}

// commitLocked applies prepared ops in order. Consecutive flow additions and modifications go
// into the pipeline as one transaction; a delete or a group/meter change first publishes what
// came before it. On an error it stops and returns the failing op's index and error; ops before
// it stay applied unless check was done by the caller (bundles check everything first).
func (s *Switch) commitLocked(ops []op) ([]removed, int, *openflow.Error) {
	var rem []removed
	var b batch
	flush := func() *openflow.Error {
		if len(b.flows) == 0 {
			return nil
		}
		err := s.pipe.AddFlows(b.live())
		if err != nil {
			return validationError(err)
		}
		for i, f := range b.flows {
			if f != nil {
				s.added[f] = b.at[i]
			}
		}
		b = batch{}
		return nil
	}
	now := s.opts.Clock()
	for i, o := range ops {
		var e *openflow.Error
		switch m := o.msg.(type) {
		case *openflow.FlowMod:
			switch m.Command {
			case openflow.FlowAdd:
				e = s.checkRefsLocked(o.f)
				if e == nil && o.f.Flags&flow.FlagCheckOverlap != 0 && s.overlapsLocked(o.f, &b) {
					e = &openflow.ErrFlowModOverlap
				}
				if e == nil {
					b.put(o.f, now)
				}
			case openflow.FlowModify, openflow.FlowModifyStrict:
				e = s.modifyLocked(m, o.f, &b)
			default:
				if e = flush(); e == nil {
					rem = append(rem, s.deleteLocked(m.TableID, m.Command == openflow.FlowDeleteStrict, o.f, m.OutPort, m.OutGroup, openflow.RemovedDelete)...)
				}
			}
		case *openflow.GroupMod:
			if e = flush(); e == nil {
				var r []removed
				r, e = s.groupModLocked(m, o.group)
				rem = append(rem, r...)
			}
		case *openflow.MeterMod:
			if e = flush(); e == nil {
				var r []removed
				r, e = s.meterModLocked(m, o.meter)
				rem = append(rem, r...)
			}
		}
		if e != nil {
			return rem, i, e
		}
	}
	if e := flush(); e != nil {
		return rem, len(ops) - 1, e
	}
	return rem, -1, nil
}

// checkRefsLocked checks that the groups and meters a flow names exist.
func (s *Switch) checkRefsLocked(f *flow.Flow) *openflow.Error {
	return checkRefs(f, func(id uint32) bool { _, ok := s.groups[id]; return ok },
		func(id uint32) bool { _, ok := s.meters[id]; return ok })
}

// checkRefs checks a flow's group and meter actions against what exists.
func checkRefs(f *flow.Flow, group, meter func(uint32) bool) *openflow.Error {
	for _, acts := range [][]flow.Action{f.Instructions.Apply, f.Instructions.Write} {
		for _, a := range acts {
			switch a := a.(type) {
			case *flow.Group:
				if !group(a.GroupID) {
					return &openflow.ErrBadActionOutGroup
				}
			case *flow.Meter:
				if !meter(a.MeterID) {
					return &openflow.ErrMeterUnknown
				}
			}
		}
	}
	return nil
}

// overlapsLocked reports whether another flow of f's table and priority could match a packet
// f matches (check_overlap).
func (s *Switch) overlapsLocked(f *flow.Flow, b *batch) bool {
	overlap := func(g *flow.Flow) bool {
		if g.Table != f.Table || g.Priority != f.Priority || keyOf(g) == keyOf(f) {
			return false
		}
		for i := range f.Match.Mask.W {
			common := f.Match.Mask.W[i] & g.Match.Mask.W[i]
			if f.Match.Key.W[i]&common != g.Match.Key.W[i]&common {
				return false
			}
		}
		return true
	}
	for _, e := range s.pipe.Flows() {
		if overlap(e.Flow) {
			return true
		}
	}
	return slices.ContainsFunc(b.live(), overlap)
}

// selects reports whether flow g is selected by a modify or delete with filter f.
func selects(g *flow.Flow, table uint8, strict bool, f *flow.Flow, outPort, outGroup uint32) bool {
	if table != openflow.TableAll && g.Table != table {
		return false
	}
	flt := classifier.Filter{Match: f.Match, Priority: f.Priority, Strict: strict, Cookie: f.Cookie, CookieMask: f.CookieMask}
	if !flt.Selects(&g.Match, g.Priority, g.Cookie) {
		return false
	}
	if outPort != openflow.PortAny && !outputsTo(g, outPort) {
		return false
	}
	if outGroup != openflow.GroupAny && !sendsToGroup(g, outGroup) {
		return false
	}
	return true
}

// outputsTo reports whether a flow has an output action to port (OVS's out_port filter).
func outputsTo(f *flow.Flow, port uint32) bool {
	for _, acts := range [][]flow.Action{f.Instructions.Apply, f.Instructions.Write} {
		for _, a := range acts {
			switch a := a.(type) {
			case *flow.Output:
				if a.Port == port {
					return true
				}
			case *flow.Controller:
				if port == flow.PortController {
					return true
				}
			}
		}
	}
	return false
}

func sendsToGroup(f *flow.Flow, group uint32) bool {
	for _, acts := range [][]flow.Action{f.Instructions.Apply, f.Instructions.Write} {
		for _, a := range acts {
			if g, ok := a.(*flow.Group); ok && (group == openflow.GroupAll || g.GroupID == group) {
				return true
			}
		}
	}
	return false
}

// modifyLocked replaces the instructions of the selected flows, keeping cookie, timeouts,
// flags and age (as ovs-vswitchd does); it adds to b.
func (s *Switch) modifyLocked(m *openflow.FlowMod, f *flow.Flow, b *batch) *openflow.Error {
	if e := s.checkRefsLocked(f); e != nil {
		return e
	}
	strict := m.Command == openflow.FlowModifyStrict
	b.index()
	var sel []*flow.Flow
	var selAt []time.Time
	seen := map[flowKey]bool{}
	for i, g := range b.flows {
		if g != nil && selects(g, m.TableID, strict, f, m.OutPort, m.OutGroup) {
			sel, selAt = append(sel, g), append(selAt, b.at[i])
			seen[keyOf(g)] = true
		}
	}
	for _, e := range s.pipe.Flows() {
		g := e.Flow
		if !seen[keyOf(g)] && selects(g, m.TableID, strict, f, m.OutPort, m.OutGroup) {
			sel, selAt = append(sel, g), append(selAt, s.added[g])
		}
	}
	for i, g := range sel {
		n := *g
		n.Instructions = f.Instructions
		n.Stats = flow.Stats{}
		if err := n.Validate(); err != nil {
			return validationError(err)
		}
		b.put(&n, selAt[i])
	}
	return nil
}

// deleteLocked removes the selected flows and returns them for FLOW_REMOVED.
func (s *Switch) deleteLocked(table uint8, strict bool, f *flow.Flow, outPort, outGroup uint32, reason uint8) []removed {
	var rem []removed
	filtered := outPort != openflow.PortAny || outGroup != openflow.GroupAny
	for _, e := range s.pipe.Flows() {
		g := e.Flow
		if !selects(g, table, strict, f, outPort, outGroup) {
			continue
		}
		p, by := e.Stats()
		rem = append(rem, removed{f: g, table: g.Table, reason: reason, added: s.added[g], packets: p, bytes: by})
		delete(s.added, g)
		if filtered {
			s.pipe.DeleteFlows(g.Table, false, classifier.Filter{Match: g.Match, Priority: g.Priority, Strict: true})
		}
	}
	if !filtered && len(rem) > 0 {
		flt := classifier.Filter{Match: f.Match, Priority: f.Priority, Strict: strict, Cookie: f.Cookie, CookieMask: f.CookieMask}
		s.pipe.DeleteFlows(table, table == openflow.TableAll, flt)
	}
	return rem
}

// groupModLocked applies a GROUP_MOD.
func (s *Switch) groupModLocked(m *openflow.GroupMod, g *flow.GroupEntry) ([]removed, *openflow.Error) {
	_, exists := s.groups[m.GroupID]
	now := s.opts.Clock()
	switch m.Command {
	case openflow.GroupAdd, openflow.GroupModify, openflow.GroupAddOrModify:
		if m.Command == openflow.GroupAdd && exists {
			return nil, &openflow.ErrGroupExists
		}
		if m.Command == openflow.GroupModify && !exists {
			return nil, &openflow.ErrGroupUnknown
		}
		if e := checkBucketIDs(g.Buckets); e != nil {
			return nil, e
		}
		if err := s.pipe.AddGroups([]*flow.GroupEntry{g}); err != nil {
			return nil, &errGroupInvalid
		}
		if !exists {
			s.groups[m.GroupID] = now
		}
		return nil, nil
	case openflow.GroupDelete:
		var rem []removed
		for _, id := range selectIDs(s.groups, m.GroupID, openflow.GroupAll) {
			rem = append(rem, s.deleteLocked(openflow.TableAll, false, &flow.Flow{}, openflow.PortAny, id, openflow.RemovedGroupDelete)...)
			s.pipe.DeleteGroup(id)
			delete(s.groups, id)
		}
		return rem, nil
	case openflow.GroupInsertBucket, openflow.GroupRemoveBucket:
		if !exists {
			return nil, &openflow.ErrGroupUnknown
		}
		cur := s.pipe.Group(m.GroupID)
		n := *cur
		n.Buckets = slices.Clone(cur.Buckets)
		pos := -1
		switch m.CommandBucketID {
		case openflow.BucketFirst:
			pos = 0
		case openflow.BucketLast, openflow.BucketAll:
			pos = len(n.Buckets)
		default:
			pos = slices.IndexFunc(n.Buckets, func(b flow.Bucket) bool { return b.ID == m.CommandBucketID })
			if pos < 0 {
				return nil, &openflow.ErrGroupUnknownBucket
			}
		}
		if m.Command == openflow.GroupInsertBucket {
			if m.CommandBucketID == openflow.BucketAll {
				return nil, &openflow.ErrGroupUnknownBucket
			}
			next := uint32(0)
			for _, b := range n.Buckets {
				next = max(next, b.ID+1)
			}
			nb := slices.Clone(g.Buckets)
			for i := range nb {
				if nb[i].ID == flow.BucketIDNone {
					nb[i].ID = next
					next++
				}
			}
			n.Buckets = slices.Insert(n.Buckets, pos, nb...)
			if e := checkBucketIDs(n.Buckets); e != nil {
				return nil, e
			}
		} else {
			switch m.CommandBucketID {
			case openflow.BucketAll:
				n.Buckets = nil
			case openflow.BucketLast:
				if len(n.Buckets) > 0 {
					n.Buckets = n.Buckets[:len(n.Buckets)-1]
				}
			default:
				if len(n.Buckets) > 0 {
					n.Buckets = slices.Delete(n.Buckets, pos, pos+1)
				}
			}
		}
		if err := s.pipe.AddGroups([]*flow.GroupEntry{&n}); err != nil {
			return nil, &errGroupInvalid
		}
		return nil, nil
	}
	return nil, &openflow.ErrGroupBadCommand
}

// checkBucketIDs refuses two buckets with one id (OFPGMFC_BUCKET_EXISTS).
func checkBucketIDs(bs []flow.Bucket) *openflow.Error {
	seen := map[uint32]bool{}
	for i, b := range bs {
		id := b.ID
		if id == flow.BucketIDNone {
			id = uint32(i)
		}
		if id > openflow.BucketMax {
			return &openflow.Error{ErrType: openflow.ErrTypeGroupModFailed, Code: 14} // OFPGMFC_BAD_BUCKET
		}
		if seen[id] {
			return &openflow.ErrGroupBucketExists
		}
		seen[id] = true
	}
	return nil
}

// meterModLocked applies a METER_MOD. Deleting a meter deletes the flows that use it, as OVS
// does (FLOW_REMOVED reason meter_delete).
func (s *Switch) meterModLocked(m *openflow.MeterMod, e *flow.MeterEntry) ([]removed, *openflow.Error) {
	_, exists := s.meters[m.MeterID]
	switch m.Command {
	case openflow.MeterAdd, openflow.MeterModify:
		if m.Command == openflow.MeterAdd && exists {
			return nil, &openflow.ErrMeterExists
		}
		if m.Command == openflow.MeterModify && !exists {
			return nil, &openflow.ErrMeterUnknown
		}
		s.pipe.AddMeters([]*flow.MeterEntry{e})
		at := s.opts.Clock()
		if exists {
			at = s.meters[m.MeterID].added
		}
		s.meters[m.MeterID] = &meterEntry{e: e, added: at}
		return nil, nil
	}
	var rem []removed
	for _, id := range selectIDs(s.meters, m.MeterID, openflow.MeterAll) {
		for _, en := range s.pipe.Flows() {
			f := en.Flow
			if !usesMeter(f, id) {
				continue
			}
			p, by := en.Stats()
			rem = append(rem, removed{f: f, table: f.Table, reason: openflow.RemovedMeterDelete, added: s.added[f], packets: p, bytes: by})
			delete(s.added, f)
			s.pipe.DeleteFlows(f.Table, false, classifier.Filter{Match: f.Match, Priority: f.Priority, Strict: true})
		}
		// The pipeline has no meter removal: the entry stays there unused, and the switch
		// refuses new flows naming it.
		delete(s.meters, id)
	}
	return rem, nil
}

func usesMeter(f *flow.Flow, id uint32) bool {
	for _, a := range f.Instructions.Apply {
		if m, ok := a.(*flow.Meter); ok && m.MeterID == id {
			return true
		}
	}
	return false
}

// sendRemoved sends FLOW_REMOVED for the removed flows that asked for it.
func (s *Switch) sendRemoved(rem []removed, _ *conn) {
	if len(rem) == 0 {
		return
	}
	now := s.opts.Clock()
	conns := s.connList()
	for _, r := range rem {
		if r.f.Flags&flow.FlagSendFlowRem == 0 {
			continue
		}
		m := &openflow.FlowRemoved{TableID: r.f.Table, Reason: r.reason, Priority: r.f.Priority,
			IdleTimeout: uint16(r.f.IdleTimeout), HardTimeout: uint16(r.f.HardTimeout), Cookie: r.f.Cookie, Match: r.f.Match}
		d := time.Duration(0)
		if !r.added.IsZero() {
			d = now.Sub(r.added)
		}
		m.Stats.Has = 1<<openflow.StatDuration | 1<<openflow.StatPacketCount | 1<<openflow.StatByteCount
		m.Stats.DurationSec, m.Stats.DurationNSec = uint32(d/time.Second), uint32(d%time.Second)
		m.Stats.PacketCount, m.Stats.ByteCount = r.packets, r.bytes
		for _, c := range conns {
			c.sendAsync(m, true)
		}
	}
}

// selectIDs returns, sorted, the keys of m that a request for id selects: all of them when id
// is the "all" wildcard, else id if m has it.
func selectIDs[V any](m map[uint32]V, id, all uint32) []uint32 {
	if id != all {
		if _, ok := m[id]; ok {
			return []uint32{id}
		}
		return nil
	}
	return slices.Sorted(maps.Keys(m))
}
