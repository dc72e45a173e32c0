package openflow

import (
	"fmt"

	"github.com/sluicenet/sluice/datapath/flow"
)

// OXM classes.
const (
	ClassNXM0         = 0x0000 // NXM_OF_*: Nicira's encoding of the OpenFlow 1.0 fields
	ClassNXM1         = 0x0001 // NXM_NX_*: Nicira extension fields
	ClassBasic        = 0x8000 // OFPXMC_OPENFLOW_BASIC
	ClassPacketRegs   = 0x8001 // OFPXMC_PACKET_REGS: 64-bit pipeline registers (OVS's xreg0-7)
	ClassExperimenter = 0xffff // followed by a 32-bit experimenter id
)

// OXMID names a match field on the wire: class, field number and, for ClassExperimenter, the
// experimenter id. It is what set_field, copy_field, reg_load and learn refer to fields by.
type OXMID struct {
	Class        uint16
	Field        uint8
	Experimenter uint32
}

// oxmDef ties a wire field to a flow.Key field.
type oxmDef struct {
	id       OXMID
	name     string // OVS's name for the header, e.g. "OXM_OF_IPV4_SRC", "NXM_NX_REG3"
	size     int    // value bytes on the wire
	f        flow.Field
	maskable bool
	valMask  uint64 // for fields narrower on the key than on the wire: the wire bits that exist (0: all)
}

func basic(field uint8, name string, size int, f flow.Field, maskable bool) oxmDef {
	return oxmDef{id: OXMID{Class: ClassBasic, Field: field}, name: name, size: size, f: f, maskable: maskable}
}

func nxm0(field uint8, name string, size int, f flow.Field, maskable bool) oxmDef {
	return oxmDef{id: OXMID{Class: ClassNXM0, Field: field}, name: name, size: size, f: f, maskable: maskable}
}

func nxm1(field uint8, name string, size int, f flow.Field, maskable bool) oxmDef {
	return oxmDef{id: OXMID{Class: ClassNXM1, Field: field}, name: name, size: size, f: f, maskable: maskable}
}

