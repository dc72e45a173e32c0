package openflow

import "fmt"

// HelloElemVersionBitmap is OFPHET_VERSIONBITMAP.
const HelloElemVersionBitmap = 1

// Hello is OFPT_HELLO. Bitmaps is the version bitmap element (bit n of word n/32 set means
// version n is supported); nil means the hello carries no bitmap, and the peer's header
// version is its highest version.
type Hello struct {
	Bitmaps []uint32
}

// NewHello returns a Hello that offers exactly OpenFlow 1.5.
func NewHello() *Hello { return &Hello{Bitmaps: []uint32{1 << Version}} }

// Type returns TypeHello.
func (*Hello) Type() Type { return TypeHello }

func (m *Hello) appendBody(b []byte) ([]byte, error) {
	if m.Bitmaps == nil {
		return b, nil
	}
	start := len(b)
	b = be.AppendUint16(b, HelloElemVersionBitmap)
	b = be.AppendUint16(b, uint16(4+4*len(m.Bitmaps)))
	for _, w := range m.Bitmaps {
		b = be.AppendUint32(b, w)
	}
	return appendPad8(b, start), nil
}

func (m *Hello) decodeBody(b []byte) error {
	c := &cursor{b: b}
	for c.len() >= 4 && c.err == nil {
		typ, n := c.u16(), int(c.u16())
		if n < 4 {
			return fmt.Errorf("hello element length %d: %w", n, ErrBadLength)
		}
		e := c.sub(n - 4)
		if typ == HelloElemVersionBitmap {
			m.Bitmaps = make([]uint32, 0, e.len()/4)
			for e.len() >= 4 {
				m.Bitmaps = append(m.Bitmaps, e.u32())
			}
		}
		c.skip(min(pad8(n)-n, c.len()))
	}
	return c.err
}

// Supports reports whether the hello offers version v (from its bitmap, or, without one,
// every version up to the header's, which the caller passes as hdr).
func (m *Hello) Supports(hdr, v uint8) bool {
	if m.Bitmaps == nil {
		return v <= hdr
	}
	i := int(v) / 32
	return i < len(m.Bitmaps) && m.Bitmaps[i]&(1<<(v%32)) != 0
}

// EchoRequest is OFPT_ECHO_REQUEST; Data is echoed back.
type EchoRequest struct{ Data []byte }

// Type returns TypeEchoRequest.
func (*EchoRequest) Type() Type                            { return TypeEchoRequest }
func (m *EchoRequest) appendBody(b []byte) ([]byte, error) { return append(b, m.Data...), nil }
func (m *EchoRequest) decodeBody(b []byte) error           { m.Data = clone(b); return nil }

// EchoReply is OFPT_ECHO_REPLY.
type EchoReply struct{ Data []byte }

// Type returns TypeEchoReply.
func (*EchoReply) Type() Type                            { return TypeEchoReply }
func (m *EchoReply) appendBody(b []byte) ([]byte, error) { return append(b, m.Data...), nil }
func (m *EchoReply) decodeBody(b []byte) error           { m.Data = clone(b); return nil }

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// empty is the body of messages that have none.
type empty struct{}

func (empty) appendBody(b []byte) ([]byte, error) { return b, nil }
func (empty) decodeBody(b []byte) error {
	if len(b) != 0 {
		return fmt.Errorf("%d bytes of body where none belong: %w", len(b), ErrBadLength)
	}
	return nil
}

// FeaturesRequest is OFPT_FEATURES_REQUEST.
type FeaturesRequest struct{ empty }

// Type returns TypeFeaturesRequest.
func (*FeaturesRequest) Type() Type { return TypeFeaturesRequest }

// BarrierRequest is OFPT_BARRIER_REQUEST.
type BarrierRequest struct{ empty }

// Type returns TypeBarrierRequest.
func (*BarrierRequest) Type() Type { return TypeBarrierRequest }

// BarrierReply is OFPT_BARRIER_REPLY.
type BarrierReply struct{ empty }

// Type returns TypeBarrierReply.
func (*BarrierReply) Type() Type { return TypeBarrierReply }

