package pipeline

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/classifier"
	"github.com/sluicenet/sluice/datapath/flow"
)

// txFlows sends every packet through three tables; the outputs show which version of each
// table (and of group 1) the packet saw.
const txFlows = `
table=0,priority=0,actions=resubmit(,1),resubmit(,2),resubmit(,3)
table=1,priority=0,actions=group:1
table=2,priority=0,actions=output:4
table=3,priority=10,actions=output:6
`

func mustFlow(t testing.TB, s string) *flow.Flow {
	t.Helper()
	f, err := flow.ParseFlow(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func groupTo(port uint32) *flow.GroupEntry {
	return &flow.GroupEntry{ID: 1, Type: flow.GroupAll, Buckets: []flow.Bucket{{ID: flow.BucketIDNone, Actions: []flow.Action{&flow.Output{Port: port}}}}}
}

// toggle applies one mixed transaction: group 1 changed, table 2's flow modified, table 3's
// flow deleted and another added, moving every output from the "from" set to the other.
func toggle(t testing.TB, p *Pipeline, to [3]uint32) {
	t.Helper()
	tx := p.Begin()
	if err := tx.SetGroup(groupTo(to[0])); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ModifyFlows(2, false, classifier.Filter{}, nil, false, func(f *flow.Flow) *flow.Flow {
		n := *f
		n.Instructions = mustFlow(t, "actions=output:"+itoa(to[1])).Instructions
		return &n
	}); err != nil {
		t.Fatal(err)
	}
	if len(tx.DeleteFlows(3, false, classifier.Filter{}, nil)) != 1 {
		t.Fatal("delete in table 3 removed no flow or several")
	}
	if err := tx.AddFlow(mustFlow(t, "table=3,priority=10,actions=output:"+itoa(to[2]))); err != nil {
		t.Fatal(err)
	}
	tx.Commit()
}

func itoa(n uint32) string { return string(rune('0' + n)) }

func TestTxMixedChangeIsAtomic(t *testing.T) {
	p := newTestPipeline(t, txFlows, "group_id=1,type=all,bucket=output:2")
	before, after := [3]uint32{2, 4, 6}, [3]uint32{3, 5, 7}
	frame := udp4("", 1, "10.0.0.1", "10.0.0.2", 1000, 53, 0x020000000100).frame
	var stop atomic.Bool
	var bad atomic.Value
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := p.NewRunner()
			var res Result
			for !stop.Load() {
				r.Process(frame, 1, &res)
				got := outputsOf(&res)
				if !slices.Equal(got, before[:]) && !slices.Equal(got, after[:]) {
					bad.Store(got)
				}
			}
		}()
	}
	for i := range 200 {
		if i%2 == 0 {
			toggle(t, p, after)
		} else {
			toggle(t, p, before)
		}
	}
	stop.Store(true)
	wg.Wait()
	if got := bad.Load(); got != nil {
		t.Errorf("a packet saw outputs %v, want %v or %v (a half-applied transaction)", got, before, after)
	}
}

func TestTxFailureAppliesNothing(t *testing.T) {
	p := newTestPipeline(t, txFlows, "group_id=1,type=all,bucket=output:2")
	frame := udp4("", 1, "10.0.0.1", "10.0.0.2", 1000, 53, 0x020000000100).frame
	r := p.NewRunner()
	var res Result
	r.Process(frame, 1, &res)
	want := outputsOf(&res)
	v := p.Version()
	tx := p.Begin()
	if err := tx.SetGroup(groupTo(3)); err != nil {
		t.Fatal(err)
	}
	tx.DeleteFlows(0, true, classifier.Filter{}, nil)
	if err := tx.AddFlow(mustFlow(t, "table=2,priority=1,actions=group:9")); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("AddFlow naming a missing group: got %v, want ErrUnknownGroup", err)
	}
	tx.Discard()
	if got := p.Version(); got != v {
		t.Errorf("version after Discard: got %d, want %d", got, v)
	}
	if got := len(p.Flows()); got != 4 {
		t.Errorf("flows after Discard: got %d, want 4", got)
	}
	r.Process(frame, 1, &res)
	if got := outputsOf(&res); !slices.Equal(got, want) {
		t.Errorf("outputs after Discard: got %v, want %v", got, want)
	}
}

func TestTxCommitReturnsDeleted(t *testing.T) {
	p := newTestPipeline(t, txFlows+"table=4,priority=1,actions=group:1\n", "group_id=1,type=all,bucket=output:2")
	tx := p.Begin()
	tx.DeleteFlows(3, false, classifier.Filter{}, nil)
	tx.DeleteGroup(1) // takes table 1's and table 4's flows with it
	gone := tx.Commit()
	var tables []uint8
	for _, e := range gone {
		tables = append(tables, e.Flow.Table)
	}
	slices.Sort(tables)
	if want := []uint8{1, 3, 4}; !slices.Equal(tables, want) {
		t.Errorf("deleted flows' tables: got %v, want %v", tables, want)
	}
	if p.Group(1) != nil {
		t.Error("group 1 still exists after DeleteGroup")
	}
}

