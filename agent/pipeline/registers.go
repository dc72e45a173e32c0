package pipeline

import (
	"fmt"

	"github.com/sluicenet/sluice/datapath/flow"
)

// RegField is a named bit range of one 32-bit register (reg0..reg15): Reg[Ofs..Ofs+Bits-1].
type RegField struct {
	Name string
	Reg  int
	Ofs  uint16
	Bits uint16
}

// Subfield returns f as a flow.Subfield.
func (f RegField) Subfield() flow.Subfield {
	return flow.Subfield{Field: flow.FieldReg0 + flow.Field(f.Reg), Ofs: f.Ofs, Bits: f.Bits}
}

// mask returns f's bits in their register position.
func (f RegField) mask() uint32 {
	if f.Bits == 32 {
		return ^uint32(0)
	}
	return (uint32(1)<<f.Bits - 1) << f.Ofs
}

// Match returns the match text "regN=V/M" that selects value v in f ("regN=V" for a whole
// register).
func (f RegField) Match(v uint32) string {
	if f.Bits == 32 {
		return fmt.Sprintf("reg%d=%#x", f.Reg, v)
	}
	return fmt.Sprintf("reg%d=%#x/%#x", f.Reg, v<<f.Ofs&f.mask(), f.mask())
}

// Load returns the action text that writes v into f.
func (f RegField) Load(v uint32) string {
	if f.Bits == 32 {
		return fmt.Sprintf("set_field:%#x->reg%d", v, f.Reg)
	}
	return fmt.Sprintf("set_field:%#x/%#x->reg%d", v<<f.Ofs&f.mask(), f.mask(), f.Reg)
}

// NXM returns f in OVS's NXM subfield syntax, NXM_NX_REGn[a..b], as move and output take it.
func (f RegField) NXM() string {
	if f.Bits == 32 {
		return fmt.Sprintf("NXM_NX_REG%d[]", f.Reg)
	}
	return fmt.Sprintf("NXM_NX_REG%d[%d..%d]", f.Reg, f.Ofs, f.Ofs+f.Bits-1)
}

// The registers the pipeline uses. The layout is Antrea's (its published design doc), so
// traces and dumps read alike; testdata/flows/antrea.txt documents the same use.
var (
	// PktSource (reg0[0..3]) is where the packet came from; set by Classifier.
	PktSource = RegField{"PktSource", 0, 0, 4}
	// PktDest (reg0[4..7]) is where L3Forwarding decided the packet goes.
	PktDest = RegField{"PktDest", 0, 4, 4}
	// RewriteMAC (reg0[9]) marks a packet addressed to the gateway's MAC that the pipeline
	// routes itself: L3Forwarding rewrites its MACs and L3DecTTL decrements its TTL.
	RewriteMAC = RegField{"RewriteMAC", 0, 9, 1}
	// OutputMethod (reg0[21..22]) is how Output sends the packet; set by L2ForwardingCalc.
	OutputMethod = RegField{"OutputMethod", 0, 21, 2}
	// TargetOFPort (reg1) is the OpenFlow port Output sends the packet to.
	TargetOFPort = RegField{"TargetOFPort", 1, 0, 32}
)

// Values of PktSource (and of ConnSource in ct_mark).
const (
	SourceTunnel  uint32 = 1
	SourceGateway uint32 = 2
	SourcePod     uint32 = 3
)

// Values of PktDest.
const (
	DestTunnel  uint32 = 1
	DestGateway uint32 = 2
	DestLocal   uint32 = 3
)

// Values of OutputMethod.
const (
	OutputToPort       uint32 = 1
	OutputToController uint32 = 2
)

// CTMarkField is a named bit range of ct_mark.
type CTMarkField struct {
	Name string
	Ofs  uint16
	Bits uint16
}

// NXM returns f in NXM subfield syntax, NXM_NX_CT_MARK[a..b].
func (f CTMarkField) NXM() string {
	return fmt.Sprintf("NXM_NX_CT_MARK[%d..%d]", f.Ofs, f.Ofs+f.Bits-1)
}

// Subfield returns f as a flow.Subfield.
func (f CTMarkField) Subfield() flow.Subfield {
	return flow.Subfield{Field: flow.FieldCtMark, Ofs: f.Ofs, Bits: f.Bits}
}

// ConnSource (ct_mark[0..3]) is the PktSource of a connection's first packet, committed by
// ConntrackCommit so replies know where the connection came from.
var ConnSource = CTMarkField{"ConnSource", 0, 4}

// ct_label ranges are reserved for policy rule IDs (ingress ct_label[0..31], egress
// ct_label[32..63]); this package does not write them yet.

// CTZone is the conntrack zone of all pod and gateway traffic; SNATCTZone is reserved for the
// SNAT table that a later issue fills.
const (
	CTZone     uint16 = 65520
	SNATCTZone uint16 = 65521
)
