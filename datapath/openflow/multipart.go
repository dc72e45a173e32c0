package openflow

import (
	"fmt"

	"github.com/sluicenet/sluice/datapath/flow"
)

// Multipart types (OFPMP_*).
const (
	MPDesc         = 0
	MPFlowDesc     = 1
	MPAggregate    = 2
	MPTable        = 3
	MPPortStats    = 4
	MPQueueStats   = 5
	MPGroupStats   = 6
	MPGroupDesc    = 7
	MPGroupFeat    = 8
	MPMeterStats   = 9
	MPMeterDesc    = 10
	MPMeterFeat    = 11
	MPTableFeat    = 12
	MPPortDesc     = 13
	MPFlowStats    = 17
	MPExperimenter = 0xffff
)

// MultipartMore is OFPMPF_REQ_MORE / OFPMPF_REPLY_MORE: more parts follow.
const MultipartMore = 1

// multipart is the part every multipart message shares: its flags.
type multipart struct {
	Flags uint16
}

func appendMPHeader(b []byte, typ, flags uint16) []byte {
	b = be.AppendUint16(b, typ)
	b = be.AppendUint16(b, flags)
	return append(b, 0, 0, 0, 0)
}

func readMPHeader(c *cursor) (flags uint16) {
	c.skip(2)
	flags = c.u16()
	c.skip(4)
	return flags
}

func newMultipartRequest(body []byte) Message {
	if len(body) < 2 {
		return &MultipartUnknown{}
	}
	switch be.Uint16(body) {
	case MPDesc:
		return &DescRequest{}
	case MPFlowDesc:
		return &FlowDescRequest{}
	case MPAggregate:
		return &AggregateRequest{}
	case MPTable:
		return &TableStatsRequest{}
	case MPPortStats:
		return &PortStatsRequest{}
	case MPGroupStats:
		return &GroupStatsRequest{}
	case MPGroupDesc:
		return &GroupDescRequest{}
	case MPMeterStats:
		return &MeterStatsRequest{}
	case MPPortDesc:
		return &PortDescRequest{}
	case MPTableFeat:
		return &TableFeaturesRequest{}
	case MPMeterDesc:
		return &MeterConfigRequest{}
	}
	return &MultipartUnknown{}
}

func newMultipartReply(body []byte) Message {
	if len(body) < 2 {
		return &MultipartUnknown{Reply: true}
	}
	switch be.Uint16(body) {
	case MPDesc:
		return &DescReply{}
	case MPFlowDesc:
		return &FlowDescReply{}
	case MPAggregate:
		return &AggregateReply{}
	case MPTable:
		return &TableStatsReply{}
	case MPPortStats:
		return &PortStatsReply{}
	case MPGroupStats:
		return &GroupStatsReply{}
	case MPGroupDesc:
		return &GroupDescReply{}
	case MPMeterStats:
		return &MeterStatsReply{}
	case MPPortDesc:
		return &PortDescReply{}
	case MPTableFeat:
		return &TableFeaturesReply{}
	case MPMeterDesc:
		return &MeterConfigReply{}
	}
	return &MultipartUnknown{Reply: true}
}

// MultipartUnknown is a multipart request or reply of a kind the codec does not model.
type MultipartUnknown struct {
	Reply  bool
	MPType uint16
	Flags  uint16
	Body   []byte
}

// Type returns TypeMultipartRequest or TypeMultipartReply.
func (m *MultipartUnknown) Type() Type {
	if m.Reply {
		return TypeMultipartReply
	}
	return TypeMultipartRequest
}

func (m *MultipartUnknown) appendBody(b []byte) ([]byte, error) {
	return append(appendMPHeader(b, m.MPType, m.Flags), m.Body...), nil
}

func (m *MultipartUnknown) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.MPType = be.Uint16(c.take(2))
	m.Flags = c.u16()
	c.skip(4)
	m.Body = c.rest()
	return c.err
}

// DescRequest is OFPMP_DESC's request.
type DescRequest struct{ multipart }