// Field numbers, from the OpenFlow 1.5.1 specification (OXM_OF_*) and OVS's meta-flow.h
// (NXM_OF_*, NXM_NX_*).
var oxmDefs = []oxmDef{
	// OpenFlow basic class.
	basic(0, "OXM_OF_IN_PORT", 4, flow.FieldInPort, false),
	basic(2, "OXM_OF_METADATA", 8, flow.FieldMetadata, true),
	basic(3, "OXM_OF_ETH_DST", 6, flow.FieldEthDst, true),
	basic(4, "OXM_OF_ETH_SRC", 6, flow.FieldEthSrc, true),
	basic(5, "OXM_OF_ETH_TYPE", 2, flow.FieldEthType, false),
	basic(6, "OXM_OF_VLAN_VID", 2, flow.FieldVLANVID, true),
	basic(7, "OXM_OF_VLAN_PCP", 1, flow.FieldVLANPCP, false),
	basic(8, "OXM_OF_IP_DSCP", 1, flow.FieldIPDSCP, false),
	basic(9, "OXM_OF_IP_ECN", 1, flow.FieldNwECN, false),
	basic(10, "OXM_OF_IP_PROTO", 1, flow.FieldNwProto, false),
	basic(11, "OXM_OF_IPV4_SRC", 4, flow.FieldNwSrc, true),
	basic(12, "OXM_OF_IPV4_DST", 4, flow.FieldNwDst, true),
	basic(13, "OXM_OF_TCP_SRC", 2, flow.FieldTCPSrc, true),
	basic(14, "OXM_OF_TCP_DST", 2, flow.FieldTCPDst, true),
	basic(15, "OXM_OF_UDP_SRC", 2, flow.FieldUDPSrc, true),
	basic(16, "OXM_OF_UDP_DST", 2, flow.FieldUDPDst, true),
	basic(17, "OXM_OF_SCTP_SRC", 2, flow.FieldSCTPSrc, true),
	basic(18, "OXM_OF_SCTP_DST", 2, flow.FieldSCTPDst, true),
	basic(19, "OXM_OF_ICMPV4_TYPE", 1, flow.FieldIcmpType, false),
	basic(20, "OXM_OF_ICMPV4_CODE", 1, flow.FieldIcmpCode, false),
	basic(21, "OXM_OF_ARP_OP", 2, flow.FieldArpOp, false),
	basic(22, "OXM_OF_ARP_SPA", 4, flow.FieldArpSpa, true),
	basic(23, "OXM_OF_ARP_TPA", 4, flow.FieldArpTpa, true),
	basic(24, "OXM_OF_ARP_SHA", 6, flow.FieldArpSha, true),
	basic(25, "OXM_OF_ARP_THA", 6, flow.FieldArpTha, true),
	basic(26, "OXM_OF_IPV6_SRC", 16, flow.FieldIPv6Src, true),
	basic(27, "OXM_OF_IPV6_DST", 16, flow.FieldIPv6Dst, true),
	basic(28, "OXM_OF_IPV6_FLABEL", 4, flow.FieldIPv6Label, true),
	basic(29, "OXM_OF_ICMPV6_TYPE", 1, flow.FieldIcmpv6Type, false),
	basic(30, "OXM_OF_ICMPV6_CODE", 1, flow.FieldIcmpv6Code, false),
	basic(31, "OXM_OF_IPV6_ND_TARGET", 16, flow.FieldNdTarget, true),
	basic(32, "OXM_OF_IPV6_ND_SLL", 6, flow.FieldNdSll, true),
	basic(33, "OXM_OF_IPV6_ND_TLL", 6, flow.FieldNdTll, true),
	basic(38, "OXM_OF_TUNNEL_ID", 8, flow.FieldTunID, true),
	basic(42, "OXM_OF_TCP_FLAGS", 2, flow.FieldTCPFlags, true),

	// Packet registers: OVS's xreg0-7, each the pair reg(2N):reg(2N+1).
	{id: OXMID{Class: ClassPacketRegs, Field: 0}, name: "OXM_OF_PKT_REG0", size: 8, f: flow.FieldXReg0, maskable: true},
	{id: OXMID{Class: ClassPacketRegs, Field: 1}, name: "OXM_OF_PKT_REG1", size: 8, f: flow.FieldXReg1, maskable: true},
	{id: OXMID{Class: ClassPacketRegs, Field: 2}, name: "OXM_OF_PKT_REG2", size: 8, f: flow.FieldXReg2, maskable: true},
	{id: OXMID{Class: ClassPacketRegs, Field: 3}, name: "OXM_OF_PKT_REG3", size: 8, f: flow.FieldXReg3, maskable: true},
	{id: OXMID{Class: ClassPacketRegs, Field: 4}, name: "OXM_OF_PKT_REG4", size: 8, f: flow.FieldXReg4, maskable: true},
	{id: OXMID{Class: ClassPacketRegs, Field: 5}, name: "OXM_OF_PKT_REG5", size: 8, f: flow.FieldXReg5, maskable: true},
	{id: OXMID{Class: ClassPacketRegs, Field: 6}, name: "OXM_OF_PKT_REG6", size: 8, f: flow.FieldXReg6, maskable: true},
	{id: OXMID{Class: ClassPacketRegs, Field: 7}, name: "OXM_OF_PKT_REG7", size: 8, f: flow.FieldXReg7, maskable: true},

	// NXM_OF_* (class 0).
	nxm0(0, "NXM_OF_IN_PORT", 2, flow.FieldInPort, false),
	nxm0(1, "NXM_OF_ETH_DST", 6, flow.FieldEthDst, true),
	nxm0(2, "NXM_OF_ETH_SRC", 6, flow.FieldEthSrc, true),
	nxm0(3, "NXM_OF_ETH_TYPE", 2, flow.FieldEthType, false),
	nxm0(4, "NXM_OF_VLAN_TCI", 2, flow.FieldVLANTCI, true),
	{id: OXMID{Class: ClassNXM0, Field: 5}, name: "NXM_OF_IP_TOS", size: 1, f: flow.FieldNwTOS, valMask: 0xfc},
	nxm0(6, "NXM_OF_IP_PROTO", 1, flow.FieldNwProto, false),
	nxm0(7, "NXM_OF_IP_SRC", 4, flow.FieldNwSrc, true),
	nxm0(8, "NXM_OF_IP_DST", 4, flow.FieldNwDst, true),
	nxm0(9, "NXM_OF_TCP_SRC", 2, flow.FieldTCPSrc, true),
	nxm0(10, "NXM_OF_TCP_DST", 2, flow.FieldTCPDst, true),
	nxm0(11, "NXM_OF_UDP_SRC", 2, flow.FieldUDPSrc, true),
	nxm0(12, "NXM_OF_UDP_DST", 2, flow.FieldUDPDst, true),
	nxm0(13, "NXM_OF_ICMP_TYPE", 1, flow.FieldIcmpType, false),
	nxm0(14, "NXM_OF_ICMP_CODE", 1, flow.FieldIcmpCode, false),
	nxm0(15, "NXM_OF_ARP_OP", 2, flow.FieldArpOp, false),
	nxm0(16, "NXM_OF_ARP_SPA", 4, flow.FieldArpSpa, true),
	nxm0(17, "NXM_OF_ARP_TPA", 4, flow.FieldArpTpa, true),

	// NXM_NX_* (class 1).
	nxm1(0, "NXM_NX_REG0", 4, flow.FieldReg0, true),
	nxm1(1, "NXM_NX_REG1", 4, flow.FieldReg1, true),
	nxm1(2, "NXM_NX_REG2", 4, flow.FieldReg2, true),
	nxm1(3, "NXM_NX_REG3", 4, flow.FieldReg3, true),
	nxm1(4, "NXM_NX_REG4", 4, flow.FieldReg4, true),
	nxm1(5, "NXM_NX_REG5", 4, flow.FieldReg5, true),
	nxm1(6, "NXM_NX_REG6", 4, flow.FieldReg6, true),
	nxm1(7, "NXM_NX_REG7", 4, flow.FieldReg7, true),
	nxm1(8, "NXM_NX_REG8", 4, flow.FieldReg8, true),
	nxm1(9, "NXM_NX_REG9", 4, flow.FieldReg9, true),
	nxm1(10, "NXM_NX_REG10", 4, flow.FieldReg10, true),
	nxm1(11, "NXM_NX_REG11", 4, flow.FieldReg11, true),
	nxm1(12, "NXM_NX_REG12", 4, flow.FieldReg12, true),
	nxm1(13, "NXM_NX_REG13", 4, flow.FieldReg13, true),
	nxm1(14, "NXM_NX_REG14", 4, flow.FieldReg14, true),
	nxm1(15, "NXM_NX_REG15", 4, flow.FieldReg15, true),
	nxm1(16, "NXM_NX_TUN_ID", 8, flow.FieldTunID, true),
	nxm1(17, "NXM_NX_ARP_SHA", 6, flow.FieldArpSha, true),
	nxm1(18, "NXM_NX_ARP_THA", 6, flow.FieldArpTha, true),
	nxm1(19, "NXM_NX_IPV6_SRC", 16, flow.FieldIPv6Src, true),
	nxm1(20, "NXM_NX_IPV6_DST", 16, flow.FieldIPv6Dst, true),
	nxm1(21, "NXM_NX_ICMPV6_TYPE", 1, flow.FieldIcmpv6Type, false),
	nxm1(22, "NXM_NX_ICMPV6_CODE", 1, flow.FieldIcmpv6Code, false),
	nxm1(23, "NXM_NX_ND_TARGET", 16, flow.FieldNdTarget, true),
	nxm1(24, "NXM_NX_ND_SLL", 6, flow.FieldNdSll, true),
	nxm1(25, "NXM_NX_ND_TLL", 6, flow.FieldNdTll, true),
	{id: OXMID{Class: ClassNXM1, Field: 26}, name: "NXM_NX_IP_FRAG", size: 1, f: flow.FieldNwFrag, maskable: true, valMask: 0x03},
	nxm1(27, "NXM_NX_IPV6_LABEL", 4, flow.FieldIPv6Label, true),
	nxm1(28, "NXM_NX_IP_ECN", 1, flow.FieldNwECN, false),
	nxm1(29, "NXM_NX_IP_TTL", 1, flow.FieldNwTTL, false),
	nxm1(31, "NXM_NX_TUN_IPV4_SRC", 4, flow.FieldTunSrc, true),
	nxm1(32, "NXM_NX_TUN_IPV4_DST", 4, flow.FieldTunDst, true),
	nxm1(33, "NXM_NX_PKT_MARK", 4, flow.FieldPktMark, true),
	nxm1(34, "NXM_NX_TCP_FLAGS", 2, flow.FieldTCPFlags, true),
	nxm1(37, "NXM_NX_CONJ_ID", 4, flow.FieldConjID, false),
	nxm1(105, "NXM_NX_CT_STATE", 4, flow.FieldCtState, true),
	nxm1(106, "NXM_NX_CT_ZONE", 2, flow.FieldCtZone, false),
	nxm1(107, "NXM_NX_CT_MARK", 4, flow.FieldCtMark, true),
	nxm1(108, "NXM_NX_CT_LABEL", 16, flow.FieldCtLabel, true),
	nxm1(111, "NXM_NX_XXREG0", 16, flow.FieldXXReg0, true),
	nxm1(112, "NXM_NX_XXREG1", 16, flow.FieldXXReg1, true),
	nxm1(113, "NXM_NX_XXREG2", 16, flow.FieldXXReg2, true),
	nxm1(114, "NXM_NX_XXREG3", 16, flow.FieldXXReg3, true),
	nxm1(119, "NXM_NX_CT_NW_PROTO", 1, flow.FieldCtNwProto, false),
	nxm1(120, "NXM_NX_CT_NW_SRC", 4, flow.FieldCtNwSrc, true),
	nxm1(121, "NXM_NX_CT_NW_DST", 4, flow.FieldCtNwDst, true),
	nxm1(124, "NXM_NX_CT_TP_SRC", 2, flow.FieldCtTpSrc, true),
	nxm1(125, "NXM_NX_CT_TP_DST", 2, flow.FieldCtTpDst, true),

	// The same ids OVS accepts under the ONF experimenter class (OpenFlow 1.3's encoding).
	{id: OXMID{Class: ClassExperimenter, Field: 42, Experimenter: ONFID}, name: "ONFOXM_ET_TCP_FLAGS", size: 2, f: flow.FieldTCPFlags, maskable: true},
}

