package pipeline

import (
	"fmt"

	"github.com/sluicenet/sluice/datapath/classifier"
	"github.com/sluicenet/sluice/datapath/conntrack"
	"github.com/sluicenet/sluice/datapath/flow"
)

// xlate is one translation: a key walked through the tables of one snapshot.
type xlate struct {
	p      *Pipeline
	snap   *classifier.Snapshot[*Entry]
	groups map[uint32]*flow.GroupEntry

	key      flow.Key // the packet as the actions have changed it so far
	base     flow.Key // the packet as the emitted ops leave the frame
	pushTPID uint16   // TPID of a tag pushed but not committed yet

	prog      *program
	table     uint8      // the table of the flow being executed
	flow      *flow.Flow // the flow being executed (for packet-in cookies)
	depth     int
	resubmits int
	exit      bool          // stop the current flow's actions (dec_ttl exception)
	actset    []flow.Action // the action set (write_actions)
	learn     bool          // learn() may change the tables

	tr  *TracePass // nil unless tracing
	cur int        // index of the trace step actions are logged to, -1 before the first

	// wc, when track is set, collects every key bit the translation depended on: the
	// program is valid for every key that agrees with this one on those bits (a megaflow).
	wc    flow.Key
	track bool
}

// translate walks key through the tables from table and returns the program for it.
func (p *Pipeline) translate(key *flow.Key, table uint8, tr *TracePass, learn bool) *program {
	return p.translateWC(key, table, tr, learn, nil)
}

// translateWC is translate that also reports, in wc (when not nil), the key bits the program
// depends on.
func (p *Pipeline) translateWC(key *flow.Key, table uint8, tr *TracePass, learn bool, wc *flow.Key) *program {
	st := p.state.Load()
	x := xlate{
		p: p, snap: st.snap, groups: st.groups,
		key: *key, base: *key,
		prog:  &program{cacheable: true},
		learn: learn, tr: tr, cur: -1,
		track: wc != nil,
	}
	defer func() {
		if wc != nil {
			*wc = x.wc
		}
	}()
	x.lookup(table, false)
	if x.prog.drop == DropNone && len(x.actset) > 0 {
		x.exit = false
		x.runActionSet()
	}
	if x.prog.drop != DropNone {
		x.prog.ops = nil
	}
	if tr != nil {
		tr.Drop = x.prog.drop
		for i := range x.prog.ops {
			tr.Ops = append(tr.Ops, x.prog.ops[i].String())
		}
	}
	return x.prog
}

func (x *xlate) failed() bool { return x.prog.drop != DropNone }

// unwild marks field f as one the translation depends on.
func (x *xlate) unwild(f flow.Field) {
	switch {
	case !x.track:
	case f.Width() > 64:
		x.wc.Set128(f, ^uint64(0), ^uint64(0))
	default:
		x.wc.Set(f, ^uint64(0))
	}
}

// unwildBits marks a subfield as one the translation depends on.
func (x *xlate) unwildBits(sf flow.Subfield) {
	if !x.track {
		return
	}
	for done := uint16(0); done < sf.Bits; {
		n := min(sf.Bits-done, 64)
		x.wc.SetBits(sf.Field, uint(sf.Ofs+done), uint(n), ^uint64(0))
		done += n
	}
}

// wrote records that an action changed field f: whether (and how) the change reaches the
// frame depends on the packet's own value, so the field becomes exact in the megaflow (as OVS
// unwildcards every field a set_field touches).
func (x *xlate) wrote(f flow.Field) {
	x.unwild(f)
	x.unwild(flow.FieldEthType)
}

func (x *xlate) fail(r DropReason) {
	if x.prog.drop == DropNone {
		x.prog.drop = r
		x.note(">>>> " + r.String() + " <<<<")
	}
}

// note appends a line to the current trace step.
func (x *xlate) note(s string) {
	if x.tr != nil && x.cur >= 0 {
		x.tr.Steps[x.cur].Actions = append(x.tr.Steps[x.cur].Actions, s)
	}
}

func (x *xlate) notef(format string, args ...any) {
	if x.tr != nil {
		x.note(fmt.Sprintf(format, args...))
	}
}