// Type returns TypeMultipartRequest.
func (*DescRequest) Type() Type { return TypeMultipartRequest }
func (m *DescRequest) appendBody(b []byte) ([]byte, error) {
	return appendMPHeader(b, MPDesc, m.Flags), nil
}
func (m *DescRequest) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Flags = readMPHeader(c)
	return c.err
}

// DescReply is OFPMP_DESC's reply: the switch's description strings.
type DescReply struct {
	multipart
	Manufacturer string
	Hardware     string
	Software     string
	SerialNum    string
	Datapath     string
}

// Type returns TypeMultipartReply.
func (*DescReply) Type() Type { return TypeMultipartReply }
func (m *DescReply) appendBody(b []byte) ([]byte, error) {
	b = appendMPHeader(b, MPDesc, m.Flags)
	b = appendName(b, m.Manufacturer, 256)
	b = appendName(b, m.Hardware, 256)
	b = appendName(b, m.Software, 256)
	b = appendName(b, m.SerialNum, 32)
	return appendName(b, m.Datapath, 256), nil
}
func (m *DescReply) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Flags = readMPHeader(c)
	m.Manufacturer, m.Hardware, m.Software = readName(c, 256), readName(c, 256), readName(c, 256)
	m.SerialNum, m.Datapath = readName(c, 32), readName(c, 256)
	return c.err
}

// FlowFilter is the body of flow desc, flow stats and aggregate requests: which flows.
type FlowFilter struct {
	TableID    uint8
	OutPort    uint32
	OutGroup   uint32
	Cookie     uint64
	CookieMask uint64
	Match      flow.Match
}

// NewFlowFilter returns a filter that selects every flow in every table.
func NewFlowFilter() FlowFilter {
	return FlowFilter{TableID: TableAll, OutPort: PortAny, OutGroup: GroupAny}
}

func (f *FlowFilter) append(b []byte) ([]byte, error) {
	b = append(b, f.TableID, 0, 0, 0)
	b = be.AppendUint32(b, f.OutPort)
	b = be.AppendUint32(b, f.OutGroup)
	b = append(b, 0, 0, 0, 0)
	b = be.AppendUint64(b, f.Cookie)
	b = be.AppendUint64(b, f.CookieMask)
	return AppendMatch(b, &f.Match)
}

func (f *FlowFilter) decode(c *cursor) error {
	f.TableID = c.u8()
	c.skip(3)
	f.OutPort, f.OutGroup = c.u32(), c.u32()
	c.skip(4)
	f.Cookie, f.CookieMask = c.u64(), c.u64()
	if c.err != nil {
		return c.err
	}
	return decodeMatch(c, &f.Match)
}

// FlowDescRequest is OFPMP_FLOW_DESC's request (ovs-ofctl dump-flows).
type FlowDescRequest struct {
	multipart
	FlowFilter
}

// Type returns TypeMultipartRequest.
func (*FlowDescRequest) Type() Type { return TypeMultipartRequest }
func (m *FlowDescRequest) appendBody(b []byte) ([]byte, error) {
	return m.FlowFilter.append(appendMPHeader(b, MPFlowDesc, m.Flags))
}
func (m *FlowDescRequest) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Flags = readMPHeader(c)
	return m.FlowFilter.decode(c)
}

// AggregateRequest is OFPMP_AGGREGATE_STATS's request.
type AggregateRequest struct {
	multipart
	FlowFilter
}

// Type returns TypeMultipartRequest.
func (*AggregateRequest) Type() Type { return TypeMultipartRequest }
func (m *AggregateRequest) appendBody(b []byte) ([]byte, error) {
	return m.FlowFilter.append(appendMPHeader(b, MPAggregate, m.Flags))
}
func (m *AggregateRequest) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Flags = readMPHeader(c)
	return m.FlowFilter.decode(c)
}

// AggregateReply is OFPMP_AGGREGATE_STATS's reply: OXS packet, byte and flow counts.
type AggregateReply struct {
	multipart
	Stats Stats
}

