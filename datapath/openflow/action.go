package openflow

import (
	"fmt"

	"github.com/sluicenet/sluice/datapath/flow"
)

// Action is one OpenFlow action as it travels on the wire: a standard OpenFlow 1.5 action
// (OFPAT_*) or a Nicira one (OFPAT_EXPERIMENTER with experimenter 0x2320 and a NXAST_* subtype).
type Action interface {
	appendAction(b []byte) ([]byte, error)
}

// Standard action types (OFPAT_*).
const (
	ActOutput     = 0
	ActPushVLAN   = 17
	ActPopVLAN    = 18
	ActSetQueue   = 21
	ActGroup      = 22
	ActSetNwTTL   = 23
	ActDecNwTTL   = 24
	ActSetField   = 25
	ActCopyField  = 28
	ActMeter      = 29
	ActExperiment = 0xffff
)

// Nicira action subtypes (NXAST_*).
const (
	NXResubmit      = 1
	NXNote          = 8
	NXLearn         = 16
	NXController    = 20
	NXDecTTLCntIDs  = 21
	NXConjunction   = 34
	NXCT            = 35
	NXNAT           = 36
	NXController2   = 37
	NXCTClear       = 43
	NXResubmitTable = 14
	NXResubmitCT    = 44
	NXLearn2        = 45
)

// Reserved port numbers (OFPP_*), the flow model's values.
const (
	PortMax        = flow.PortMax
	PortUnset      = flow.PortUnset
	PortInPort     = flow.PortInPort
	PortTable      = flow.PortTable
	PortNormal     = flow.PortNormal
	PortFlood      = flow.PortFlood
	PortAll        = flow.PortAll
	PortController = flow.PortController
	PortLocal      = flow.PortLocal
	PortAny        = flow.PortAny
)

// GroupAny is OFPG_ANY (no out_group filter); GroupAll is OFPG_ALL.
const (
	GroupAll uint32 = 0xfffffffc
	GroupAny uint32 = 0xffffffff
)

// Output is OFPAT_OUTPUT. MaxLen applies to output to the controller (0xffff: no buffering,
// the whole packet).
type Output struct {
	Port   uint32
	MaxLen uint16
}

func (a *Output) appendAction(b []byte) ([]byte, error) {
	b = actHeader(b, ActOutput, 16)
	b = be.AppendUint32(b, a.Port)
	b = be.AppendUint16(b, a.MaxLen)
	return appendZeros(b, 6), nil
}

// Group is OFPAT_GROUP.
type Group struct{ GroupID uint32 }

func (a *Group) appendAction(b []byte) ([]byte, error) {
	return be.AppendUint32(actHeader(b, ActGroup, 8), a.GroupID), nil
}

// Meter is OFPAT_METER (OpenFlow 1.5's replacement for the meter instruction).
type Meter struct{ MeterID uint32 }

func (a *Meter) appendAction(b []byte) ([]byte, error) {
	return be.AppendUint32(actHeader(b, ActMeter, 8), a.MeterID), nil
}

// SetQueue is OFPAT_SET_QUEUE.
type SetQueue struct{ QueueID uint32 }

func (a *SetQueue) appendAction(b []byte) ([]byte, error) {
	return be.AppendUint32(actHeader(b, ActSetQueue, 8), a.QueueID), nil
}

// PushVLAN is OFPAT_PUSH_VLAN.
type PushVLAN struct{ EthType uint16 }

func (a *PushVLAN) appendAction(b []byte) ([]byte, error) {
	b = be.AppendUint16(actHeader(b, ActPushVLAN, 8), a.EthType)
	return append(b, 0, 0), nil
}

// PopVLAN is OFPAT_POP_VLAN.
type PopVLAN struct{}

func (a *PopVLAN) appendAction(b []byte) ([]byte, error) {
	return appendZeros(actHeader(b, ActPopVLAN, 8), 4), nil
}

// DecNwTTL is OFPAT_DEC_NW_TTL (ovs-ofctl's plain dec_ttl).
type DecNwTTL struct{}

func (a *DecNwTTL) appendAction(b []byte) ([]byte, error) {
	return appendZeros(actHeader(b, ActDecNwTTL, 8), 4), nil
}

// SetNwTTL is OFPAT_SET_NW_TTL.
type SetNwTTL struct{ TTL uint8 }

