package flow

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// rejectTests are flows ParseFlow must refuse, with the text the error must contain.
// stricter marks the few that ovs-ofctl accepts (it silently drops a match field whose
// prerequisite is missing, and allows output:0); TestPrivilegedRejectsLikeOVS checks that OVS
// refuses all the others too.
var rejectTests = []struct {
	name, flow, want string
	stricter         bool
}{
	{"set_field needs the field's prerequisite", "actions=set_field:10.0.0.1->nw_dst", "field ip_dst requires ip (dl_type=0x0800)", false},
	{"mod_tp_dst needs an L4 protocol", "ip,actions=mod_tp_dst:80", "field tp_dst requires tcp, udp or sctp", false},
	{"move source needs its prerequisite", "actions=move:NXM_OF_IP_SRC[]->NXM_NX_REG0[]", "field ip_src requires ip", false},
	{"nw_src needs ip or arp", "nw_src=10.0.0.1,actions=drop", "nw_src requires ip (dl_type=0x0800) or arp", true},
	{"tp_dst needs tcp/udp/sctp", "tp_dst=80,actions=drop", "tp_dst requires tcp, udp, sctp or icmp", true},
	{"ip,tp_dst needs nw_proto", "ip,tp_dst=80,actions=drop", "tp_dst requires tcp", true},
	{"ipv6_src needs ipv6", "ip,ipv6_src=fd00::1,actions=drop", "ipv6_src requires ipv6", true},
	{"tcp_flags needs tcp", "udp,tcp_flags=+syn,actions=drop", "tcp_flags requires tcp", true},
	{"nd_target needs icmp6 ND", "icmp6,nd_target=fd00::1,actions=drop", "nd_target requires icmp6 with icmp_type=135 or 136", true},
	{"ct_nw_src needs a valid connection", "ip,ct_state=+trk,ct_nw_src=10.0.0.1,actions=drop", "ct_nw_src requires ip and a tracked, valid connection", false},
	{"ct_tp_dst needs ct_nw_proto", "ip,ct_state=+est+trk,ct_tp_dst=80,actions=drop", "ct_tp_dst requires ct_nw_proto", true},
	{"goto_table backwards", "table=3,actions=goto_table:2", "goto_table:2 does not move forward from table 3", false},
	{"goto_table to itself", "table=3,actions=goto_table:3", "goto_table:3 does not move forward from table 3", false},
	{"set_field value outside its mask", "actions=set_field:0xff/0xf0->reg0", "value has bits outside its mask", false},
	{"masked match on a field OVS cannot mask", "ip,nw_ttl=5/0xf,actions=drop", "field nw_ttl does not support masking", false},
	{"masked icmp_type", "icmp,icmp_type=0x8/0xf,actions=drop", "does not support masking", false},
	{"no-VLAN match with VID bits", "vlan_tci=0x0005/0xffff,actions=drop", "cannot match VID or PCP bits", false},
	{"bad CIDR", "ip,nw_src=10.0.0.1/33,actions=drop", "IPv4 network prefix bits not between 0 and 32", false},
	{"load beyond a field's width", "actions=load:1->reg0[32]", "starting bit 32 is not valid because field is only 32 bits wide", false},
	{"load value wider than the subfield", "actions=load:0x1ff->reg0[0..7]", "does not fit into 8 bits", false},
	{"move width mismatch", "actions=move:reg0[0..15]->reg1[0..7]", "source field is 16 bits wide but destination is 8 bits wide", false},
	{"move into a read-only field", "actions=move:reg0[]->NXM_NX_CT_STATE[]", "read-only", false},
	{"output to port 0", "actions=output:0", "output to port 0 is not allowed", true},
	{"output to an unsupported port number", "actions=output:65280", "outside the supported range", false},
	{"conjunction with one clause", "ip,actions=conjunction(1,1/1)", "conjunction must have at least 2 clauses", false},
	{"conjunction clause beyond n", "ip,actions=conjunction(1,3/2)", "clause index must be positive", false},
	{"conjunction with another action", "ip,actions=conjunction(1,1/2),output:1", "\"conjunction\" actions may be used along with \"note\"", false},
	{"drop with another action", "actions=drop,output:1", "\"drop\" must not be accompanied", false},
	{"meter after an action", "actions=output:1,meter:1", "meter must appear before apply_actions", false},
	{"clear_actions after write_actions", "actions=write_actions(output:1),clear_actions", "clear_actions must appear before write_actions", false},
	{"apply_actions spelled out", "actions=apply_actions(output:1)", "apply_actions is the default instruction", false},
	{"no actions", "ip,nw_src=10.0.0.1", "must specify an action", false},
	{"cookie mask in an addition", "cookie=0x1/-1,actions=drop", "flow additions cannot use a cookie mask", false},
	{"resubmit with neither port nor table", "actions=resubmit(,)", "at least one \"in_port\" or \"table\"", false},
	{"resubmit to table 255", "actions=resubmit(,255)", "resubmit to unknown table", false},
	{"resubmit ct without tracked state", "ip,actions=resubmit(,1,ct)", "resubmit(,1,ct) requires a tracked, valid connection", false},
	{"ct without ip", "actions=ct(commit)", "ct requires ip or ipv6", false},
	{"ct nat without commit", "ip,actions=ct(nat(dst=10.0.0.1))", "nat with src or dst requires commit", false},
	{"ct exec without commit", "ip,actions=ct(exec(set_field:1->ct_mark))", "exec requires commit", false},
	{"ct exec on another field", "ip,actions=ct(commit,exec(set_field:1->reg0))", "only set_field, load or move into ct_mark and ct_label", false},
	{"ct zone from a field that is not 16 bits", "ip,actions=ct(zone=NXM_NX_REG0[0..7])", "zone field must be 16 bits wide", false},
	{"ct alg ftp needs tcp", "udp,actions=ct(commit,alg=ftp)", "alg=ftp requires tcp", false},
	{"nat address family differs", "ipv6,actions=ct(commit,nat(dst=10.0.0.1))", "nat address family differs", false},
	{"dec_ttl needs ip", "actions=dec_ttl", "dec_ttl requires ip or ipv6", false},
	{"pop_vlan needs a VLAN", "actions=pop_vlan", "pop_vlan requires a VLAN header", false},
	{"set vlan_vid needs a VLAN", "actions=set_field:4101->vlan_vid", "requires a VLAN header", false},
	{"set_vlan_vid does not push", "actions=set_vlan_vid:5", "requires a VLAN header", false},
	{"learn source without prerequisite", "actions=learn(table=1,NXM_OF_IP_SRC[])", "field ip_src requires ip", false},
	{"learned match without its prerequisite", "ip,actions=learn(table=1,NXM_OF_IP_SRC[])", "the learned flow matches ip_src without ip", false},
	{"learn shorthand", "actions=learn(table=1,ip)", "unknown keyword ip", false},
	{"learn result_dst wider than a bit", "actions=learn(table=1,result_dst=reg0[0..1])", "must be a single bit", false},
	{"unknown match field", "foo=1,actions=drop", "unknown keyword foo", false},
	{"unknown action", "actions=frobnicate", "unknown action frobnicate", false},
	{"unknown field in set_field", "actions=set_field:1->nope", "unknown field nope", false},
	{"read-only set_field", "actions=set_field:1->ct_state", "ct_state is read-only", false},
	{"table 254 is OVS's", "table=254,actions=drop", "table 254 is reserved", false},
	{"value too wide for the field", "reg0=0x100000000,actions=drop", "does not fit in the field's 32 bits", false},
	{"unbalanced parentheses", "ip,actions=ct(commit", "unbalanced parentheses", true},
	{"ct_state flag typo", "ct_state=+nwe,actions=drop", "nwe: unknown ct_state flag", false},
	{"ct_state flag twice", "ct_state=+new+new,actions=drop", "can be specified only once", false},
	{"priority too large", "priority=65536,actions=drop", "priority", false},
	{"push_vlan with a bad ethertype", "actions=push_vlan:0x800", "not a valid VLAN ethertype", false},
}

