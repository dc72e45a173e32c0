package openflow

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/sluicenet/sluice/datapath/flow"
)

// ErrUnsupported says a wire action or instruction has no counterpart in the flow model (or the
// other way round), so a conversion cannot be exact.
var ErrUnsupported = errors.New("not supported by the flow model")

// This file converts between the wire structs and the flow model (datapath/flow): FlowMod and
// FlowDesc ↔ flow.Flow, Action ↔ flow.Action, GroupMod ↔ flow.GroupEntry, MeterMod ↔
// flow.MeterEntry. The wire forms follow OVS's encoding choices, so a flow parsed from
// ovs-ofctl text and converted here encodes to the bytes ovs-ofctl sends.

// FlowModFor returns the flow mod that applies cmd to f (add, modify, delete...).
func FlowModFor(f *flow.Flow, cmd FlowModCommand) (*FlowMod, error) {
	if f.IdleTimeout > 0xffff || f.HardTimeout > 0xffff {
		return nil, fmt.Errorf("flow timeouts %d/%d exceed OpenFlow's 16 bits: %w", f.IdleTimeout, f.HardTimeout, ErrUnsupported)
	}
	insts, err := FromInstructions(&f.Instructions)
	if err != nil {
		return nil, err
	}
	m := NewFlowMod(cmd)
	m.Cookie, m.CookieMask = f.Cookie, f.CookieMask
	m.TableID, m.Priority = f.Table, f.Priority
	m.IdleTimeout, m.HardTimeout = uint16(f.IdleTimeout), uint16(f.HardTimeout)
	m.Flags, m.Importance = uint16(f.Flags), f.Importance
	m.Match = f.Match
	m.Instructions = insts
	return m, nil
}

// Flow returns the flow the flow mod describes (its cookie mask kept for modify/delete).
func (m *FlowMod) Flow() (*flow.Flow, error) {
	ins, err := ToInstructions(m.Instructions)
	if err != nil {
		return nil, err
	}
	return &flow.Flow{
		Table: m.TableID, Priority: m.Priority, Match: m.Match,
		Cookie: m.Cookie, CookieMask: m.CookieMask,
		IdleTimeout: uint32(m.IdleTimeout), HardTimeout: uint32(m.HardTimeout),
		Importance: m.Importance, Flags: flow.FlowFlags(m.Flags), Instructions: ins,
	}, nil
}

// FlowDescFor returns the flow-desc entry a switch reports for f (with f.Stats).
func FlowDescFor(f *flow.Flow) (FlowDesc, error) {
	fm, err := FlowModFor(f, FlowAdd)
	if err != nil {
		return FlowDesc{}, err
	}
	d := FlowDesc{TableID: f.Table, Priority: f.Priority, IdleTimeout: fm.IdleTimeout, HardTimeout: fm.HardTimeout,
		Flags: fm.Flags, Importance: f.Importance, Cookie: f.Cookie, Match: f.Match, Instructions: fm.Instructions}
	if f.Stats.Valid {
		d.Stats.Has = 1<<StatDuration | 1<<StatPacketCount | 1<<StatByteCount
		d.Stats.DurationSec = uint32(f.Stats.Duration / time.Second)
		d.Stats.DurationNSec = uint32(f.Stats.Duration % time.Second)
		d.Stats.PacketCount, d.Stats.ByteCount = f.Stats.Packets, f.Stats.Bytes
		if f.Stats.IdleAge >= 0 {
			d.Stats.Has |= 1 << StatIdleTime
			d.Stats.IdleSec = uint32(f.Stats.IdleAge)
		}
	}
	return d, nil
}

// Flow returns the flow a flow-desc entry reports, statistics included.
func (d *FlowDesc) Flow() (*flow.Flow, error) {
	ins, err := ToInstructions(d.Instructions)
	if err != nil {
		return nil, err
	}
	f := &flow.Flow{
		Table: d.TableID, Priority: d.Priority, Match: d.Match, Cookie: d.Cookie,
		IdleTimeout: uint32(d.IdleTimeout), HardTimeout: uint32(d.HardTimeout),
		Importance: d.Importance, Flags: flow.FlowFlags(d.Flags), Instructions: ins,
	}
	s := &d.Stats
	f.Stats = flow.Stats{Valid: true, Packets: s.PacketCount, Bytes: s.ByteCount, IdleAge: -1, HardAge: -1,
		Duration: time.Duration(s.DurationSec)*time.Second + time.Duration(s.DurationNSec)}
	if s.Has&(1<<StatIdleTime) != 0 {
		f.Stats.IdleAge = int64(s.IdleSec)
	}
	return f, nil
}

