package flow_test

import (
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/flow/flowtest"
)

// withoutStats returns a copy of f without the statistics a dump line carries.
func withoutStats(f *flow.Flow) *flow.Flow {
	c := *f
	c.Stats = flow.Stats{IdleAge: -1, HardAge: -1}
	return &c
}

// TestFixturesRoundTrip proves that every fixture flow, group and meter prints to text that
// parses back to the same value, and that printing is a fixed point.
func TestFixturesRoundTrip(t *testing.T) {
	for _, set := range flowtest.LoadSets(t) {
		t.Run(set.Name, func(t *testing.T) {
			if len(set.Flows) == 0 {
				t.Fatalf("no flows in %s", set.FlowsFile)
			}
			for _, f := range set.Flows {
				text := f.String()
				g, err := flow.ParseFlow(text)
				if err != nil {
					t.Errorf("reparse %q: %v", text, err)
					continue
				}
				if !reflect.DeepEqual(withoutStats(f), withoutStats(g)) {
					t.Errorf("round trip of %q changed the flow:\n got %#v\nwant %#v", text, g, f)
				}
				if again := g.String(); again != text {
					t.Errorf("printing is not a fixed point:\n got %q\nwant %q", again, text)
				}
			}
			for _, g := range set.Groups {
				text := g.String()
				h, err := flow.ParseGroup(text)
				if err != nil {
					t.Errorf("reparse group %q: %v", text, err)
					continue
				}
				if !reflect.DeepEqual(g, h) {
					t.Errorf("round trip of group %q changed it:\n got %#v\nwant %#v", text, h, g)
				}
			}
			for _, m := range set.Meters {
				text := m.String()
				n, err := flow.ParseMeter(text)
				if err != nil || !reflect.DeepEqual(m, n) {
					t.Errorf("round trip of meter %q: got %#v, %v; want %#v", text, n, err, m)
				}
			}
		})
	}
}

// TestGoldenDumps compares our printer with dumps that a real ovs-vswitchd produced for the
// same fixtures (testdata/flows/golden, written by TestPrivilegedPrintMatchesOVS
// -update-golden), and checks that OVS's own dump lines parse to the fixture's flows.
func TestGoldenDumps(t *testing.T) {
	for _, set := range flowtest.LoadSets(t) {
		t.Run(set.Name, func(t *testing.T) {
			golden := flowtest.ReadLines(t, filepath.Join(flowtest.Dir(), "golden", set.Name+".flows"))
			if golden == nil {
				t.Fatalf("no golden dump for %s: run the privileged test with -update-golden", set.Name)
			}
			sort.Strings(golden)
			if diff := flowtest.DiffLines(flowtest.PrintFlows(set.Flows), golden); diff != "" {
				t.Errorf("our printer (-) vs OVS's dump (+):\n%s", diff)
			}
			var reparsed []*flow.Flow
			for _, l := range golden {
				f, err := flow.ParseFlow(l)
				if err != nil {
					t.Errorf("parse OVS dump line: %v", err)
					continue
				}
				if f.String() != l {
					t.Errorf("OVS's line is not a fixed point of our printer:\n got %q\nwant %q", f.String(), l)
				}
				reparsed = append(reparsed, f)
			}
			if diff := flowtest.DiffLines(flowtest.PrintFlows(set.Flows), flowtest.PrintFlows(reparsed)); diff != "" {
				t.Errorf("fixture (-) vs parsed OVS dump (+):\n%s", diff)
			}
			if set.GroupsFile == "" {
				return
			}
			goldenGroups := flowtest.ReadLines(t, filepath.Join(flowtest.Dir(), "golden", set.Name+".groups"))
			sort.Strings(goldenGroups)
			if diff := flowtest.DiffLines(flowtest.PrintGroups(set.Groups), goldenGroups); diff != "" {
				t.Errorf("our group printer (-) vs OVS's dump-groups (+):\n%s", diff)
			}
		})
	}
}