// Type returns TypeMultipartReply.
func (*AggregateReply) Type() Type { return TypeMultipartReply }
func (m *AggregateReply) appendBody(b []byte) ([]byte, error) {
	return m.Stats.appendStats(appendMPHeader(b, MPAggregate, m.Flags)), nil
}
func (m *AggregateReply) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Flags = readMPHeader(c)
	return m.Stats.decodeStats(c)
}

// FlowDesc is one ofp_flow_desc: a flow as the switch holds it, with its statistics.
type FlowDesc struct {
	TableID      uint8
	Priority     uint16
	IdleTimeout  uint16
	HardTimeout  uint16
	Flags        uint16
	Importance   uint16
	Cookie       uint64
	Match        flow.Match
	Stats        Stats
	Instructions []Instruction
}

// FlowDescReply is OFPMP_FLOW_DESC's reply.
type FlowDescReply struct {
	multipart
	Flows []FlowDesc
}

// Type returns TypeMultipartReply.
func (*FlowDescReply) Type() Type { return TypeMultipartReply }
func (m *FlowDescReply) appendBody(b []byte) ([]byte, error) {
	b = appendMPHeader(b, MPFlowDesc, m.Flags)
	for i := range m.Flows {
		f := &m.Flows[i]
		start := len(b)
		b = append(b, 0, 0, 0, 0, f.TableID, 0)
		b = be.AppendUint16(b, f.Priority)
		b = be.AppendUint16(b, f.IdleTimeout)
		b = be.AppendUint16(b, f.HardTimeout)
		b = be.AppendUint16(b, f.Flags)
		b = be.AppendUint16(b, f.Importance)
		b = be.AppendUint64(b, f.Cookie)
		var err error
		if b, err = AppendMatch(b, &f.Match); err != nil {
			return b, err
		}
		b = f.Stats.appendStats(b)
		if b, err = AppendInstructions(b, f.Instructions); err != nil {
			return b, err
		}
		if len(b)-start > 0xffff {
			return b, fmt.Errorf("flow desc: %w", ErrTooLong)
		}
		be.PutUint16(b[start:], uint16(len(b)-start))
	}
	return b, nil
}
func (m *FlowDescReply) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Flags = readMPHeader(c)
	for c.len() > 0 && c.err == nil {
		n := int(c.u16())
		if c.err == nil && n < 24 {
			return fmt.Errorf("flow desc length %d: %w", n, ErrBadLength)
		}
		fc := c.sub(n - 2)
		var f FlowDesc
		fc.skip(2)
		f.TableID = fc.u8()
		fc.skip(1)
		f.Priority, f.IdleTimeout, f.HardTimeout = fc.u16(), fc.u16(), fc.u16()
		f.Flags, f.Importance, f.Cookie = fc.u16(), fc.u16(), fc.u64()
		if fc.err != nil {
			return fc.err
		}
		if err := decodeMatch(fc, &f.Match); err != nil {
			return err
		}
		if err := f.Stats.decodeStats(fc); err != nil {
			return err
		}
		insts, err := decodeInstructions(fc)
		if err != nil {
			return err
		}
		f.Instructions = insts
		m.Flows = append(m.Flows, f)
	}
	return c.err
}

// TableStatsRequest is OFPMP_TABLE_STATS's request.
type TableStatsRequest struct{ multipart }

// Type returns TypeMultipartRequest.
func (*TableStatsRequest) Type() Type { return TypeMultipartRequest }
func (m *TableStatsRequest) appendBody(b []byte) ([]byte, error) {
	return appendMPHeader(b, MPTable, m.Flags), nil
}
func (m *TableStatsRequest) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Flags = readMPHeader(c)
	return c.err
}

// TableStats is one ofp_table_stats.
type TableStats struct {
	TableID      uint8
	ActiveCount  uint32
	LookupCount  uint64
	MatchedCount uint64
}

// TableStatsReply is OFPMP_TABLE_STATS's reply.
type TableStatsReply struct {
	multipart
	Tables []TableStats
}