// FromInstructions converts a flow's instructions to the wire, in OpenFlow's order.
func FromInstructions(ins *flow.Instructions) ([]Instruction, error) {
	var out []Instruction
	if len(ins.Apply) > 0 {
		acts, err := FromActions(ins.Apply)
		if err != nil {
			return nil, err
		}
		out = append(out, &ApplyActions{Actions: acts})
	}
	if ins.ClearActions {
		out = append(out, &ClearActions{})
	}
	if ins.Write != nil {
		acts, err := FromActions(ins.Write)
		if err != nil {
			return nil, err
		}
		out = append(out, &WriteActions{Actions: acts})
	}
	if ins.HasWriteMetadata {
		out = append(out, &WriteMetadata{Metadata: ins.WriteMetadata, Mask: ins.WriteMetadataMask})
	}
	if ins.HasGotoTable {
		out = append(out, &GotoTable{TableID: ins.GotoTable})
	}
	return out, nil
}

// ToInstructions converts wire instructions to the flow model. OpenFlow 1.3's meter
// instruction becomes a leading meter action.
func ToInstructions(insts []Instruction) (flow.Instructions, error) {
	var ins flow.Instructions
	var meter []flow.Action
	for _, in := range insts {
		switch v := in.(type) {
		case *ApplyActions:
			acts, err := ToActions(v.Actions)
			if err != nil {
				return ins, err
			}
			ins.Apply = acts
		case *WriteActions:
			acts, err := ToActions(v.Actions)
			if err != nil {
				return ins, err
			}
			if acts == nil {
				acts = []flow.Action{}
			}
			ins.Write = acts
		case *ClearActions:
			ins.ClearActions = true
		case *WriteMetadata:
			ins.HasWriteMetadata, ins.WriteMetadata, ins.WriteMetadataMask = true, v.Metadata, v.Mask
		case *GotoTable:
			ins.HasGotoTable, ins.GotoTable = true, v.TableID
		case *MeterInst:
			meter = []flow.Action{&flow.Meter{MeterID: v.MeterID}}
		default:
			return ins, fmt.Errorf("instruction %T: %w", in, ErrUnsupported)
		}
	}
	if meter != nil {
		ins.Apply = append(meter, ins.Apply...)
	}
	return ins, nil
}

// subfieldID returns the wire header of a subfield's field, as set_field and copy_field use.
func subfieldID(s flow.Subfield) (OXMID, error) {
	id, ok := OXMIDFor(s.Field)
	if !ok {
		return id, fmt.Errorf("field %s has no OpenFlow header: %w", s.Field, ErrUnsupported)
	}
	return id, nil
}

// nxmSubfieldID returns the header of a subfield's field where OVS prefers NXM.
func nxmSubfieldID(s flow.Subfield) (OXMID, error) {
	id, ok := NXMIDFor(s.Field)
	if !ok {
		return id, fmt.Errorf("field %s has no OpenFlow header: %w", s.Field, ErrUnsupported)
	}
	return id, nil
}

func toSubfield(id OXMID, ofs, bits uint16) (flow.Subfield, error) {
	f, _, ok := id.FieldFor()
	if !ok {
		return flow.Subfield{}, fmt.Errorf("field %s: %w", id.Name(), ErrUnsupported)
	}
	if bits == 0 || int(ofs)+int(bits) > int(f.Width()) {
		return flow.Subfield{}, fmt.Errorf("%s[%d..%d] outside the field's %d bits: %w", id.Name(), ofs, int(ofs)+int(bits)-1, f.Width(), ErrBadAction)
	}
	return flow.Subfield{Field: f, Ofs: ofs, Bits: bits}, nil
}