// TestParseRejects checks that inconsistent or malformed flows are rejected, and that the
// error names the flow and the problem.
func TestParseRejects(t *testing.T) {
	for _, tt := range rejectTests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFlow(tt.flow)
			if err == nil {
				t.Fatalf("ParseFlow(%q) = %v, want an error containing %q", tt.flow, f, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseFlow(%q) error = %q, want it to contain %q", tt.flow, err, tt.want)
			}
			if !strings.Contains(err.Error(), "flow \""+tt.flow+"\"") {
				t.Errorf("error %q does not name the flow", err)
			}
		})
	}
}

// TestParseModel checks the values the parser produces for the forms the executor and codec
// rely on.
func TestParseModel(t *testing.T) {
	mustParse := func(t *testing.T, s string) *Flow {
		t.Helper()
		f, err := ParseFlow(s)
		if err != nil {
			t.Fatalf("ParseFlow(%q): %v", s, err)
		}
		return f
	}
	t.Run("defaults", func(t *testing.T) {
		f := mustParse(t, "actions=drop")
		if f.Priority != DefaultPriority || f.Table != 0 || len(f.Instructions.Apply) != 0 {
			t.Errorf("got table %d priority %d apply %v, want 0, %d, none", f.Table, f.Priority, f.Instructions.Apply, DefaultPriority)
		}
	})
	t.Run("load is a masked set_field", func(t *testing.T) {
		f := mustParse(t, "actions=load:0x1->NXM_NX_REG0[0..15],load:1->reg0[3]")
		want := []Action{
			&SetField{Field: FieldReg0, Value: Value{Lo: 1}, Mask: Value{Lo: 0xffff}},
			&SetField{Field: FieldReg0, Value: Value{Lo: 8}, Mask: Value{Lo: 8}},
		}
		if !reflect.DeepEqual(f.Instructions.Apply, want) {
			t.Errorf("got %v, want %v", f.Instructions.Apply, want)
		}
	})
	t.Run("match values and masks", func(t *testing.T) {
		f := mustParse(t, "tcp,nw_src=10.0.0.0/8,tp_dst=0x50/0xfff0,reg0=0x5/0xf,ct_state=+new-est+trk,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=drop")
		m := &f.Match
		checks := []struct {
			f         Field
			val, mask uint64
		}{
			{FieldEthType, 0x0800, 0xffff},
			{FieldNwProto, 6, 0xff},
			{FieldNwSrc, 0x0a000000, 0xff000000},
			{FieldTpDst, 0x50, 0xfff0},
			{FieldReg0, 5, 0xf},
			{FieldCtState, CtNew | CtTrk, CtNew | CtEst | CtTrk},
			{FieldEthDst, 0x010000000000, 0x010000000000},
		}
		for _, c := range checks {
			if v, mk := m.Key.Get(c.f), m.Mask.Get(c.f); v != c.val || mk != c.mask {
				t.Errorf("%s: got %#x/%#x, want %#x/%#x", c.f, v, mk, c.val, c.mask)
			}
		}
	})
	t.Run("xreg and xxreg views land on the 32-bit registers", func(t *testing.T) {
		f := mustParse(t, "xreg0=0x100000002,xxreg1=0x3,actions=drop")
		if got := f.Match.Key.Get(FieldReg0); got != 1 {
			t.Errorf("reg0 = %#x, want 1", got)
		}
		if got := f.Match.Key.Get(FieldReg1); got != 2 {
			t.Errorf("reg1 = %#x, want 2", got)
		}
		if got, mk := f.Match.Key.Get(FieldReg7), f.Match.Mask.Get(FieldReg7); got != 3 || mk != 0xffffffff {
			t.Errorf("reg7 = %#x/%#x, want 0x3/0xffffffff", got, mk)
		}
	})
	t.Run("ct with nat and exec", func(t *testing.T) {
		f := mustParse(t, "ip,actions=ct(commit,zone=NXM_NX_REG0[0..15],table=20,nat(dst=10.0.0.1-10.0.0.5:80-90,random),exec(set_field:0x1->ct_mark,load:0x5->NXM_NX_CT_LABEL[0..31]))")
		want := &CT{
			Commit:  true,
			ZoneSrc: Subfield{Field: FieldReg0, Ofs: 0, Bits: 16},
			Table:   20,
			NAT: &NAT{Dst: true, MinAddr: netip.MustParseAddr("10.0.0.1"), MaxAddr: netip.MustParseAddr("10.0.0.5"),
				MinPort: 80, MaxPort: 90, Random: true},
			Exec: []Action{
				&SetField{Field: FieldCtMark, Value: Value{Lo: 1}, Mask: Value{Lo: 0xffffffff}},
				&SetField{Field: FieldCtLabel, Value: Value{Lo: 5}, Mask: Value{Lo: 0xffffffff}},
			},
		}
		if !reflect.DeepEqual(f.Instructions.Apply, []Action{want}) {
			t.Errorf("got %#v, want %#v", f.Instructions.Apply[0], want)
		}
	})
	t.Run("instructions", func(t *testing.T) {
		f := mustParse(t, "table=1,actions=meter:3,output:1,clear_actions,write_actions(group:2),write_metadata:0x1/0xff,goto_table:5")
		ins := f.Instructions
		if !reflect.DeepEqual(ins.Apply, []Action{&Meter{MeterID: 3}, &Output{Port: 1}}) || !ins.ClearActions ||
			!reflect.DeepEqual(ins.Write, []Action{&Group{GroupID: 2}}) || !ins.HasWriteMetadata ||
			ins.WriteMetadata != 1 || ins.WriteMetadataMask != 0xff || !ins.HasGotoTable || ins.GotoTable != 5 {
			t.Errorf("got %+v", ins)
		}
	})
	t.Run("timeouts beyond 16 bits", func(t *testing.T) {
		f := mustParse(t, "idle_timeout=100000,hard_timeout=4000000000,ip,actions=learn(table=2,hard_timeout=86400,idle_timeout=70000,eth_type=0x800,NXM_OF_IP_SRC[])")
		l := f.Instructions.Apply[0].(*Learn)
		if f.IdleTimeout != 100000 || f.HardTimeout != 4000000000 || l.HardTimeout != 86400 || l.IdleTimeout != 70000 {
			t.Errorf("got flow %d/%d learn %d/%d, want 100000/4000000000 and 70000/86400", f.IdleTimeout, f.HardTimeout, l.IdleTimeout, l.HardTimeout)
		}
		if s := f.String(); !strings.Contains(s, "hard_timeout=4000000000") || !strings.Contains(s, "hard_timeout=86400") {
			t.Errorf("String() = %q lost a long timeout", s)
		}
	})
	t.Run("mod_tp_dst takes the match's protocol", func(t *testing.T) {
		f := mustParse(t, "udp,actions=mod_tp_dst:53")
		if sf := f.Instructions.Apply[0].(*SetField); sf.Field != FieldUDPDst {
			t.Errorf("field = %s, want udp_dst", sf.Field.OVSName())
		}
	})
	t.Run("controller forms", func(t *testing.T) {
		f := mustParse(t, "actions=controller,CONTROLLER:100,controller(reason=no_match,userdata=01.02,max_len=100)")
		want := []Action{
			&Output{Port: PortController, MaxLen: 65535},
			&Output{Port: PortController, MaxLen: 100},
			&Controller{MaxLen: 100, Reason: ReasonNoMatch, UserData: []byte{1, 2}},
		}
		if !reflect.DeepEqual(f.Instructions.Apply, want) {
			t.Errorf("got %v, want %v", f.Instructions.Apply, want)
		}
	})
}