// oxmTable finds a field definition by header: arrays indexed by field number for the four
// non-experimenter classes (the encoder and decoder look fields up per TLV), a map for the rest.
type oxmTable struct {
	nxm0, nxm1, basic, regs [128]*oxmDef
	exp                     map[OXMID]*oxmDef
}

func (t *oxmTable) slot(id OXMID) **oxmDef {
	switch id.Class {
	case ClassNXM0:
		return &t.nxm0[id.Field&0x7f]
	case ClassNXM1:
		return &t.nxm1[id.Field&0x7f]
	case ClassBasic:
		return &t.basic[id.Field&0x7f]
	case ClassPacketRegs:
		return &t.regs[id.Field&0x7f]
	}
	return nil
}

// lookup returns the definition of id and whether there is one.
func (t *oxmTable) lookup(id OXMID) (*oxmDef, bool) {
	if p := t.slot(id); p != nil {
		if id.Experimenter != 0 || *p == nil {
			return nil, false
		}
		return *p, true
	}
	d, ok := t.exp[id]
	return d, ok
}

var oxmByID = func() *oxmTable {
	t := &oxmTable{exp: map[OXMID]*oxmDef{}}
	for i := range oxmDefs {
		d := &oxmDefs[i]
		if p := t.slot(d.id); p != nil {
			*p = d
		} else {
			t.exp[d.id] = d
		}
	}
	return t
}()