// wcp returns the wildcard accumulator for classifier lookups, nil when not tracking.
func (x *xlate) wcp() *flow.Key {
	if x.track {
		return &x.wc
	}
	return nil
}

// resourceCheck is OVS's xlate_resubmit_resource_check.
func (x *xlate) resourceCheck() bool {
	switch {
	case x.depth >= MaxDepth:
		x.fail(DropRecursion)
		return false
	case x.resubmits >= MaxResubmits:
		x.fail(DropTooManyResub)
		return false
	}
	return true
}

// lookup looks the key up in table and runs the matched flow. nested is true for goto_table
// (which counts against the depth limit), false for the first lookup of a pass.
func (x *xlate) lookup(table uint8, nested bool) {
	if nested {
		x.lookupAs(table, flow.PortUnset)
		return
	}
	x.lookupIn(table, flow.PortUnset)
}

// lookupAs is a nested lookup (resubmit, goto_table) with the depth and resubmit limits;
// inPort, unless PortUnset, replaces in_port for the lookup.
func (x *xlate) lookupAs(table uint8, inPort uint32) {
	if !x.resourceCheck() {
		return
	}
	x.depth++
	x.resubmits++
	x.lookupIn(table, inPort)
	x.depth--
}

// lookupIn looks the key up in table and runs the matched flow.
func (x *xlate) lookupIn(table uint8, inPort uint32) {
	var r *classifier.Rule[*Entry]
	var conjID uint32
	var viaConj bool
	if inPort != flow.PortUnset {
		saved := x.key.Get(flow.FieldInPort)
		x.key.Set(flow.FieldInPort, uint64(inPort))
		r, conjID, viaConj = x.snap.Table(table).LookupConj(&x.key, x.wcp())
		x.key.Set(flow.FieldInPort, saved)
	} else {
		r, conjID, viaConj = x.snap.Table(table).LookupConj(&x.key, x.wcp())
	}
	savedTable := x.table
	x.table = table
	defer func() { x.table = savedTable }()
	saved := x.cur
	if x.tr != nil {
		st := TraceStep{Table: table, Depth: x.depth, ConjID: conjID, ViaConj: viaConj,
			CtState: conntrack.State(x.key.Get(flow.FieldCtState))}
		if r != nil {
			st.Flow = r.Payload.Flow
		}
		x.tr.Steps = append(x.tr.Steps, st)
		x.cur = len(x.tr.Steps) - 1
		defer func() { x.cur = saved }()
	}
	if r == nil {
		return
	}
	e := r.Payload
	savedFlow := x.flow
	x.flow = e.Flow
	defer func() { x.flow = savedFlow }()
	x.prog.entries = append(x.prog.entries, e)
	x.runFlow(e.Flow)
}

// runFlow executes a matched flow's instructions in OpenFlow's order.
func (x *xlate) runFlow(f *flow.Flow) {
	ins := &f.Instructions
	x.runActions(ins.Apply)
	if x.exit {
		x.exit = false
		return
	}
	if x.failed() {
		return
	}
	if ins.ClearActions {
		x.actset = x.actset[:0]
	}
	if ins.Write != nil {
		x.actset = append(x.actset, ins.Write...)
	}
	if ins.HasWriteMetadata {
		x.wrote(flow.FieldMetadata)
		md := x.key.Get(flow.FieldMetadata)
		x.key.Set(flow.FieldMetadata, md&^ins.WriteMetadataMask|ins.WriteMetadata&ins.WriteMetadataMask)
	}
	if ins.HasGotoTable {
		x.lookup(ins.GotoTable, true)
	}
}

// runActionSet executes the action set at the end of the pipeline in OpenFlow's set order: pop,
// push, dec_ttl, set-fields (the last write to a field wins), then group, or else output.
func (x *xlate) runActionSet() {
	var pop, push, dec, grp, out flow.Action
	var sets []flow.Action
	for _, a := range x.actset {
		switch a := a.(type) {
		case *flow.PopVLAN:
			pop = a
		case *flow.PushVLAN:
			push = a
		case *flow.DecTTL:
			dec = a
		case *flow.SetField:
			for i, s := range sets {
				if s.(*flow.SetField).Field == a.Field {
					sets = append(sets[:i], sets[i+1:]...)
					break
				}
			}
			sets = append(sets, a)
		case *flow.Group:
			grp = a
		case *flow.Output, *flow.OutputReg:
			out = a
		}
	}
	var list []flow.Action
	for _, a := range []flow.Action{pop, push, dec} {
		if a != nil {
			list = append(list, a)
		}
	}
	list = append(list, sets...)
	if grp != nil {
		list = append(list, grp)
	} else if out != nil {
		list = append(list, out)
	}
	x.runActions(list)
}

