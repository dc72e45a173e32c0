package openflow

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the OpenFlow protocol version this codec speaks: 0x06, OpenFlow 1.5.
const Version = 0x06

// HeaderLen is the size of ofp_header.
const HeaderLen = 8

// MaxMessageLen is the largest message the 16-bit length field can describe.
const MaxMessageLen = 0xffff

// Type is ofp_header's message type (OFPT_*).
type Type uint8

// The OpenFlow 1.5 message types.
const (
	TypeHello            Type = 0
	TypeError            Type = 1
	TypeEchoRequest      Type = 2
	TypeEchoReply        Type = 3
	TypeExperimenter     Type = 4
	TypeFeaturesRequest  Type = 5
	TypeFeaturesReply    Type = 6
	TypeGetConfigRequest Type = 7
	TypeGetConfigReply   Type = 8
	TypeSetConfig        Type = 9
	TypePacketIn         Type = 10
	TypeFlowRemoved      Type = 11
	TypePortStatus       Type = 12
	TypePacketOut        Type = 13
	TypeFlowMod          Type = 14
	TypeGroupMod         Type = 15
	TypePortMod          Type = 16
	TypeTableMod         Type = 17
	TypeMultipartRequest Type = 18
	TypeMultipartReply   Type = 19
	TypeBarrierRequest   Type = 20
	TypeBarrierReply     Type = 21
	TypeRoleRequest      Type = 24
	TypeRoleReply        Type = 25
	TypeGetAsyncRequest  Type = 26
	TypeGetAsyncReply    Type = 27
	TypeSetAsync         Type = 28
	TypeMeterMod         Type = 29
	TypeRoleStatus       Type = 30
	TypeTableStatus      Type = 31
	TypeRequestForward   Type = 32
	TypeBundleControl    Type = 33
	TypeBundleAddMessage Type = 34
	TypeControllerStatus Type = 35
)

var typeNames = map[Type]string{
	TypeHello: "OFPT_HELLO", TypeError: "OFPT_ERROR", TypeEchoRequest: "OFPT_ECHO_REQUEST",
	TypeEchoReply: "OFPT_ECHO_REPLY", TypeExperimenter: "OFPT_EXPERIMENTER",
	TypeFeaturesRequest: "OFPT_FEATURES_REQUEST", TypeFeaturesReply: "OFPT_FEATURES_REPLY",
	TypeGetConfigRequest: "OFPT_GET_CONFIG_REQUEST", TypeGetConfigReply: "OFPT_GET_CONFIG_REPLY",
	TypeSetConfig: "OFPT_SET_CONFIG", TypePacketIn: "OFPT_PACKET_IN",
	TypeFlowRemoved: "OFPT_FLOW_REMOVED", TypePortStatus: "OFPT_PORT_STATUS",
	TypePacketOut: "OFPT_PACKET_OUT", TypeFlowMod: "OFPT_FLOW_MOD", TypeGroupMod: "OFPT_GROUP_MOD",
	TypePortMod: "OFPT_PORT_MOD", TypeTableMod: "OFPT_TABLE_MOD",
	TypeMultipartRequest: "OFPT_MULTIPART_REQUEST", TypeMultipartReply: "OFPT_MULTIPART_REPLY",
	TypeBarrierRequest: "OFPT_BARRIER_REQUEST", TypeBarrierReply: "OFPT_BARRIER_REPLY",
	TypeRoleRequest: "OFPT_ROLE_REQUEST", TypeRoleReply: "OFPT_ROLE_REPLY",
	TypeGetAsyncRequest: "OFPT_GET_ASYNC_REQUEST", TypeGetAsyncReply: "OFPT_GET_ASYNC_REPLY",
	TypeSetAsync: "OFPT_SET_ASYNC", TypeMeterMod: "OFPT_METER_MOD", TypeRoleStatus: "OFPT_ROLE_STATUS",
	TypeTableStatus: "OFPT_TABLE_STATUS", TypeRequestForward: "OFPT_REQUESTFORWARD",
	TypeBundleControl: "OFPT_BUNDLE_CONTROL", TypeBundleAddMessage: "OFPT_BUNDLE_ADD_MESSAGE",
	TypeControllerStatus: "OFPT_CONTROLLER_STATUS",
}

