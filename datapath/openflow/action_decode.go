package openflow

import (
	"errors"
	"fmt"
)

// maxActionDepth bounds nesting (ct's exec actions) so hostile input cannot recurse deeply.
const maxActionDepth = 4

// DecodeActions decodes an action list.
func DecodeActions(b []byte) ([]Action, error) {
	return decodeActions(&cursor{b: b}, 0)
}

func decodeActions(c *cursor, depth int) ([]Action, error) {
	if depth > maxActionDepth {
		return nil, fmt.Errorf("actions nested %d deep: %w", depth, ErrBadAction)
	}
	var acts []Action
	for c.len() > 0 && c.err == nil {
		if c.len() < 8 {
			return nil, fmt.Errorf("%d stray bytes after actions: %w", c.len(), ErrBadAction)
		}
		n := int(be.Uint16(c.b[2:]))
		if n < 8 || n%8 != 0 || n > c.len() {
			return nil, fmt.Errorf("action length %d (%d bytes left): %w", n, c.len(), ErrBadAction)
		}
		raw := c.b[:n]
		a, err := decodeAction(c.sub(n), depth)
		if err != nil {
			if !errors.Is(err, ErrBadAction) {
				err = fmt.Errorf("%w: %w", err, ErrBadAction)
			}
			return nil, fmt.Errorf("action type %d: %w", be.Uint16(raw), err)
		}
		if a == nil {
			a = &RawAction{Data: clone(raw)}
		}
		acts = append(acts, a)
	}
	return acts, c.err
}

// decodeAction decodes one action; nil (and no error) means "not modelled, keep raw".
func decodeAction(c *cursor, depth int) (Action, error) {
	typ, n := c.u16(), int(c.u16())
	var a Action
	switch typ {
	case ActOutput:
		if n != 16 {
			return nil, ErrBadLength
		}
		o := &Output{Port: c.u32(), MaxLen: c.u16()}
		a = o
	case ActGroup:
		a = &Group{GroupID: c.u32()}
	case ActMeter:
		a = &Meter{MeterID: c.u32()}
	case ActSetQueue:
		a = &SetQueue{QueueID: c.u32()}
	case ActPushVLAN:
		a = &PushVLAN{EthType: c.u16()}
	case ActPopVLAN:
		a = &PopVLAN{}
	case ActDecNwTTL:
		a = &DecNwTTL{}
	case ActSetNwTTL:
		a = &SetNwTTL{TTL: c.u8()}
	case ActSetField:
		id, v, m, err := readOXMEntry(c)
		if err != nil {
			return nil, fmt.Errorf("set_field: %w", err)
		}
		a = &SetField{Field: id, Value: v, Mask: m}
	case ActCopyField:
		cf := &CopyField{NBits: c.u16(), SrcOfs: c.u16(), DstOfs: c.u16()}
		c.skip(2)
		cf.Src, cf.Dst = readOXMID(c), readOXMID(c)
		a = cf
	case ActExperiment:
		vendor := c.u32()
		if vendor != NiciraID {
			return nil, nil
		}
		var err error
		if a, err = decodeNX(c, c.u16(), depth); err != nil || a == nil {
			return a, err
		}
	default:
		return nil, nil
	}
	if c.err != nil {
		return nil, c.err
	}
	return a, nil
}