func (a *SetNwTTL) appendAction(b []byte) ([]byte, error) {
	return append(actHeader(b, ActSetNwTTL, 8), a.TTL, 0, 0, 0), nil
}

// SetField is OFPAT_SET_FIELD: an OXM TLV, with a mask in OpenFlow 1.5 (which is how OVS sends
// ovs-ofctl's load: and set_field:value/mask). Value and Mask are the field's width in bytes;
// Mask is nil for a whole-field write.
type SetField struct {
	Field OXMID
	Value []byte
	Mask  []byte
}

func (a *SetField) appendAction(b []byte) ([]byte, error) {
	start := len(b)
	return appendOXMEntry(actHeader(b, ActSetField, 0), start, a.Field, a.Value, a.Mask)
}

// appendOXMEntry appends an OXM TLV with value (and mask, if not nil) to the action that starts
// at start, then pads and finishes the action (set_field, reg_load2).
func appendOXMEntry(b []byte, start int, id OXMID, value, mask []byte) ([]byte, error) {
	if mask != nil && len(mask) != len(value) {
		return b[:start], fmt.Errorf("%s: value %d bytes, mask %d: %w", id.Name(), len(value), len(mask), ErrBadAction)
	}
	n := len(value)
	if mask != nil {
		n *= 2
	}
	b = appendOXMHeader(b, id, mask != nil, n)
	b = append(b, value...)
	b = append(b, mask...)
	return finishAction(b, start)
}

// readOXMEntry reads an OXM TLV with value and optional mask (set_field, reg_load2), checking
// that its payload fits the field.
func readOXMEntry(c *cursor) (id OXMID, value, mask []byte, err error) {
	id, hasMask, plen := readOXMHeader(c)
	_, size, ok := id.FieldFor()
	if c.err != nil {
		return id, nil, nil, c.err
	}
	if !ok {
		return id, nil, nil, fmt.Errorf("%s: %w", id.Name(), ErrBadField)
	}
	if plen != size*(1+b2i(hasMask)) {
		return id, nil, nil, fmt.Errorf("%s payload %d, field is %d bytes: %w", id.Name(), plen, size, ErrBadLength)
	}
	value = c.bytes(size)
	if hasMask {
		mask = c.bytes(size)
	}
	return id, value, mask, c.err
}

// LoadField returns the set_field that OVS makes of ovs-ofctl's load:v->field[ofs..ofs+nbits-1]
// (a masked set_field; for a whole-field load, no mask). It fails for a field without an OXM/NXM
// header or bits outside the field.
func LoadField(f flow.Field, ofs, nbits uint, v uint64) (*SetField, error) {
	id, ok := OXMIDFor(f)
	if !ok {
		return nil, fmt.Errorf("load into %s: no OpenFlow header: %w", f, ErrBadAction)
	}
	_, size, _ := id.FieldFor()
	width := uint(size * 8)
	if nbits == 0 || nbits > 64 || ofs+nbits > width {
		return nil, fmt.Errorf("load into %s[%d..%d]: field has %d bits: %w", f, ofs, ofs+nbits-1, width, ErrBadAction)
	}
	var key, mask flow.Key
	key.SetBits(f, ofs, nbits, v)
	mask.SetBits(f, ofs, nbits, ^uint64(0))
	sf := &SetField{Field: id}
	sf.Value = fieldBytes(&key, f, size)
	if nbits != width {
		sf.Mask = fieldBytes(&mask, f, size)
	}
	return sf, nil
}

// fieldBytes returns f's value from k as size big-endian bytes.
func fieldBytes(k *flow.Key, f flow.Field, size int) []byte {
	hi, lo := k.Get128(f)
	return appendUint(make([]byte, 0, size), size, hi, lo)
}

// CopyField is OFPAT_COPY_FIELD (OpenFlow 1.5), which OVS sends for ovs-ofctl's move:.
type CopyField struct {
	NBits  uint16
	SrcOfs uint16
	DstOfs uint16
	Src    OXMID
	Dst    OXMID
}

func (a *CopyField) appendAction(b []byte) ([]byte, error) {
	start := len(b)
	b = actHeader(b, ActCopyField, 0)
	b = be.AppendUint16(b, a.NBits)
	b = be.AppendUint16(b, a.SrcOfs)
	b = be.AppendUint16(b, a.DstOfs)
	b = append(b, 0, 0)
	b = appendOXMID(b, a.Src)
	b = appendOXMID(b, a.Dst)
	return finishAction(b, start)
}

