package openflow

import "fmt"

// Learn flags (NX_LEARN_F_*).
const (
	LearnSendFlowRem   = 1 << 0
	LearnDeleteLearned = 1 << 1
	LearnWriteResult   = 1 << 2
)

// Learn spec destinations (NX_LEARN_DST_*).
const (
	LearnDstMatch  = 0 << 11
	LearnDstLoad   = 1 << 11
	LearnDstOutput = 2 << 11
)

// LearnSpec is one flow_mod_spec of a learn action: NBits bits from a field (Src, SrcOfs) or an
// immediate value (Imm, 2*ceil(NBits/16) bytes, big-endian) go to a match field, a load into a
// field (Dst, DstOfs) or an output port.
type LearnSpec struct {
	NBits  uint16
	SrcImm bool
	DstOp  uint16 // LearnDstMatch, LearnDstLoad or LearnDstOutput
	Src    OXMID
	SrcOfs uint16
	Imm    []byte
	Dst    OXMID
	DstOfs uint16
}

// Learn is NXAST_LEARN, or NXAST_LEARN2 when V2 is set (limit= and result_dst=).
type Learn struct {
	IdleTimeout    uint16
	HardTimeout    uint16
	Priority       uint16
	Cookie         uint64
	Flags          uint16
	TableID        uint8
	FinIdleTimeout uint16
	FinHardTimeout uint16
	Specs          []LearnSpec

	V2           bool
	Limit        uint32
	ResultDstOfs uint16
	ResultDst    OXMID // when Flags has LearnWriteResult
}

func (a *Learn) appendAction(b []byte) ([]byte, error) {
	start := len(b)
	sub := uint16(NXLearn)
	if a.V2 {
		sub = NXLearn2
	}
	b = nxHeader(b, sub, 0)
	b = be.AppendUint16(b, a.IdleTimeout)
	b = be.AppendUint16(b, a.HardTimeout)
	b = be.AppendUint16(b, a.Priority)
	b = be.AppendUint64(b, a.Cookie)
	b = be.AppendUint16(b, a.Flags)
	b = append(b, a.TableID, 0)
	b = be.AppendUint16(b, a.FinIdleTimeout)
	b = be.AppendUint16(b, a.FinHardTimeout)
	if a.V2 {
		b = be.AppendUint32(b, a.Limit)
		b = be.AppendUint16(b, a.ResultDstOfs)
		b = append(b, 0, 0)
		if a.Flags&LearnWriteResult != 0 {
			b = appendOXMID(b, a.ResultDst)
		}
	}
	for _, s := range a.Specs {
		if s.NBits == 0 || s.NBits > 0x3ff {
			return b[:start], fmt.Errorf("learn spec of %d bits: %w", s.NBits, ErrBadAction)
		}
		h := s.NBits | s.DstOp
		if s.SrcImm {
			h |= 1 << 13
		}
		b = be.AppendUint16(b, h)
		if s.SrcImm {
			n := 2 * ((int(s.NBits) + 15) / 16)
			if len(s.Imm) != n {
				return b[:start], fmt.Errorf("learn immediate of %d bytes for %d bits, want %d: %w", len(s.Imm), s.NBits, n, ErrBadAction)
			}
			b = append(b, s.Imm...)
		} else {
			b = appendOXMID(b, s.Src)
			b = be.AppendUint16(b, s.SrcOfs)
		}
		if s.DstOp == LearnDstMatch || s.DstOp == LearnDstLoad {
			b = appendOXMID(b, s.Dst)
			b = be.AppendUint16(b, s.DstOfs)
		}
	}
	return finishAction(b, start)
}

func decodeLearn(c *cursor, v2 bool) (*Learn, error) {
	a := &Learn{V2: v2}
	a.IdleTimeout, a.HardTimeout, a.Priority = c.u16(), c.u16(), c.u16()
	a.Cookie, a.Flags, a.TableID = c.u64(), c.u16(), c.u8()
	c.skip(1)
	a.FinIdleTimeout, a.FinHardTimeout = c.u16(), c.u16()
	if v2 {
		a.Limit, a.ResultDstOfs = c.u32(), c.u16()
		c.skip(2)
		if a.Flags&LearnWriteResult != 0 {
			a.ResultDst = readOXMID(c)
		}
	}
	for c.len() >= 2 && c.err == nil {
		h := c.u16()
		if h == 0 {
			break
		}
		s := LearnSpec{NBits: h & 0x3ff, SrcImm: h&(1<<13) != 0, DstOp: h & (3 << 11)}
		if s.DstOp == 3<<11 || (s.DstOp == LearnDstOutput && s.SrcImm) || s.NBits == 0 {
			return nil, fmt.Errorf("learn spec header 0x%04x: %w", h, ErrBadAction)
		}
		if s.SrcImm {
			s.Imm = c.bytes(2 * ((int(s.NBits) + 15) / 16))
		} else {
			s.Src, s.SrcOfs = readOXMID(c), c.u16()
		}
		if s.DstOp == LearnDstMatch || s.DstOp == LearnDstLoad {
			s.Dst, s.DstOfs = readOXMID(c), c.u16()
		}
		if c.err != nil {
			break
		}
		a.Specs = append(a.Specs, s)
	}
	for _, x := range c.rest() {
		if x != 0 {
			return nil, fmt.Errorf("learn: trailing bytes after specs: %w", ErrBadAction)
		}
	}
	return a, c.err
}
