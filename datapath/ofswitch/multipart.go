package ofswitch

import (
	"slices"
	"time"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/openflow"
	"github.com/sluicenet/sluice/datapath/pipeline"
)

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
		c.send(h.XID, &openflow.FlowDescReply{Flows: s.flowDescs(&m.FlowFilter)})
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
		c.send(h.XID, &openflow.TableStatsReply{Tables: tables})
	case *openflow.PortDescRequest:
		ports, ok := c.requestedPorts(h, m.PortNo, raw)
		if !ok {
			return
		}
		r := &openflow.PortDescReply{}
		for _, pe := range ports {
			r.Ports = append(r.Ports, wirePort(pe.desc))
		}
		c.send(h.XID, r)
	case *openflow.PortStatsRequest:
		ports, ok := c.requestedPorts(h, m.PortNo, raw)
		if !ok {
			return
		}
		r := &openflow.PortStatsReply{}
		now := s.opts.Clock()
		for _, pe := range ports {
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
		for _, id := range selectIDs(s.meters, m.MeterID, openflow.MeterAll) {
			me := s.meters[id]
			var n uint32
			for _, e := range flows {
				if pipeline.UsesMeter(e.Flow, id) {
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

// requestedPorts returns the ports a port desc or stats request names (OFPP_ANY: all); for a
// port that does not exist it answers OFPBRC_BAD_PORT and reports false.
func (c *conn) requestedPorts(h openflow.Header, no uint32, raw []byte) ([]*portEntry, bool) {
	var out []*portEntry
	for _, pe := range c.s.portList() {
		if no == openflow.PortAny || no == pe.desc.OFPort {
			out = append(out, pe)
		}
	}
	if len(out) == 0 {
		c.sendError(h.XID, openflow.ErrBadRequestPort, raw)
		return nil, false
	}
	return out, true
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
		c.Stats.Duration = now.Sub(e.Added())
		d, err := openflow.FlowDescFor(&c)
		if err != nil {
			s.log.Error("encode flow", "flow", g.String(), "err", err)
			continue
		}
		out = append(out, d)
	}
	return out
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
	ids := selectIDs(s.groups, id, openflow.GroupAll)
	s.mu.Unlock()
	var out []*flow.GroupEntry
	for _, g := range ids {
		if e := s.pipe.Group(g); e != nil {
			out = append(out, e)
		}
	}
	return out
}

// tableFeatures answers OFPMP_TABLE_FEATURES (ovs-ofctl asks for it before most commands):
// one entry per table, without properties, with a 64-bit metadata match and write. Setting
// table features is refused.
func (c *conn) tableFeatures(h openflow.Header, m *openflow.TableFeaturesRequest, raw []byte) {
	if len(m.Tables) > 0 {
		c.sendError(h.XID, openflow.Error{ErrType: openflow.ErrTypeTableFeaturesFailed, Code: 5}, raw) // OFPTFFC_EPERM
		return
	}
	r := &openflow.TableFeaturesReply{Tables: make([]openflow.TableFeatures, nTables)}
	for i := range r.Tables {
		r.Tables[i] = openflow.TableFeatures{TableID: uint8(i), MetadataMatch: ^uint64(0), MetadataWrite: ^uint64(0), MaxEntries: 1000000}
	}
	c.send(h.XID, r)
}

// meterConfig answers OFPMP_METER_CONFIG (dump-meters).
func (c *conn) meterConfig(h openflow.Header, m *openflow.MeterConfigRequest) {
	s := c.s
	r := &openflow.MeterConfigReply{}
	s.mu.Lock()
	for _, id := range selectIDs(s.meters, m.MeterID, openflow.MeterAll) {
		mm := openflow.MeterModFor(s.meters[id].e, openflow.MeterAdd)
		r.Meters = append(r.Meters, openflow.MeterConfig{Flags: mm.Flags, MeterID: id, Bands: mm.Bands})
	}
	s.mu.Unlock()
	c.send(h.XID, r)
}
