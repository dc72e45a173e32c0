package openflow

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

type fieldCase struct {
	name  string
	pre   func(m *flow.Match) // prerequisites
	field flow.Field
	v, m  uint64 // value and mask (for 128-bit fields: the low halves)
	hi    uint64 // high halves of 128-bit value and mask
	mhi   uint64
	ovs   string // what ovs-ofctl prints for the field
}

func ipv4(m *flow.Match)  { m.Set(flow.FieldEthType, 0x0800, 0xffff) }
func ipv6(m *flow.Match)  { m.Set(flow.FieldEthType, 0x86dd, 0xffff) }
func arp(m *flow.Match)   { m.Set(flow.FieldEthType, 0x0806, 0xffff) }
func tcp(m *flow.Match)   { ipv4(m); m.Set(flow.FieldNwProto, 6, 0xff) }
func udp(m *flow.Match)   { ipv4(m); m.Set(flow.FieldNwProto, 17, 0xff) }
func sctp(m *flow.Match)  { ipv4(m); m.Set(flow.FieldNwProto, 132, 0xff) }
func icmp4(m *flow.Match) { ipv4(m); m.Set(flow.FieldNwProto, 1, 0xff) }
func icmp6(m *flow.Match) { ipv6(m); m.Set(flow.FieldNwProto, 58, 0xff) }
func ns(m *flow.Match) {
	icmp6(m)
	m.Set(flow.FieldIcmpType, 135, 0xffff)
	m.Set(flow.FieldIcmpCode, 0, 0xffff)
}
func na(m *flow.Match) {
	icmp6(m)
	m.Set(flow.FieldIcmpType, 136, 0xffff)
	m.Set(flow.FieldIcmpCode, 0, 0xffff)
}
func none(*flow.Match) {}

// tracked is the prerequisite of the ct_nw_*/ct_tp_* fields: ct_state=+trk-inv.
func tracked(m *flow.Match)    { ipv4(m); m.Set(flow.FieldCtState, 0x20, 0x30) }
func trackedTCP(m *flow.Match) { tracked(m); m.Set(flow.FieldCtNwProto, 6, 0xff) }

var all32 = uint64(0xffffffff)