// runActions executes an action list.
func (x *xlate) runActions(acts []flow.Action) {
	for _, a := range acts {
		if x.exit || x.failed() {
			return
		}
		if x.tr != nil {
			switch a.(type) {
			case *flow.Conjunction:
			default:
				x.note(a.String())
			}
		}
		switch a := a.(type) {
		case *flow.Output:
			x.output(a.Port, a.MaxLen)
		case *flow.OutputReg:
			x.unwildBits(a.Src)
			x.output(uint32(x.key.GetBits(a.Src.Field, uint(a.Src.Ofs), uint(a.Src.Bits))), a.MaxLen)
		case *flow.Controller:
			x.controller(a.Reason, a.UserData, a.MaxLen)
		case *flow.SetField:
			x.setField(a)
		case *flow.Move:
			x.move(a)
		case *flow.Resubmit:
			x.resubmit(a)
		case *flow.CT:
			x.ct(a)
		case *flow.CTClear:
			x.ctClear()
		case *flow.Group:
			x.group(a.GroupID)
		case *flow.Meter:
			x.prog.ops = append(x.prog.ops, op{kind: opMeter, port: a.MeterID})
		case *flow.DecTTL:
			x.decTTL(a)
		case *flow.PushVLAN:
			x.wrote(flow.FieldVLANTCI)
			// OVS (single tag in the key here): the new tag has VID 0, PCP 0.
			if x.key.Get(flow.FieldVLANTCI)&vlanCFI != 0 {
				x.note(">> pushing a second VLAN tag: the key keeps only the outer one")
			}
			x.key.Set(flow.FieldVLANTCI, vlanCFI)
			x.pushTPID = a.EthType
		case *flow.PopVLAN:
			x.wrote(flow.FieldVLANTCI)
			x.key.Set(flow.FieldVLANTCI, 0)
		case *flow.Learn:
			x.doLearn(a)
		case *flow.Note, *flow.Conjunction:
		default:
			x.notef(">> unsupported action %T ignored", a)
		}
	}
}

const vlanCFI = 0x1000

// output sends the packet to an OpenFlow port with OVS's rules for reserved and input ports.
func (x *xlate) output(port uint32, maxLen uint16) {
	x.unwild(flow.FieldInPort)
	inPort := uint32(x.key.Get(flow.FieldInPort))
	switch port {
	case flow.PortInPort:
		x.emitOutput(inPort)
	case flow.PortController:
		x.controller(flow.ReasonAction, nil, maxLen)
	case flow.PortAll, flow.PortFlood, flow.PortNormal:
		// NORMAL is treated as a flood: Sluice does no MAC learning (OVS floods broadcast
		// and unknown destinations the same way).
		ports := x.p.sortedPorts()
		if ports == nil {
			x.note(">> flood/all needs the pipeline's port list; dropped")
		}
		for _, n := range ports {
			if n != inPort {
				x.emitOutput(n)
			}
		}
	case flow.PortTable, flow.PortAny, flow.PortUnset:
		x.notef(">> output to %s is not supported; dropped", (&flow.Output{Port: port}).String())
	default:
		switch {
		case port == inPort:
			x.note(" >> skipping output to input port")
		case !x.p.portExists(port):
			x.note(" >> Nonexistent output port")
		default:
			x.emitOutput(port)
		}
	}
}

func (x *xlate) emitOutput(port uint32) {
	x.commit()
	x.prog.ops = append(x.prog.ops, op{kind: opOutput, port: port})
}

func (x *xlate) controller(reason flow.ControllerReason, userData []byte, maxLen uint16) {
	x.commit()
	var cookie uint64
	if x.flow != nil {
		cookie = x.flow.Cookie
	}
	x.prog.ops = append(x.prog.ops, op{kind: opController,
		ctl: &ctlOp{reason: reason, userData: userData, maxLen: maxLen, table: x.table, cookie: cookie}})
}