// appendOXMID appends a field header without payload (as copy_field, learn and ct zones refer to
// fields): its length says the field's width.
func appendOXMID(b []byte, id OXMID) []byte {
	size := 0
	if _, s, ok := id.FieldFor(); ok {
		size = s
	}
	return appendOXMHeader(b, id, false, size)
}

// readOXMID reads a field reference (a header without payload) and checks that it names a
// known field with its true width, so that it re-encodes to the same bytes.
func readOXMID(c *cursor) OXMID {
	id, hasMask, n := readOXMHeader(c)
	if c.err != nil {
		return id
	}
	if _, size, ok := id.FieldFor(); !ok || hasMask || n != size {
		c.err = fmt.Errorf("field reference %s (length %d): %w", id.Name(), n, ErrBadField)
	}
	return id
}

// headerID parses a 32-bit NXM/OXM header (ct's zone source, output_reg's source).
func headerID(h uint32) (OXMID, error) {
	id := OXMID{Class: uint16(h >> 16), Field: uint8(h>>9) & 0x7f}
	if _, size, ok := id.FieldFor(); !ok || h&0x100 != 0 || int(h&0xff) != size {
		return id, fmt.Errorf("field header 0x%08x: %w", h, ErrBadField)
	}
	return id, nil
}

// Resubmit is NXAST_RESUBMIT_TABLE (Table 0xff: the current table), NXAST_RESUBMIT_TABLE_CT
// (CT), or the old NXAST_RESUBMIT (Plain, no table). InPort is 16-bit on the wire: 0xfff8 is
// OFPP_IN_PORT. OVS itself sends NXAST_RESUBMIT_TABLE for every resubmit ovs-ofctl parses.
type Resubmit struct {
	InPort uint16
	Table  uint8
	CT     bool
	Plain  bool
}

// ResubmitInPort is the 16-bit in_port a resubmit uses to keep the packet's in_port.
const ResubmitInPort = 0xfff8

func (a *Resubmit) appendAction(b []byte) ([]byte, error) {
	sub := uint16(NXResubmitTable)
	switch {
	case a.CT:
		sub = NXResubmitCT
	case a.Plain:
		sub = NXResubmit
	}
	b = nxHeader(b, sub, 16)
	b = be.AppendUint16(b, a.InPort)
	tbl := a.Table
	if sub == NXResubmit {
		tbl = 0
	}
	return append(b, tbl, 0, 0, 0), nil
}

// Note is NXAST_NOTE. On decode Data includes the zero padding OVS also keeps.
type Note struct{ Data []byte }

func (a *Note) appendAction(b []byte) ([]byte, error) {
	start := len(b)
	b = nxHeader(b, NXNote, 0)
	b = append(b, a.Data...)
	if len(b)-start < 16 {
		b = appendZeros(b, 16-(len(b)-start))
	}
	return finishAction(b, start)
}

// Conjunction is NXAST_CONJUNCTION. Clause is 0-based on the wire (ovs-ofctl's
// conjunction(id,k/n) sends clause k-1).
type Conjunction struct {
	ID       uint32
	Clause   uint8
	NClauses uint8
}

func (a *Conjunction) appendAction(b []byte) ([]byte, error) {
	b = nxHeader(b, NXConjunction, 16)
	b = append(b, a.Clause, a.NClauses)
	return be.AppendUint32(b, a.ID), nil
}

// CTClear is NXAST_CT_CLEAR.
type CTClear struct{}

func (a *CTClear) appendAction(b []byte) ([]byte, error) {
	return appendZeros(nxHeader(b, NXCTClear, 16), 6), nil
}

// DecTTLCntIDs is NXAST_DEC_TTL_CNT_IDS: dec_ttl(id,...) with controller ids for the packet-in
// sent when the TTL runs out.
type DecTTLCntIDs struct{ IDs []uint16 }

func (a *DecTTLCntIDs) appendAction(b []byte) ([]byte, error) {
	start := len(b)
	b = nxHeader(b, NXDecTTLCntIDs, 0)
	b = be.AppendUint16(b, uint16(len(a.IDs)))
	b = appendZeros(b, 4)
	for _, id := range a.IDs {
		b = be.AppendUint16(b, id)
	}
	return finishAction(b, start)
}

// CT flags (NX_CT_F_*).
const (
	CTCommit = 1 << 0
	CTForce  = 1 << 1
)