// valueBytes returns v as n big-endian bytes (zero-extended past 16).
func valueBytes(v flow.Value, n int) []byte {
	full := appendUint(make([]byte, max(0, n-16), max(n, 16)), 16, v.Hi, v.Lo)
	return full[len(full)-n:]
}

func bytesValue(b []byte) flow.Value {
	var v flow.Value
	for _, x := range b {
		v.Hi = v.Hi<<8 | v.Lo>>56
		v.Lo = v.Lo<<8 | uint64(x)
	}
	return v
}

// onesValue is the all-ones mask of a field's OVS width.
func onesValue(f flow.Field) flow.Value {
	w := f.Width()
	switch {
	case w >= 128:
		return flow.Value{Hi: ^uint64(0), Lo: ^uint64(0)}
	case w > 64:
		return flow.Value{Hi: 1<<(w-64) - 1, Lo: ^uint64(0)}
	case w == 64:
		return flow.Value{Lo: ^uint64(0)}
	}
	return flow.Value{Lo: 1<<w - 1}
}

// port16 is OVS's ofp_to_u16 for the 16-bit ports of resubmit: reserved 32-bit ports map to
// their OpenFlow 1.0 numbers.
func port16(p uint32) (uint16, error) {
	switch {
	case p >= 0xffffff00:
		return uint16(p), nil
	case p < 0xff00:
		return uint16(p), nil
	}
	return 0, fmt.Errorf("port %d does not fit a 16-bit resubmit port: %w", p, ErrUnsupported)
}

func port32(p uint16) uint32 {
	if p >= 0xff00 {
		return 0xffff0000 | uint32(p)
	}
	return uint32(p)
}

// Packet-in reasons differ in order: the flow model lists "action" first.
func wireReason(r flow.ControllerReason) uint8 {
	switch r {
	case flow.ReasonAction:
		return ReasonAction
	case flow.ReasonNoMatch:
		return ReasonNoMatch
	}
	return uint8(r)
}

func flowReason(r uint8) flow.ControllerReason {
	switch r {
	case ReasonAction:
		return flow.ReasonAction
	case ReasonNoMatch:
		return flow.ReasonNoMatch
	}
	return flow.ControllerReason(r)
}

// FromActions converts flow-model actions to the wire, choosing the encodings OVS 3.1 sends in
// OpenFlow 1.5 (set_field with a mask for load, copy_field for move, resubmit_table, ...).
func FromActions(acts []flow.Action) ([]Action, error) {
	out := make([]Action, 0, len(acts))
	for _, a := range acts {
		w, err := fromAction(a)
		if err != nil {
			return nil, fmt.Errorf("action %s: %w", a, err)
		}
		out = append(out, w)
	}
	return out, nil
}