// Type returns TypeMultipartReply.
func (*TableStatsReply) Type() Type { return TypeMultipartReply }
func (m *TableStatsReply) appendBody(b []byte) ([]byte, error) {
	b = appendMPHeader(b, MPTable, m.Flags)
	for _, t := range m.Tables {
		b = append(b, t.TableID, 0, 0, 0)
		b = be.AppendUint32(b, t.ActiveCount)
		b = be.AppendUint64(b, t.LookupCount)
		b = be.AppendUint64(b, t.MatchedCount)
	}
	return b, nil
}
func (m *TableStatsReply) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Flags = readMPHeader(c)
	if c.len()%24 != 0 {
		return fmt.Errorf("table stats of %d bytes: %w", c.len(), ErrBadLength)
	}
	m.Tables = make([]TableStats, 0, c.len()/24)
	for c.len() > 0 && c.err == nil {
		t := TableStats{TableID: c.u8()}
		c.skip(3)
		t.ActiveCount, t.LookupCount, t.MatchedCount = c.u32(), c.u64(), c.u64()
		m.Tables = append(m.Tables, t)
	}
	return c.err
}

// idRequest is a request body of one 32-bit id and 4 bytes of padding (port stats, port desc,
// group stats, group desc, meter stats).
func appendIDRequest(b []byte, typ, flags uint16, id uint32) []byte {
	b = be.AppendUint32(appendMPHeader(b, typ, flags), id)
	return append(b, 0, 0, 0, 0)
}

func decodeIDRequest(b []byte) (flags uint16, id uint32, err error) {
	c := &cursor{b: b}
	flags = readMPHeader(c)
	id = c.u32()
	c.skip(4)
	return flags, id, c.err
}

// PortStatsRequest is OFPMP_PORT_STATS's request (PortNo PortAny: all ports).
type PortStatsRequest struct {
	multipart
	PortNo uint32
}

// Type returns TypeMultipartRequest.
func (*PortStatsRequest) Type() Type { return TypeMultipartRequest }
func (m *PortStatsRequest) appendBody(b []byte) ([]byte, error) {
	return appendIDRequest(b, MPPortStats, m.Flags, m.PortNo), nil
}
func (m *PortStatsRequest) decodeBody(b []byte) (err error) {
	m.Flags, m.PortNo, err = decodeIDRequest(b)
	return err
}

// PortStats is OpenFlow 1.4+'s ofp_port_stats with the Ethernet property.
type PortStats struct {
	PortNo                                   uint32
	DurationSec                              uint32
	DurationNSec                             uint32
	RxPackets, TxPackets, RxBytes, TxBytes   uint64
	RxDropped, TxDropped, RxErrors, TxErrors uint64
	Ethernet                                 *PortStatsEthernet
	// Properties holds the other properties (OVS's experimenter custom statistics) raw.
	Properties []byte
}

// PortStatsEthernet is OFPPSPT_ETHERNET.
type PortStatsEthernet struct {
	RxFrameErr, RxOverErr, RxCRCErr, Collisions uint64
}

// PortStatsReply is OFPMP_PORT_STATS's reply.
type PortStatsReply struct {
	multipart
	Ports []PortStats
}