// actionIDs is the header OVS 3.1 uses for a field inside OpenFlow 1.5 actions (set_field,
// copy_field, learn): the OXM header where OpenFlow 1.5 has one, else the NXM one.
var actionIDs = func() [flow.NumFields]OXMID {
	var ids [flow.NumFields]OXMID
	set := func(f flow.Field, class uint16, field uint8) { ids[f] = OXMID{Class: class, Field: field} }
	for i := range oxmDefs {
		d := &oxmDefs[i]
		if d.id.Class == ClassBasic || d.id.Class == ClassPacketRegs {
			if ids[d.f] == (OXMID{}) {
				ids[d.f] = d.id
			}
		}
	}
	for i := range oxmDefs {
		d := &oxmDefs[i]
		if (d.id.Class == ClassNXM0 || d.id.Class == ClassNXM1) && ids[d.f] == (OXMID{}) {
			ids[d.f] = d.id
		}
	}
	// OVS's in_port in actions is the 16-bit NXM_OF_IN_PORT (MFF_IN_PORT); the 32-bit OXM one
	// is match-only.
	set(flow.FieldInPort, ClassNXM0, 0)
	// The generic tp_src/tp_dst views of the shared port slots: refer to them by the TCP
	// names.
	set(flow.FieldTpSrc, ClassBasic, 13)
	set(flow.FieldTpDst, ClassBasic, 14)
	return ids
}()

