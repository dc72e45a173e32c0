package classifier

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

// ovsChecked are flow sets and packets whose answers were taken from ovs-vswitchd 3.1
// (Debian's, netdev bridge): the flows loaded with `ovs-ofctl -O OpenFlow15 add-flows` in this
// order (plus `del-flows --strict` where a step says so), the packet traced with
// `ovs-appctl ofproto/trace br0 in_port=LOCAL,<packet>`, the answer being the cookie of the
// flow the trace shows (0 for "No match"). Flows are identified by cookie.
var ovsChecked = []struct {
	name   string
	flows  string
	delete string // strict delete (a flow's match and priority) before the trace, if any
	packet string
	want   uint64
}{
	{
		name: "second lookup returns the best ordinary flow with conj_id set",
		flows: `cookie=0x1,priority=10,conj_id=1234,actions=drop
			cookie=0x2,priority=100,ip,nw_src=0.0.0.4,actions=conjunction(1234,1/2)
			cookie=0x3,priority=100,ip,nw_dst=0.0.0.5,actions=conjunction(1234,2/2)
			cookie=0x4,priority=50,ip,actions=drop`,
		packet: "ip,nw_src=0.0.0.4,nw_dst=0.0.0.5", want: 0x4,
	},
	{
		name: "clause flow hides the same-match ordinary flow from the second lookup",
		flows: `cookie=0x2,priority=100,ip,nw_src=0.0.0.1,actions=conjunction(1,1/2)
			cookie=0x5,priority=50,ip,nw_src=0.0.0.1,actions=drop
			cookie=0x3,priority=100,ip,nw_dst=0.0.0.2,actions=conjunction(1,2/2)
			cookie=0x1,priority=10,conj_id=1,actions=drop`,
		packet: "ip,nw_src=0.0.0.1,nw_dst=0.0.0.2", want: 0x1,
	},
	{
		name: "same-match ordinary flow under an unfinished clause flow matches",
		flows: `cookie=0x2,priority=100,ip,nw_src=0.0.0.1,actions=conjunction(1,1/2)
			cookie=0x5,priority=50,ip,nw_src=0.0.0.1,actions=drop
			cookie=0x3,priority=100,ip,nw_dst=0.0.0.2,actions=conjunction(1,2/2)
			cookie=0x1,priority=10,conj_id=1,actions=drop`,
		packet: "ip,nw_src=0.0.0.1,nw_dst=0.0.0.3", want: 0x5,
	},
	{
		name: "one flow with both clauses does not match alone",
		flows: `cookie=0x2,priority=100,ip,nw_src=0.0.0.1,actions=conjunction(1,1/2),conjunction(1,2/2)
			cookie=0x1,priority=100,conj_id=1,actions=drop
			cookie=0x9,priority=1,actions=drop`,
		packet: "ip,nw_src=0.0.0.1,nw_dst=0.0.0.2", want: 0x9,
	},
	{
		name: "one flow with both clauses plus another clause-flow match",
		flows: `cookie=0x2,priority=100,ip,nw_src=0.0.0.1,actions=conjunction(1,1/2),conjunction(1,2/2)
			cookie=0x3,priority=100,ip,nw_dst=0.0.0.2,actions=conjunction(50,1/2)
			cookie=0x1,priority=100,conj_id=1,actions=drop
			cookie=0x9,priority=1,actions=drop`,
		packet: "ip,nw_src=0.0.0.1,nw_dst=0.0.0.2", want: 0x1,
	},
	{
		name:   "64-clause conjunction completes on one clause among 64 clause matches",
		flows:  sixtyFourClauses(64),
		packet: "ip", want: 0x7,
	},
	{
		name:   "63-clause conjunction does not",
		flows:  sixtyFourClauses(63),
		packet: "ip", want: 0x9,
	},
	{
		name: "completed conjunction without conj_id flow falls through",
		flows: `cookie=0x2,priority=100,ip,nw_src=0.0.0.4,actions=conjunction(1234,1/2)
			cookie=0x3,priority=100,ip,nw_dst=0.0.0.5,actions=conjunction(1234,2/2)
			cookie=0x4,priority=50,ip,actions=drop`,
		packet: "ip,nw_src=0.0.0.4,nw_dst=0.0.0.5", want: 0x4,
	},
	{
		name: "clauses at different priorities never complete",
		flows: `cookie=0x2,priority=100,ip,nw_src=0.0.0.1,actions=conjunction(9,1/2)
			cookie=0x3,priority=90,ip,nw_dst=0.0.0.2,actions=conjunction(9,2/2)
			cookie=0x1,priority=100,conj_id=9,actions=drop`,
		packet: "ip,nw_src=0.0.0.1,nw_dst=0.0.0.2", want: 0,
	},
	{
		name:   "overlapping conjunctions: src subtable first, 7 listed first",
		flows:  overlapping("src", "7,2/2),conjunction(8"),
		packet: "tcp,nw_src=0.0.0.1,nw_dst=0.0.0.2,tp_dst=80", want: 0x7,
	},
	{
		name:   "overlapping conjunctions: dst subtable first, 7 listed first",
		flows:  overlapping("dst", "7,2/2),conjunction(8"),
		packet: "tcp,nw_src=0.0.0.1,nw_dst=0.0.0.2,tp_dst=80", want: 0x8,
	},
	{
		name:   "overlapping conjunctions: src subtable first, 8 listed first",
		flows:  overlapping("src", "8,2/2),conjunction(7"),
		packet: "tcp,nw_src=0.0.0.1,nw_dst=0.0.0.2,tp_dst=80", want: 0x8,
	},
	{
		name:   "overlapping conjunctions: dst subtable first, 8 listed first",
		flows:  overlapping("dst", "8,2/2),conjunction(7"),
		packet: "tcp,nw_src=0.0.0.1,nw_dst=0.0.0.2,tp_dst=80", want: 0x8,
	},
	{
		name: "equal-priority tie: first subtable wins (src first)",
		flows: `cookie=0x1,priority=100,ip,nw_src=0.0.0.1,actions=drop
			cookie=0x2,priority=100,ip,nw_dst=0.0.0.2,actions=drop`,
		packet: "ip,nw_src=0.0.0.1,nw_dst=0.0.0.2", want: 0x1,
	},
	{
		name: "equal-priority tie: first subtable wins (dst first)",
		flows: `cookie=0x2,priority=100,ip,nw_dst=0.0.0.2,actions=drop
			cookie=0x1,priority=100,ip,nw_src=0.0.0.1,actions=drop`,
		packet: "ip,nw_src=0.0.0.1,nw_dst=0.0.0.2", want: 0x2,
	},
	{
		name: "equal-priority tie after the dst subtable is raised",
		flows: `cookie=0x1,priority=100,ip,nw_src=0.0.0.1,actions=drop
			cookie=0x3,priority=50,ip,nw_dst=0.0.0.9,actions=drop
			cookie=0x4,priority=200,ip,nw_src=0.0.0.9,actions=drop
			cookie=0x2,priority=100,ip,nw_dst=0.0.0.2,actions=drop`,
		packet: "ip,nw_src=0.0.0.1,nw_dst=0.0.0.2", want: 0x1,
	},
	{
		name: "equal-priority tie before a delete",
		flows: `cookie=0x1,priority=100,ip,nw_src=0.0.0.1,actions=drop
			cookie=0x2,priority=100,ip,nw_dst=0.0.0.2,actions=drop
			cookie=0x3,priority=100,ip,nw_src=0.0.0.1,nw_dst=0.0.0.2,actions=drop`,
		packet: "ip,nw_src=0.0.0.1,nw_dst=0.0.0.2", want: 0x1,
	},
	{
		name: "equal-priority tie after deleting the first subtable's flow: the last moves up",
		flows: `cookie=0x1,priority=100,ip,nw_src=0.0.0.1,actions=drop
			cookie=0x2,priority=100,ip,nw_dst=0.0.0.2,actions=drop
			cookie=0x3,priority=100,ip,nw_src=0.0.0.1,nw_dst=0.0.0.2,actions=drop`,
		delete: "priority=100,ip,nw_src=0.0.0.1",
		packet: "ip,nw_src=0.0.0.1,nw_dst=0.0.0.2", want: 0x3,
	},
	{
		name: "the first clause seen for an id fixes its n (n=2 seen first: completes)",
		flows: `cookie=0x11,priority=100,ip,nw_src=0.0.0.1,actions=conjunction(5,1/2)
			cookie=0x12,priority=100,ip,nw_dst=0.0.0.2,actions=conjunction(5,2/3)
			cookie=0x13,priority=100,tcp,tp_dst=80,actions=conjunction(99,1/2)
			cookie=0x5,priority=100,conj_id=5,actions=drop
			cookie=0x9,priority=1,actions=drop`,
		packet: "tcp,nw_src=0.0.0.1,nw_dst=0.0.0.2,tp_dst=80", want: 0x5,
	},
	{
		name: "the first clause seen for an id fixes its n (n=3 seen first: incomplete)",
		flows: `cookie=0x12,priority=100,ip,nw_dst=0.0.0.2,actions=conjunction(5,2/3)
			cookie=0x11,priority=100,ip,nw_src=0.0.0.1,actions=conjunction(5,1/2)
			cookie=0x13,priority=100,tcp,tp_dst=80,actions=conjunction(99,1/2)
			cookie=0x5,priority=100,conj_id=5,actions=drop
			cookie=0x9,priority=1,actions=drop`,
		packet: "tcp,nw_src=0.0.0.1,nw_dst=0.0.0.2,tp_dst=80", want: 0x9,
	},
	{
		name: "after a completion that finds nothing, the flow's later conjunctions are not counted",
		flows: `cookie=0x11,priority=100,ip,nw_src=0.0.0.1,actions=conjunction(1,1/2)
			cookie=0x12,priority=100,ip,nw_dst=0.0.0.2,actions=conjunction(1,2/2),conjunction(2,1/2)
			cookie=0x13,priority=100,tcp,tp_dst=80,actions=conjunction(2,2/2)
			cookie=0x2,priority=100,conj_id=2,actions=drop`,
		packet: "tcp,nw_src=0.0.0.1,nw_dst=0.0.0.2,tp_dst=80", want: 0,
	},
	{
		name: "the same with the flow's conjunctions listed the other way round",
		flows: `cookie=0x11,priority=100,ip,nw_src=0.0.0.1,actions=conjunction(1,1/2)
			cookie=0x12,priority=100,ip,nw_dst=0.0.0.2,actions=conjunction(2,1/2),conjunction(1,2/2)
			cookie=0x13,priority=100,tcp,tp_dst=80,actions=conjunction(2,2/2)
			cookie=0x2,priority=100,conj_id=2,actions=drop`,
		packet: "tcp,nw_src=0.0.0.1,nw_dst=0.0.0.2,tp_dst=80", want: 0x2,
	},
	{
		// With a catch-all flow added first, its subtable sorts last and is the one that moves
		// into the deleted subtable's place, so the order left is dst, both.
		name: "equal-priority tie after a delete, with a catch-all subtable",
		flows: `cookie=0x9,priority=0,actions=drop
			cookie=0x1,priority=100,ip,nw_src=0.0.0.1,actions=drop
			cookie=0x2,priority=100,ip,nw_dst=0.0.0.2,actions=drop
			cookie=0x3,priority=100,ip,nw_src=0.0.0.1,nw_dst=0.0.0.2,actions=drop`,
		delete: "priority=100,ip,nw_src=0.0.0.1",
		packet: "ip,nw_src=0.0.0.1,nw_dst=0.0.0.2", want: 0x2,
	},
}