// Type returns TypeMultipartReply.
func (*PortStatsReply) Type() Type { return TypeMultipartReply }
func (m *PortStatsReply) appendBody(b []byte) ([]byte, error) {
	b = appendMPHeader(b, MPPortStats, m.Flags)
	for _, p := range m.Ports {
		start := len(b)
		b = append(b, 0, 0, 0, 0)
		b = be.AppendUint32(b, p.PortNo)
		b = be.AppendUint32(b, p.DurationSec)
		b = be.AppendUint32(b, p.DurationNSec)
		for _, v := range []uint64{p.RxPackets, p.TxPackets, p.RxBytes, p.TxBytes, p.RxDropped, p.TxDropped, p.RxErrors, p.TxErrors} {
			b = be.AppendUint64(b, v)
		}
		if e := p.Ethernet; e != nil {
			b = be.AppendUint16(b, 0)
			b = be.AppendUint16(b, 40)
			b = append(b, 0, 0, 0, 0)
			for _, v := range []uint64{e.RxFrameErr, e.RxOverErr, e.RxCRCErr, e.Collisions} {
				b = be.AppendUint64(b, v)
			}
		}
		b = append(b, p.Properties...)
		if len(b)-start > 0xffff {
			return b, fmt.Errorf("port stats: %w", ErrTooLong)
		}
		be.PutUint16(b[start:], uint16(len(b)-start))
	}
	return b, nil
}
func (m *PortStatsReply) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Flags = readMPHeader(c)
	for c.len() > 0 && c.err == nil {
		n := int(c.u16())
		if c.err == nil && n < 80 {
			return fmt.Errorf("port stats length %d: %w", n, ErrBadLength)
		}
		pc := c.sub(n - 2)
		pc.skip(2)
		p := PortStats{PortNo: pc.u32(), DurationSec: pc.u32(), DurationNSec: pc.u32()}
		p.RxPackets, p.TxPackets, p.RxBytes, p.TxBytes = pc.u64(), pc.u64(), pc.u64(), pc.u64()
		p.RxDropped, p.TxDropped, p.RxErrors, p.TxErrors = pc.u64(), pc.u64(), pc.u64(), pc.u64()
		err := decodePropsRaw(pc, func(typ uint16, v *cursor, raw []byte) error {
			if typ == 0 && p.Ethernet == nil && p.Properties == nil {
				v.skip(4)
				p.Ethernet = &PortStatsEthernet{v.u64(), v.u64(), v.u64(), v.u64()}
			} else {
				p.Properties = append(p.Properties, raw...)
			}
			return v.err
		})
		if err != nil {
			return err
		}
		m.Ports = append(m.Ports, p)
	}
	return c.err
}

// PortDescRequest is OFPMP_PORT_DESC's request (OpenFlow 1.5 has a port filter).
type PortDescRequest struct {
	multipart
	PortNo uint32
}

// Type returns TypeMultipartRequest.
func (*PortDescRequest) Type() Type { return TypeMultipartRequest }
func (m *PortDescRequest) appendBody(b []byte) ([]byte, error) {
	return appendIDRequest(b, MPPortDesc, m.Flags, m.PortNo), nil
}
func (m *PortDescRequest) decodeBody(b []byte) (err error) {
	m.Flags, m.PortNo, err = decodeIDRequest(b)
	return err
}

// PortDescReply is OFPMP_PORT_DESC's reply.
type PortDescReply struct {
	multipart
	Ports []Port
}

// Type returns TypeMultipartReply.
func (*PortDescReply) Type() Type { return TypeMultipartReply }
func (m *PortDescReply) appendBody(b []byte) ([]byte, error) {
	b = appendMPHeader(b, MPPortDesc, m.Flags)
	for i := range m.Ports {
		b = m.Ports[i].appendPort(b)
	}
	return b, nil
}
func (m *PortDescReply) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Flags = readMPHeader(c)
	for c.len() > 0 && c.err == nil {
		p, err := decodePort(c)
		if err != nil {
			return err
		}
		m.Ports = append(m.Ports, p)
	}
	return c.err
}

// GroupStatsRequest is OFPMP_GROUP_STATS's request (GroupID GroupAll: all groups).
type GroupStatsRequest struct {
	multipart
	GroupID uint32
}

// Type returns TypeMultipartRequest.
func (*GroupStatsRequest) Type() Type { return TypeMultipartRequest }
func (m *GroupStatsRequest) appendBody(b []byte) ([]byte, error) {
	return appendIDRequest(b, MPGroupStats, m.Flags, m.GroupID), nil
}
func (m *GroupStatsRequest) decodeBody(b []byte) (err error) {
	m.Flags, m.GroupID, err = decodeIDRequest(b)
	return err
}

// BucketCounter is one bucket's packet and byte counts.
type BucketCounter struct{ PacketCount, ByteCount uint64 }

// GroupStats is one ofp_group_stats.
type GroupStats struct {
	GroupID      uint32
	RefCount     uint32
	PacketCount  uint64
	ByteCount    uint64
	DurationSec  uint32
	DurationNSec uint32
	Buckets      []BucketCounter
}

