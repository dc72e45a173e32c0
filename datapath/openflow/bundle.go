package openflow

import "fmt"

// Bundle control types (OFPBCT_*).
const (
	BundleOpenRequest    = 0
	BundleOpenReply      = 1
	BundleCloseRequest   = 2
	BundleCloseReply     = 3
	BundleCommitRequest  = 4
	BundleCommitReply    = 5
	BundleDiscardRequest = 6
	BundleDiscardReply   = 7
)

// Bundle flags (OFPBF_*).
const (
	BundleAtomic  = 1 << 0
	BundleOrdered = 1 << 1
	BundleTime    = 1 << 2
)

// BundleControl is OFPT_BUNDLE_CONTROL. Properties are kept raw.
type BundleControl struct {
	BundleID   uint32
	CtlType    uint16
	Flags      uint16
	Properties []byte
}

// Type returns TypeBundleControl.
func (*BundleControl) Type() Type { return TypeBundleControl }

func (m *BundleControl) appendBody(b []byte) ([]byte, error) {
	b = be.AppendUint32(b, m.BundleID)
	b = be.AppendUint16(b, m.CtlType)
	b = be.AppendUint16(b, m.Flags)
	return append(b, m.Properties...), nil
}

func (m *BundleControl) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.BundleID, m.CtlType, m.Flags = c.u32(), c.u16(), c.u16()
	m.Properties = c.rest()
	return c.err
}

// BundleAdd is OFPT_BUNDLE_ADD_MESSAGE: Message (with its own XID, which the spec wants equal
// to the outer one) is added to bundle BundleID.
type BundleAdd struct {
	BundleID   uint32
	Flags      uint16
	XID        uint32
	Message    Message
	Properties []byte
}

// Type returns TypeBundleAddMessage.
func (*BundleAdd) Type() Type { return TypeBundleAddMessage }

func (m *BundleAdd) appendBody(b []byte) ([]byte, error) {
	if m.Message == nil {
		return b, fmt.Errorf("bundle add without a message: %w", ErrBadLength)
	}
	if _, ok := m.Message.(*BundleAdd); ok {
		return b, fmt.Errorf("bundle add inside bundle add: %w", ErrBadLength)
	}
	bodyStart := len(b)
	b = be.AppendUint32(b, m.BundleID)
	b = append(b, 0, 0)
	b = be.AppendUint16(b, m.Flags)
	b, err := Append(b, m.XID, m.Message)
	if err != nil {
		return b, err
	}
	if len(m.Properties) > 0 {
		n := HeaderLen + len(b) - bodyStart
		b = appendZeros(b, pad8(n)-n)
	}
	return append(b, m.Properties...), nil
}

func (m *BundleAdd) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.BundleID = c.u32()
	c.skip(2)
	m.Flags = c.u16()
	if c.err != nil {
		return c.err
	}
	h, err := ParseHeader(c.b)
	if err != nil {
		return err
	}
	if int(h.Length) > c.len() {
		return fmt.Errorf("inner message of %d bytes in %d: %w", h.Length, c.len(), ErrBadLength)
	}
	inner := c.take(int(h.Length))
	if h.Type == TypeBundleAddMessage {
		return fmt.Errorf("bundle add inside bundle add: %w", ErrBadLength)
	}
	_, msg, err := Unmarshal(inner)
	if err != nil {
		return fmt.Errorf("inner message: %w", err)
	}
	m.XID, m.Message = h.XID, msg
	// Properties start at the next 8-byte boundary of the whole message.
	if c.len() > 0 {
		c.skip(pad8(HeaderLen+8+len(inner)) - (HeaderLen + 8 + len(inner)))
		m.Properties = c.rest()
	}
	return c.err
}
