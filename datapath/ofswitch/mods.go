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

// staged is one commit in progress: the pipeline transaction every message of a FLOW_MOD or
// bundle goes into, and the switch's own bookkeeping as it will be if the commit succeeds.
type staged struct {
	tx      *pipeline.Tx
	groups  map[uint32]time.Time
	meters  map[uint32]*meterEntry
	gone    []*pipeline.Entry // flows this commit deletes, for FLOW_REMOVED
	reasons []uint8           // the FLOW_REMOVED reason of each of gone
	now     time.Time
}

// delete records flows the transaction removed, for FLOW_REMOVED.
func (st *staged) delete(es []*pipeline.Entry, reason uint8) {
	for _, e := range es {
		st.gone = append(st.gone, e)
		st.reasons = append(st.reasons, reason)
	}
}

// commitLocked applies prepared ops in order as one pipeline transaction: packets see all of
// them or none. On an error it discards everything and returns the failing op's index and error.
func (s *Switch) commitLocked(ops []op) ([]removed, int, *openflow.Error) {
	st := &staged{tx: s.pipe.Begin(), groups: maps.Clone(s.groups), meters: maps.Clone(s.meters), now: s.opts.Clock()}
	for i, o := range ops {
		var e *openflow.Error
		switch m := o.msg.(type) {
		case *openflow.FlowMod:
			switch m.Command {
			case openflow.FlowAdd:
				e = s.addLocked(st, o.f)
			case openflow.FlowModify, openflow.FlowModifyStrict:
				e = s.modifyLocked(st, m, o.f)
			default:
				s.deleteLocked(st, m.TableID, m.Command == openflow.FlowDeleteStrict, o.f, m.OutPort, m.OutGroup, openflow.RemovedDelete)
			}
		case *openflow.GroupMod:
			e = s.groupModLocked(st, m, o.group)
		case *openflow.MeterMod:
			e = s.meterModLocked(st, m, o.meter)
		}
		if e != nil {
			st.tx.Discard()
			return nil, i, e
		}
	}
	st.tx.Commit()
	s.groups, s.meters = st.groups, st.meters
	rem := make([]removed, 0, len(st.gone))
	for i, en := range st.gone {
		p, by := en.Stats()
		rem = append(rem, removed{f: en.Flow, table: en.Flow.Table, reason: st.reasons[i], added: en.Added(), packets: p, bytes: by})
	}
	return rem, -1, nil
}

// addLocked adds one flow to the commit.
func (s *Switch) addLocked(st *staged, f *flow.Flow) *openflow.Error {
	if e := checkRefsStaged(st, f); e != nil {
		return e
	}
	if f.Flags&flow.FlagCheckOverlap != 0 && overlaps(st.tx, f) {
		return &openflow.ErrFlowModOverlap
	}
	if err := st.tx.AddFlow(f); err != nil {
		return validationError(err)
	}
	return nil
}

