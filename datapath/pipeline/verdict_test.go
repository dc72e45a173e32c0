package pipeline

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicenet/sluice/datapath/conntrack"
	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/packet"
	"github.com/sluicenet/sluice/internal/ovstest"
)

// sluiceVerdict turns a pipeline run into the verdict form internal/ovstest derives from
// ofproto/trace, so the two compare as strings: outputs with the header fields that differ
// from the input frame (found by parsing the output frame), ct ops, packet-ins, errors.
func sluiceVerdict(in []byte, inPort uint32, tr *Trace, res *Result) *ovstest.Verdict {
	v := &ovstest.Verdict{}
	var inKey flow.Key
	var info packet.Info
	packet.Extract(in, inPort, &inKey, &info)
	for _, o := range res.Outputs {
		port := o.Port
		if port == flow.PortLocal {
			port = 65534
		}
		// The test switch's ports are plain dummy ports, not tunnel ports, and OVS drops
		// tunnel metadata on output to them; Sluice hands it to the port layer, so it is left
		// out of the comparison.
		v.Events = append(v.Events, ovstest.Event{Kind: ovstest.EventOutput, Port: port,
			Mods: frameMods(&inKey, o.Frame, inPort, o.PktMark, 0, 0, 0)})
	}
	for _, pi := range res.PacketIns {
		v.Events = append(v.Events, ovstest.Event{Kind: ovstest.EventController,
			Text: "reason=" + strconv.Itoa(ofReason(pi.Reason)), Mods: frameMods(&inKey, pi.Frame, inPort, 0, 0, 0, 0)})
	}
	for _, p := range tr.Passes {
		if p.Drop != DropNone {
			v.Events = append(v.Events, ovstest.Event{Kind: ovstest.EventError, Text: ovsError(p.Drop)})
		}
		for _, o := range p.Ops {
			if strings.HasPrefix(o, "ct") && !strings.HasPrefix(o, "ct_clear") {
				o, _, _ = strings.Cut(o, ",recirc(")
				if o == "ct" {
					v.Events = append(v.Events, ovstest.Event{Kind: ovstest.EventCT})
				} else {
					v.Events = append(v.Events, ovstest.Event{Kind: ovstest.EventCT, Text: strings.TrimSuffix(strings.TrimPrefix(o, "ct("), ")")})
				}
			} else if o == "ct_clear" || strings.HasPrefix(o, "meter(") {
				v.Events = append(v.Events, ovstest.Event{Kind: ovstest.EventOther, Text: o})
			}
		}
	}
	if res.Drop == DropRecircDepth {
		v.Events = append(v.Events, ovstest.Event{Kind: ovstest.EventError, Text: "recirculation too deep"})
	}
	return v
}

func ovsError(r DropReason) string {
	switch r {
	case DropRecursion:
		return "Recursion too deep"
	case DropTooManyResub:
		return "Too many resubmits"
	}
	return r.String()
}

var meterRE = regexp.MustCompile(`meter\(\d+\)`)

// canonical is Verdict.Canonical with what cannot match between the two switches removed:
// OVS prints its internal datapath meter ID.
func canonical(v *ovstest.Verdict) string {
	return meterRE.ReplaceAllString(v.Canonical(), "meter")
}

// frameMods lists the header fields of an output frame that differ from the input key, named
// and formatted as ovstest's verdict does.
func frameMods(in *flow.Key, frame []byte, inPort uint32, mark uint32, tunID uint64, tunSrc, tunDst uint32) []string {
	var out flow.Key
	var info packet.Info
	packet.Extract(frame, inPort, &out, &info)
	var mods []string
	et := in.Get(flow.FieldEthType)
	proto := in.Get(flow.FieldNwProto)
	ip := et == flow.EthTypeIPv4 || et == flow.EthTypeIPv6
	arp := et == flow.EthTypeARP || et == flow.EthTypeRARP
	icmp := ip && (proto == flow.IPProtoICMP || proto == flow.IPProtoICMPv6)
	type named struct {
		f    flow.Field
		name string
		on   bool
	}
	for _, n := range []named{
		{flow.FieldEthSrc, "dl_src", true}, {flow.FieldEthDst, "dl_dst", true},
		{flow.FieldNwSrc, "nw_src", et == flow.EthTypeIPv4}, {flow.FieldNwDst, "nw_dst", et == flow.EthTypeIPv4},
		{flow.FieldNwTOS, "nw_tos", ip}, {flow.FieldNwTTL, "nw_ttl", ip},
		{flow.FieldTpSrc, "tp_src", ip && !icmp}, {flow.FieldTpDst, "tp_dst", ip && !icmp},
		{flow.FieldIcmpType, "icmp_type", icmp}, {flow.FieldIcmpCode, "icmp_code", icmp},
		{flow.FieldArpSpa, "arp_spa", arp}, {flow.FieldArpTpa, "arp_tpa", arp}, {flow.FieldArpOp, "arp_op", arp},
		{flow.FieldArpSha, "arp_sha", arp}, {flow.FieldArpTha, "arp_tha", arp},
		{flow.FieldIPv6Label, "ipv6_label", et == flow.EthTypeIPv6},
	} {
		if n.on && in.Get(n.f) != out.Get(n.f) {
			mods = append(mods, n.name+"="+formatFieldValue(n.f, 0, out.Get(n.f)))
		}
	}
	if et == flow.EthTypeIPv6 {
		for _, n := range []named{{flow.FieldIPv6Src, "ipv6_src", true}, {flow.FieldIPv6Dst, "ipv6_dst", true}} {
			ih, il := in.Get128(n.f)
			oh, ol := out.Get128(n.f)
			if ih != oh || il != ol {
				mods = append(mods, n.name+"="+formatFieldValue(n.f, oh, ol))
			}
		}
	}
	if iv, ov := in.Get(flow.FieldVLANTCI), out.Get(flow.FieldVLANTCI); iv != ov {
		s := "none"
		if ov&vlanCFI != 0 {
			s = fmt.Sprintf("vid=%d,pcp=%d", ov&0xfff, ov>>13)
			if tpid := uint16(frame[12])<<8 | uint16(frame[13]); tpid != 0x8100 {
				s = fmt.Sprintf("tpid=%d,", tpid) + s
			}
		}
		mods = append(mods, "vlan="+s)
	}
	if mark != 0 {
		mods = append(mods, "pkt_mark="+strconv.FormatUint(uint64(mark), 10))
	}
	if tunID != 0 {
		mods = append(mods, "tun_id="+strconv.FormatUint(tunID, 10))
	}
	if tunSrc != 0 {
		mods = append(mods, "tun_src="+formatFieldValue(flow.FieldTunSrc, 0, uint64(tunSrc)))
	}
	if tunDst != 0 {
		mods = append(mods, "tun_dst="+formatFieldValue(flow.FieldTunDst, 0, uint64(tunDst)))
	}
	slices.Sort(mods)
	return mods
}

// ctNextArgs renders ct states as ofproto/trace's --ct-next flags ("trk,est").
func ctNextArgs(states []conntrack.State) []string {
	var out []string
	for _, s := range states {
		out = append(out, strings.Join(strings.FieldsFunc(s.String(), func(r rune) bool { return r == '+' }), ","))
	}
	return out
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