// setField applies set_field/load to the key.
func (x *xlate) setField(a *flow.SetField) {
	f := a.Field
	x.wrote(f)
	if f == flow.FieldVLANPCP || f == flow.FieldVLANVID {
		x.wrote(flow.FieldVLANTCI)
	}
	if f.Width() > 64 {
		hi, lo := x.key.Get128(f)
		x.key.Set128(f, hi&^a.Mask.Hi|a.Value.Hi&a.Mask.Hi, lo&^a.Mask.Lo|a.Value.Lo&a.Mask.Lo)
		return
	}
	old := x.key.Get(f)
	v := old&^a.Mask.Lo | a.Value.Lo&a.Mask.Lo
	if f == flow.FieldVLANPCP && x.key.Get(flow.FieldVLANTCI)&vlanCFI == 0 {
		// mod_vlan_pcp on an untagged packet pushes a tag first, as OVS's set_vlan_pcp does.
		x.key.Set(flow.FieldVLANTCI, vlanCFI)
		x.pushTPID = 0x8100
	}
	if f == flow.FieldVLANVID && old&vlanCFI == 0 && v&vlanCFI != 0 {
		x.pushTPID = 0x8100
	}
	x.key.Set(f, v)
}

// move copies a subfield (move:src->dst), 64 bits at a time.
func (x *xlate) move(a *flow.Move) {
	x.unwildBits(a.Src)
	x.wrote(a.Dst.Field)
	for done := uint16(0); done < a.Src.Bits; {
		n := min(a.Src.Bits-done, 64)
		v := x.key.GetBits(a.Src.Field, uint(a.Src.Ofs+done), uint(n))
		x.key.SetBits(a.Dst.Field, uint(a.Dst.Ofs+done), uint(n), v)
		done += n
	}
}

// resubmit looks the packet up again, possibly as if it came from another port.
func (x *xlate) resubmit(a *flow.Resubmit) {
	table := a.Table
	if table == flow.TableNone {
		table = x.table
	}
	if a.CT {
		x.note(">> resubmit(,,ct) is not supported; resubmitting without it")
	}
	// As OVS: the port replaces in_port for the lookup only; the matched flow's actions see
	// the real one again (so IN_PORT and the input-port check behave as without it).
	inPort := flow.PortUnset
	if a.Port != flow.PortInPort && a.Port != flow.PortUnset {
		inPort = a.Port
	}
	x.lookupAs(table, inPort)
}