func decodeNX(c *cursor, sub uint16, depth int) (Action, error) {
	switch sub {
	case NXResubmit, NXResubmitTable, NXResubmitCT:
		r := &Resubmit{InPort: c.u16(), Table: c.u8(), CT: sub == NXResubmitCT}
		if sub == NXResubmit {
			r.Table, r.Plain = 0xff, true
		}
		return r, c.err
	case NXNote:
		return &Note{Data: c.rest()}, c.err
	case NXConjunction:
		cj := &Conjunction{Clause: c.u8(), NClauses: c.u8(), ID: c.u32()}
		return cj, c.err
	case NXCTClear:
		return &CTClear{}, c.err
	case NXDecTTLCntIDs:
		n := int(c.u16())
		c.skip(4)
		if n*2 > c.len() {
			return nil, fmt.Errorf("dec_ttl with %d ids in %d bytes: %w", n, c.len(), ErrBadLength)
		}
		d := &DecTTLCntIDs{IDs: make([]uint16, n)}
		for i := range d.IDs {
			d.IDs[i] = c.u16()
		}
		return d, c.err
	case NXController:
		ct := &Controller{MaxLen: c.u16(), ControllerID: c.u16(), Reason: c.u8()}
		return ct, c.err
	case NXController2:
		c.skip(6)
		ct := &Controller{MaxLen: 0xffff, Reason: ReasonAction, V2: true}
		err := decodeProps(c, func(typ uint16, v *cursor) error {
			switch typ {
			case ctl2MaxLen:
				ct.MaxLen = v.u16()
			case ctl2ControllerID:
				ct.ControllerID = v.u16()
			case ctl2Reason:
				ct.Reason = v.u8()
			case ctl2UserData:
				ct.UserData = v.rest()
			case ctl2Pause:
				ct.Pause = true
			case ctl2MeterID:
				ct.MeterID = v.u32()
			default:
				return fmt.Errorf("controller2 property %d: %w", typ, ErrBadAction)
			}
			return v.err
		})
		if err != nil {
			return nil, err
		}
		return ct, nil
	case NXCT:
		ct := &CT{Flags: c.u16()}
		src := c.u32()
		if src == 0 {
			ct.ZoneImm = c.u16()
		} else {
			id, err := headerID(src)
			if err != nil {
				return nil, err
			}
			ct.ZoneFromField, ct.ZoneSrc = true, id
			on := c.u16()
			ct.ZoneOfs, ct.ZoneNBits = on>>6, on&0x3f+1
		}
		ct.RecircTable = c.u8()
		c.skip(3)
		ct.Alg = c.u16()
		acts, err := decodeActions(c, depth+1)
		if err != nil {
			return nil, err
		}
		ct.Actions = acts
		return ct, nil
	case NXNAT:
		c.skip(2)
		nat := &NAT{Flags: c.u16()}
		present := c.u16()
		if present&natIPv4Min != 0 {
			copy(nat.IPv4Min[:], c.take(4))
		}
		if present&natIPv4Max != 0 {
			copy(nat.IPv4Max[:], c.take(4))
		}
		if present&natIPv6Min != 0 {
			copy(nat.IPv6Min[:], c.take(16))
		}
		if present&natIPv6Max != 0 {
			copy(nat.IPv6Max[:], c.take(16))
		}
		if present&natProtoMin != 0 {
			nat.ProtoMin = c.u16()
		}
		if present&natProtoMax != 0 {
			nat.ProtoMax = c.u16()
		}
		return nat, c.err
	case NXOutputReg:
		on := c.u16()
		id, err := headerID(c.u32())
		if err != nil && c.err == nil {
			return nil, err
		}
		o := &OutputReg{Src: id, Ofs: on >> 6, NBits: on&0x3f + 1, MaxLen: c.u16()}
		return o, c.err
	case NXLearn, NXLearn2:
		return decodeLearn(c, sub == NXLearn2)
	case NXRegLoad, NXRegLoad2, NXRegMove:
		return decodeRegAction(c, sub)
	}
	return nil, nil
}

// decodeProps walks ofp_prop TLVs (each padded to 8 bytes), calling fn with each value.
func decodeProps(c *cursor, fn func(typ uint16, v *cursor) error) error {
	return decodePropsRaw(c, func(typ uint16, v *cursor, _ []byte) error { return fn(typ, v) })
}

// decodePropsRaw is decodeProps that also hands fn the whole property, padding included.
func decodePropsRaw(c *cursor, fn func(typ uint16, v *cursor, raw []byte) error) error {
	for c.len() >= 4 && c.err == nil {
		all := c.b
		typ, n := c.u16(), int(c.u16())
		if n < 4 {
			return fmt.Errorf("property length %d: %w", n, ErrBadLength)
		}
		v := c.sub(n - 4)
		c.skip(min(pad8(n)-n, c.len()))
		if c.err != nil {
			break
		}
		if err := fn(typ, v, all[:len(all)-len(c.b)]); err != nil {
			return err
		}
	}
	return c.err
}