// String returns the OFPT_* name.
func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("OFPT_%d", uint8(t))
}

// Header is ofp_header.
type Header struct {
	Version uint8
	Type    Type
	Length  uint16
	XID     uint32
}

// ParseHeader reads an ofp_header from the first 8 bytes of b.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("parse ofp_header: %w", ErrShort)
	}
	h := Header{Version: b[0], Type: Type(b[1]), Length: binary.BigEndian.Uint16(b[2:]), XID: binary.BigEndian.Uint32(b[4:])}
	if h.Length < HeaderLen {
		return h, fmt.Errorf("parse ofp_header: length %d below 8: %w", h.Length, ErrBadLength)
	}
	return h, nil
}

// Errors returned by the decoders. Decoding errors wrap one of these, so a switch can map them
// to an OpenFlow error reply (see ErrorFor).
var (
	ErrShort      = errors.New("message truncated")
	ErrBadLength  = errors.New("bad length")
	ErrBadVersion = errors.New("unsupported OpenFlow version")
	ErrTooLong    = errors.New("message longer than 65535 bytes")
	ErrBadMatch   = errors.New("bad match")
	ErrBadAction  = errors.New("bad action")
	ErrBadInst    = errors.New("bad instruction")
	ErrBadField   = errors.New("unknown match field")
	ErrDupField   = errors.New("duplicate match field")
	ErrBadMask    = errors.New("mask on a field that cannot be masked")
	ErrBadPrereq  = errors.New("match field without its prerequisite")
)

// Message is one OpenFlow message body. The concrete types are this package's structs; the
// unexported methods keep the set closed so Unmarshal can return every kind.
type Message interface {
	// Type returns the ofp_header type the message travels as.
	Type() Type
	appendBody(b []byte) ([]byte, error)
	decodeBody(b []byte) error
}

// Marshal encodes m as one OpenFlow 1.5 message with transaction id xid.
func Marshal(xid uint32, m Message) ([]byte, error) {
	return Append(nil, xid, m)
}

// Append appends the encoding of m (header and body) to b.
func Append(b []byte, xid uint32, m Message) ([]byte, error) {
	start := len(b)
	b = append(b, Version, byte(m.Type()), 0, 0)
	b = binary.BigEndian.AppendUint32(b, xid)
	b, err := m.appendBody(b)
	if err != nil {
		return b[:start], fmt.Errorf("encode %v: %w", m.Type(), err)
	}
	n := len(b) - start
	if n > MaxMessageLen {
		return b[:start], fmt.Errorf("encode %v: %d bytes: %w", m.Type(), n, ErrTooLong)
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16(n))
	return b, nil
}

// Unmarshal decodes one whole message (header included; b must be exactly the message).
// The returned Message does not alias b.
func Unmarshal(b []byte) (Header, Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, nil, err
	}
	if int(h.Length) != len(b) {
		return h, nil, fmt.Errorf("decode %v: header length %d, have %d bytes: %w", h.Type, h.Length, len(b), ErrBadLength)
	}
	if h.Version != Version && h.Type != TypeHello && h.Type != TypeError {
		return h, nil, fmt.Errorf("decode %v: version 0x%02x: %w", h.Type, h.Version, ErrBadVersion)
	}
	body := b[HeaderLen:]
	m := newMessage(h.Type, body)
	if err := m.decodeBody(body); err != nil {
		return h, nil, fmt.Errorf("decode %v: %w", h.Type, err)
	}
	return h, m, nil
}

