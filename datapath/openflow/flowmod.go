package openflow

import (
	"fmt"

	"github.com/sluicenet/sluice/datapath/flow"
)

// FlowModCommand is ofp_flow_mod's command (OFPFC_*).
type FlowModCommand uint8

// The flow-mod commands.
const (
	FlowAdd          FlowModCommand = 0
	FlowModify       FlowModCommand = 1
	FlowModifyStrict FlowModCommand = 2
	FlowDelete       FlowModCommand = 3
	FlowDeleteStrict FlowModCommand = 4
)

// Flow-mod flags (OFPFF_*).
const (
	FlowSendFlowRem  = 1 << 0
	FlowCheckOverlap = 1 << 1
	FlowResetCounts  = 1 << 2
	FlowNoPktCounts  = 1 << 3
	FlowNoBytCounts  = 1 << 4
)

// NoBuffer is the buffer_id meaning "no buffered packet".
const NoBuffer uint32 = 0xffffffff

// TableAll is OFPTT_ALL: every table (for deletes and stats requests).
const TableAll = 0xff

// FlowMod is OFPT_FLOW_MOD. OutPort/OutGroup filter deletes (PortAny/GroupAny: no filter);
// CookieMask selects which cookie bits a modify or delete must match.
type FlowMod struct {
	Cookie       uint64
	CookieMask   uint64
	TableID      uint8
	Command      FlowModCommand
	IdleTimeout  uint16
	HardTimeout  uint16
	Priority     uint16
	BufferID     uint32
	OutPort      uint32
	OutGroup     uint32
	Flags        uint16
	Importance   uint16
	Match        flow.Match
	Instructions []Instruction
}

// NewFlowMod returns an add with OpenFlow's defaults: priority 0x8000, no buffer, no filters.
func NewFlowMod(cmd FlowModCommand) *FlowMod {
	return &FlowMod{Command: cmd, Priority: 0x8000, BufferID: NoBuffer, OutPort: PortAny, OutGroup: GroupAny}
}

// Type returns TypeFlowMod.
func (*FlowMod) Type() Type { return TypeFlowMod }

func (m *FlowMod) appendBody(b []byte) ([]byte, error) {
	b = be.AppendUint64(b, m.Cookie)
	b = be.AppendUint64(b, m.CookieMask)
	b = append(b, m.TableID, byte(m.Command))
	b = be.AppendUint16(b, m.IdleTimeout)
	b = be.AppendUint16(b, m.HardTimeout)
	b = be.AppendUint16(b, m.Priority)
	b = be.AppendUint32(b, m.BufferID)
	b = be.AppendUint32(b, m.OutPort)
	b = be.AppendUint32(b, m.OutGroup)
	b = be.AppendUint16(b, m.Flags)
	b = be.AppendUint16(b, m.Importance)
	b, err := AppendMatch(b, &m.Match)
	if err != nil {
		return b, err
	}
	return AppendInstructions(b, m.Instructions)
}

func (m *FlowMod) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Cookie, m.CookieMask = c.u64(), c.u64()
	m.TableID, m.Command = c.u8(), FlowModCommand(c.u8())
	m.IdleTimeout, m.HardTimeout, m.Priority = c.u16(), c.u16(), c.u16()
	m.BufferID, m.OutPort, m.OutGroup = c.u32(), c.u32(), c.u32()
	m.Flags, m.Importance = c.u16(), c.u16()
	if c.err != nil {
		return c.err
	}
	if err := decodeMatch(c, &m.Match); err != nil {
		return err
	}
	insts, err := decodeInstructions(c)
	m.Instructions = insts
	return err
}

// Flow-removed reasons (OFPRR_*).
const (
	RemovedIdleTimeout = 0
	RemovedHardTimeout = 1
	RemovedDelete      = 2
	RemovedGroupDelete = 3
	RemovedMeterDelete = 4
	RemovedEviction    = 5
)

// FlowRemoved is OFPT_FLOW_REMOVED.
type FlowRemoved struct {
	TableID     uint8
	Reason      uint8
	Priority    uint16
	IdleTimeout uint16
	HardTimeout uint16
	Cookie      uint64
	Match       flow.Match
	Stats       Stats
}

// Type returns TypeFlowRemoved.
func (*FlowRemoved) Type() Type { return TypeFlowRemoved }