// fieldCases covers every flow.Field with a value and, where OpenFlow allows it, a mask.
var fieldCases = []fieldCase{
	{"in_port", none, flow.FieldInPort, 7, all32, 0, 0, "in_port=7"},
	{"pkt_mark", none, flow.FieldPktMark, 0x5, 0xff, 0, 0, "pkt_mark=0x5/0xff"},
	{"metadata", none, flow.FieldMetadata, 0x10, 0xf0, 0, 0, "metadata=0x10/0xf0"},
	{"reg0", none, flow.FieldReg0, 1, all32, 0, 0, "reg0=0x1"},
	{"reg1", none, flow.FieldReg1, 2, 0xf, 0, 0, "reg1=0x2/0xf"},
	{"reg2", none, flow.FieldReg2, 3, all32, 0, 0, "reg2=0x3"},
	{"reg3", none, flow.FieldReg3, 4, all32, 0, 0, "reg3=0x4"},
	{"reg4", none, flow.FieldReg4, 5, all32, 0, 0, "reg4=0x5"},
	{"reg5", none, flow.FieldReg5, 6, all32, 0, 0, "reg5=0x6"},
	{"reg6", none, flow.FieldReg6, 7, all32, 0, 0, "reg6=0x7"},
	{"reg7", none, flow.FieldReg7, 8, all32, 0, 0, "reg7=0x8"},
	{"reg8", none, flow.FieldReg8, 9, all32, 0, 0, "reg8=0x9"},
	{"reg9", none, flow.FieldReg9, 10, all32, 0, 0, "reg9=0xa"},
	{"reg10", none, flow.FieldReg10, 11, all32, 0, 0, "reg10=0xb"},
	{"reg11", none, flow.FieldReg11, 12, all32, 0, 0, "reg11=0xc"},
	{"reg12", none, flow.FieldReg12, 13, all32, 0, 0, "reg12=0xd"},
	{"reg13", none, flow.FieldReg13, 14, all32, 0, 0, "reg13=0xe"},
	{"reg14", none, flow.FieldReg14, 15, all32, 0, 0, "reg14=0xf"},
	{"reg15", none, flow.FieldReg15, 16, 0x10, 0, 0, "reg15=0x10/0x10"},
	{"xreg0", none, flow.FieldXReg0, 0x100000002, ^uint64(0), 0, 0, "reg0=0x1,reg1=0x2"},
	{"xreg1", none, flow.FieldXReg1, 1, ^uint64(0), 0, 0, "reg2=0,reg3=0x1"},
	{"xreg2", none, flow.FieldXReg2, 1, 1, 0, 0, "reg5=0x1/0x1"},
	{"xreg3", none, flow.FieldXReg3, 1 << 32, 1 << 32, 0, 0, "reg6=0x1/0x1"},
	{"xreg4", none, flow.FieldXReg4, 1, 1, 0, 0, "reg9=0x1/0x1"},
	{"xreg5", none, flow.FieldXReg5, 1, 1, 0, 0, "reg11=0x1/0x1"},
	{"xreg6", none, flow.FieldXReg6, 1, 1, 0, 0, "reg13=0x1/0x1"},
	{"xreg7", none, flow.FieldXReg7, 1, 1, 0, 0, "reg15=0x1/0x1"},
	{"xxreg0", none, flow.FieldXXReg0, 1, 1, 1, 1, "reg1=0x1/0x1,reg3=0x1/0x1"},
	{"xxreg1", none, flow.FieldXXReg1, 1, 1, 0, 0, "reg7=0x1/0x1"},
	{"xxreg2", none, flow.FieldXXReg2, 1, 1, 0, 0, "reg11=0x1/0x1"},
	{"xxreg3", none, flow.FieldXXReg3, 1, 1, 0, 0, "reg15=0x1/0x1"},
	{"tun_id", none, flow.FieldTunID, 0x55, ^uint64(0), 0, 0, "tun_id=0x55"},
	{"tun_src", none, flow.FieldTunSrc, 0xc0000201, all32, 0, 0, "tun_src=192.0.2.1"},
	{"tun_dst", none, flow.FieldTunDst, 0xc0000200, 0xffffff00, 0, 0, "tun_dst=192.0.2.0/24"},
	{"ct_state", none, flow.FieldCtState, 0x22, 0x23, 0, 0, "ct_state=-new+est+trk"},
	{"ct_zone", none, flow.FieldCtZone, 9, 0xffff, 0, 0, "ct_zone=9"},
	{"ct_nw_proto", tracked, flow.FieldCtNwProto, 17, 0xff, 0, 0, "ct_nw_proto=17"},
	{"ct_mark", none, flow.FieldCtMark, 1, 3, 0, 0, "ct_mark=0x1/0x3"},
	{"conj_id", none, flow.FieldConjID, 42, all32, 0, 0, "conj_id=42"},
	{"ct_label", none, flow.FieldCtLabel, 1, 1, 1 << 63, 1 << 63, "ct_label=0x80000000000000000000000000000001/0x80000000000000000000000000000001"},
	{"ct_nw_src", tracked, flow.FieldCtNwSrc, 0x0a000001, all32, 0, 0, "ct_nw_src=10.0.0.1"},
	{"ct_nw_dst", tracked, flow.FieldCtNwDst, 0x0a000000, 0xff000000, 0, 0, "ct_nw_dst=10.0.0.0/8"},
	{"ct_tp_src", trackedTCP, flow.FieldCtTpSrc, 80, 0xffff, 0, 0, "ct_tp_src=80"},
	{"ct_tp_dst", trackedTCP, flow.FieldCtTpDst, 0x400, 0xfc00, 0, 0, "ct_tp_dst=0x400/0xfc00"},
	{"dl_type", none, flow.FieldEthType, 0x88cc, 0xffff, 0, 0, "dl_type=0x88cc"},
	{"vlan_tci", none, flow.FieldVLANTCI, 0x100a, 0x1fff, 0, 0, "dl_vlan=10"},
	{"vlan_vid", none, flow.FieldVLANVID, 0x1000, 0x1000, 0, 0, "vlan_tci=0x1000/0x1000"},
	{"vlan_pcp", func(m *flow.Match) { m.Set(flow.FieldVLANVID, 0x1005, 0x1fff) }, flow.FieldVLANPCP, 5, 7, 0, 0, "dl_vlan_pcp=5"},
	{"dl_src", none, flow.FieldEthSrc, 0x001122334455, 0xffffffffffff, 0, 0, "dl_src=00:11:22:33:44:55"},
	{"nw_proto", ipv4, flow.FieldNwProto, 47, 0xff, 0, 0, "nw_proto=47"},
	{"nw_tos", ipv4, flow.FieldNwTOS, 0x21, 0xff, 0, 0, "nw_tos=32,nw_ecn=1"},
	{"ip_dscp", ipv6, flow.FieldIPDSCP, 46, 0x3f, 0, 0, "nw_tos=184"},
	{"nw_ecn", ipv4, flow.FieldNwECN, 2, 3, 0, 0, "nw_ecn=2"},
	{"dl_dst", none, flow.FieldEthDst, 0x010000000000, 0x010000000000, 0, 0, "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"},
	{"nw_ttl", ipv4, flow.FieldNwTTL, 1, 0xff, 0, 0, "nw_ttl=1"},
	{"nw_frag", ipv4, flow.FieldNwFrag, 1, 3, 0, 0, "nw_frag=first"},
	{"nw_src", ipv4, flow.FieldNwSrc, 0xc0000201, all32, 0, 0, "nw_src=192.0.2.1"},
	{"nw_dst", ipv4, flow.FieldNwDst, 0xc6336400, 0xffffff00, 0, 0, "nw_dst=198.51.100.0/24"},
	{"tcp_src", tcp, flow.FieldTpSrc, 22, 0xffff, 0, 0, "tp_src=22"},
	{"tcp_dst", tcp, flow.FieldTpDst, 0x1000, 0xf000, 0, 0, "tp_dst=0x1000/0xf000"},
	{"udp_src", udp, flow.FieldTpSrc, 53, 0xffff, 0, 0, "udp,tp_src=53"},
	{"sctp_dst", sctp, flow.FieldTpDst, 9, 0xffff, 0, 0, "sctp,tp_dst=9"},
	{"tcp_flags", tcp, flow.FieldTCPFlags, 0x002, 0x012, 0, 0, "tcp_flags=+syn-ack"},
	{"ipv6_src", ipv6, flow.FieldIPv6Src, 1, ^uint64(0), 0x20010db800000000, ^uint64(0), "ipv6_src=2001:db8::1"},
	{"ipv6_dst", ipv6, flow.FieldIPv6Dst, 0, 0, 0x20010db800000000, ^uint64(0), "ipv6_dst=2001:db8::/64"},
	{"ipv6_label", ipv6, flow.FieldIPv6Label, 0x12345, 0xfffff, 0, 0, "ipv6_label=0x12345"},
	{"tcp_src view", tcp, flow.FieldTCPSrc, 1, 0xffff, 0, 0, "tcp,tp_src=1"},
	{"tcp_dst view", tcp, flow.FieldTCPDst, 2, 0xffff, 0, 0, "tcp,tp_dst=2"},
	{"udp_src view", udp, flow.FieldUDPSrc, 3, 0xffff, 0, 0, "udp,tp_src=3"},
	{"udp_dst view", udp, flow.FieldUDPDst, 0x10, 0xfff0, 0, 0, "udp,tp_dst=0x10/0xfff0"},
	{"sctp_src view", sctp, flow.FieldSCTPSrc, 5, 0xffff, 0, 0, "sctp,tp_src=5"},
	{"sctp_dst view", sctp, flow.FieldSCTPDst, 6, 0xffff, 0, 0, "sctp,tp_dst=6"},
	{"icmpv6_type view", icmp6, flow.FieldIcmpv6Type, 129, 0xffff, 0, 0, "icmp6,icmp_type=129"},
	{"icmpv6_code view", icmp6, flow.FieldIcmpv6Code, 1, 0xffff, 0, 0, "icmp6,icmp_code=1"},
	{"arp_op", arp, flow.FieldArpOp, 2, 0xff, 0, 0, "arp_op=2"},
	{"arp_spa", arp, flow.FieldArpSpa, 0x0a000001, all32, 0, 0, "arp_spa=10.0.0.1"},
	{"arp_tpa", arp, flow.FieldArpTpa, 0x0a000000, 0xffffff00, 0, 0, "arp_tpa=10.0.0.0/24"},
	{"arp_sha", arp, flow.FieldArpSha, 0x001122334455, 0xffffffffffff, 0, 0, "arp_sha=00:11:22:33:44:55"},
	{"arp_tha", arp, flow.FieldArpTha, 0x0000000000ff, 0xffffffffffff, 0, 0, "arp_tha=00:00:00:00:00:ff"},
	{"icmp_type", icmp4, flow.FieldIcmpType, 8, 0xffff, 0, 0, "icmp_type=8"},
	{"icmp_code", icmp4, flow.FieldIcmpCode, 3, 0xffff, 0, 0, "icmp_code=3"},
	{"icmpv6_type", icmp6, flow.FieldIcmpType, 128, 0xffff, 0, 0, "icmp6,icmp_type=128"},
	{"nd_target", ns, flow.FieldNdTarget, 2, ^uint64(0), 0x20010db800000000, ^uint64(0), "nd_target=2001:db8::2"},
	{"nd_sll", ns, flow.FieldNdSll, 0x001122334455, 0xffffffffffff, 0, 0, "nd_sll=00:11:22:33:44:55"},
	{"nd_tll", na, flow.FieldNdTll, 0x001122334466, 0xffffffffffff, 0, 0, "nd_tll=00:11:22:33:44:66"},
}

