package openflow

import (
	"fmt"

	"github.com/sluicenet/sluice/datapath/flow"
)

// NXPINT_* property types of NXT_PACKET_IN2.
const (
	pin2Packet       = 0
	pin2FullLen      = 1
	pin2BufferID     = 2
	pin2TableID      = 3
	pin2Cookie       = 4
	pin2Reason       = 5
	pin2Metadata     = 6
	pin2UserData     = 7
	pin2Continuation = 8
)

// PacketIn2 is Nicira's NXT_PACKET_IN2, the packet-in format a controller selects with
// SetPacketInFormat{PacketInFormatNXT2}; it is the only one that carries controller(userdata=)
// and the continuation of a paused pipeline. Cookie all-ones means the property is absent
// (OVS omits it then). Continuation is kept raw (it is private to the switch).
type PacketIn2 struct {
	Data         []byte
	HasFullLen   bool
	FullLen      uint32
	HasBufferID  bool
	BufferID     uint32
	TableID      uint8
	Cookie       uint64
	Reason       uint8
	Metadata     flow.Match
	UserData     []byte
	Continuation []byte // the whole NXPINT_CONTINUATION property, header included
}

// Type returns TypeExperimenter.
func (*PacketIn2) Type() Type { return TypeExperimenter }

func (m *PacketIn2) appendBody(b []byte) ([]byte, error) {
	b = be.AppendUint32(b, NiciraID)
	b = be.AppendUint32(b, NXTPacketIn2)
	b = appendProp(b, pin2Packet, m.Data)
	if m.HasFullLen {
		b = appendProp(b, pin2FullLen, be.AppendUint32(nil, m.FullLen))
	}
	if m.HasBufferID {
		b = appendProp(b, pin2BufferID, be.AppendUint32(nil, m.BufferID))
	}
	b = appendProp(b, pin2TableID, []byte{m.TableID})
	if m.Cookie != ^uint64(0) {
		// A 64-bit property value is 8-aligned: 4 zero bytes follow the header.
		b = appendProp(b, pin2Cookie, be.AppendUint64([]byte{0, 0, 0, 0}, m.Cookie))
	}
	b = appendProp(b, pin2Reason, []byte{m.Reason})
	oxms, err := AppendOXMs(nil, &m.Metadata)
	if err != nil {
		return b, err
	}
	b = appendProp(b, pin2Metadata, oxms)
	b = append(b, m.Continuation...)
	if len(m.UserData) > 0 {
		b = appendProp(b, pin2UserData, m.UserData)
	}
	return b, nil
}

func (m *PacketIn2) decodeBody(b []byte) error {
	c := &cursor{b: b}
	c.skip(8)
	m.Cookie = ^uint64(0)
	seen := 0
	return decodePropsRaw(c, func(typ uint16, v *cursor, raw []byte) error {
		if seen&(1<<typ) != 0 && typ < 16 {
			return fmt.Errorf("packet-in2 property %d twice: %w", typ, ErrBadLength)
		}
		if typ < 16 {
			seen |= 1 << typ
		}
		switch typ {
		case pin2Packet:
			m.Data = v.rest()
		case pin2FullLen:
			m.HasFullLen, m.FullLen = true, v.u32()
		case pin2BufferID:
			m.HasBufferID, m.BufferID = true, v.u32()
		case pin2TableID:
			m.TableID = v.u8()
		case pin2Cookie:
			v.skip(4)
			m.Cookie = v.u64()
		case pin2Reason:
			m.Reason = v.u8()
		case pin2Metadata:
			if err := decodeOXMs(v, &m.Metadata); err != nil {
				return err
			}
		case pin2UserData:
			m.UserData = v.rest()
		case pin2Continuation:
			m.Continuation = clone(raw)
		default:
			return fmt.Errorf("packet-in2 property %d: %w", typ, ErrBadLength)
		}
		if v.err == nil && v.len() != 0 {
			return fmt.Errorf("packet-in2 property %d has %d extra bytes: %w", typ, v.len(), ErrBadLength)
		}
		return v.err
	})
}