// CTRecircNone is the RecircTable value for ct without table=.
const CTRecircNone = 0xff

// CT is NXAST_CT. The zone is ZoneImm unless ZoneFromField, then the bits
// ZoneOfs..ZoneOfs+ZoneNBits-1 of the field ZoneSrc. Actions are the nested exec(...) actions
// (and nat, which OVS nests there too).
type CT struct {
	Flags         uint16
	ZoneFromField bool
	ZoneSrc       OXMID
	ZoneOfs       uint16
	ZoneNBits     uint16
	ZoneImm       uint16
	RecircTable   uint8
	Alg           uint16
	Actions       []Action
}

func (a *CT) appendAction(b []byte) ([]byte, error) {
	start := len(b)
	b = nxHeader(b, NXCT, 0)
	b = be.AppendUint16(b, a.Flags)
	if !a.ZoneFromField {
		b = be.AppendUint32(b, 0)
		b = be.AppendUint16(b, a.ZoneImm)
	} else {
		b = appendOXMID(b, a.ZoneSrc)
		b = be.AppendUint16(b, ofsNBits(a.ZoneOfs, a.ZoneNBits))
	}
	b = append(b, a.RecircTable, 0, 0, 0)
	b = be.AppendUint16(b, a.Alg)
	b, err := AppendActions(b, a.Actions)
	if err != nil {
		return b[:start], err
	}
	return finishAction(b, start)
}

func ofsNBits(ofs, nbits uint16) uint16 { return ofs<<6 | (nbits-1)&0x3f }

// NAT flags (NX_NAT_F_*).
const (
	NATSrc         = 1 << 0
	NATDst         = 1 << 1
	NATPersistent  = 1 << 2
	NATProtoHash   = 1 << 3
	NATProtoRandom = 1 << 4
)

// NAT range-present bits (NX_NAT_RANGE_*).
const (
	natIPv4Min  = 1 << 0
	natIPv4Max  = 1 << 1
	natIPv6Min  = 1 << 2
	natIPv6Max  = 1 << 3
	natProtoMin = 1 << 4
	natProtoMax = 1 << 5
)

// NAT is NXAST_NAT, only valid inside CT's actions. A zero address or port means "not present",
// as in OVS. IPv6Min/IPv6Max are used instead of the IPv4 pair when either is non-zero.
type NAT struct {
	Flags    uint16
	IPv4Min  [4]byte
	IPv4Max  [4]byte
	IPv6Min  [16]byte
	IPv6Max  [16]byte
	ProtoMin uint16
	ProtoMax uint16
}

func (a *NAT) appendAction(b []byte) ([]byte, error) {
	start := len(b)
	b = nxHeader(b, NXNAT, 0)
	b = append(b, 0, 0)
	b = be.AppendUint16(b, a.Flags)
	presentAt := len(b)
	b = append(b, 0, 0)
	var present uint16
	if a.IPv4Min != ([4]byte{}) {
		b, present = append(b, a.IPv4Min[:]...), present|natIPv4Min
	}
	if a.IPv4Max != ([4]byte{}) {
		b, present = append(b, a.IPv4Max[:]...), present|natIPv4Max
	}
	if a.IPv6Min != ([16]byte{}) {
		b, present = append(b, a.IPv6Min[:]...), present|natIPv6Min
	}
	if a.IPv6Max != ([16]byte{}) {
		b, present = append(b, a.IPv6Max[:]...), present|natIPv6Max
	}
	if a.ProtoMin != 0 {
		b, present = be.AppendUint16(b, a.ProtoMin), present|natProtoMin
	}
	if a.ProtoMax != 0 {
		b, present = be.AppendUint16(b, a.ProtoMax), present|natProtoMax
	}
	be.PutUint16(b[presentAt:], present)
	return finishAction(b, start)
}

// Controller is NXAST_CONTROLLER (when UserData is empty, Pause is false, MeterID is 0 and
// V2 is false) or NXAST_CONTROLLER2 with its properties otherwise. MaxLen 0xffff means the
// whole packet; Reason is an OFPR_* (1, action, by default).
type Controller struct {
	MaxLen       uint16
	ControllerID uint16
	Reason       uint8
	UserData     []byte
	Pause        bool
	MeterID      uint32
	V2           bool
}