func fromAction(a flow.Action) (Action, error) {
	switch v := a.(type) {
	case *flow.Output:
		return &Output{Port: v.Port, MaxLen: v.MaxLen}, nil
	case *flow.OutputReg:
		id, err := nxmSubfieldID(v.Src)
		if err != nil {
			return nil, err
		}
		// OVS always sends output_reg's max_len; the flow model's 0 means its default.
		ml := v.MaxLen
		if ml == 0 {
			ml = 0xffff
		}
		return &OutputReg{Src: id, Ofs: v.Src.Ofs, NBits: v.Src.Bits, MaxLen: ml}, nil
	case *flow.Controller:
		if v.Reason == flow.ReasonAction && v.ID == 0 && len(v.UserData) == 0 && !v.Pause && v.Meter == 0 {
			return &Output{Port: PortController, MaxLen: v.MaxLen}, nil
		}
		return &Controller{MaxLen: v.MaxLen, ControllerID: v.ID, Reason: wireReason(v.Reason), UserData: v.UserData, Pause: v.Pause, MeterID: v.Meter}, nil
	case *flow.SetField:
		id, ok := OXMIDFor(v.Field)
		if !ok {
			return nil, fmt.Errorf("set_field to %s: %w", v.Field, ErrUnsupported)
		}
		_, size, _ := id.FieldFor()
		sf := &SetField{Field: id, Value: valueBytes(v.Value, size)}
		if v.Mask != onesValue(v.Field) {
			sf.Mask = valueBytes(v.Mask, size)
		}
		return sf, nil
	case *flow.Move:
		src, err := subfieldID(v.Src)
		if err != nil {
			return nil, err
		}
		dst, err := subfieldID(v.Dst)
		if err != nil {
			return nil, err
		}
		return &CopyField{NBits: v.Src.Bits, SrcOfs: v.Src.Ofs, DstOfs: v.Dst.Ofs, Src: src, Dst: dst}, nil
	case *flow.Resubmit:
		p, err := port16(v.Port)
		if err != nil {
			return nil, err
		}
		return &Resubmit{InPort: p, Table: v.Table, CT: v.CT}, nil
	case *flow.CT:
		return fromCT(v)
	case *flow.CTClear:
		return &CTClear{}, nil
	case *flow.Group:
		return &Group{GroupID: v.GroupID}, nil
	case *flow.Meter:
		return &Meter{MeterID: v.MeterID}, nil
	case *flow.Conjunction:
		if v.Clause == 0 || v.Clause > v.NClauses {
			return nil, fmt.Errorf("conjunction clause %d of %d: %w", v.Clause, v.NClauses, ErrBadAction)
		}
		return &Conjunction{ID: v.ID, Clause: v.Clause - 1, NClauses: v.NClauses}, nil
	case *flow.DecTTL:
		if len(v.IDs) == 0 || len(v.IDs) == 1 && v.IDs[0] == 0 {
			return &DecNwTTL{}, nil
		}
		return &DecTTLCntIDs{IDs: append([]uint16(nil), v.IDs...)}, nil
	case *flow.PushVLAN:
		return &PushVLAN{EthType: v.EthType}, nil
	case *flow.PopVLAN:
		return &PopVLAN{}, nil
	case *flow.Note:
		return &Note{Data: clone(v.Data)}, nil
	case *flow.Learn:
		return fromLearn(v)
	}
	return nil, fmt.Errorf("%T: %w", a, ErrUnsupported)
}

func fromCT(v *flow.CT) (Action, error) {
	ct := &CT{ZoneImm: v.Zone, RecircTable: v.Table, Alg: v.Alg}
	if v.Commit {
		ct.Flags |= CTCommit
	}
	if v.Force {
		ct.Flags |= CTForce
	}
	if v.ZoneSrc.Bits != 0 {
		id, err := nxmSubfieldID(v.ZoneSrc)
		if err != nil {
			return nil, err
		}
		ct.ZoneFromField, ct.ZoneSrc, ct.ZoneOfs, ct.ZoneNBits, ct.ZoneImm = true, id, v.ZoneSrc.Ofs, v.ZoneSrc.Bits, 0
	}
	exec, err := FromActions(v.Exec)
	if err != nil {
		return nil, err
	}
	ct.Actions = exec
	if n := v.NAT; n != nil {
		nat := &NAT{ProtoMin: n.MinPort, ProtoMax: n.MaxPort}
		for _, fl := range []struct {
			on  bool
			bit uint16
		}{{n.Src, NATSrc}, {n.Dst, NATDst}, {n.Persistent, NATPersistent}, {n.Hash, NATProtoHash}, {n.Random, NATProtoRandom}} {
			if fl.on {
				nat.Flags |= fl.bit
			}
		}
		for _, a := range []struct {
			addr netip.Addr
			v4   *[4]byte
			v6   *[16]byte
		}{{n.MinAddr, &nat.IPv4Min, &nat.IPv6Min}, {n.MaxAddr, &nat.IPv4Max, &nat.IPv6Max}} {
			switch {
			case a.addr.Is4():
				*a.v4 = a.addr.As4()
			case a.addr.Is6():
				*a.v6 = a.addr.As16()
			}
		}
		ct.Actions = append(ct.Actions, nat)
	}
	return ct, nil
}

