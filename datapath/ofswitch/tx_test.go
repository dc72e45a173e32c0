package ofswitch_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/ofswitch"
	"github.com/sluicenet/sluice/datapath/openflow"
	"github.com/sluicenet/sluice/datapath/pipeline"
)

// groupMod returns a GROUP_MOD for an all group with one bucket to port.
func groupMod(t testing.TB, id, port uint32, cmd openflow.GroupModCommand) *openflow.GroupMod {
	t.Helper()
	g := &flow.GroupEntry{ID: id, Type: flow.GroupAll, Buckets: []flow.Bucket{{ID: flow.BucketIDNone, Actions: []flow.Action{&flow.Output{Port: port}}}}}
	m, err := openflow.GroupModFor(g, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMixedBundleIsAtomic(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{})
	c := dial(t, sw)
	c.mustOK(groupMod(t, 1, 2, openflow.GroupAdd))
	c.mustOK(flowMod(t, "table=0,priority=0,actions=resubmit(,1),resubmit(,2),resubmit(,3)", openflow.FlowAdd),
		flowMod(t, "table=1,priority=0,actions=group:1", openflow.FlowAdd),
		flowMod(t, "table=2,priority=0,actions=output:3", openflow.FlowAdd),
		flowMod(t, "table=3,priority=10,actions=output:4", openflow.FlowAdd))
	// Each bundle changes the group, modifies table 2's flow, deletes table 3's and adds
	// another: a packet sees outputs [2 3 4] before and [3 4 2] after, nothing else.
	bundle := func(id uint32, groupPort uint32, mod, del, add string) []openflow.Message {
		msgs := []openflow.Message{
			groupMod(t, 1, groupPort, openflow.GroupModify),
			flowMod(t, mod, openflow.FlowModifyStrict),
			flowMod(t, del, openflow.FlowDeleteStrict),
			flowMod(t, add, openflow.FlowAdd),
		}
		var out []openflow.Message
		for _, m := range msgs {
			out = append(out, &openflow.BundleAdd{BundleID: id, Flags: openflow.BundleAtomic, Message: m})
		}
		return out
	}
	forward := bundle(1, 3, "table=2,priority=0,actions=output:4", "table=3,priority=10,actions=drop", "table=3,priority=5,actions=output:2")
	back := bundle(1, 2, "table=2,priority=0,actions=output:3", "table=3,priority=5,actions=drop", "table=3,priority=10,actions=output:4")
	before, after := []uint32{2, 3, 4}, []uint32{3, 4, 2}

	var stop atomic.Bool
	var bad atomic.Value
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := sw.Pipeline().NewRunner()
		var res pipeline.Result
		for !stop.Load() {
			r.Process(frame(2), 1, &res)
			var got []uint32
			for _, o := range res.Outputs {
				got = append(got, o.Port)
			}
			if !slices.Equal(got, before) && !slices.Equal(got, after) {
				bad.Store(got)
			}
		}
	}()
	for i := range 40 {
		msgs := forward
		if i%2 == 1 {
			msgs = back
		}
		c.mustOK(msgs...)
		rs := c.roundTrip(&openflow.BundleControl{BundleID: 1, CtlType: openflow.BundleCommitRequest, Flags: openflow.BundleAtomic})
		if r, ok := rs[0].(*openflow.BundleControl); len(rs) != 1 || !ok || r.CtlType != openflow.BundleCommitReply {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("commit %d: got %#v, want COMMIT_REPLY", i, rs)
		}
	}
	stop.Store(true)
	wg.Wait()
	if got := bad.Load(); got != nil {
		t.Errorf("a packet saw outputs %v, want %v or %v (a half-applied bundle)", got, before, after)
	}
}

