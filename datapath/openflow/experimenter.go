package openflow

// NiciraID is Nicira's (Open vSwitch's) experimenter/vendor id.
const NiciraID = 0x00002320

// ONFID is the Open Networking Foundation's experimenter id.
const ONFID = 0x4f4e4600

// Nicira experimenter message subtypes (NXT_*) this codec knows.
const (
	NXTSetPacketInFormat = 16
	NXTPacketIn2         = 30
	NXTResume            = 28
)

// Packet-in formats for NXT_SET_PACKET_IN_FORMAT (NXPIF_*).
const (
	PacketInFormatStandard = 0
	PacketInFormatNXM      = 1
	PacketInFormatNXT2     = 2
)

// Experimenter is an OFPT_EXPERIMENTER message the codec does not model further.
type Experimenter struct {
	Experimenter uint32
	ExpType      uint32
	Data         []byte
}

// Type returns TypeExperimenter.
func (*Experimenter) Type() Type { return TypeExperimenter }

func (m *Experimenter) appendBody(b []byte) ([]byte, error) {
	b = be.AppendUint32(b, m.Experimenter)
	b = be.AppendUint32(b, m.ExpType)
	return append(b, m.Data...), nil
}

func (m *Experimenter) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Experimenter, m.ExpType = c.u32(), c.u32()
	m.Data = c.rest()
	return c.err
}

// SetPacketInFormat is NXT_SET_PACKET_IN_FORMAT: a controller asks for NXT_PACKET_IN2, the
// only format that carries controller(userdata=...).
type SetPacketInFormat struct {
	Format uint32
}

// Type returns TypeExperimenter.
func (*SetPacketInFormat) Type() Type { return TypeExperimenter }

func (m *SetPacketInFormat) appendBody(b []byte) ([]byte, error) {
	b = be.AppendUint32(b, NiciraID)
	b = be.AppendUint32(b, NXTSetPacketInFormat)
	return be.AppendUint32(b, m.Format), nil
}

func (m *SetPacketInFormat) decodeBody(b []byte) error {
	c := &cursor{b: b}
	c.skip(8)
	m.Format = c.u32()
	if c.err == nil && c.len() != 0 {
		return ErrBadLength
	}
	return c.err
}

func newExperimenter(body []byte) Message {
	if len(body) >= 8 && be.Uint32(body) == NiciraID {
		switch be.Uint32(body[4:]) {
		case NXTSetPacketInFormat:
			return &SetPacketInFormat{}
		case NXTPacketIn2:
			return &PacketIn2{}
		}
	}
	return &Experimenter{}
}