// GroupStatsReply is OFPMP_GROUP_STATS's reply.
type GroupStatsReply struct {
	multipart
	Groups []GroupStats
}

// Type returns TypeMultipartReply.
func (*GroupStatsReply) Type() Type { return TypeMultipartReply }
func (m *GroupStatsReply) appendBody(b []byte) ([]byte, error) {
	b = appendMPHeader(b, MPGroupStats, m.Flags)
	for _, g := range m.Groups {
		start := len(b)
		b = append(b, 0, 0, 0, 0)
		b = be.AppendUint32(b, g.GroupID)
		b = be.AppendUint32(b, g.RefCount)
		b = append(b, 0, 0, 0, 0)
		b = be.AppendUint64(b, g.PacketCount)
		b = be.AppendUint64(b, g.ByteCount)
		b = be.AppendUint32(b, g.DurationSec)
		b = be.AppendUint32(b, g.DurationNSec)
		for _, k := range g.Buckets {
			b = be.AppendUint64(b, k.PacketCount)
			b = be.AppendUint64(b, k.ByteCount)
		}
		if len(b)-start > 0xffff {
			return b, fmt.Errorf("group stats: %w", ErrTooLong)
		}
		be.PutUint16(b[start:], uint16(len(b)-start))
	}
	return b, nil
}
func (m *GroupStatsReply) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Flags = readMPHeader(c)
	for c.len() > 0 && c.err == nil {
		n := int(c.u16())
		if c.err == nil && (n < 40 || (n-40)%16 != 0) {
			return fmt.Errorf("group stats length %d: %w", n, ErrBadLength)
		}
		gc := c.sub(n - 2)
		gc.skip(2)
		g := GroupStats{GroupID: gc.u32(), RefCount: gc.u32()}
		gc.skip(4)
		g.PacketCount, g.ByteCount, g.DurationSec, g.DurationNSec = gc.u64(), gc.u64(), gc.u32(), gc.u32()
		for gc.len() > 0 && gc.err == nil {
			g.Buckets = append(g.Buckets, BucketCounter{gc.u64(), gc.u64()})
		}
		m.Groups = append(m.Groups, g)
	}
	return c.err
}

// GroupDescRequest is OFPMP_GROUP_DESC's request (OpenFlow 1.5 has a group filter).
type GroupDescRequest struct {
	multipart
	GroupID uint32
}

// Type returns TypeMultipartRequest.
func (*GroupDescRequest) Type() Type { return TypeMultipartRequest }
func (m *GroupDescRequest) appendBody(b []byte) ([]byte, error) {
	return appendIDRequest(b, MPGroupDesc, m.Flags, m.GroupID), nil
}
func (m *GroupDescRequest) decodeBody(b []byte) (err error) {
	m.Flags, m.GroupID, err = decodeIDRequest(b)
	return err
}

// GroupDesc is one ofp15_group_desc_stats.
type GroupDesc struct {
	GroupType  uint8
	GroupID    uint32
	Buckets    []Bucket
	Properties []byte
}

// GroupDescReply is OFPMP_GROUP_DESC's reply.
type GroupDescReply struct {
	multipart
	Groups []GroupDesc
}