// ct translates a ct() action: commit pending changes, emit the ct op (and recirculation),
// and continue as an untracked packet, as OVS's compose_conntrack_action.
func (x *xlate) ct(a *flow.CT) {
	zone := a.Zone
	if a.ZoneSrc.Bits != 0 {
		x.unwildBits(a.ZoneSrc)
		zone = uint16(x.key.GetBits(a.ZoneSrc.Field, uint(a.ZoneSrc.Ofs), uint(a.ZoneSrc.Bits)))
	}
	x.commit()
	c := &ctOp{act: conntrack.Action{Zone: zone, Commit: a.Commit || a.Force, Force: a.Force,
		NAT: conntrackNAT(a.NAT)}, nat: a.NAT, table: a.Table}
	// exec(): set_field and move into ct_mark/ct_label, folded into one value and mask each.
	var val, msk flow.Key
	for _, e := range a.Exec {
		switch e := e.(type) {
		case *flow.SetField:
			if e.Field != flow.FieldCtMark && e.Field != flow.FieldCtLabel {
				continue
			}
			vh, vl := val.Get128(e.Field)
			mh, ml := msk.Get128(e.Field)
			val.Set128(e.Field, vh&^e.Mask.Hi|e.Value.Hi&e.Mask.Hi, vl&^e.Mask.Lo|e.Value.Lo&e.Mask.Lo)
			msk.Set128(e.Field, mh|e.Mask.Hi, ml|e.Mask.Lo)
		case *flow.Move:
			if e.Dst.Field != flow.FieldCtMark && e.Dst.Field != flow.FieldCtLabel {
				continue
			}
			x.unwildBits(e.Src)
			for done := uint16(0); done < e.Src.Bits; {
				n := min(e.Src.Bits-done, 64)
				v := x.key.GetBits(e.Src.Field, uint(e.Src.Ofs+done), uint(n))
				val.SetBits(e.Dst.Field, uint(e.Dst.Ofs+done), uint(n), v)
				msk.SetBits(e.Dst.Field, uint(e.Dst.Ofs+done), uint(n), ^uint64(0))
				done += n
			}
		}
	}
	c.act.Mark, c.act.MarkMask = uint32(val.Get(flow.FieldCtMark)), uint32(msk.Get(flow.FieldCtMark))
	lh, ll := val.Get128(flow.FieldCtLabel)
	mh, ml := msk.Get128(flow.FieldCtLabel)
	c.act.Label, c.act.LabelMask = conntrack.Label{Hi: lh, Lo: ll}, conntrack.Label{Hi: mh, Lo: ml}
	// What ofproto/trace shows the recirculated pass: the packet's ct_mark/ct_label with exec's
	// bits written in (it does not model the tracker).
	c.emuMark = uint32(x.key.Get(flow.FieldCtMark))&^c.act.MarkMask | c.act.Mark
	kh, kl := x.key.Get128(flow.FieldCtLabel)
	c.emuLabel = conntrack.Label{Hi: kh&^mh | lh, Lo: kl&^ml | ll}
	if a.Alg != 0 {
		x.notef(">> ct alg=%d is not supported; tracked without a helper", a.Alg)
	}
	c.text = ctText(&c.act, a.NAT)
	if a.Table != flow.TableNone {
		copy(c.frozen[:], x.key.W[:frozenWords])
		if x.track { // the frozen metadata is copied from the packet
			for i := range frozenWords {
				x.wc.W[i] = ^uint64(0)
			}
		}
		x.note(" -> A clone of the packet is forked to recirculate. The forked pipeline will be resumed at table " + fmt.Sprint(a.Table) + ".")
	}
	x.prog.ops = append(x.prog.ops, op{kind: opCT, ct: c})
	x.note(" -> Sets the packet to an untracked state, and clears all the conntrack fields.")
	clearCT(&x.key)
	clearCT(&x.base)
}

// ctClear is ct_clear: the datapath forgets the state only if the packet was tracked.
func (x *xlate) ctClear() {
	x.unwild(flow.FieldCtState)
	if x.key.Get(flow.FieldCtState)&uint64(conntrack.StateTracked) != 0 {
		x.prog.ops = append(x.prog.ops, op{kind: opCTClear})
	}
	clearCT(&x.key)
	clearCT(&x.base)
}

func clearCT(k *flow.Key) {
	for _, f := range []flow.Field{flow.FieldCtState, flow.FieldCtZone, flow.FieldCtNwProto, flow.FieldCtMark,
		flow.FieldCtNwSrc, flow.FieldCtNwDst, flow.FieldCtTpSrc, flow.FieldCtTpDst} {
		k.Set(f, 0)
	}
	k.Set128(flow.FieldCtLabel, 0, 0)
}

// decTTL is dec_ttl: at TTL 0 or 1 the packet goes to the controller(s) with reason
// invalid_ttl and the flow's remaining actions are skipped.
func (x *xlate) decTTL(a *flow.DecTTL) {
	x.unwild(flow.FieldEthType)
	x.wrote(flow.FieldNwTTL)
	et := x.key.Get(flow.FieldEthType)
	if et != flow.EthTypeIPv4 && et != flow.EthTypeIPv6 {
		return
	}
	ttl := x.key.Get(flow.FieldNwTTL)
	if ttl > 1 {
		x.key.Set(flow.FieldNwTTL, ttl-1)
		return
	}
	n := max(len(a.IDs), 1)
	for range n {
		x.controller(flow.ReasonInvalidTTL, nil, 0)
	}
	x.note(" >> IPv4 decrement TTL exception")
	x.exit = true
}