// NXAC2PT_* property types of NXAST_CONTROLLER2.
const (
	ctl2MaxLen       = 0
	ctl2ControllerID = 1
	ctl2Reason       = 2
	ctl2UserData     = 3
	ctl2Pause        = 4
	ctl2MeterID      = 5
)

// Packet-in reasons (OFPR_*).
const (
	ReasonNoMatch    = 0
	ReasonAction     = 1
	ReasonInvalidTTL = 2
	ReasonActionSet  = 3
	ReasonGroup      = 4
	ReasonPacketOut  = 5
)

func (a *Controller) appendAction(b []byte) ([]byte, error) {
	start := len(b)
	if !a.V2 && len(a.UserData) == 0 && !a.Pause && a.MeterID == 0 {
		b = nxHeader(b, NXController, 16)
		b = be.AppendUint16(b, a.MaxLen)
		b = be.AppendUint16(b, a.ControllerID)
		return append(b, a.Reason, 0), nil
	}
	b = nxHeader(b, NXController2, 0)
	b = appendZeros(b, 6)
	if a.MaxLen != 0xffff {
		b = appendProp(b, ctl2MaxLen, be.AppendUint16(nil, a.MaxLen))
	}
	if a.ControllerID != 0 {
		b = appendProp(b, ctl2ControllerID, be.AppendUint16(nil, a.ControllerID))
	}
	if a.Reason != ReasonAction {
		b = appendProp(b, ctl2Reason, []byte{a.Reason})
	}
	if len(a.UserData) != 0 {
		b = appendProp(b, ctl2UserData, a.UserData)
	}
	if a.Pause {
		b = appendProp(b, ctl2Pause, nil)
	}
	if a.MeterID != 0 {
		b = appendProp(b, ctl2MeterID, be.AppendUint32(nil, a.MeterID))
	}
	return finishAction(b, start)
}

// appendProp appends an ofp_prop (type, length, value) padded to 8 bytes.
func appendProp(b []byte, typ uint16, v []byte) []byte {
	start := len(b)
	b = be.AppendUint16(b, typ)
	b = be.AppendUint16(b, uint16(4+len(v)))
	b = append(b, v...)
	return appendPad8(b, start)
}

// NXOutputReg is the NXAST_OUTPUT_REG subtype.
const NXOutputReg = 15

// OutputReg is NXAST_OUTPUT_REG: output to the port number held in Src[Ofs..Ofs+NBits-1].
type OutputReg struct {
	Src    OXMID
	Ofs    uint16
	NBits  uint16
	MaxLen uint16
}

func (a *OutputReg) appendAction(b []byte) ([]byte, error) {
	if a.NBits == 0 || a.NBits > 64 {
		return b, fmt.Errorf("output_reg of %d bits: %w", a.NBits, ErrBadAction)
	}
	b = nxHeader(b, NXOutputReg, 24)
	b = be.AppendUint16(b, ofsNBits(a.Ofs, a.NBits))
	b = appendOXMID(b, a.Src)
	b = be.AppendUint16(b, a.MaxLen)
	return appendZeros(b, 6), nil
}

// RawAction is an action the codec does not model, kept whole (header included).
type RawAction struct{ Data []byte }

func (a *RawAction) appendAction(b []byte) ([]byte, error) { return append(b, a.Data...), nil }

// actHeader appends an ofp_action_header; n is the final length, or 0 for finishAction to fill.
func actHeader(b []byte, typ uint16, n uint16) []byte {
	b = be.AppendUint16(b, typ)
	return be.AppendUint16(b, n)
}

// nxHeader appends the Nicira action header (type, length, vendor, subtype).
func nxHeader(b []byte, sub uint16, n uint16) []byte {
	b = actHeader(b, ActExperiment, n)
	b = be.AppendUint32(b, NiciraID)
	return be.AppendUint16(b, sub)
}

// finishAction pads the action that starts at start to 8 bytes and writes its length.
func finishAction(b []byte, start int) ([]byte, error) {
	b = appendPad8(b, start)
	n := len(b) - start
	if n > 0xffff {
		return b[:start], fmt.Errorf("action of %d bytes: %w", n, ErrTooLong)
	}
	be.PutUint16(b[start+2:], uint16(n))
	return b, nil
}

// AppendActions appends a list of actions.
func AppendActions(b []byte, acts []Action) ([]byte, error) {
	for _, a := range acts {
		var err error
		if b, err = a.appendAction(b); err != nil {
			return b, err
		}
	}
	return b, nil
}