// TestDumpLine checks that a dump-flows line with statistics parses and prints back.
func TestDumpLine(t *testing.T) {
	line := "cookie=0x5, duration=12.345s, table=3, n_packets=10, n_bytes=1200, idle_timeout=60, send_flow_rem idle_age=2, priority=100,ip,nw_src=10.0.0.1 actions=output:2"
	f, err := ParseFlow(line)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Packets: 10, Bytes: 1200, Duration: 12345 * time.Millisecond, IdleAge: 2, HardAge: -1, Valid: true}
	if f.Stats != want {
		t.Errorf("Stats = %+v, want %+v", f.Stats, want)
	}
	if got := f.DumpString(); got != line {
		t.Errorf("DumpString() = %q, want %q", got, line)
	}
	if got, want := f.String(), "cookie=0x5, table=3, idle_timeout=60, send_flow_rem priority=100,ip,nw_src=10.0.0.1 actions=output:2"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestFlowFilter checks del-flows style filters with a cookie mask.
func TestFlowFilter(t *testing.T) {
	f, err := ParseFlowFilter("table=2,cookie=0x15/-1,ip")
	if err != nil {
		t.Fatal(err)
	}
	if f.Cookie != 0x15 || f.CookieMask != ^uint64(0) || f.Table != 2 || f.Match.ethType() != EthTypeIPv4 {
		t.Errorf("got cookie %#x/%#x table %d dl_type %#x", f.Cookie, f.CookieMask, f.Table, f.Match.ethType())
	}
	if _, err := ParseFlowFilter("ip,actions=drop"); err == nil {
		t.Error("a filter with actions was accepted")
	}
}