// GetConfigRequest is OFPT_GET_CONFIG_REQUEST.
type GetConfigRequest struct{ empty }

// Type returns TypeGetConfigRequest.
func (*GetConfigRequest) Type() Type { return TypeGetConfigRequest }

// Capability bits of FeaturesReply.Capabilities (OFPC_*).
const (
	CapFlowStats   = 1 << 0
	CapTableStats  = 1 << 1
	CapPortStats   = 1 << 2
	CapGroupStats  = 1 << 3
	CapIPReasm     = 1 << 5
	CapQueueStats  = 1 << 6
	CapPortBlocked = 1 << 8
	CapBundles     = 1 << 9
	CapFlowMonitor = 1 << 10
)

// FeaturesReply is OFPT_FEATURES_REPLY.
type FeaturesReply struct {
	DatapathID   uint64
	NBuffers     uint32
	NTables      uint8
	AuxiliaryID  uint8
	Capabilities uint32
	Reserved     uint32
}

// Type returns TypeFeaturesReply.
func (*FeaturesReply) Type() Type { return TypeFeaturesReply }

func (m *FeaturesReply) appendBody(b []byte) ([]byte, error) {
	b = be.AppendUint64(b, m.DatapathID)
	b = be.AppendUint32(b, m.NBuffers)
	b = append(b, m.NTables, m.AuxiliaryID, 0, 0)
	b = be.AppendUint32(b, m.Capabilities)
	return be.AppendUint32(b, m.Reserved), nil
}

func (m *FeaturesReply) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.DatapathID, m.NBuffers, m.NTables, m.AuxiliaryID = c.u64(), c.u32(), c.u8(), c.u8()
	c.skip(2)
	m.Capabilities, m.Reserved = c.u32(), c.u32()
	return c.err
}

// Switch configuration flags (OFPC_FRAG_*).
const (
	ConfigFragNormal = 0
	ConfigFragDrop   = 1
	ConfigFragReasm  = 2
)

// SwitchConfig is the body shared by OFPT_GET_CONFIG_REPLY and OFPT_SET_CONFIG.
type SwitchConfig struct {
	Flags       uint16
	MissSendLen uint16
}

func (m *SwitchConfig) appendBody(b []byte) ([]byte, error) {
	b = be.AppendUint16(b, m.Flags)
	return be.AppendUint16(b, m.MissSendLen), nil
}

func (m *SwitchConfig) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Flags, m.MissSendLen = c.u16(), c.u16()
	return c.err
}

// GetConfigReply is OFPT_GET_CONFIG_REPLY.
type GetConfigReply struct{ SwitchConfig }

// Type returns TypeGetConfigReply.
func (*GetConfigReply) Type() Type { return TypeGetConfigReply }

// SetConfig is OFPT_SET_CONFIG.
type SetConfig struct{ SwitchConfig }

// Type returns TypeSetConfig.
func (*SetConfig) Type() Type { return TypeSetConfig }

// Controller roles (OFPCR_ROLE_*).
const (
	RoleNoChange = 0
	RoleEqual    = 1
	RoleMaster   = 2
	RoleSlave    = 3
)

// Role is the body shared by OFPT_ROLE_REQUEST and OFPT_ROLE_REPLY.
type Role struct {
	Role         uint32
	GenerationID uint64
}

func (m *Role) appendBody(b []byte) ([]byte, error) {
	b = be.AppendUint32(b, m.Role)
	b = append(b, 0, 0, 0, 0)
	return be.AppendUint64(b, m.GenerationID), nil
}

func (m *Role) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Role = c.u32()
	c.skip(4)
	m.GenerationID = c.u64()
	return c.err
}

// RoleRequest is OFPT_ROLE_REQUEST.
type RoleRequest struct{ Role }

// Type returns TypeRoleRequest.
func (*RoleRequest) Type() Type { return TypeRoleRequest }

// RoleReply is OFPT_ROLE_REPLY.
type RoleReply struct{ Role }

// Type returns TypeRoleReply.
func (*RoleReply) Type() Type { return TypeRoleReply }