func (m *FlowRemoved) appendBody(b []byte) ([]byte, error) {
	b = append(b, m.TableID, m.Reason)
	b = be.AppendUint16(b, m.Priority)
	b = be.AppendUint16(b, m.IdleTimeout)
	b = be.AppendUint16(b, m.HardTimeout)
	b = be.AppendUint64(b, m.Cookie)
	b, err := AppendMatch(b, &m.Match)
	if err != nil {
		return b, err
	}
	return m.Stats.appendStats(b), nil
}

func (m *FlowRemoved) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.TableID, m.Reason, m.Priority = c.u8(), c.u8(), c.u16()
	m.IdleTimeout, m.HardTimeout, m.Cookie = c.u16(), c.u16(), c.u64()
	if c.err != nil {
		return c.err
	}
	if err := decodeMatch(c, &m.Match); err != nil {
		return err
	}
	return m.Stats.decodeStats(c)
}

// OXS stat fields (OFPXST_OFB_*), class 0x8002.
const (
	oxsClass        = 0x8002
	StatDuration    = 0
	StatIdleTime    = 1
	StatFlowCount   = 3
	StatPacketCount = 4
	StatByteCount   = 5
)

// Stats is OpenFlow 1.5's ofp_stats: a list of OXS fields. Has says which are present (bit n
// for OFPXST_OFB n); durations are seconds and nanoseconds. They are encoded in OVS's order:
// duration, idle time, packets, bytes, flow count.
type Stats struct {
	Has          uint8
	DurationSec  uint32
	DurationNSec uint32
	IdleSec      uint32
	IdleNSec     uint32
	FlowCount    uint32
	PacketCount  uint64
	ByteCount    uint64
}

// Set marks stat field f present (see the Stat* constants).
func (s *Stats) Set(f uint8) { s.Has |= 1 << f }

func oxsHeader(b []byte, field uint8, n int) []byte {
	b = be.AppendUint16(b, oxsClass)
	return append(b, field<<1, byte(n))
}

func (s *Stats) appendStats(b []byte) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	if s.Has&(1<<StatDuration) != 0 {
		b = be.AppendUint32(oxsHeader(b, StatDuration, 8), s.DurationSec)
		b = be.AppendUint32(b, s.DurationNSec)
	}
	if s.Has&(1<<StatIdleTime) != 0 {
		b = be.AppendUint32(oxsHeader(b, StatIdleTime, 8), s.IdleSec)
		b = be.AppendUint32(b, s.IdleNSec)
	}
	if s.Has&(1<<StatPacketCount) != 0 {
		b = be.AppendUint64(oxsHeader(b, StatPacketCount, 8), s.PacketCount)
	}
	if s.Has&(1<<StatByteCount) != 0 {
		b = be.AppendUint64(oxsHeader(b, StatByteCount, 8), s.ByteCount)
	}
	if s.Has&(1<<StatFlowCount) != 0 {
		b = be.AppendUint32(oxsHeader(b, StatFlowCount, 4), s.FlowCount)
	}
	be.PutUint16(b[start+2:], uint16(len(b)-start))
	return appendPad8(b, start)
}

func (s *Stats) decodeStats(c *cursor) error {
	c.skip(2)
	n := int(c.u16())
	if c.err != nil {
		return c.err
	}
	if n < 4 {
		return fmt.Errorf("ofp_stats length %d: %w", n, ErrBadLength)
	}
	sc := c.sub(n - 4)
	c.skip(pad8(n) - n)
	for sc.len() > 0 && sc.err == nil {
		class, fm, ln := sc.u16(), sc.u8(), int(sc.u8())
		v := sc.sub(ln)
		if class != oxsClass {
			continue
		}
		f := fm >> 1
		switch {
		case f == StatDuration && ln == 8:
			s.DurationSec, s.DurationNSec = v.u32(), v.u32()
		case f == StatIdleTime && ln == 8:
			s.IdleSec, s.IdleNSec = v.u32(), v.u32()
		case f == StatFlowCount && ln == 4:
			s.FlowCount = v.u32()
		case f == StatPacketCount && ln == 8:
			s.PacketCount = v.u64()
		case f == StatByteCount && ln == 8:
			s.ByteCount = v.u64()
		default:
			return fmt.Errorf("OXS field %d of %d bytes: %w", f, ln, ErrBadLength)
		}
		s.Set(f)
	}
	return c.err
}
