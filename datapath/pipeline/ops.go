package pipeline

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sluicenet/sluice/datapath/conntrack"
	"github.com/sluicenet/sluice/datapath/flow"
)

// opKind is one datapath operation of a translated program.
type opKind uint8

const (
	opSet        opKind = iota + 1 // field = lo (hi:lo for 128-bit fields)
	opPushVLAN                     // push a tag: tpid in port, tci in lo
	opPopVLAN                      // remove the outer tag
	opOutput                       // send a copy to port
	opController                   // packet-in: ctl
	opCT                           // conntrack: ct, then recirculate if ct.table != TableNone
	opCTClear                      // forget the conntrack state
	opMeter                        // meter port (the meter ID); counted, not rate-limited
)

// op is one datapath operation. It is a small value so a program is one contiguous slice.
type op struct {
	kind  opKind
	field flow.Field
	port  uint32
	hi    uint64
	lo    uint64
	ct    *ctOp
	ctl   *ctlOp
}

// ctOp is a ct() with everything resolved at translation time.
type ctOp struct {
	act   conntrack.Action
	nat   *flow.NAT // nil: no nat(); for trace emulation
	table uint8     // flow.TableNone: no recirculation
	// frozen holds the metadata the recirculated pass restores (words 0..frozenWords-1:
	// in_port, pkt_mark, metadata, registers, tunnel).
	frozen [frozenWords]uint64
	text   string
	// emuMark and emuLabel are what a recirculation sees under ofproto/trace's model.
	emuMark  uint32
	emuLabel conntrack.Label
}

// frozenWords is how many leading Key words are metadata frozen across a recirculation.
const frozenWords = 12

// ctlOp is a packet-in.
type ctlOp struct {
	reason   flow.ControllerReason
	userData []byte
	maxLen   uint16
	table    uint8
	cookie   uint64
}

// program is a translation: what to do with every packet whose key is the one translated.
type program struct {
	ops []op
	// entries are the flows the translation matched, for their statistics.
	entries []*Entry
	// cacheable is false when translation had side effects (learn) that must run per packet.
	cacheable bool
	// drop is set when translation failed; ops is then empty.
	drop DropReason
}

// ofReason maps flow's controller reasons to OpenFlow's packet-in reason codes.
func ofReason(r flow.ControllerReason) int {
	switch r {
	case flow.ReasonNoMatch:
		return 0
	case flow.ReasonAction:
		return 1
	case flow.ReasonInvalidTTL:
		return 2
	case flow.ReasonActionSet:
		return 3
	case flow.ReasonGroup:
		return 4
	case flow.ReasonPacketOut:
		return 5
	}
	return int(r)
}

// String formats the op like OVS's datapath actions (set fields with ovs-ofctl names).
func (o *op) String() string {
	switch o.kind {
	case opSet:
		return "set(" + o.field.String() + "=" + formatFieldValue(o.field, o.hi, o.lo) + ")"
	case opPushVLAN:
		return fmt.Sprintf("push_vlan(vid=%d,pcp=%d)", o.lo&0xfff, o.lo>>13&7)
	case opPopVLAN:
		return "pop_vlan"
	case opOutput:
		return strconv.FormatUint(uint64(o.port), 10)
	case opController:
		return fmt.Sprintf("userspace(controller(reason=%d))", ofReason(o.ctl.reason))
	case opCT:
		s := "ct(" + o.ct.text + ")"
		if s == "ct()" {
			s = "ct"
		}
		if o.ct.table != flow.TableNone {
			s += fmt.Sprintf(",recirc(table=%d)", o.ct.table)
		}
		return s
	case opCTClear:
		return "ct_clear"
	case opMeter:
		return fmt.Sprintf("meter(%d)", o.port)
	}
	return fmt.Sprintf("op(%d)", o.kind)
}

// formatFieldValue prints a field value the way ovs-ofctl does for the common kinds.
func formatFieldValue(f flow.Field, hi, lo uint64) string {
	switch f {
	case flow.FieldEthSrc, flow.FieldEthDst, flow.FieldArpSha, flow.FieldArpTha, flow.FieldNdSll, flow.FieldNdTll:
		return formatMAC(lo)
	case flow.FieldNwSrc, flow.FieldNwDst, flow.FieldArpSpa, flow.FieldArpTpa, flow.FieldTunSrc, flow.FieldTunDst,
		flow.FieldCtNwSrc, flow.FieldCtNwDst:
		return netip.AddrFrom4([4]byte{byte(lo >> 24), byte(lo >> 16), byte(lo >> 8), byte(lo)}).String()
	case flow.FieldIPv6Src, flow.FieldIPv6Dst, flow.FieldNdTarget:
		var b [16]byte
		for i := range 8 {
			b[i] = byte(hi >> (56 - 8*i))
			b[8+i] = byte(lo >> (56 - 8*i))
		}
		return netip.AddrFrom16(b).String()
	}
	if f.Width() > 64 {
		return fmt.Sprintf("%#x%016x", hi, lo)
	}
	return strconv.FormatUint(lo, 10)
}