// nxmIDs is the header OVS uses where it prefers the legacy NXM form (learn specs, ct's zone
// source, output_reg): the NXM header when the field has one, else the OXM one.
var nxmIDs = func() [flow.NumFields]OXMID {
	var ids [flow.NumFields]OXMID
	for i := range oxmDefs {
		d := &oxmDefs[i]
		if (d.id.Class == ClassNXM0 || d.id.Class == ClassNXM1) && ids[d.f] == (OXMID{}) && !(d.id == OXMID{} && d.f != flow.FieldInPort) {
			ids[d.f] = d.id
		}
	}
	ids[flow.FieldTpSrc] = OXMID{Class: ClassNXM0, Field: 9}
	ids[flow.FieldTpDst] = OXMID{Class: ClassNXM0, Field: 10}
	for f := flow.Field(0); f < flow.NumFields; f++ {
		if ids[f] == (OXMID{}) && f != flow.FieldInPort {
			ids[f] = actionIDs[f]
		}
	}
	return ids
}()

// NXMIDFor returns the header OVS uses for field f where it prefers NXM (learn specs, ct zone,
// output_reg), and whether f has one.
func NXMIDFor(f flow.Field) (OXMID, bool) {
	if f >= flow.NumFields {
		return OXMID{}, false
	}
	id := nxmIDs[f]
	_, ok := oxmByID.lookup(id)
	return id, ok && (id != OXMID{} || f == flow.FieldInPort)
}

// OXMIDFor returns the header OVS uses for field f in OpenFlow 1.5 actions, and whether f has one.
func OXMIDFor(f flow.Field) (OXMID, bool) {
	if f >= flow.NumFields {
		return OXMID{}, false
	}
	id := actionIDs[f]
	if id == (OXMID{}) && f != flow.FieldInPort {
		return id, false
	}
	_, ok := oxmByID.lookup(id)
	return id, ok
}

// FieldFor returns the flow field and the value width in bytes that a wire header names.
func (id OXMID) FieldFor() (flow.Field, int, bool) {
	d, ok := oxmByID.lookup(id)
	if !ok {
		return 0, 0, false
	}
	return d.f, d.size, true
}

// Name returns OVS's name for the header ("NXM_NX_REG3", "OXM_OF_IPV4_SRC").
func (id OXMID) Name() string {
	if d, ok := oxmByID.lookup(id); ok {
		return d.name
	}
	return fmt.Sprintf("OXM(0x%04x,%d,0x%x)", id.Class, id.Field, id.Experimenter)
}

// appendOXMHeader appends the 4-byte TLV header (plus the experimenter id) for a payload of
// n bytes (value, or value and mask).
func appendOXMHeader(b []byte, id OXMID, hasMask bool, n int) []byte {
	fm := id.Field << 1
	if hasMask {
		fm |= 1
	}
	if id.Class == ClassExperimenter {
		n += 4
	}
	b = be.AppendUint16(b, id.Class)
	b = append(b, fm, byte(n))
	if id.Class == ClassExperimenter {
		b = be.AppendUint32(b, id.Experimenter)
	}
	return b
}

// readOXMHeader reads a TLV header; n is the payload length without the experimenter id.
func readOXMHeader(c *cursor) (id OXMID, hasMask bool, n int) {
	id.Class = c.u16()
	fm := c.u8()
	n = int(c.u8())
	id.Field, hasMask = fm>>1, fm&1 != 0
	if id.Class == ClassExperimenter {
		id.Experimenter = c.u32()
		n -= 4
		if n < 0 && c.err == nil {
			c.err = fmt.Errorf("experimenter OXM length %d: %w", n+4, ErrBadLength)
		}
	}
	return id, hasMask, n
}

// appendUint appends the low size bytes of a value (hi:lo for 16-byte fields), big-endian.
func appendUint(b []byte, size int, hi, lo uint64) []byte {
	if size == 16 {
		b = be.AppendUint64(b, hi)
		return be.AppendUint64(b, lo)
	}
	for i := size - 1; i >= 0; i-- {
		b = append(b, byte(lo>>(8*i)))
	}
	return b
}

// readUint reads a size-byte big-endian value.
func readUint(c *cursor, size int) (hi, lo uint64) {
	if size == 16 {
		return c.u64(), c.u64()
	}
	for _, x := range c.take(size) {
		lo = lo<<8 | uint64(x)
	}
	return 0, lo
}