// newMessage returns an empty message of the kind that h's type (and body prefix) names.
func newMessage(t Type, body []byte) Message {
	switch t {
	case TypeHello:
		return &Hello{}
	case TypeError:
		return &Error{}
	case TypeEchoRequest:
		return &EchoRequest{}
	case TypeEchoReply:
		return &EchoReply{}
	case TypeExperimenter:
		return newExperimenter(body)
	case TypeFeaturesRequest:
		return &FeaturesRequest{}
	case TypeFeaturesReply:
		return &FeaturesReply{}
	case TypeGetConfigRequest:
		return &GetConfigRequest{}
	case TypeGetConfigReply:
		return &GetConfigReply{}
	case TypeSetConfig:
		return &SetConfig{}
	case TypePacketIn:
		return &PacketIn{}
	case TypeFlowRemoved:
		return &FlowRemoved{}
	case TypePortStatus:
		return &PortStatus{}
	case TypePacketOut:
		return &PacketOut{}
	case TypeFlowMod:
		return &FlowMod{}
	case TypeGroupMod:
		return &GroupMod{}
	case TypePortMod:
		return &PortMod{}
	case TypeMultipartRequest:
		return newMultipartRequest(body)
	case TypeMultipartReply:
		return newMultipartReply(body)
	case TypeBarrierRequest:
		return &BarrierRequest{}
	case TypeBarrierReply:
		return &BarrierReply{}
	case TypeRoleRequest:
		return &RoleRequest{}
	case TypeRoleReply:
		return &RoleReply{}
	case TypeMeterMod:
		return &MeterMod{}
	case TypeBundleControl:
		return &BundleControl{}
	case TypeBundleAddMessage:
		return &BundleAdd{}
	}
	return &Unknown{MsgType: t}
}

// Unknown is a message whose type the codec does not model; Body keeps its bytes.
type Unknown struct {
	MsgType Type
	Body    []byte
}

// Type returns the message's ofp_header type.
func (m *Unknown) Type() Type { return m.MsgType }

func (m *Unknown) appendBody(b []byte) ([]byte, error) { return append(b, m.Body...), nil }
func (m *Unknown) decodeBody(b []byte) error {
	m.Body = append([]byte(nil), b...)
	return nil
}

// pad8 returns n rounded up to a multiple of 8.
func pad8(n int) int { return (n + 7) &^ 7 }

// appendZeros appends n zero bytes.
func appendZeros(b []byte, n int) []byte {
	for range n {
		b = append(b, 0)
	}
	return b
}

// appendPad8 pads b with zeros so that len(b)-start is a multiple of 8.
func appendPad8(b []byte, start int) []byte {
	return appendZeros(b, pad8(len(b)-start)-(len(b)-start))
}

var be = binary.BigEndian

var zeros [64]byte

// cursor reads big-endian fields from a byte slice; the first short read latches ErrShort and
// every later read returns zero, so decoders check once at the end.
type cursor struct {
	b   []byte
	err error
}

func (c *cursor) take(n int) []byte {
	if c.err != nil || n < 0 || len(c.b) < n {
		if c.err == nil {
			c.err = ErrShort
		}
		c.b = nil
		if n >= 0 && n <= len(zeros) {
			return zeros[:n:n]
		}
		return nil // never allocate for a length the message does not have
	}
	v := c.b[:n]
	c.b = c.b[n:]
	return v
}

func (c *cursor) u8() uint8   { return c.take(1)[0] }
func (c *cursor) u16() uint16 { return be.Uint16(c.take(2)) }
func (c *cursor) u32() uint32 { return be.Uint32(c.take(4)) }
func (c *cursor) u64() uint64 { return be.Uint64(c.take(8)) }
func (c *cursor) skip(n int)  { c.take(n) }

// bytes returns a copy of the next n bytes.
func (c *cursor) bytes(n int) []byte {
	v := c.take(n)
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

// rest returns a copy of everything left.
func (c *cursor) rest() []byte { return c.bytes(len(c.b)) }

func (c *cursor) len() int { return len(c.b) }

// sub splits off the next n bytes as their own cursor.
func (c *cursor) sub(n int) *cursor {
	if c.err != nil {
		return &cursor{err: c.err}
	}
	if n < 0 || n > len(c.b) {
		c.err = fmt.Errorf("length %d, %d bytes left: %w", n, len(c.b), ErrBadLength)
		return &cursor{err: c.err}
	}
	s := &cursor{b: c.b[:n]}
	c.b = c.b[n:]
	return s
}