// group executes a group's bucket(s); each bucket sees the packet as it was before the group.
func (x *xlate) group(id uint32) {
	g := x.groups[id]
	if g == nil {
		x.notef(">> group %d does not exist", id)
		return
	}
	if !x.resourceCheck() {
		return
	}
	switch g.Type {
	case flow.GroupAll:
		for i := range g.Buckets {
			x.bucket(&g.Buckets[i])
		}
	case flow.GroupIndirect, flow.GroupFastFailover:
		if len(g.Buckets) > 0 {
			x.bucket(&g.Buckets[0])
		}
	case flow.GroupSelect:
		var basis uint32
		x.unwild(flow.FieldEthType)
		x.unwild(flow.FieldNwProto)
		if g.SelectionMethod == "hash" {
			for _, hf := range g.Fields {
				x.unwild(hf.Field)
			}
			basis = selectHashBasis(g, &x.key)
		} else {
			for _, f := range []flow.Field{flow.FieldNwSrc, flow.FieldNwDst, flow.FieldIPv6Src,
				flow.FieldIPv6Dst, flow.FieldTpSrc, flow.FieldTpDst} {
				x.unwild(f)
			}
			basis = defaultBasis(&x.key)
		}
		if x.tr != nil {
			for i := range g.Buckets {
				x.notef(" -> bucket %d: score %d", g.Buckets[i].ID, bucketScore(&g.Buckets[i], basis))
			}
		}
		i := bestBucket(g, basis)
		if i < 0 {
			x.note(" -> no live bucket")
			return
		}
		x.notef(" -> using bucket %d", g.Buckets[i].ID)
		x.bucket(&g.Buckets[i])
	}
}

func (x *xlate) bucket(b *flow.Bucket) {
	saved := x.key
	savedSet := len(x.actset)
	x.notef("bucket %d", b.ID)
	x.depth++
	x.runActions(b.Actions)
	x.depth--
	x.exit = false
	x.key = saved
	x.actset = x.actset[:savedSet]
}

// commitFields are the header and packet-metadata fields a translation may change and the
// frame (or the packet's metadata) must reflect at the next output, controller or ct op.
var commitFields = []flow.Field{
	flow.FieldEthSrc, flow.FieldEthDst, flow.FieldNwSrc, flow.FieldNwDst, flow.FieldNwTOS,
	flow.FieldNwTTL, flow.FieldTpSrc, flow.FieldTpDst, flow.FieldArpSha, flow.FieldArpTha,
	flow.FieldIPv6Label, flow.FieldPktMark, flow.FieldTunID, flow.FieldTunSrc, flow.FieldTunDst,
}

var commitFields128 = []flow.Field{flow.FieldIPv6Src, flow.FieldIPv6Dst, flow.FieldNdTarget}

// commit emits the ops that make the frame match the key (OVS's commit_odp_actions).
func (x *xlate) commit() {
	k, b := &x.key, &x.base
	if kv, bv := k.Get(flow.FieldVLANTCI), b.Get(flow.FieldVLANTCI); kv != bv {
		if bv&vlanCFI != 0 {
			x.prog.ops = append(x.prog.ops, op{kind: opPopVLAN})
		}
		if kv&vlanCFI != 0 {
			tpid := x.pushTPID
			if tpid == 0 {
				tpid = 0x8100
			}
			x.prog.ops = append(x.prog.ops, op{kind: opPushVLAN, port: uint32(tpid), lo: kv &^ vlanCFI})
		}
		b.Set(flow.FieldVLANTCI, kv)
	}
	x.pushTPID = 0
	arp := k.Get(flow.FieldEthType) == flow.EthTypeARP || k.Get(flow.FieldEthType) == flow.EthTypeRARP
	for _, f := range commitFields {
		if kv := k.Get(f); kv != b.Get(f) {
			ff := f
			if arp {
				switch f {
				case flow.FieldNwSrc:
					ff = flow.FieldArpSpa
				case flow.FieldNwDst:
					ff = flow.FieldArpTpa
				}
			}
			x.prog.ops = append(x.prog.ops, op{kind: opSet, field: ff, lo: kv})
			b.Set(f, kv)
		}
	}
	if arp {
		if kv := k.Get(flow.FieldArpOp); kv != b.Get(flow.FieldArpOp) {
			x.prog.ops = append(x.prog.ops, op{kind: opSet, field: flow.FieldArpOp, lo: kv})
			b.Set(flow.FieldArpOp, kv)
		}
	}
	for _, f := range commitFields128 {
		kh, kl := k.Get128(f)
		bh, bl := b.Get128(f)
		if kh != bh || kl != bl {
			x.prog.ops = append(x.prog.ops, op{kind: opSet, field: f, hi: kh, lo: kl})
			b.Set128(f, kh, kl)
		}
	}
}

