package ofswitch

import (
	"github.com/sluicenet/sluice/datapath/openflow"
)

// maxBundleMsgs bounds one bundle (OVS has no fixed limit; this keeps a runaway controller
// from exhausting memory).
const maxBundleMsgs = 1 << 20

// bundle is an open (or closed, not yet committed) bundle of one connection.
type bundle struct {
	flags  uint16
	closed bool
	ops    []op
}

// handleBundleControl implements OFPT_BUNDLE_CONTROL.
func (c *conn) handleBundleControl(h openflow.Header, m *openflow.BundleControl, raw []byte) {
	reply := func(t uint16) {
		c.send(h.XID, &openflow.BundleControl{BundleID: m.BundleID, CtlType: t, Flags: m.Flags})
	}
	if c.getRole() == openflow.RoleSlave {
		c.sendError(h.XID, errIsSlave, raw)
		return
	}
	b := c.bundles[m.BundleID]
	switch m.CtlType {
	case openflow.BundleOpenRequest:
		if b != nil {
			c.sendError(h.XID, openflow.ErrBundleExists, raw)
			return
		}
		if m.Flags&^(openflow.BundleAtomic|openflow.BundleOrdered) != 0 {
			c.sendError(h.XID, openflow.ErrBundleBadFlags, raw)
			return
		}
		c.bundles[m.BundleID] = &bundle{flags: m.Flags}
		reply(openflow.BundleOpenReply)
	case openflow.BundleCloseRequest:
		switch {
		case b == nil:
			c.sendError(h.XID, openflow.ErrBundleBadID, raw)
		case b.closed:
			c.sendError(h.XID, openflow.ErrBundleClosed, raw)
		case b.flags != m.Flags:
			c.sendError(h.XID, openflow.ErrBundleBadFlags, raw)
		default:
			b.closed = true
			reply(openflow.BundleCloseReply)
		}
	case openflow.BundleCommitRequest:
		if b == nil {
			c.sendError(h.XID, openflow.ErrBundleBadID, raw)
			return
		}
		delete(c.bundles, m.BundleID)
		if b.flags != m.Flags {
			c.sendError(h.XID, openflow.ErrBundleBadFlags, raw)
			return
		}
		if c.s.commitBundle(c, b) {
			reply(openflow.BundleCommitReply)
		} else {
			c.sendError(h.XID, openflow.ErrBundleMsgFailed, raw)
		}
	case openflow.BundleDiscardRequest:
		if b == nil {
			c.sendError(h.XID, openflow.ErrBundleBadID, raw)
			return
		}
		delete(c.bundles, m.BundleID)
		reply(openflow.BundleDiscardReply)
	default:
		c.sendError(h.XID, openflow.ErrBundleBadType, raw)
	}
}

// handleBundleAdd implements OFPT_BUNDLE_ADD_MESSAGE: the message is checked now (an invalid
// one is refused at once, as OVS does) and applied at commit.
func (c *conn) handleBundleAdd(h openflow.Header, m *openflow.BundleAdd, raw []byte) {
	if c.getRole() == openflow.RoleSlave {
		c.sendError(h.XID, errIsSlave, raw)
		return
	}
	b := c.bundles[m.BundleID]
	if b == nil {
		// The spec lets a BUNDLE_ADD open the bundle implicitly.
		if m.Flags&^(openflow.BundleAtomic|openflow.BundleOrdered) != 0 {
			c.sendError(h.XID, openflow.ErrBundleBadFlags, raw)
			return
		}
		b = &bundle{flags: m.Flags}
		c.bundles[m.BundleID] = b
	}
	switch {
	case b.closed:
		c.sendError(h.XID, openflow.ErrBundleClosed, raw)
		return
	case b.flags != m.Flags:
		c.sendError(h.XID, openflow.ErrBundleBadFlags, raw)
		return
	case len(b.ops) >= maxBundleMsgs:
		c.sendError(h.XID, openflow.Error{ErrType: openflow.ErrTypeBundleFailed, Code: 8}, raw) // OFPBFC_MSG_TOO_MANY
		return
	}
	inner := raw[openflow.HeaderLen+8:]
	if ih, err := openflow.ParseHeader(inner); err == nil && int(ih.Length) <= len(inner) {
		inner = inner[:ih.Length]
	}
	o := op{xid: m.XID, raw: inner, msg: m.Message}
	switch m.Message.(type) {
	case *openflow.FlowMod, *openflow.GroupMod, *openflow.MeterMod:
	default:
		c.sendError(h.XID, openflow.ErrBundleMsgUnsup, raw)
		return
	}
	if e := c.s.prepare(&o); e != nil {
		c.sendError(m.XID, *e, inner)
		return
	}
	// The raw bytes are the reader's buffer: keep a copy only of the start, for errors.
	o.raw = append([]byte(nil), inner[:min(len(inner), 64)]...)
	b.ops = append(b.ops, o)
}