func TestFailingMixedBundleAppliesNothing(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{})
	c := dial(t, sw)
	c.mustOK(flowMod(t, "priority=1,ip,actions=output:1", openflow.FlowAdd),
		flowMod(t, "priority=7,ip,nw_src=10.0.0.1,actions=output:3", openflow.FlowAdd))
	want := c.dumpFlows()
	// check_overlap is only found while the bundle is applied, after the delete and the group
	// add before it.
	overlap := flowMod(t, "priority=7,ip,nw_dst=10.0.0.0/8,actions=output:2", openflow.FlowAdd)
	overlap.Flags |= openflow.FlowCheckOverlap
	c.mustOK(&openflow.BundleAdd{BundleID: 4, Message: flowMod(t, "priority=1,ip,actions=drop", openflow.FlowDeleteStrict)},
		&openflow.BundleAdd{BundleID: 4, Message: groupMod(t, 5, 2, openflow.GroupAdd)},
		&openflow.BundleAdd{BundleID: 4, Message: overlap})
	rs := c.roundTrip(&openflow.BundleControl{BundleID: 4, CtlType: openflow.BundleCommitRequest})
	var names []string
	for _, r := range append(rs, c.async...) {
		if e, ok := r.(*openflow.Error); ok {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	if w := []string{"OFPBFC_MSG_FAILED", "OFPFMFC_OVERLAP"}; !slices.Equal(names, w) {
		t.Errorf("errors: got %v, want %v", names, w)
	}
	if got := c.dumpFlows(); !slices.Equal(got, want) {
		t.Errorf("flows after the failed bundle: got %q, want %q", got, want)
	}
	if g := sw.Pipeline().Group(5); g != nil {
		t.Errorf("failed bundle left group 5: %v", g)
	}
	// The switch's own view agrees: adding group 5 now is no GROUP_EXISTS.
	c.mustOK(groupMod(t, 5, 2, openflow.GroupAdd))
}

func TestFlowModKeepsCounters(t *testing.T) {
	tests := []struct {
		name string
		mod  func(t *testing.T) openflow.Message
		want uint64
	}{
		{"modify", func(t *testing.T) openflow.Message {
			return flowMod(t, "ip,actions=output:3", openflow.FlowModify)
		}, 2},
		{"modify-strict", func(t *testing.T) openflow.Message {
			return flowMod(t, "priority=5,ip,actions=output:3", openflow.FlowModifyStrict)
		}, 2},
		{"modify with reset_counts", func(t *testing.T) openflow.Message {
			m := flowMod(t, "ip,actions=output:3", openflow.FlowModify)
			m.Flags |= openflow.FlowResetCounts
			return m
		}, 0},
		{"add of the same match and priority", func(t *testing.T) openflow.Message {
			return flowMod(t, "priority=5,ip,actions=output:3", openflow.FlowAdd)
		}, 2},
		{"add with reset_counts", func(t *testing.T) openflow.Message {
			m := flowMod(t, "priority=5,ip,actions=output:3", openflow.FlowAdd)
			m.Flags |= openflow.FlowResetCounts
			return m
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sw := startSwitch(t, ofswitch.Options{})
			c := dial(t, sw)
			c.mustOK(flowMod(t, "priority=5,ip,actions=output:2", openflow.FlowAdd))
			r := sw.Pipeline().NewRunner()
			var res pipeline.Result
			r.Process(frame(2), 1, &res)
			r.Process(frame(2), 1, &res)
			c.mustOK(tt.mod(t))
			fs := sw.Pipeline().Flows()
			if len(fs) != 1 {
				t.Fatalf("flows after the mod: got %d, want 1", len(fs))
			}
			if got := fs[0].Flow.Instructions.Apply[0].(*flow.Output).Port; got != 3 {
				t.Fatalf("flow after the mod outputs to %d, want 3", got)
			}
			if got, _ := fs[0].Stats(); got != tt.want {
				t.Errorf("n_packets after the mod: got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestFlowDurations(t *testing.T) {
	var now atomic.Int64
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now.Store(t0.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	at := func(d time.Duration) { now.Store(t0.Add(d).UnixNano()) }
	sw := startSwitch(t, ofswitch.Options{Clock: clock, ExpireInterval: time.Hour})
	c := dial(t, sw)
	c.mustOK(flowMod(t, "table=0,priority=5,udp,actions=learn(table=1,priority=10,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[])", openflow.FlowAdd),
		flowMod(t, "table=0,priority=1,actions=output:2", openflow.FlowAdd))
	at(5 * time.Second)
	c.mustOK(flowMod(t, "table=0,priority=1,actions=output:3", openflow.FlowModifyStrict))
	at(7 * time.Second)
	r := sw.Pipeline().NewRunner()
	var res pipeline.Result
	r.Process(frame(2), 1, &res) // learns a flow in table 1 at 7 s
	at(10 * time.Second)
	got := map[string]time.Duration{}
	for _, m := range c.roundTrip(&openflow.FlowDescRequest{FlowFilter: openflow.NewFlowFilter()}) {
		rep, ok := m.(*openflow.FlowDescReply)
		if !ok {
			t.Fatalf("flow desc: got %#v", m)
		}
		for i := range rep.Flows {
			f, err := rep.Flows[i].Flow()
			if err != nil {
				t.Fatal(err)
			}
			got[fmt.Sprintf("table=%d,priority=%d", f.Table, f.Priority)] = f.Stats.Duration
		}
	}
	want := map[string]time.Duration{
		"table=0,priority=5":  10 * time.Second, // added at 0
		"table=0,priority=1":  10 * time.Second, // added at 0, modified at 5: keeps its age
		"table=1,priority=10": 3 * time.Second,  // learned at 7
	}
	for k, w := range want {
		if d, ok := got[k]; !ok || d != w {
			t.Errorf("duration of %s: got %v (present %v), want %v", k, d, ok, w)
		}
	}
}
