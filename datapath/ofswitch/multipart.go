package ofswitch

import (
	"encoding/binary"
	"slices"
	"time"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/openflow"
)

// mpTableFeatures is OFPMP_TABLE_FEATURES, which the codec does not model: ovs-ofctl asks for
// it before some commands, and the switch answers with one entry per table without properties.
const mpTableFeatures = openflow.MPTableFeat

// maxReplyBody is how much of a multipart reply goes into one message before the switch
// continues in another with OFPMPF_REPLY_MORE set on all but the last.
const maxReplyBody = 60 << 10

// Description strings (OFPMP_DESC).
const (
	descManufacturer = "Sluice"
	descHardware     = "sluice-datapath"
	descSoftware     = "sluice-datapath (OpenFlow 1.5)"
)

func (c *conn) handleMultipart(h openflow.Header, m openflow.Message, raw []byte) {
	s := c.s
	switch m := m.(type) {
	case *openflow.DescRequest:
		c.send(h.XID, &openflow.DescReply{Manufacturer: descManufacturer, Hardware: descHardware,
			Software: descSoftware, SerialNum: "None", Datapath: s.opts.Bridge})
	case *openflow.FlowDescRequest:
		if e := checkTable(m.TableID); e != nil {
			c.sendError(h.XID, *e, raw)
			return
		}
		c.sendFlowDescs(h.XID, s.flowDescs(&m.FlowFilter))
	case *openflow.AggregateRequest:
		if e := checkTable(m.TableID); e != nil {
			c.sendError(h.XID, *e, raw)
			return
		}
		r := &openflow.AggregateReply{}
		r.Stats.Has = 1<<openflow.StatPacketCount | 1<<openflow.StatByteCount | 1<<openflow.StatFlowCount
		f := &flow.Flow{Match: m.Match, Cookie: m.Cookie, CookieMask: m.CookieMask}
		for _, e := range s.pipe.Flows() {
			if selects(e.Flow, m.TableID, false, f, m.OutPort, m.OutGroup) {
				p, b := e.Stats()
				r.Stats.PacketCount += p
				r.Stats.ByteCount += b
				r.Stats.FlowCount++
			}
		}
		c.send(h.XID, r)
	case *openflow.TableStatsRequest:
		counts := make([]uint32, nTables)
		for _, e := range s.pipe.Flows() {
			if int(e.Flow.Table) < nTables {
				counts[e.Flow.Table]++
			}
		}
		var tables []openflow.TableStats
		for id, n := range counts {
			tables = append(tables, openflow.TableStats{TableID: uint8(id), ActiveCount: n})
		}
		for len(tables) > 0 {
			n := min(len(tables), maxReplyBody/24)
			r := &openflow.TableStatsReply{Tables: tables[:n]}
			if n < len(tables) {
				r.Flags = openflow.MultipartMore
			}
			c.send(h.XID, r)
			tables = tables[n:]
		}
	case *openflow.PortDescRequest:
		r := &openflow.PortDescReply{}
		for _, pe := range s.portList() {
			if m.PortNo == openflow.PortAny || m.PortNo == pe.desc.OFPort {
				r.Ports = append(r.Ports, wirePort(pe.desc))
			}
		}
		if m.PortNo != openflow.PortAny && len(r.Ports) == 0 {
			c.sendError(h.XID, openflow.ErrBadRequestPort, raw)
			return
		}
		c.send(h.XID, r)
	case *openflow.PortStatsRequest:
		r := &openflow.PortStatsReply{}
		now := s.opts.Clock()
		for _, pe := range s.portList() {
			if m.PortNo != openflow.PortAny && m.PortNo != pe.desc.OFPort {
				continue
			}
			var st PortStats
			if pe.io != nil {
				st = pe.io.Stats()
			}
			d := now.Sub(pe.added)
			r.Ports = append(r.Ports, openflow.PortStats{PortNo: pe.desc.OFPort,
				DurationSec: uint32(d / time.Second), DurationNSec: uint32(d % time.Second),
				RxPackets: st.RxPackets, TxPackets: st.TxPackets, RxBytes: st.RxBytes, TxBytes: st.TxBytes,
				RxDropped: st.RxDropped, TxDropped: st.TxDropped, RxErrors: st.RxErrors, TxErrors: st.TxErrors,
				Ethernet: &openflow.PortStatsEthernet{}})
		}
		if m.PortNo != openflow.PortAny && len(r.Ports) == 0 {
			c.sendError(h.XID, openflow.ErrBadRequestPort, raw)
			return
		}
		c.send(h.XID, r)
	case *openflow.GroupDescRequest:
		r := &openflow.GroupDescReply{}
		for _, g := range s.groupList(m.GroupID) {
			gm, err := openflow.GroupModFor(g, openflow.GroupAdd)
			if err != nil {
				s.log.Error("encode group", "group", g.ID, "err", err)
				continue
			}
			r.Groups = append(r.Groups, openflow.GroupDesc{GroupType: gm.GroupType, GroupID: gm.GroupID, Buckets: gm.Buckets})
		}
		c.send(h.XID, r)
	case *openflow.GroupStatsRequest:
		r := &openflow.GroupStatsReply{}
		now := s.opts.Clock()
		flows := s.pipe.Flows()
		for _, g := range s.groupList(m.GroupID) {
			var refs uint32
			for _, e := range flows {
				if sendsToGroup(e.Flow, g.ID) {
					refs++
				}
			}
			s.mu.Lock()
			d := now.Sub(s.groups[g.ID])
			s.mu.Unlock()
			r.Groups = append(r.Groups, openflow.GroupStats{GroupID: g.ID, RefCount: refs,
				DurationSec: uint32(d / time.Second), DurationNSec: uint32(d % time.Second),
				Buckets: make([]openflow.BucketCounter, len(g.Buckets))})
		}
		c.send(h.XID, r)
	case *openflow.MeterStatsRequest:
		r := &openflow.MeterStatsReply{}
		now := s.opts.Clock()
		flows := s.pipe.Flows()
		s.mu.Lock()
		ids := make([]uint32, 0, len(s.meters))
		for id := range s.meters {
			if m.MeterID == openflow.MeterAll || m.MeterID == id {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			me := s.meters[id]
			var n uint32
			for _, e := range flows {
				if usesMeter(e.Flow, id) {
					n++
				}
			}
			d := now.Sub(me.added)
			r.Meters = append(r.Meters, openflow.MeterStats{MeterID: id, FlowCount: n,
				DurationSec: uint32(d / time.Second), DurationNSec: uint32(d % time.Second),
				Bands: make([]openflow.BucketCounter, len(me.e.Bands))})
		}
		s.mu.Unlock()
		c.send(h.XID, r)
	}
}

func checkTable(id uint8) *openflow.Error {
	if id >= nTables && id != openflow.TableAll {
		return &openflow.ErrBadRequestTableID
	}
	return nil
}

// flowDescs returns the flows a flow-desc request selects, with their statistics, in table
// then priority order.
func (s *Switch) flowDescs(ff *openflow.FlowFilter) []openflow.FlowDesc {
	now := s.opts.Clock()
	f := &flow.Flow{Match: ff.Match, Cookie: ff.Cookie, CookieMask: ff.CookieMask}
	entries := s.pipe.Flows()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []openflow.FlowDesc
	for _, e := range entries {
		g := e.Flow
		if !selects(g, ff.TableID, false, f, ff.OutPort, ff.OutGroup) {
			continue
		}
		c := *g
		p, b := e.Stats()
		c.Stats = flow.Stats{Valid: true, Packets: p, Bytes: b, IdleAge: -1, HardAge: -1}
		if at, ok := s.added[g]; ok {
			c.Stats.Duration = now.Sub(at)
		}
		d, err := openflow.FlowDescFor(&c)
		if err != nil {
			s.log.Error("encode flow", "flow", g.String(), "err", err)
			continue
		}
		out = append(out, d)
	}
	return out
}

// sendFlowDescs sends flow descriptions split over as many replies as needed.
func (c *conn) sendFlowDescs(xid uint32, descs []openflow.FlowDesc) {
	if len(descs) == 0 {
		c.send(xid, &openflow.FlowDescReply{})
		return
	}
	for start := 0; start < len(descs); {
		end, size := start, 0
		for end < len(descs) {
			b, err := openflow.Marshal(xid, &openflow.FlowDescReply{Flows: descs[end : end+1]})
			if err != nil {
				end++
				continue
			}
			n := len(b) - openflow.HeaderLen - 8
			if size+n > maxReplyBody && end > start {
				break
			}
			size += n
			end++
		}
		r := &openflow.FlowDescReply{Flows: descs[start:end]}
		if end < len(descs) {
			r.Flags = openflow.MultipartMore
		}
		c.send(xid, r)
		start = end
	}
}

func (s *Switch) portList() []*portEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*portEntry, 0, len(s.ports))
	for _, pe := range s.ports {
		out = append(out, pe)
	}
	slices.SortFunc(out, func(a, b *portEntry) int {
		// LOCAL sorts last, as in ovs-ofctl's listing.
		return int(int64(a.desc.OFPort) - int64(b.desc.OFPort))
	})
	return out
}