func fromLearn(v *flow.Learn) (Action, error) {
	if v.IdleTimeout > 0xffff || v.HardTimeout > 0xffff {
		return nil, fmt.Errorf("learn timeouts %d/%d exceed 16 bits: %w", v.IdleTimeout, v.HardTimeout, ErrUnsupported)
	}
	l := &Learn{IdleTimeout: uint16(v.IdleTimeout), HardTimeout: uint16(v.HardTimeout), Priority: v.Priority, Cookie: v.Cookie,
		TableID: v.Table, FinIdleTimeout: v.FinIdle, FinHardTimeout: v.FinHard, Limit: v.Limit}
	if v.SendFlowRem {
		l.Flags |= LearnSendFlowRem
	}
	if v.DeleteLearned {
		l.Flags |= LearnDeleteLearned
	}
	if v.ResultDst.Bits != 0 {
		id, err := nxmSubfieldID(v.ResultDst)
		if err != nil {
			return nil, err
		}
		l.Flags |= LearnWriteResult
		l.ResultDst, l.ResultDstOfs = id, v.ResultDst.Ofs
	}
	l.V2 = l.Limit != 0 || l.Flags&LearnWriteResult != 0
	for _, s := range v.Specs {
		var w LearnSpec
		switch s.Kind {
		case flow.LearnMatch:
			w.DstOp = LearnDstMatch
		case flow.LearnLoad:
			w.DstOp = LearnDstLoad
		case flow.LearnOutput:
			w.DstOp = LearnDstOutput
		}
		w.NBits = s.Dst.Bits
		if s.Kind == flow.LearnOutput {
			w.NBits = s.Src.Bits
		} else {
			id, err := nxmSubfieldID(s.Dst)
			if err != nil {
				return nil, err
			}
			w.Dst, w.DstOfs = id, s.Dst.Ofs
		}
		if s.Src.Bits == 0 {
			w.SrcImm = true
			w.Imm = valueBytes(s.Imm, 2*((int(w.NBits)+15)/16))
		} else {
			id, err := nxmSubfieldID(s.Src)
			if err != nil {
				return nil, err
			}
			w.Src, w.SrcOfs = id, s.Src.Ofs
		}
		l.Specs = append(l.Specs, w)
	}
	return l, nil
}

