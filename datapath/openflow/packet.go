package openflow

import (
	"fmt"

	"github.com/sluicenet/sluice/datapath/flow"
)

// PacketIn is OFPT_PACKET_IN (OpenFlow 1.3+ layout): the packet's metadata travels as a match
// (in_port, registers, tunnel and conntrack fields).
type PacketIn struct {
	BufferID uint32
	TotalLen uint16
	Reason   uint8
	TableID  uint8
	Cookie   uint64
	Match    flow.Match
	Data     []byte
}

// Type returns TypePacketIn.
func (*PacketIn) Type() Type { return TypePacketIn }

func (m *PacketIn) appendBody(b []byte) ([]byte, error) {
	b = be.AppendUint32(b, m.BufferID)
	b = be.AppendUint16(b, m.TotalLen)
	b = append(b, m.Reason, m.TableID)
	b = be.AppendUint64(b, m.Cookie)
	b, err := appendMetadataMatch(b, &m.Match)
	if err != nil {
		return b, err
	}
	b = append(b, 0, 0)
	return append(b, m.Data...), nil
}

func (m *PacketIn) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.BufferID, m.TotalLen, m.Reason, m.TableID = c.u32(), c.u16(), c.u8(), c.u8()
	m.Cookie = c.u64()
	if c.err != nil {
		return c.err
	}
	if err := decodeMatch(c, &m.Match); err != nil {
		return err
	}
	c.skip(2)
	m.Data = c.rest()
	return c.err
}

// appendMetadataMatch encodes a packet's metadata (packet-in, packet-out) as an ofp_match;
// OVS uses its flow-match encoder for it too.
func appendMetadataMatch(b []byte, m *flow.Match) ([]byte, error) { return AppendMatch(b, m) }

// PacketOut is OFPT_PACKET_OUT (OpenFlow 1.5: in_port and other metadata travel in Match).
type PacketOut struct {
	BufferID uint32
	Match    flow.Match
	Actions  []Action
	Data     []byte
}

// Type returns TypePacketOut.
func (*PacketOut) Type() Type { return TypePacketOut }

func (m *PacketOut) appendBody(b []byte) ([]byte, error) {
	b = be.AppendUint32(b, m.BufferID)
	lenAt := len(b)
	b = append(b, 0, 0, 0, 0)
	b, err := appendMetadataMatch(b, &m.Match)
	if err != nil {
		return b, err
	}
	actStart := len(b)
	if b, err = AppendActions(b, m.Actions); err != nil {
		return b, err
	}
	if len(b)-actStart > 0xffff {
		return b, fmt.Errorf("packet-out actions: %w", ErrTooLong)
	}
	be.PutUint16(b[lenAt:], uint16(len(b)-actStart))
	return append(b, m.Data...), nil
}

func (m *PacketOut) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.BufferID = c.u32()
	n := int(c.u16())
	c.skip(2)
	if c.err != nil {
		return c.err
	}
	if err := decodeMatch(c, &m.Match); err != nil {
		return err
	}
	acts, err := decodeActions(c.sub(n), 0)
	if err != nil {
		return err
	}
	m.Actions = acts
	m.Data = c.rest()
	return c.err
}

// Port-status reasons (OFPPR_*).
const (
	PortAdded    = 0
	PortDeleted  = 1
	PortModified = 2
)

// Port config (OFPPC_*) and state (OFPPS_*) bits.
const (
	PortConfigDown       = 1 << 0
	PortConfigNoRecv     = 1 << 2
	PortConfigNoFwd      = 1 << 5
	PortConfigNoPacketIn = 1 << 6
	PortStateLinkDown    = 1 << 0
	PortStateBlocked     = 1 << 1
	PortStateLive        = 1 << 2
)

// PortEthernet is the OFPPDPT_ETHERNET property of a port: OFPPF_* feature bits and speeds
// in kb/s.
type PortEthernet struct {
	Curr, Advertised, Supported, Peer uint32
	CurrSpeed, MaxSpeed               uint32
}

// Port is OpenFlow 1.4+'s ofp_port.
type Port struct {
	PortNo   uint32
	HWAddr   [6]byte
	Name     string
	Config   uint32
	State    uint32
	Ethernet *PortEthernet
}

func (p *Port) appendPort(b []byte) []byte {
	start := len(b)
	b = be.AppendUint32(b, p.PortNo)
	b = append(b, 0, 0, 0, 0)
	b = append(b, p.HWAddr[:]...)
	b = append(b, 0, 0)
	b = appendName(b, p.Name, 16)
	b = be.AppendUint32(b, p.Config)
	b = be.AppendUint32(b, p.State)
	if e := p.Ethernet; e != nil {
		b = be.AppendUint16(b, 0)
		b = be.AppendUint16(b, 32)
		b = append(b, 0, 0, 0, 0)
		for _, v := range []uint32{e.Curr, e.Advertised, e.Supported, e.Peer, e.CurrSpeed, e.MaxSpeed} {
			b = be.AppendUint32(b, v)
		}
	}
	be.PutUint16(b[start+4:], uint16(len(b)-start))
	return b
}

func decodePort(c *cursor) (Port, error) {
	var p Port
	p.PortNo = c.u32()
	n := int(c.u16())
	if c.err == nil && n < 40 {
		return p, fmt.Errorf("ofp_port length %d: %w", n, ErrBadLength)
	}
	pc := c.sub(n - 6)
	pc.skip(2)
	copy(p.HWAddr[:], pc.take(6))
	pc.skip(2)
	p.Name = readName(pc, 16)
	p.Config, p.State = pc.u32(), pc.u32()
	err := decodeProps(pc, func(typ uint16, v *cursor) error {
		if typ != 0 {
			return nil
		}
		v.skip(4)
		p.Ethernet = &PortEthernet{v.u32(), v.u32(), v.u32(), v.u32(), v.u32(), v.u32()}
		return v.err
	})
	if err != nil {
		return p, err
	}
	return p, c.err
}

// appendName appends s NUL-padded (and truncated) to n bytes, as OpenFlow's fixed strings.
func appendName(b []byte, s string, n int) []byte {
	if len(s) > n-1 {
		s = s[:n-1]
	}
	b = append(b, s...)
	return appendZeros(b, n-len(s))
}

// readName reads a fixed n-byte string up to its NUL; a string without one is cut to n-1 bytes,
// as appendName would write it.
func readName(c *cursor, n int) string {
	v := c.take(n)
	if len(v) < n {
		return ""
	}
	for i, x := range v {
		if x == 0 {
			return string(v[:i])
		}
	}
	return string(v[:n-1])
}

// PortStatus is OFPT_PORT_STATUS.
type PortStatus struct {
	Reason uint8
	Port   Port
}

// Type returns TypePortStatus.
func (*PortStatus) Type() Type { return TypePortStatus }

func (m *PortStatus) appendBody(b []byte) ([]byte, error) {
	b = appendZeros(append(b, m.Reason), 7)
	return m.Port.appendPort(b), nil
}

func (m *PortStatus) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Reason = c.u8()
	c.skip(7)
	p, err := decodePort(c)
	m.Port = p
	return err
}
