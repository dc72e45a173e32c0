package flow

import (
	"reflect"
	"testing"
)

// withoutStats returns a copy of f without the statistics a dump line carries.
func withoutStats(f *Flow) *Flow {
	c := *f
	c.Stats = Stats{IdleAge: -1, HardAge: -1}
	return &c
}

// FuzzParseFlow checks that ParseFlow never panics and that whatever it accepts prints to text
// that parses back to the same flow (statistics aside) and prints identically again.
func FuzzParseFlow(f *testing.F) {
	for _, s := range []string{
		"table=0,priority=100,in_port=1,dl_src=00:00:00:00:00:01,actions=load:0x1->NXM_NX_REG0[0..15],goto_table:10",
		"table=10,tcp,nw_src=10.0.0.0/8,tp_dst=0x50/0xfff0,ct_state=+new-est+trk,actions=ct(commit,zone=NXM_NX_REG0[0..15],table=20,nat(dst=10.0.0.1-10.0.0.5:80-90,random),exec(set_field:0x1->ct_mark)),move:NXM_OF_IP_SRC[]->NXM_NX_REG1[],resubmit(,20)",
		"ip,actions=learn(table=50,idle_timeout=10,priority=10,eth_type=0x800,NXM_OF_IP_SRC[],load:NXM_NX_REG0[]->NXM_NX_REG1[],output:NXM_OF_IN_PORT[])",
		"ip,nw_src=10.0.0.1,actions=conjunction(1,1/2),conjunction(2,2/3)",
		"cookie=0x5, duration=1.5s, table=3, n_packets=1, n_bytes=2, priority=1,ipv6,ipv6_src=fd00::/64 actions=ct(commit,nat(src=[fd00::1]:80-88))",
		"actions=controller(reason=no_match,userdata=01.02,max_len=100),note:0102,group:1",
		"dl_vlan=5,actions=strip_vlan,push_vlan:0x8100,set_field:4196->vlan_vid",
		"icmp6,icmp_type=135,nd_target=fd00::1,nd_sll=00:00:00:00:00:01,actions=drop",
		"arp,arp_op=1,arp_tpa=10.10.1.1,actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:2->arp_op,IN_PORT",
		"table=1,actions=meter:1,clear_actions,write_actions(output:2),write_metadata:0x1/0xff,goto_table:2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := ParseFlow(s)
		if err != nil {
			return
		}
		text := fl.String()
		again, err := ParseFlow(text)
		if err != nil {
			t.Fatalf("accepted %q but not its printed form %q: %v", s, text, err)
		}
		if !reflect.DeepEqual(withoutStats(fl), withoutStats(again)) {
			t.Fatalf("%q: printed form %q parses to a different flow:\n got %#v\nwant %#v", s, text, again, fl)
		}
		if t2 := again.String(); t2 != text {
			t.Fatalf("%q: printing is not a fixed point: %q then %q", s, text, t2)
		}
		_ = fl.DumpString()
	})
}

// FuzzParseGroup does the same for groups.
func FuzzParseGroup(f *testing.F) {
	f.Add("group_id=1,type=select,selection_method=hash,fields(ip_src,tcp_dst),bucket=bucket_id:0,weight:10,actions=output:1,bucket=bucket_id:1,weight:20,actions=set_field:10.0.0.1->ip_dst,output:2")
	f.Add("group_id=6,type=ff,bucket=watch_port:1,actions=output:1,bucket=watch_port:2,actions=output:2")
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGroup(s)
		if err != nil {
			return
		}
		text := g.String()
		again, err := ParseGroup(text)
		if err != nil {
			t.Fatalf("accepted %q but not its printed form %q: %v", s, text, err)
		}
		if !reflect.DeepEqual(g, again) {
			t.Fatalf("%q: printed form %q parses to a different group:\n got %#v\nwant %#v", s, text, again, g)
		}
	})
}