// ToActions converts wire actions to the flow model.
func ToActions(acts []Action) ([]flow.Action, error) {
	if len(acts) == 0 {
		return nil, nil
	}
	out := make([]flow.Action, 0, len(acts))
	for _, a := range acts {
		f, err := toAction(a)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func toAction(a Action) (flow.Action, error) {
	if f, ok, err := regLoadToFlow(a); ok {
		return f, err
	}
	switch v := a.(type) {
	case *Output:
		return &flow.Output{Port: v.Port, MaxLen: v.MaxLen}, nil
	case *OutputReg:
		s, err := toSubfield(v.Src, v.Ofs, v.NBits)
		ml := v.MaxLen
		if ml == 0xffff {
			ml = 0
		}
		return &flow.OutputReg{Src: s, MaxLen: ml}, err
	case *Controller:
		return &flow.Controller{MaxLen: v.MaxLen, Reason: flowReason(v.Reason), ID: v.ControllerID, UserData: clone(v.UserData), Pause: v.Pause, Meter: v.MeterID}, nil
	case *SetField:
		f, _, ok := v.Field.FieldFor()
		if !ok {
			return nil, fmt.Errorf("set_field %s: %w", v.Field.Name(), ErrUnsupported)
		}
		sf := &flow.SetField{Field: f, Value: bytesValue(v.Value), Mask: onesValue(f)}
		if v.Mask != nil {
			sf.Mask = bytesValue(v.Mask)
		}
		return sf, nil
	case *CopyField:
		src, err := toSubfield(v.Src, v.SrcOfs, v.NBits)
		if err != nil {
			return nil, err
		}
		dst, err := toSubfield(v.Dst, v.DstOfs, v.NBits)
		return &flow.Move{Src: src, Dst: dst}, err
	case *Resubmit:
		return &flow.Resubmit{Port: port32(v.InPort), Table: v.Table, CT: v.CT}, nil
	case *CT:
		return toCT(v)
	case *CTClear:
		return &flow.CTClear{}, nil
	case *Group:
		return &flow.Group{GroupID: v.GroupID}, nil
	case *Meter:
		return &flow.Meter{MeterID: v.MeterID}, nil
	case *Conjunction:
		// OVS: NXBAC_BAD_CONJUNCTION unless 2 <= n_clauses <= 64 and clause < n_clauses.
		if v.NClauses < 2 || v.NClauses > 64 || v.Clause >= v.NClauses {
			return nil, fmt.Errorf("conjunction clause %d of %d: %w", v.Clause, v.NClauses, ErrBadAction)
		}
		return &flow.Conjunction{ID: v.ID, Clause: v.Clause + 1, NClauses: v.NClauses}, nil
	case *DecNwTTL:
		return &flow.DecTTL{}, nil
	case *DecTTLCntIDs:
		return &flow.DecTTL{IDs: append([]uint16(nil), v.IDs...)}, nil
	case *PushVLAN:
		return &flow.PushVLAN{EthType: v.EthType}, nil
	case *PopVLAN:
		return &flow.PopVLAN{}, nil
	case *Note:
		return &flow.Note{Data: clone(v.Data)}, nil
	case *Learn:
		return toLearn(v)
	}
	return nil, fmt.Errorf("%T: %w", a, ErrUnsupported)
}

func toCT(v *CT) (flow.Action, error) {
	ct := &flow.CT{Commit: v.Flags&CTCommit != 0, Force: v.Flags&CTForce != 0, Zone: v.ZoneImm, Table: v.RecircTable, Alg: v.Alg}
	if v.ZoneFromField {
		s, err := toSubfield(v.ZoneSrc, v.ZoneOfs, v.ZoneNBits)
		if err != nil {
			return nil, err
		}
		ct.ZoneSrc = s
	}
	for _, a := range v.Actions {
		if n, ok := a.(*NAT); ok {
			nat := &flow.NAT{Src: n.Flags&NATSrc != 0, Dst: n.Flags&NATDst != 0, Persistent: n.Flags&NATPersistent != 0,
				Hash: n.Flags&NATProtoHash != 0, Random: n.Flags&NATProtoRandom != 0, MinPort: n.ProtoMin, MaxPort: n.ProtoMax}
			switch {
			case n.IPv4Min != [4]byte{}:
				nat.MinAddr = netip.AddrFrom4(n.IPv4Min)
			case n.IPv6Min != [16]byte{}:
				nat.MinAddr = netip.AddrFrom16(n.IPv6Min)
			}
			switch {
			case n.IPv4Max != [4]byte{}:
				nat.MaxAddr = netip.AddrFrom4(n.IPv4Max)
			case n.IPv6Max != [16]byte{}:
				nat.MaxAddr = netip.AddrFrom16(n.IPv6Max)
			}
			ct.NAT = nat
			continue
		}
		f, err := toAction(a)
		if err != nil {
			return nil, err
		}
		ct.Exec = append(ct.Exec, f)
	}
	return ct, nil
}

func toLearn(v *Learn) (flow.Action, error) {
	l := &flow.Learn{Table: v.TableID, Priority: v.Priority, IdleTimeout: uint32(v.IdleTimeout), HardTimeout: uint32(v.HardTimeout),
		FinIdle: v.FinIdleTimeout, FinHard: v.FinHardTimeout, Cookie: v.Cookie,
		SendFlowRem: v.Flags&LearnSendFlowRem != 0, DeleteLearned: v.Flags&LearnDeleteLearned != 0, Limit: v.Limit}
	if v.Flags&LearnWriteResult != 0 {
		s, err := toSubfield(v.ResultDst, v.ResultDstOfs, 1)
		if err != nil {
			return nil, err
		}
		l.ResultDst = s
	}
	for _, w := range v.Specs {
		var s flow.LearnSpec
		switch w.DstOp {
		case LearnDstMatch:
			s.Kind = flow.LearnMatch
		case LearnDstLoad:
			s.Kind = flow.LearnLoad
		default:
			s.Kind = flow.LearnOutput
		}
		if s.Kind != flow.LearnOutput {
			d, err := toSubfield(w.Dst, w.DstOfs, w.NBits)
			if err != nil {
				return nil, err
			}
			s.Dst = d
		}
		if w.SrcImm {
			s.Imm = bytesValue(w.Imm)
		} else {
			src, err := toSubfield(w.Src, w.SrcOfs, w.NBits)
			if err != nil {
				return nil, err
			}
			s.Src = src
		}
		l.Specs = append(l.Specs, s)
	}
	return l, nil
}

// GroupModFor returns the group mod that applies cmd to g. Buckets without an id are numbered
// by position, as ovs-ofctl does; properties follow OVS: weight for select groups, watch
// port/group for fast-failover ones.
func GroupModFor(g *flow.GroupEntry, cmd GroupModCommand) (*GroupMod, error) {
	if g.SelectionMethod != "" || len(g.Fields) > 0 {
		return nil, fmt.Errorf("group %d selection_method: %w", g.ID, ErrUnsupported)
	}
	m := &GroupMod{Command: cmd, GroupType: uint8(g.Type), GroupID: g.ID, CommandBucketID: BucketAll}
	for i, b := range g.Buckets {
		acts, err := FromActions(b.Actions)
		if err != nil {
			return nil, fmt.Errorf("group %d bucket %d: %w", g.ID, i, err)
		}
		k := Bucket{BucketID: b.ID, Actions: acts}
		if k.BucketID == flow.BucketIDNone {
			k.BucketID = uint32(i)
		}
		switch g.Type {
		case flow.GroupSelect:
			k.HasWeight, k.Weight = true, b.Weight
		case flow.GroupFastFailover:
			k.HasWatchPort, k.WatchPort = b.WatchPort != PortAny, b.WatchPort
			k.HasWatchGroup, k.WatchGroup = b.WatchGroup != GroupAny, b.WatchGroup
		}
		m.Buckets = append(m.Buckets, k)
	}
	return m, nil
}

// Entry returns the group the group mod describes.
func (m *GroupMod) Entry() (*flow.GroupEntry, error) {
	return groupEntry(m.GroupID, m.GroupType, m.Buckets, m.Properties)
}

// Entry returns the group a group-desc entry reports.
func (d *GroupDesc) Entry() (*flow.GroupEntry, error) {
	return groupEntry(d.GroupID, d.GroupType, d.Buckets, d.Properties)
}

func groupEntry(id uint32, typ uint8, buckets []Bucket, props []byte) (*flow.GroupEntry, error) {
	if len(props) > 0 {
		return nil, fmt.Errorf("group %d properties: %w", id, ErrUnsupported)
	}
	g := &flow.GroupEntry{ID: id, Type: flow.GroupType(typ)}
	for _, k := range buckets {
		acts, err := ToActions(k.Actions)
		if err != nil {
			return nil, fmt.Errorf("group %d bucket %d: %w", id, k.BucketID, err)
		}
		b := flow.Bucket{ID: k.BucketID, WatchPort: PortAny, WatchGroup: GroupAny, Actions: acts}
		if k.HasWeight {
			b.Weight = k.Weight
		}
		if k.HasWatchPort {
			b.WatchPort = k.WatchPort
		}
		if k.HasWatchGroup {
			b.WatchGroup = k.WatchGroup
		}
		g.Buckets = append(g.Buckets, b)
	}
	return g, nil
}

// MeterModFor returns the meter mod that applies cmd to e.
func MeterModFor(e *flow.MeterEntry, cmd MeterModCommand) *MeterMod {
	m := &MeterMod{Command: cmd, Flags: uint16(e.Flags), MeterID: e.ID}
	for _, b := range e.Bands {
		m.Bands = append(m.Bands, Band{Type: uint16(b.Type), Rate: b.Rate, BurstSize: b.BurstSize, PrecLevel: b.PrecLevel})
	}
	return m
}

// Entry returns the meter the meter mod describes.
func (m *MeterMod) Entry() (*flow.MeterEntry, error) {
	e := &flow.MeterEntry{ID: m.MeterID, Flags: flow.MeterFlags(m.Flags)}
	for _, b := range m.Bands {
		if b.Type != BandDrop && b.Type != BandDSCPRemark {
			return nil, fmt.Errorf("meter %d band type %d: %w", m.MeterID, b.Type, ErrUnsupported)
		}
		e.Bands = append(e.Bands, flow.MeterBand{Type: flow.MeterBandType(b.Type), Rate: b.Rate, BurstSize: b.BurstSize, PrecLevel: b.PrecLevel})
	}
	return e, nil
}