func (s *Switch) groupList(id uint32) []*flow.GroupEntry {
	s.mu.Lock()
	ids := make([]uint32, 0, len(s.groups))
	for g := range s.groups {
		if id == openflow.GroupAll || id == g {
			ids = append(ids, g)
		}
	}
	s.mu.Unlock()
	slices.Sort(ids)
	var out []*flow.GroupEntry
	for _, g := range ids {
		if e := s.pipe.Group(g); e != nil {
			out = append(out, e)
		}
	}
	return out
}

// sendTableFeatures answers OFPMP_TABLE_FEATURES with one entry per table: no properties, a
// 64-bit metadata match and write, and OVS's default name ("" prints as the table number).
func (c *conn) sendTableFeatures(xid uint32) {
	const entryLen = 64
	const perMsg = maxReplyBody / entryLen
	for start := 0; start < nTables; start += perMsg {
		end := min(start+perMsg, nTables)
		body := make([]byte, 8, 8+(end-start)*entryLen)
		binary.BigEndian.PutUint16(body[0:], uint16(mpTableFeatures))
		if end < nTables {
			binary.BigEndian.PutUint16(body[2:], openflow.MultipartMore)
		}
		for id := start; id < end; id++ {
			e := make([]byte, entryLen)
			binary.BigEndian.PutUint16(e[0:], entryLen)
			e[2] = byte(id)
			// name[32] stays empty; metadata_match and metadata_write all ones.
			binary.BigEndian.PutUint64(e[40:], ^uint64(0))
			binary.BigEndian.PutUint64(e[48:], ^uint64(0))
			binary.BigEndian.PutUint32(e[60:], 1000000) // max_entries
			body = append(body, e...)
		}
		c.send(xid, &openflow.Unknown{MsgType: openflow.TypeMultipartReply, Body: body})
	}
}