// modifyTo3 modifies every flow of table 0 to output:3 in tx.
func modifyTo3(t *testing.T, tx *Tx, reset bool) {
	t.Helper()
	if _, err := tx.ModifyFlows(0, false, classifier.Filter{}, nil, reset, func(f *flow.Flow) *flow.Flow {
		n := *f
		n.Instructions = mustFlow(t, "actions=output:3").Instructions
		return &n
	}); err != nil {
		t.Fatal(err)
	}
}

func TestCountersSurviveReplace(t *testing.T) {
	modify := func(reset bool) func(*testing.T, *Pipeline) {
		return func(t *testing.T, p *Pipeline) {
			tx := p.Begin()
			modifyTo3(t, tx, reset)
			tx.Commit()
		}
	}
	add := func(s string) func(*testing.T, *Pipeline) {
		return func(t *testing.T, p *Pipeline) {
			if err := p.AddFlows([]*flow.Flow{mustFlow(t, s)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name   string
		change func(*testing.T, *Pipeline)
		want   uint64
	}{
		{"add of the same flow keeps counters", add("priority=5,ip,actions=output:3"), 2},
		{"add with reset_counts restarts them", add("reset_counts,priority=5,ip,actions=output:3"), 0},
		{"add with another priority is a new flow", add("priority=6,ip,actions=output:3"), 0},
		{"add, add and modify in one transaction keep counters", func(t *testing.T, p *Pipeline) {
			tx := p.Begin()
			for _, s := range []string{"priority=5,ip,actions=output:4", "priority=5,ip,actions=output:5"} {
				if err := tx.AddFlow(mustFlow(t, s)); err != nil {
					t.Fatal(err)
				}
			}
			modifyTo3(t, tx, false)
			tx.Commit()
		}, 2},
		{"modify keeps counters", modify(false), 2},
		{"modify with reset_counts restarts them", modify(true), 0},
	}
	frame := udp4("", 1, "10.0.0.1", "10.0.0.2", 1000, 53, 0x020000000100).frame
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestPipeline(t, "priority=5,ip,actions=output:2", "")
			r := p.NewRunner()
			var res Result
			r.Process(frame, 1, &res)
			r.Process(frame, 1, &res)
			tt.change(t, p)
			r.Process(frame, 1, &res) // after the change: goes to the flow now in place
			if got := outputsOf(&res); !slices.Equal(got, []uint32{3}) {
				t.Fatalf("outputs after the change: got %v, want [3]", got)
			}
			got, _ := p.Flows()[0].Stats() // the highest priority: the flow the packet matched
			if want := tt.want + 1; got != want {
				t.Errorf("packets of the matching flow: got %d, want %d", got, want)
			}
		})
	}
}

func TestExpireReasons(t *testing.T) {
	tests := []struct {
		name  string
		flow  string
		after time.Duration
		want  ExpireReason
	}{
		{"idle", "priority=1,idle_timeout=5,actions=drop", 6 * time.Second, ExpireIdle},
		{"hard", "priority=1,hard_timeout=5,actions=drop", 6 * time.Second, ExpireHard},
		{"hard wins when both passed", "priority=1,idle_timeout=5,hard_timeout=5,actions=drop", 6 * time.Second, ExpireHard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Unix(1000, 0)
			p := newTestPipeline(t, tt.flow, "", func(o *Options) { o.Clock = func() time.Time { return now } })
			gone := p.Expire(now.Add(tt.after))
			if len(gone) != 1 {
				t.Fatalf("expired %d flows, want 1", len(gone))
			}
			if gone[0].Reason != tt.want {
				t.Errorf("reason: got %v, want %v", gone[0].Reason, tt.want)
			}
			if !gone[0].Added().Equal(now) {
				t.Errorf("install time: got %v, want %v", gone[0].Added(), now)
			}
		})
	}
}

// BenchmarkTxReplaceAll re-adds every flow of a table in one transaction (a controller's
// resync), which carries every flow's counters over.
func BenchmarkTxReplaceAll(b *testing.B) {
	const n = 20000
	flows := make([]*flow.Flow, n)
	for i := range flows {
		f := mustFlow(b, "priority=5,ip,actions=output:2")
		f.Match.Set(flow.FieldNwDst, uint64(0x0a000000+i), 0xffffffff)
		flows[i] = f
	}
	p := New(Options{})
	if err := p.AddFlows(flows); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.AddFlows(flows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "flows/s")
}