// overlapping: conjunction 7 is src × dst, conjunction 8 is tp_dst × dst; the dst flow lists
// both, in the order given. first says whether the src or the dst flow is added first.
func overlapping(first, dstConj string) string {
	src := "cookie=0x11,priority=100,ip,nw_src=0.0.0.1,actions=conjunction(7,1/2)"
	port := "cookie=0x12,priority=100,tcp,tp_dst=80,actions=conjunction(8,1/2)"
	dst := "cookie=0x13,priority=100,ip,nw_dst=0.0.0.2,actions=conjunction(" + dstConj + ",2/2)"
	lines := []string{src, port, dst}
	if first == "dst" {
		lines = []string{dst, port, src}
	}
	lines = append(lines, "cookie=0x7,priority=100,conj_id=7,actions=drop", "cookie=0x8,priority=100,conj_id=8,actions=drop")
	return strings.Join(lines, "\n")
}

// sixtyFourClauses: 64 clause flows that all match (reg0/reg1 bit i is 0); the first is clause 5
// of an n-clause conjunction 7, the others clause 1 of conjunction 99.
func sixtyFourClauses(n int) string {
	var b strings.Builder
	for i := range 64 {
		reg := "reg0"
		if i >= 32 {
			reg = "reg1"
		}
		c := "conjunction(99,1/2)"
		if i == 0 {
			c = fmt.Sprintf("conjunction(7,5/%d)", n)
		}
		fmt.Fprintf(&b, "cookie=%#x,priority=100,%s=0/%#x,actions=%s\n", 0x100+i, reg, uint64(1)<<(i%32), c)
	}
	b.WriteString("cookie=0x7,priority=100,conj_id=7,actions=drop\ncookie=0x9,priority=1,actions=drop\n")
	return b.String()
}