// doLearn executes learn(): builds the flow from the packet and adds it (visible to the next
// packet, not to the rest of this translation, as in OVS).
func (x *xlate) doLearn(l *flow.Learn) {
	x.prog.cacheable = false
	if !x.learn {
		x.note(" >> suppressing side effects, so learn action ignored")
		return
	}
	f := &flow.Flow{Table: l.Table, Priority: l.Priority, IdleTimeout: l.IdleTimeout,
		HardTimeout: l.HardTimeout, Cookie: l.Cookie}
	if l.SendFlowRem {
		f.Flags |= flow.FlagSendFlowRem
	}
	for _, s := range l.Specs {
		var hi, lo uint64
		if s.Src.Bits != 0 {
			lo = x.key.GetBits(s.Src.Field, uint(s.Src.Ofs), uint(min(s.Src.Bits, 64)))
			if s.Src.Bits > 64 {
				hi = x.key.GetBits(s.Src.Field, uint(s.Src.Ofs)+64, uint(s.Src.Bits-64))
			}
		} else {
			hi, lo = s.Imm.Hi, s.Imm.Lo
		}
		switch s.Kind {
		case flow.LearnMatch:
			setMatchBits(&f.Match, s.Dst, hi, lo)
		case flow.LearnLoad:
			v, m := shiftedValue(s.Dst, hi, lo)
			f.Instructions.Apply = append(f.Instructions.Apply, &flow.SetField{Field: s.Dst.Field, Value: v, Mask: m})
		case flow.LearnOutput:
			f.Instructions.Apply = append(f.Instructions.Apply, &flow.Output{Port: uint32(lo)})
		}
	}
	if err := x.p.learnFlow(f); err != nil {
		x.notef(" >> learned flow rejected: %v", err)
		return
	}
	if l.ResultDst.Bits != 0 {
		x.key.SetBits(l.ResultDst.Field, uint(l.ResultDst.Ofs), 1, 1)
	}
	x.notef(" -> table=%d %s", f.Table, f.String())
}

// shiftedValue places a subfield value at its offset: the value and mask of a whole-field write.
func shiftedValue(sf flow.Subfield, hi, lo uint64) (v, m flow.Value) {
	var k, mk flow.Key
	k.SetBits(sf.Field, uint(sf.Ofs), uint(min(sf.Bits, 64)), lo)
	mk.SetBits(sf.Field, uint(sf.Ofs), uint(min(sf.Bits, 64)), ^uint64(0))
	if sf.Bits > 64 {
		k.SetBits(sf.Field, uint(sf.Ofs)+64, uint(sf.Bits-64), hi)
		mk.SetBits(sf.Field, uint(sf.Ofs)+64, uint(sf.Bits-64), ^uint64(0))
	}
	if sf.Field.Width() > 64 {
		v.Hi, v.Lo = k.Get128(sf.Field)
		m.Hi, m.Lo = mk.Get128(sf.Field)
	} else {
		v.Lo, m.Lo = k.Get(sf.Field), mk.Get(sf.Field)
	}
	return v, m
}

// setMatchBits makes m require subfield sf == hi:lo.
func setMatchBits(m *flow.Match, sf flow.Subfield, hi, lo uint64) {
	v, mask := shiftedValue(sf, hi, lo)
	if sf.Field.Width() > 64 {
		m.Set128(sf.Field, v.Hi, v.Lo, mask.Hi, mask.Lo)
		return
	}
	m.Set(sf.Field, v.Lo, mask.Lo)
}

// learnFlow adds a learned flow (OFPFC_ADD: replacing one with the same match and priority).
// Like OVS it does not validate the flow as a controller's flow_mod would be: a learned
// output:reg with reg zero is installed as output:0, a load into ct_label as such.
func (p *Pipeline) learnFlow(f *flow.Flow) error {
	tx := p.Begin()
	if err := tx.learnFlow(f); err != nil {
		tx.Discard()
		return err
	}
	tx.Commit()
	return nil
}
