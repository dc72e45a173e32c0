package openflow

import (
	"fmt"

	"github.com/sluicenet/sluice/datapath/flow"
)

// Nicira register actions that OVS itself no longer sends in OpenFlow 1.5 (it uses set_field and
// copy_field) but that controllers written for OpenFlow 1.0-1.3 do.
const (
	NXRegMove  = 6
	NXRegLoad  = 7
	NXRegLoad2 = 33
)

// RegLoad is NXAST_REG_LOAD: Dst[Ofs..Ofs+NBits-1] = Value.
type RegLoad struct {
	Dst   OXMID
	Ofs   uint16
	NBits uint16
	Value uint64
}

func (a *RegLoad) appendAction(b []byte) ([]byte, error) {
	if a.NBits == 0 || a.NBits > 64 {
		return b, fmt.Errorf("reg_load of %d bits: %w", a.NBits, ErrBadAction)
	}
	b = nxHeader(b, NXRegLoad, 24)
	b = be.AppendUint16(b, ofsNBits(a.Ofs, a.NBits))
	b = appendOXMID(b, a.Dst)
	return be.AppendUint64(b, a.Value), nil
}

// RegLoad2 is NXAST_REG_LOAD2: a set_field (value and optional mask) in a Nicira action.
type RegLoad2 struct {
	Field OXMID
	Value []byte
	Mask  []byte
}

func (a *RegLoad2) appendAction(b []byte) ([]byte, error) {
	start := len(b)
	return appendOXMEntry(nxHeader(b, NXRegLoad2, 0), start, a.Field, a.Value, a.Mask)
}

// RegMove is NXAST_REG_MOVE: copy NBits bits from Src[SrcOfs..] to Dst[DstOfs..].
type RegMove struct {
	NBits  uint16
	SrcOfs uint16
	DstOfs uint16
	Src    OXMID
	Dst    OXMID
}

func (a *RegMove) appendAction(b []byte) ([]byte, error) {
	start := len(b)
	b = nxHeader(b, NXRegMove, 0)
	b = be.AppendUint16(b, a.NBits)
	b = be.AppendUint16(b, a.SrcOfs)
	b = be.AppendUint16(b, a.DstOfs)
	b = appendOXMID(b, a.Src)
	b = appendOXMID(b, a.Dst)
	return finishAction(b, start)
}

func decodeRegAction(c *cursor, sub uint16) (Action, error) {
	switch sub {
	case NXRegLoad:
		on := c.u16()
		id, err := headerID(c.u32())
		if err != nil && c.err == nil {
			return nil, err
		}
		return &RegLoad{Dst: id, Ofs: on >> 6, NBits: on&0x3f + 1, Value: c.u64()}, c.err
	case NXRegLoad2:
		id, v, m, err := readOXMEntry(c)
		if err != nil {
			return nil, fmt.Errorf("reg_load2: %w", err)
		}
		return &RegLoad2{Field: id, Value: v, Mask: m}, checkZeroPad(c)
	case NXRegMove:
		a := &RegMove{NBits: c.u16(), SrcOfs: c.u16(), DstOfs: c.u16()}
		a.Src, a.Dst = readOXMID(c), readOXMID(c)
		return a, checkZeroPad(c)
	}
	return nil, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkZeroPad accepts only zero bytes up to the end of the action, as OVS does.
func checkZeroPad(c *cursor) error {
	if c.err != nil {
		return c.err
	}
	for _, x := range c.rest() {
		if x != 0 {
			return fmt.Errorf("non-zero padding: %w", ErrBadAction)
		}
	}
	return nil
}

// regLoadToFlow converts the Nicira register actions to the flow model.
func regLoadToFlow(a Action) (flow.Action, bool, error) {
	switch v := a.(type) {
	case *RegLoad:
		f, _, ok := v.Dst.FieldFor()
		if !ok {
			return nil, true, fmt.Errorf("reg_load to %s: %w", v.Dst.Name(), ErrUnsupported)
		}
		var key, mask flow.Key
		key.SetBits(f, uint(v.Ofs), uint(v.NBits), v.Value)
		mask.SetBits(f, uint(v.Ofs), uint(v.NBits), ^uint64(0))
		vh, vl := key.Get128(f)
		mh, ml := mask.Get128(f)
		sf := &flow.SetField{Field: f, Value: flow.Value{Hi: vh, Lo: vl}, Mask: flow.Value{Hi: mh, Lo: ml}}
		return sf, true, nil
	case *RegLoad2:
		sf, err := toAction(&SetField{Field: v.Field, Value: v.Value, Mask: v.Mask})
		return sf, true, err
	case *RegMove:
		mv, err := toAction(&CopyField{NBits: v.NBits, SrcOfs: v.SrcOfs, DstOfs: v.DstOfs, Src: v.Src, Dst: v.Dst})
		return mv, true, err
	}
	return nil, false, nil
}