// checkRefsStaged checks that the groups and meters a flow names exist in the commit's view.
func checkRefsStaged(st *staged, f *flow.Flow) *openflow.Error {
	return checkRefs(f, func(id uint32) bool { _, ok := st.groups[id]; return ok },
		func(id uint32) bool { _, ok := st.meters[id]; return ok })
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

// overlaps reports whether another flow of f's table and priority, as the transaction sees
// them, could match a packet f matches (check_overlap).
func overlaps(tx *pipeline.Tx, f *flow.Flow) bool {
	for _, e := range tx.Flows(f.Table) {
		g := e.Flow
		if g.Priority != f.Priority || keyOf(g) == keyOf(f) {
			continue
		}
		disjoint := false
		for i := range f.Match.Mask.W {
			common := f.Match.Mask.W[i] & g.Match.Mask.W[i]
			if f.Match.Key.W[i]&common != g.Match.Key.W[i]&common {
				disjoint = true
				break
			}
		}
		if !disjoint {
			return true
		}
	}
	return false
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
// flags, age and (without reset_counts) counters, as ovs-vswitchd does.
func (s *Switch) modifyLocked(st *staged, m *openflow.FlowMod, f *flow.Flow) *openflow.Error {
	if e := checkRefsStaged(st, f); e != nil {
		return e
	}
	strict := m.Command == openflow.FlowModifyStrict
	_, err := st.tx.ModifyFlows(m.TableID, m.TableID == openflow.TableAll, filterOf(f, strict),
		func(e *pipeline.Entry) bool { return selects(e.Flow, m.TableID, strict, f, m.OutPort, m.OutGroup) },
		f.Flags&flow.FlagResetCounts != 0,
		func(g *flow.Flow) *flow.Flow {
			n := *g
			n.Instructions = f.Instructions
			n.Stats = flow.Stats{}
			return &n
		})
	if err != nil {
		return validationError(err)
	}
	return nil
}

// filterOf is the classifier filter of a modify or delete whose match, priority and cookie
// are f's.
func filterOf(f *flow.Flow, strict bool) classifier.Filter {
	return classifier.Filter{Match: f.Match, Priority: f.Priority, Strict: strict, Cookie: f.Cookie, CookieMask: f.CookieMask}
}

// deleteLocked removes the selected flows in the commit, noting them for FLOW_REMOVED.
func (s *Switch) deleteLocked(st *staged, table uint8, strict bool, f *flow.Flow, outPort, outGroup uint32, reason uint8) {
	st.delete(st.tx.DeleteFlows(table, table == openflow.TableAll, filterOf(f, strict),
		func(e *pipeline.Entry) bool { return selects(e.Flow, table, strict, f, outPort, outGroup) }), reason)
}

// groupModLocked applies a GROUP_MOD.
func (s *Switch) groupModLocked(st *staged, m *openflow.GroupMod, g *flow.GroupEntry) *openflow.Error {
	_, exists := st.groups[m.GroupID]
	switch m.Command {
	case openflow.GroupAdd, openflow.GroupModify, openflow.GroupAddOrModify:
		if m.Command == openflow.GroupAdd && exists {
			return &openflow.ErrGroupExists
		}
		if m.Command == openflow.GroupModify && !exists {
			return &openflow.ErrGroupUnknown
		}
		if e := checkBucketIDs(g.Buckets); e != nil {
			return e
		}
		if err := st.tx.SetGroup(g); err != nil {
			return &errGroupInvalid
		}
		if !exists {
			st.groups[m.GroupID] = st.now
		}
		return nil
	case openflow.GroupDelete:
		for _, id := range selectIDs(st.groups, m.GroupID, openflow.GroupAll) {
			s.deleteLocked(st, openflow.TableAll, false, &flow.Flow{}, openflow.PortAny, id, openflow.RemovedGroupDelete)
			st.delete(st.tx.DeleteGroup(id), openflow.RemovedGroupDelete)
			delete(st.groups, id)
		}
		return nil
	case openflow.GroupInsertBucket, openflow.GroupRemoveBucket:
		if !exists {
			return &openflow.ErrGroupUnknown
		}
		cur := st.tx.Group(m.GroupID)
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
				return &openflow.ErrGroupUnknownBucket
			}
		}
		if m.Command == openflow.GroupInsertBucket {
			if m.CommandBucketID == openflow.BucketAll {
				return &openflow.ErrGroupUnknownBucket
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
				return e
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
		if err := st.tx.SetGroup(&n); err != nil {
			return &errGroupInvalid
		}
		return nil
	}
	return &openflow.ErrGroupBadCommand
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
func (s *Switch) meterModLocked(st *staged, m *openflow.MeterMod, e *flow.MeterEntry) *openflow.Error {
	_, exists := st.meters[m.MeterID]
	switch m.Command {
	case openflow.MeterAdd, openflow.MeterModify:
		if m.Command == openflow.MeterAdd && exists {
			return &openflow.ErrMeterExists
		}
		if m.Command == openflow.MeterModify && !exists {
			return &openflow.ErrMeterUnknown
		}
		st.tx.SetMeter(e)
		at := st.now
		if exists {
			at = st.meters[m.MeterID].added
		}
		st.meters[m.MeterID] = &meterEntry{e: e, added: at}
		return nil
	}
	for _, id := range selectIDs(st.meters, m.MeterID, openflow.MeterAll) {
		st.delete(st.tx.DeleteMeter(id), openflow.RemovedMeterDelete)
		delete(st.meters, id)
	}
	return nil
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
