package openflow

import "fmt"

// Instruction types (OFPIT_*).
const (
	InstGotoTable     = 1
	InstWriteMetadata = 2
	InstWriteActions  = 3
	InstApplyActions  = 4
	InstClearActions  = 5
	InstMeter         = 6
)

// Instruction is one OpenFlow instruction.
type Instruction interface {
	appendInstruction(b []byte) ([]byte, error)
}

// GotoTable is OFPIT_GOTO_TABLE.
type GotoTable struct{ TableID uint8 }

func (i *GotoTable) appendInstruction(b []byte) ([]byte, error) {
	b = actHeader(b, InstGotoTable, 8)
	return append(b, i.TableID, 0, 0, 0), nil
}

// WriteMetadata is OFPIT_WRITE_METADATA.
type WriteMetadata struct{ Metadata, Mask uint64 }

func (i *WriteMetadata) appendInstruction(b []byte) ([]byte, error) {
	b = appendZeros(actHeader(b, InstWriteMetadata, 24), 4)
	b = be.AppendUint64(b, i.Metadata)
	return be.AppendUint64(b, i.Mask), nil
}

// ApplyActions is OFPIT_APPLY_ACTIONS.
type ApplyActions struct{ Actions []Action }

func (i *ApplyActions) appendInstruction(b []byte) ([]byte, error) {
	return appendActionsInst(b, InstApplyActions, i.Actions)
}

// WriteActions is OFPIT_WRITE_ACTIONS.
type WriteActions struct{ Actions []Action }

func (i *WriteActions) appendInstruction(b []byte) ([]byte, error) {
	return appendActionsInst(b, InstWriteActions, i.Actions)
}

// ClearActions is OFPIT_CLEAR_ACTIONS.
type ClearActions struct{}

func (i *ClearActions) appendInstruction(b []byte) ([]byte, error) {
	return appendZeros(actHeader(b, InstClearActions, 8), 4), nil
}

// MeterInst is OFPIT_METER, deprecated in OpenFlow 1.5 (OVS sends the Meter action instead) but
// still accepted.
type MeterInst struct{ MeterID uint32 }

func (i *MeterInst) appendInstruction(b []byte) ([]byte, error) {
	return be.AppendUint32(actHeader(b, InstMeter, 8), i.MeterID), nil
}

// RawInstruction is an instruction the codec does not model, kept whole.
type RawInstruction struct{ Data []byte }

func (i *RawInstruction) appendInstruction(b []byte) ([]byte, error) {
	return append(b, i.Data...), nil
}

func appendActionsInst(b []byte, typ uint16, acts []Action) ([]byte, error) {
	start := len(b)
	b = appendZeros(actHeader(b, typ, 0), 4)
	b, err := AppendActions(b, acts)
	if err != nil {
		return b[:start], err
	}
	n := len(b) - start
	if n > 0xffff {
		return b[:start], fmt.Errorf("instruction of %d bytes: %w", n, ErrTooLong)
	}
	be.PutUint16(b[start+2:], uint16(n))
	return b, nil
}

// AppendInstructions appends an instruction list.
func AppendInstructions(b []byte, insts []Instruction) ([]byte, error) {
	for _, in := range insts {
		var err error
		if b, err = in.appendInstruction(b); err != nil {
			return b, err
		}
	}
	return b, nil
}

// DecodeInstructions decodes an instruction list.
func DecodeInstructions(b []byte) ([]Instruction, error) {
	return decodeInstructions(&cursor{b: b})
}

func decodeInstructions(c *cursor) ([]Instruction, error) {
	var out []Instruction
	for c.len() > 0 && c.err == nil {
		if c.len() < 8 {
			return nil, fmt.Errorf("%d stray bytes after instructions: %w", c.len(), ErrBadInst)
		}
		typ, n := be.Uint16(c.b), int(be.Uint16(c.b[2:]))
		if n < 8 || n%8 != 0 || n > c.len() {
			return nil, fmt.Errorf("instruction length %d (%d left): %w", n, c.len(), ErrBadInst)
		}
		raw := c.b[:n]
		ic := c.sub(n)
		ic.skip(4)
		var in Instruction
		switch typ {
		case InstGotoTable:
			in = &GotoTable{TableID: ic.u8()}
		case InstWriteMetadata:
			ic.skip(4)
			in = &WriteMetadata{Metadata: ic.u64(), Mask: ic.u64()}
		case InstApplyActions, InstWriteActions:
			ic.skip(4)
			acts, err := decodeActions(ic, 0)
			if err != nil {
				return nil, err
			}
			if typ == InstApplyActions {
				in = &ApplyActions{Actions: acts}
			} else {
				in = &WriteActions{Actions: acts}
			}
		case InstClearActions:
			in = &ClearActions{}
		case InstMeter:
			in = &MeterInst{MeterID: ic.u32()}
		default:
			in = &RawInstruction{Data: clone(raw)}
		}
		if ic.err != nil {
			return nil, fmt.Errorf("instruction type %d: %w", typ, ic.err)
		}
		out = append(out, in)
	}
	return out, c.err
}
