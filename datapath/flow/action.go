package flow

import "net/netip"

// Action is one OpenFlow action. The concrete types are small structs in this file; a switch
// on the type (case *Output, *SetField, …) is how an executor or codec dispatches. All of them
// print in ovs-ofctl syntax through String.
type Action interface {
	// String returns the action in ovs-ofctl syntax, as dump-flows prints it.
	String() string
	isAction()
}

// Reserved OpenFlow 1.1+ port numbers.
const (
	PortMax        uint32 = 0xffffff00
	PortUnset      uint32 = 0xfffffff7 // OVS's OFPP_UNSET: "no port" inside resubmit/learn
	PortInPort     uint32 = 0xfffffff8
	PortTable      uint32 = 0xfffffff9
	PortNormal     uint32 = 0xfffffffa
	PortFlood      uint32 = 0xfffffffb
	PortAll        uint32 = 0xfffffffc
	PortController uint32 = 0xfffffffd
	PortLocal      uint32 = 0xfffffffe
	PortAny        uint32 = 0xffffffff // OFPP_ANY, printed as NONE
)

// TableNone marks "no table" in Resubmit and CT (OVS's 255).
const TableNone uint8 = 255

// Value is a field value up to 128 bits wide: Lo holds the low 64 bits, Hi the rest.
type Value struct {
	Hi, Lo uint64
}

// Subfield is OpenFlow's field[ofs..ofs+bits-1]: Bits bits of Field starting at bit Ofs.
// A whole field is Ofs 0 and Bits == the field's width (Width()).
type Subfield struct {
	Field Field
	Ofs   uint16
	Bits  uint16
}

// Output sends the packet to Port (a number or one of the Port* constants). MaxLen is how much
// of the packet a CONTROLLER output sends (the parser fills OVS's default, 65535).
type Output struct {
	Port   uint32
	MaxLen uint16
}

// OutputReg sends the packet to the port number held in Src (output:reg0[]).
type OutputReg struct {
	Src    Subfield
	MaxLen uint16
}

// Controller sends the packet to the controller as a packet-in (controller(...)).
type Controller struct {
	MaxLen   uint16 // 65535 (the default) sends the whole packet
	Reason   ControllerReason
	ID       uint16 // controller_id; 0 is the default
	UserData []byte
	Pause    bool
	Meter    uint32 // meter_id; 0 is none
}

// ControllerReason is a packet-in reason.
type ControllerReason uint8

// The packet-in reasons ovs-ofctl names.
const (
	ReasonAction ControllerReason = iota // the default, "action"
	ReasonNoMatch
	ReasonInvalidTTL
	ReasonActionSet
	ReasonGroup
	ReasonPacketOut
)

// SetField writes Value into Field under Mask (set_field:V/M->field, load:V->field[a..b],
// mod_nw_dst:..., mod_vlan_vid:...). A full mask is Mask == the field's all-ones.
type SetField struct {
	Field Field
	Value Value
	Mask  Value

	// pushVLAN marks mod_vlan_vid/mod_vlan_pcp, which push an 802.1Q header first when the
	// packet has none; Flow normalisation turns that into an explicit PushVLAN and clears it.
	pushVLAN bool

	// legacy is the OpenFlow 1.0-style name this was written as (mod_nw_ttl, mod_tp_src,
	// mod_tp_dst) where OVS keeps that action distinct and prints it back under that name:
	// mod_nw_ttl everywhere (OpenFlow 1.1+ still has SET_NW_TTL), mod_tp_* only in group
	// buckets. Flow normalisation clears it where OVS turns the action into a set_field.
	legacy string
}

// Move copies Src into Dst (move:a[..]->b[..]); both have the same Bits.
type Move struct {
	Src, Dst Subfield
}

// Resubmit looks the packet up again in Table (TableNone: the current table) as if it had
// arrived on Port (PortInPort: its real in_port), then continues here. CT resubmits with the
// packet's original conntrack tuple (resubmit(,,ct)).
type Resubmit struct {
	Port  uint32
	Table uint8
	CT    bool
}

