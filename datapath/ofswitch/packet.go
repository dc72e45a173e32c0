package ofswitch

import (
	"maps"
	"slices"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/openflow"
	"github.com/sluicenet/sluice/datapath/packet"
	"github.com/sluicenet/sluice/datapath/pipeline"
)

// errUnsupportedOrder is OFPBAC_UNSUPPORTED_ORDER: PACKET_OUT actions the switch cannot run
// outside the flow tables (see packetOut).
var errUnsupportedOrder = openflow.Error{ErrType: openflow.ErrTypeBadAction, Code: 11}

// packetOut implements OFPT_PACKET_OUT. A list of plain outputs (port numbers, IN_PORT, ALL,
// FLOOD, LOCAL, CONTROLLER) is sent directly; output:TABLE alone runs the frame through the
// pipeline from table 0 as if it had arrived on the match's in_port. Any other action list
// (set_field, push_vlan, group, ct, controller(...)) runs in a scratch pipeline that holds the
// switch's groups and one flow with those actions, sharing the connection tracker; actions that
// need the real tables there (resubmit, goto, output:TABLE among others, learn) are refused with
// OFPBAC_UNSUPPORTED_ORDER rather than ignored.
func (s *Switch) packetOut(c *conn, m *openflow.PacketOut) *openflow.Error {
	if m.BufferID != openflow.NoBuffer {
		return &errBufferUnknown
	}
	inPort := uint32(flow.PortController)
	if m.Match.Mask.Get(flow.FieldInPort) != 0 {
		inPort = uint32(m.Match.Key.Get(flow.FieldInPort))
	}
	if inPort != flow.PortController && inPort != flow.PortLocal && s.port(inPort) == nil && inPort != flow.PortAny {
		return &openflow.ErrBadRequestPort
	}
	acts, err := openflow.ToActions(m.Actions)
	if err != nil {
		return &openflow.ErrBadActionType
	}
	plain := true
	for _, a := range acts {
		o, ok := a.(*flow.Output)
		if !ok {
			plain = false
			continue
		}
		if o.Port == 0 || o.Port > flow.PortMax && o.Port != flow.PortInPort && o.Port != flow.PortTable &&
			o.Port != flow.PortAll && o.Port != flow.PortFlood && o.Port != flow.PortLocal && o.Port != flow.PortController {
			return &openflow.ErrBadActionOutPort
		}
		if o.Port <= flow.PortMax && s.port(o.Port) == nil {
			return &openflow.ErrBadActionOutPort
		}
	}
	if !plain {
		return s.packetOutActions(inPort, acts, m.Data)
	}
	for _, a := range acts {
		o := a.(*flow.Output)
		switch o.Port {
		case flow.PortTable:
			r := s.pipe.NewRunner()
			var res pipeline.Result
			r.Process(m.Data, inPort, &res)
			// As in ovs-vswitchd, a plain output to CONTROLLER reached from a packet-out reports
			// reason packet_out; controller(...) with userdata keeps its own reason.
			for i := range res.PacketIns {
				if pi := &res.PacketIns[i]; pi.Reason == flow.ReasonAction && len(pi.UserData) == 0 {
					pi.Reason = flow.ReasonPacketOut
				}
			}
			s.deliver(inPort, &res)
		case flow.PortController:
			s.SendPacketIns(inPort, []pipeline.PacketIn{{Reason: flow.ReasonPacketOut, Table: 0xff, Cookie: ^uint64(0), MaxLen: o.MaxLen, Frame: m.Data}})
		case flow.PortInPort:
			s.transmit(inPort, m.Data)
		case flow.PortAll, flow.PortFlood:
			for _, pe := range s.portList() {
				if pe.desc.OFPort != inPort {
					s.transmit(pe.desc.OFPort, m.Data)
				}
			}
		default:
			s.transmit(o.Port, m.Data)
		}
	}
	return nil
}

// deliver sends a pipeline result's copies out and its packet-ins to the controllers.
func (s *Switch) deliver(inPort uint32, res *pipeline.Result) {
	for _, out := range res.Outputs {
		s.transmit(out.Port, out.Frame)
	}
	s.SendPacketIns(inPort, res.PacketIns)
}