// commitBundle applies a bundle's messages in order under the switch lock. Each was checked
// when it was added; if one still fails (a flow naming a group that a message before it in
// the bundle deleted, an overlap), the controller gets its error, the commit fails and
// nothing of the bundle is applied.
func (s *Switch) commitBundle(c *conn, b *bundle) bool {
	s.mu.Lock()
	i, e := s.dryRunLocked(b.ops)
	var rem []removed
	if e == nil {
		rem, i, e = s.commitLocked(b.ops)
	}
	s.mu.Unlock()
	if e != nil {
		o := b.ops[i]
		c.sendError(o.xid, *e, o.raw)
	}
	s.sendRemoved(rem, c)
	return e == nil
}

// dryRunLocked checks a bundle's state-dependent conditions (groups and meters that must or
// must not exist, including those the bundle itself adds or deletes) before anything is
// applied, so a bundle that would fail leaves the switch untouched.
func (s *Switch) dryRunLocked(ops []op) (int, *openflow.Error) {
	groups := make(map[uint32]bool, len(s.groups))
	for id := range s.groups {
		groups[id] = true
	}
	meters := make(map[uint32]bool, len(s.meters))
	for id := range s.meters {
		meters[id] = true
	}
	for i, o := range ops {
		var e *openflow.Error
		switch m := o.msg.(type) {
		case *openflow.FlowMod:
			if m.Command <= openflow.FlowModifyStrict {
				e = checkRefs(o.f, func(id uint32) bool { return groups[id] }, func(id uint32) bool { return meters[id] })
			}
		case *openflow.GroupMod:
			kind := map[openflow.GroupModCommand]change{openflow.GroupAdd: create, openflow.GroupAddOrModify: upsert,
				openflow.GroupModify: update, openflow.GroupInsertBucket: update, openflow.GroupRemoveBucket: update,
				openflow.GroupDelete: remove}[m.Command]
			e = simulate(groups, kind, m.GroupID, openflow.GroupAll, openflow.ErrGroupExists, openflow.ErrGroupUnknown)
		case *openflow.MeterMod:
			kind := map[openflow.MeterModCommand]change{openflow.MeterAdd: create, openflow.MeterModify: update,
				openflow.MeterDelete: remove}[m.Command]
			e = simulate(meters, kind, m.MeterID, openflow.MeterAll, openflow.ErrMeterExists, openflow.ErrMeterUnknown)
		}
		if e != nil {
			return i, e
		}
	}
	return -1, nil
}

// change is what a group or meter mod does to the set of existing ids.
type change uint8

const (
	create change = iota // must not exist yet
	update               // must exist
	upsert               // either
	remove               // one id or all; a missing one is no error
)

// simulate applies a change to a set of ids, returning the error the switch would answer.
func simulate(set map[uint32]bool, kind change, id, all uint32, exists, unknown openflow.Error) *openflow.Error {
	switch kind {
	case create:
		if set[id] {
			return &exists
		}
		set[id] = true
	case update:
		if !set[id] {
			return &unknown
		}
	case upsert:
		set[id] = true
	case remove:
		if id == all {
			clear(set)
		}
		delete(set, id)
	}
	return nil
}