// TestMatchEveryField encodes a match on each field, decodes it back, and has OVS print it.
func TestMatchEveryField(t *testing.T) {
	covered := map[flow.Field]bool{}
	for _, tc := range fieldCases {
		covered[tc.field] = true
		t.Run(tc.name, func(t *testing.T) {
			var m flow.Match
			tc.pre(&m)
			if tc.field.Info().Bits == 128 {
				m.Set128(tc.field, tc.hi, tc.v, tc.mhi, tc.m)
			} else {
				m.Set(tc.field, tc.v, tc.m)
			}
			b, err := AppendMatch(nil, &m)
			if err != nil {
				t.Fatalf("AppendMatch: %v", err)
			}
			if len(b)%8 != 0 {
				t.Errorf("ofp_match of %d bytes is not padded to 8", len(b))
			}
			got, n, err := UnmarshalMatch(b)
			if err != nil {
				t.Fatalf("UnmarshalMatch: %v", err)
			}
			if n != len(b) || got != m {
				t.Errorf("decoded %d of %d bytes\n got %+v\nwant %+v", n, len(b), got, m)
			}
			fm := NewFlowMod(FlowAdd)
			fm.Match = m
			out, ok := ofpPrint(t, mustMarshal(t, 1, fm))
			if ok && (!strings.Contains(out, tc.ovs) || strings.Contains(out, "***")) {
				t.Errorf("ofp-print lacks %q:\n%s", tc.ovs, out)
			}
		})
	}
	for f := flow.Field(0); f < flow.NumFields; f++ {
		if !covered[f] {
			t.Errorf("field %v has no case", f)
		}
	}
}

