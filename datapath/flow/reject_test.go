package flow_test

import (
	"strings"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
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
			f, err := flow.ParseFlow(tt.flow)
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