// Type returns TypeMultipartReply.
func (*GroupDescReply) Type() Type { return TypeMultipartReply }
func (m *GroupDescReply) appendBody(b []byte) ([]byte, error) {
	b = appendMPHeader(b, MPGroupDesc, m.Flags)
	for _, g := range m.Groups {
		start := len(b)
		b = append(b, 0, 0, g.GroupType, 0)
		b = be.AppendUint32(b, g.GroupID)
		b = appendZeros(b, 8)
		bstart := len(b)
		var err error
		if b, err = appendBuckets(b, g.Buckets); err != nil {
			return b, err
		}
		be.PutUint16(b[start+8:], uint16(len(b)-bstart))
		b = append(b, g.Properties...)
		if len(b)-start > 0xffff {
			return b, fmt.Errorf("group desc: %w", ErrTooLong)
		}
		be.PutUint16(b[start:], uint16(len(b)-start))
	}
	return b, nil
}
func (m *GroupDescReply) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Flags = readMPHeader(c)
	for c.len() > 0 && c.err == nil {
		n := int(c.u16())
		if c.err == nil && n < 16 {
			return fmt.Errorf("group desc length %d: %w", n, ErrBadLength)
		}
		gc := c.sub(n - 2)
		g := GroupDesc{GroupType: gc.u8()}
		gc.skip(1)
		g.GroupID = gc.u32()
		bn := int(gc.u16())
		gc.skip(6)
		bs, err := decodeBuckets(gc.sub(bn))
		if err != nil {
			return err
		}
		g.Buckets, g.Properties = bs, gc.rest()
		if gc.err != nil {
			return gc.err
		}
		m.Groups = append(m.Groups, g)
	}
	return c.err
}

// MeterStatsRequest is OFPMP_METER_STATS's request (MeterID MeterAll: all meters).
type MeterStatsRequest struct {
	multipart
	MeterID uint32
}

// Type returns TypeMultipartRequest.
func (*MeterStatsRequest) Type() Type { return TypeMultipartRequest }
func (m *MeterStatsRequest) appendBody(b []byte) ([]byte, error) {
	return appendIDRequest(b, MPMeterStats, m.Flags, m.MeterID), nil
}
func (m *MeterStatsRequest) decodeBody(b []byte) (err error) {
	m.Flags, m.MeterID, err = decodeIDRequest(b)
	return err
}

// MeterStats is one ofp_meter_stats; Bands holds each band's packet and byte counts.
type MeterStats struct {
	MeterID       uint32
	FlowCount     uint32
	PacketInCount uint64
	ByteInCount   uint64
	DurationSec   uint32
	DurationNSec  uint32
	Bands         []BucketCounter
}

// MeterStatsReply is OFPMP_METER_STATS's reply.
type MeterStatsReply struct {
	multipart
	Meters []MeterStats
}

// Type returns TypeMultipartReply.
func (*MeterStatsReply) Type() Type { return TypeMultipartReply }
func (m *MeterStatsReply) appendBody(b []byte) ([]byte, error) {
	b = appendMPHeader(b, MPMeterStats, m.Flags)
	for _, s := range m.Meters {
		start := len(b)
		b = be.AppendUint32(b, s.MeterID)
		b = appendZeros(b, 8)
		b = be.AppendUint32(b, s.FlowCount)
		b = be.AppendUint64(b, s.PacketInCount)
		b = be.AppendUint64(b, s.ByteInCount)
		b = be.AppendUint32(b, s.DurationSec)
		b = be.AppendUint32(b, s.DurationNSec)
		for _, k := range s.Bands {
			b = be.AppendUint64(b, k.PacketCount)
			b = be.AppendUint64(b, k.ByteCount)
		}
		if len(b)-start > 0xffff {
			return b, fmt.Errorf("meter stats: %w", ErrTooLong)
		}
		be.PutUint16(b[start+4:], uint16(len(b)-start))
	}
	return b, nil
}
func (m *MeterStatsReply) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Flags = readMPHeader(c)
	for c.len() > 0 && c.err == nil {
		s := MeterStats{MeterID: c.u32()}
		n := int(c.u16())
		if c.err == nil && (n < 40 || (n-40)%16 != 0) {
			return fmt.Errorf("meter stats length %d: %w", n, ErrBadLength)
		}
		mc := c.sub(n - 6)
		mc.skip(6)
		s.FlowCount, s.PacketInCount, s.ByteInCount = mc.u32(), mc.u64(), mc.u64()
		s.DurationSec, s.DurationNSec = mc.u32(), mc.u32()
		for mc.len() > 0 && mc.err == nil {
			s.Bands = append(s.Bands, BucketCounter{mc.u64(), mc.u64()})
		}
		m.Meters = append(m.Meters, s)
	}
	return c.err
}
