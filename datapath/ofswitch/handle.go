package ofswitch

import (
	"github.com/sluicenet/sluice/datapath/openflow"
)

// nTables is the number of flow tables FEATURES_REPLY reports (0..253, as OVS).
const nTables = 254

// handle acts on one decoded message from the controller.
func (c *conn) handle(h openflow.Header, m openflow.Message, raw []byte) {
	switch m := m.(type) {
	case *openflow.Hello, *openflow.EchoReply, *openflow.BarrierReply:
	case *openflow.Error:
		c.s.log.Debug("controller sent an error", "error", m.Name())
	case *openflow.EchoRequest:
		c.send(h.XID, &openflow.EchoReply{Data: m.Data})
	case *openflow.FeaturesRequest:
		c.send(h.XID, &openflow.FeaturesReply{DatapathID: c.s.dpid, NTables: nTables,
			Capabilities: openflow.CapFlowStats | openflow.CapTableStats | openflow.CapPortStats |
				openflow.CapGroupStats | openflow.CapBundles})
	case *openflow.GetConfigRequest:
		r := &openflow.GetConfigReply{}
		r.Flags, r.MissSendLen = c.flags, c.missSendLenLoad()
		c.send(h.XID, r)
	case *openflow.SetConfig:
		if m.Flags&^3 != 0 || m.Flags&3 == 3 {
			c.sendError(h.XID, openflow.Error{ErrType: openflow.ErrTypeSwitchConfigFailed, Code: 0}, raw) // OFPSCFC_BAD_FLAGS
			return
		}
		c.flags = m.Flags
		c.missSendLen.Store(uint32(m.MissSendLen))
	case *openflow.BarrierRequest:
		// Every earlier message of this connection has been handled: they run in order.
		c.send(h.XID, &openflow.BarrierReply{})
	case *openflow.RoleRequest:
		c.handleRole(h, m, raw)
	case *openflow.SetPacketInFormat:
		switch m.Format {
		case openflow.PacketInFormatStandard, openflow.PacketInFormatNXT2:
			c.pinFormat.Store(m.Format)
		default:
			c.sendError(h.XID, openflow.Error{ErrType: openflow.ErrTypeBadRequest, Code: 5}, raw) // OFPBRC_EPERM
		}
	case *openflow.FlowMod, *openflow.GroupMod, *openflow.MeterMod, *openflow.PacketOut:
		if c.getRole() == openflow.RoleSlave {
			c.sendError(h.XID, errIsSlave, raw)
			return
		}
		if e := c.s.apply(c, h.XID, m, raw); e != nil {
			c.sendError(h.XID, *e, raw)
		}
	case *openflow.BundleControl:
		c.handleBundleControl(h, m, raw)
	case *openflow.BundleAdd:
		c.handleBundleAdd(h, m, raw)
	case *openflow.MultipartUnknown:
		c.sendError(h.XID, openflow.ErrBadRequestMultipart, raw)
	case *openflow.TableFeaturesRequest:
		c.tableFeatures(h, m, raw)
	case *openflow.MeterConfigRequest:
		c.meterConfig(h, m)
	case *openflow.PortMod:
		if c.getRole() == openflow.RoleSlave {
			c.sendError(h.XID, errIsSlave, raw)
			return
		}
		if e := c.s.portMod(m); e != nil {
			c.sendError(h.XID, *e, raw)
		}
	case *openflow.Experimenter:
		if m.Experimenter == openflow.NiciraID || m.Experimenter == openflow.ONFID {
			c.sendError(h.XID, openflow.ErrBadRequestExpType, raw)
		} else {
			c.sendError(h.XID, openflow.ErrBadRequestExperimenter, raw)
		}
	case *openflow.DescRequest, *openflow.FlowDescRequest, *openflow.AggregateRequest,
		*openflow.TableStatsRequest, *openflow.PortStatsRequest, *openflow.PortDescRequest,
		*openflow.GroupStatsRequest, *openflow.GroupDescRequest, *openflow.MeterStatsRequest:
		c.handleMultipart(h, m, raw)
	default:
		// Replies and switch-to-controller messages (and types the codec does not model) are not
		// requests a switch can act on.
		c.sendError(h.XID, openflow.ErrBadRequestType, raw)
	}
}

// handleRole implements ROLE_REQUEST: master demotes every other master to slave; a stale
// generation id is refused.
func (c *conn) handleRole(h openflow.Header, m *openflow.RoleRequest, raw []byte) {
	s := c.s
	switch m.Role.Role {
	case openflow.RoleNoChange, openflow.RoleEqual:
	case openflow.RoleMaster, openflow.RoleSlave:
		s.mu.Lock()
		if s.genSet && int64(m.GenerationID-s.roleGen) < 0 {
			s.mu.Unlock()
			c.sendError(h.XID, openflow.ErrRoleStale, raw)
			return
		}
		s.roleGen, s.genSet = m.GenerationID, true
		if m.Role.Role == openflow.RoleMaster {
			for o := range s.conns {
				if o != c {
					o.roleMu.Lock()
					if o.role == openflow.RoleMaster {
						o.role = openflow.RoleSlave
					}
					o.roleMu.Unlock()
				}
			}
		}
		s.mu.Unlock()
	default:
		c.sendError(h.XID, openflow.ErrRoleBadRole, raw)
		return
	}
	c.roleMu.Lock()
	if m.Role.Role != openflow.RoleNoChange {
		c.role = m.Role.Role
	}
	r := &openflow.RoleReply{Role: openflow.Role{Role: c.role, GenerationID: m.GenerationID}}
	c.roleMu.Unlock()
	s.mu.Lock()
	if s.genSet {
		r.GenerationID = s.roleGen
	}
	s.mu.Unlock()
	c.send(h.XID, r)
}