func formatMAC(v uint64) string {
	var sb strings.Builder
	for i := 5; i >= 0; i-- {
		fmt.Fprintf(&sb, "%02x", byte(v>>(8*i)))
		if i > 0 {
			sb.WriteByte(':')
		}
	}
	return sb.String()
}

// ctText renders a resolved ct action as OVS prints the datapath ct action:
// "commit,zone=5,mark=0x1/0xffffffff,label=0x10,nat(dst=10.1.1.1:8080)".
func ctText(a *conntrack.Action, n *flow.NAT) string {
	var parts []string
	switch {
	case a.Force:
		parts = append(parts, "force_commit")
	case a.Commit:
		parts = append(parts, "commit")
	}
	if a.Zone != 0 {
		parts = append(parts, fmt.Sprintf("zone=%d", a.Zone))
	}
	if a.MarkMask != 0 {
		parts = append(parts, fmt.Sprintf("mark=%#x/%#x", a.Mark, a.MarkMask))
	}
	if a.LabelMask != (conntrack.Label{}) {
		v := formatU128(a.Label.Hi, a.Label.Lo)
		if a.LabelMask != (conntrack.Label{Hi: ^uint64(0), Lo: ^uint64(0)}) {
			v += "/" + formatU128(a.LabelMask.Hi, a.LabelMask.Lo)
		}
		parts = append(parts, "label="+v)
	}
	if n != nil {
		parts = append(parts, natText(n))
	}
	return strings.Join(parts, ",")
}

func formatU128(hi, lo uint64) string {
	if hi == 0 {
		return fmt.Sprintf("%#x", lo)
	}
	return fmt.Sprintf("%#x%016x", hi, lo)
}

// natText renders nat(...) as OVS's datapath action does: "nat(src=10.0.0.1-10.0.0.5:1000-2000,
// random)", IPv6 addresses in brackets.
func natText(n *flow.NAT) string {
	if !n.Src && !n.Dst {
		return "nat"
	}
	var sb strings.Builder
	if n.Src {
		sb.WriteString("nat(src")
	} else {
		sb.WriteString("nat(dst")
	}
	if n.MinAddr.IsValid() {
		sb.WriteByte('=')
		addr := func(a netip.Addr) string {
			if a.Is6() {
				return "[" + a.String() + "]"
			}
			return a.String()
		}
		sb.WriteString(addr(n.MinAddr))
		if n.MaxAddr.IsValid() && n.MaxAddr != n.MinAddr {
			sb.WriteString("-" + addr(n.MaxAddr))
		}
		if n.MinPort != 0 {
			fmt.Fprintf(&sb, ":%d", n.MinPort)
			if n.MaxPort != 0 && n.MaxPort != n.MinPort {
				fmt.Fprintf(&sb, "-%d", n.MaxPort)
			}
		}
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{n.Hash, "hash"}, {n.Random, "random"}, {n.Persistent, "persistent"}} {
		if f.on {
			sb.WriteString("," + f.name)
		}
	}
	sb.WriteByte(')')
	return sb.String()
}

// conntrackNAT converts flow's nat() to the tracker's.
func conntrackNAT(n *flow.NAT) conntrack.NAT {
	if n == nil {
		return conntrack.NAT{}
	}
	c := conntrack.NAT{Kind: conntrack.NATReverse, MinAddr: n.MinAddr, MaxAddr: n.MaxAddr,
		MinPort: n.MinPort, MaxPort: n.MaxPort, Persistent: n.Persistent, Random: n.Random}
	switch {
	case n.Src:
		c.Kind = conntrack.NATSrc
	case n.Dst:
		c.Kind = conntrack.NATDst
	}
	if !c.MaxAddr.IsValid() {
		c.MaxAddr = c.MinAddr
	}
	if c.MaxPort == 0 {
		c.MaxPort = c.MinPort
	}
	return c
}