// packetOutActions runs an action list on a frame in a scratch pipeline (see packetOut).
func (s *Switch) packetOutActions(inPort uint32, acts []flow.Action, frame []byte) *openflow.Error {
	for _, a := range acts {
		switch a := a.(type) {
		case *flow.Resubmit, *flow.Learn:
			return &errUnsupportedOrder
		case *flow.Output:
			if a.Port == flow.PortTable {
				return &errUnsupportedOrder
			}
		case *flow.CT:
			if a.Table != flow.TableNone {
				return &errUnsupportedOrder
			}
		}
	}
	var key flow.Key
	var info packet.Info
	if packet.Extract(frame, inPort, &key, &info) != packet.ReasonNone {
		return &openflow.Error{ErrType: openflow.ErrTypeBadRequest, Code: 12} // OFPBRC_BAD_PACKET
	}
	// The scratch flow matches what the packet is (Ethernet type, IP protocol, VLAN presence),
	// so the flow model accepts actions whose prerequisites the packet meets.
	f := &flow.Flow{Instructions: flow.Instructions{Apply: acts}}
	f.Match.Set(flow.FieldEthType, key.Get(flow.FieldEthType), ^uint64(0))
	if et := key.Get(flow.FieldEthType); et == 0x0800 || et == 0x86dd {
		f.Match.Set(flow.FieldNwProto, key.Get(flow.FieldNwProto), ^uint64(0))
	}
	f.Match.Set(flow.FieldVLANTCI, key.Get(flow.FieldVLANTCI), 0x1000)
	s.mu.Lock()
	ports := slices.Sorted(maps.Keys(s.ports))
	s.mu.Unlock()
	scratch := pipeline.New(pipeline.Options{Conntrack: s.pipe.Conntrack(), Ports: ports, Clock: s.opts.Clock})
	if err := scratch.AddGroups(s.groupList(openflow.GroupAll)); err != nil {
		return &errGroupInvalid
	}
	if err := scratch.AddFlows([]*flow.Flow{f}); err != nil {
		return validationError(err)
	}
	var res pipeline.Result
	scratch.NewRunner().Process(frame, inPort, &res)
	for i := range res.PacketIns {
		if pi := &res.PacketIns[i]; pi.Reason == flow.ReasonAction && len(pi.UserData) == 0 {
			pi.Reason = flow.ReasonPacketOut
		}
		res.PacketIns[i].Table = 0xff
	}
	s.deliver(inPort, &res)
	return nil
}

// transmit sends a frame out of a port; frames to ports without I/O (LOCAL in tests) or that
// the port refuses are dropped (the port counts its own TX drops).
func (s *Switch) transmit(port uint32, frame []byte) {
	pe := s.port(port)
	if pe == nil || pe.io == nil || pe.desc.AdminDown {
		return
	}
	if err := pe.io.Transmit(frame); err != nil {
		s.log.Debug("packet-out transmit failed", "port", port, "err", err)
	}
}

// SendPacketIns sends the pipeline's packet-ins for a packet that arrived on inPort to the
// master and equal controllers, as OFPT_PACKET_IN or, to a controller that asked for it with
// NXT_SET_PACKET_IN_FORMAT, as NXT_PACKET_IN2 (which carries controller(userdata=...)). They
// share a token bucket of Options.PacketInRate per second; what exceeds it, or finds a
// controller's queue full, is dropped and counted (Counters).
func (s *Switch) SendPacketIns(inPort uint32, pins []pipeline.PacketIn) {
	if len(pins) == 0 {
		return
	}
	conns := s.connList()
	for i := range pins {
		if !s.takeToken() {
			s.pinRate.Add(1)
			continue
		}
		pi := &pins[i]
		var md flow.Match
		md.Set(flow.FieldInPort, uint64(inPort), ^uint64(0))
		for _, c := range conns {
			data := pi.Frame
			maxLen := int(pi.MaxLen)
			if pi.Reason == flow.ReasonNoMatch {
				maxLen = int(c.missSendLenLoad())
			}
			if maxLen < len(data) && maxLen != 0xffff {
				data = data[:maxLen]
			}
			var m openflow.Message
			if c.packetInFormat() == openflow.PacketInFormatNXT2 {
				m = &openflow.PacketIn2{Data: data, HasFullLen: len(data) < len(pi.Frame), FullLen: uint32(len(pi.Frame)),
					TableID: pi.Table, Cookie: pi.Cookie, Reason: wireReason(pi.Reason), Metadata: md, UserData: pi.UserData}
			} else {
				m = &openflow.PacketIn{BufferID: openflow.NoBuffer, TotalLen: uint16(min(len(pi.Frame), 0xffff)),
					Reason: wireReason(pi.Reason), TableID: pi.Table, Cookie: pi.Cookie, Match: md, Data: data}
			}
			if c.sendAsync(m, true) {
				s.pinSent.Add(1)
			} else {
				s.pinQueue.Add(1)
			}
		}
	}
}

// wireReason maps the flow model's packet-in reason to OpenFlow's (which lists no_match
// first).
func wireReason(r flow.ControllerReason) uint8 {
	switch r {
	case flow.ReasonAction:
		return openflow.ReasonAction
	case flow.ReasonNoMatch:
		return openflow.ReasonNoMatch
	}
	return uint8(r)
}

// takeToken takes one packet-in token from the bucket.
func (s *Switch) takeToken() bool {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	now := s.opts.Clock()
	s.pinTokens += now.Sub(s.pinLast).Seconds() * float64(s.opts.PacketInRate)
	s.pinLast = now
	if s.pinTokens > float64(s.opts.PacketInBurst) {
		s.pinTokens = float64(s.opts.PacketInBurst)
	}
	if s.pinTokens < 1 {
		return false
	}
	s.pinTokens--
	return true
}