func TestOVSChecked(t *testing.T) {
	for _, c := range ovsChecked {
		t.Run(c.name, func(t *testing.T) {
			ts := New[uint64](Options{})
			for _, line := range strings.Split(c.flows, "\n") {
				line = strings.TrimSpace(line)
				if line == "" {
					continue
				}
				f, err := flow.ParseFlow(line)
				if err != nil {
					t.Fatalf("parse %q: %v", line, err)
				}
				r := Rule[uint64]{Priority: f.Priority, Match: f.Match, Cookie: f.Cookie, Conj: f.Conjunctions(), Payload: f.Cookie}
				if _, err := ts.Insert(0, r); err != nil {
					t.Fatalf("insert %q: %v", line, err)
				}
			}
			if c.delete != "" {
				f, err := flow.ParseFlowFilter(c.delete)
				if err != nil {
					t.Fatalf("parse %q: %v", c.delete, err)
				}
				if got := ts.Delete(0, Filter{Match: f.Match, Priority: f.Priority, Strict: true}, nil); len(got) != 1 {
					t.Fatalf("strict delete removed %d flows, want 1", len(got))
				}
			}
			p, err := flow.ParseFlowFilter(c.packet)
			if err != nil {
				t.Fatalf("parse packet %q: %v", c.packet, err)
			}
			k := p.Match.Key
			var got uint64
			if r := ts.Load().Table(0).Lookup(&k, nil); r != nil {
				got = r.Payload
			}
			if got != c.want {
				t.Errorf("got cookie %#x, ovs-vswitchd says %#x", got, c.want)
			}
		})
	}
}