// CT sends the packet through connection tracking (ct(...)).
type CT struct {
	Commit bool
	Force  bool
	// Zone is the conntrack zone, or, when ZoneSrc.Bits != 0, taken from ZoneSrc (16 bits).
	Zone    uint16
	ZoneSrc Subfield
	// Table recirculates the packet to that table after conntrack (TableNone: no recirculation,
	// the packet continues with the next action and ct_state stays as it was).
	Table uint8
	Alg   uint16 // alg=ftp(21)/tftp(69); 0 none
	NAT   *NAT
	// Exec are the actions run on the committed connection: SetField or Move into ct_mark or
	// ct_label.
	Exec []Action
}

// NAT is ct(nat(...)): with neither Src nor Dst it only applies an existing connection's NAT.
type NAT struct {
	Src, Dst bool
	// MinAddr..MaxAddr is the address range (MaxAddr invalid or equal: one address; both
	// invalid: none). MinPort..MaxPort is the port range (0: none).
	MinAddr, MaxAddr netip.Addr
	MinPort, MaxPort uint16
	Persistent       bool
	Hash             bool
	Random           bool
}

// CTClear clears the packet's conntrack state (ct_clear).
type CTClear struct{}

// Group sends the packet to group GroupID (group:N).
type Group struct {
	GroupID uint32
}

// Meter passes the packet through meter MeterID (meter:N; OpenFlow 1.5 makes it an action).
type Meter struct {
	MeterID uint32
}

// Conjunction makes this flow clause Clause (1-based) of NClauses of conjunctive match ID
// (conjunction(id,k/n)).
type Conjunction struct {
	ID       uint32
	Clause   uint8
	NClauses uint8
}

// DecTTL decrements the IP TTL / hop limit; at 0 the packet goes to the controllers (IDs, or
// controller 0 when empty) with reason invalid_ttl instead.
type DecTTL struct {
	IDs []uint16
}

// PushVLAN pushes an 802.1Q header with TPID EthType (push_vlan:0x8100).
type PushVLAN struct {
	EthType uint16
}

// PopVLAN removes the outermost VLAN header (pop_vlan, strip_vlan).
type PopVLAN struct{}

// Note carries opaque bytes and does nothing (note:01.02.03).
type Note struct {
	Data []byte
}

// Learn adds or modifies a flow built from the packet (learn(...)).
type Learn struct {
	Table       uint8
	Priority    uint16
	IdleTimeout uint32
	HardTimeout uint32
	FinIdle     uint16
	FinHard     uint16
	Cookie      uint64
	// Flags: send_flow_rem, delete_learned, write_result.
	SendFlowRem   bool
	DeleteLearned bool
	Limit         uint32
	// ResultDst, when Bits != 0, is the 1-bit field set to 1 when the learned flow was added
	// (result_dst=reg0[5]).
	ResultDst Subfield
	Specs     []LearnSpec
}

// LearnSpecKind says what a learn spec does.
type LearnSpecKind uint8

// The learn spec kinds.
const (
	// LearnMatch adds a match on Dst to the learned flow: value Imm (when Src.Bits == 0) or the
	// packet's Src (NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[], or just NXM_OF_IP_SRC[] for Src == Dst).
	LearnMatch LearnSpecKind = iota
	// LearnLoad adds load:Src-or-Imm->Dst to the learned flow's actions.
	LearnLoad
	// LearnOutput adds output:Src to the learned flow's actions.
	LearnOutput
)

// LearnSpec is one element of a learn action.
type LearnSpec struct {
	Kind LearnSpecKind
	Dst  Subfield // the learned flow's field (match or load target); unused for LearnOutput
	Src  Subfield // the packet's field; Bits == 0 means Imm is the source
	Imm  Value
}

func (*Output) isAction()      {}
func (*OutputReg) isAction()   {}
func (*Controller) isAction()  {}
func (*SetField) isAction()    {}
func (*Move) isAction()        {}
func (*Resubmit) isAction()    {}
func (*CT) isAction()          {}
func (*CTClear) isAction()     {}
func (*Group) isAction()       {}
func (*Meter) isAction()       {}
func (*Conjunction) isAction() {}
func (*DecTTL) isAction()      {}
func (*PushVLAN) isAction()    {}
func (*PopVLAN) isAction()     {}
func (*Note) isAction()        {}
func (*Learn) isAction()       {}