// TestGroupRejects checks malformed groups.
func TestGroupRejects(t *testing.T) {
	tests := []struct{ group, want string }{
		{"type=all,bucket=actions=output:1", "must specify a group_id"},
		{"group_id=1,bucket=actions=output:1", "must specify a type"},
		{"group_id=1,type=all,selection_method=hash,bucket=actions=output:1", "only valid for select groups"},
		{"group_id=1,type=indirect,bucket=actions=output:1,bucket=actions=output:2", "exactly one bucket"},
		{"group_id=1,type=select,bucket=actions=output:0", "output to port 0"},
		{"group_id=1,type=bogus", "unknown group type"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := ParseGroup(tt.group)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseGroup(%q) error = %v, want %q", tt.group, err, tt.want)
			}
		})
	}
}

// TestMeterText checks meter parsing and printing.
func TestMeterText(t *testing.T) {
	m, err := ParseMeter("meter=2,pktps,burst,stats,band=type=drop,rate=100,burst_size=20")
	if err != nil {
		t.Fatal(err)
	}
	want := &MeterEntry{ID: 2, Flags: MeterPktps | MeterBurst | MeterStats, Bands: []MeterBand{{Type: BandDrop, Rate: 100, BurstSize: 20}}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %+v, want %+v", m, want)
	}
	if got := m.String(); got != "meter=2,pktps,burst,stats,band=type=drop,rate=100,burst_size=20" {
		t.Errorf("String() = %q", got)
	}
	if _, err := ParseMeter("meter=1,kbps,pktps,band=type=drop,rate=1"); err == nil {
		t.Error("kbps and pktps together were accepted")
	}
}