// TestMatchMissingPrerequisite checks that a field OVS cannot express without its
// prerequisites is refused rather than silently dropped.
func TestMatchMissingPrerequisite(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(m *flow.Match)
	}{
		{"tp_dst without nw_proto", func(m *flow.Match) { ipv4(m); m.Set(flow.FieldTpDst, 80, 0xffff) }},
		{"nw_src without dl_type", func(m *flow.Match) { m.Set(flow.FieldNwSrc, 1, all32) }},
		{"tp_src for GRE", func(m *flow.Match) { ipv4(m); m.Set(flow.FieldNwProto, 47, 0xff); m.Set(flow.FieldTpSrc, 1, 0xffff) }},
		{"icmp_type masked", func(m *flow.Match) { icmp4(m); m.Set(flow.FieldIcmpType, 8, 0xf) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m flow.Match
			tc.set(&m)
			if _, err := AppendMatch(nil, &m); !errors.Is(err, ErrBadMatch) {
				t.Errorf("AppendMatch error = %v, want ErrBadMatch", err)
			}
		})
	}
}

func TestMatchDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		hex  []byte
		want error
	}{
		{"unknown field", []byte{0, 1, 0, 12, 0x80, 0x00, 0xfe, 4, 0, 0, 0, 1, 0, 0, 0, 0}, ErrBadField},
		{"bad payload length", []byte{0, 1, 0, 11, 0x80, 0x00, 0x00, 3, 0, 0, 1, 0, 0, 0, 0, 0}, ErrBadLength},
		{"mask on in_port", []byte{0, 1, 0, 16, 0x80, 0x00, 0x01, 8, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}, ErrBadMatch},
		{"duplicate field", []byte{0, 1, 0, 20, 0x80, 0x00, 0x00, 4, 0, 0, 0, 1, 0x80, 0x00, 0x00, 4, 0, 0, 0, 2, 0, 0, 0, 0}, ErrBadMatch},
		{"match longer than message", []byte{0, 1, 0, 40, 0x80, 0x00, 0x00, 4, 0, 0, 0, 1}, ErrBadLength},
		{"match type standard", []byte{0, 0, 0, 8, 0, 0, 0, 0}, ErrBadMatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := UnmarshalMatch(tc.hex); !errors.Is(err, tc.want) {
				t.Errorf("UnmarshalMatch error = %v, want %v", err, tc.want)
			}
		})
	}
}
