package flow_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/flow/flowtest"
	"github.com/sluicenet/sluice/internal/testutil"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/flows/golden from a real ovs-vswitchd (privileged)")

// TestPrivilegedPrintMatchesOVS loads every fixture set into a real ovs-vswitchd with
// ovs-ofctl -O OpenFlow15 add-flows (which also proves each set is valid for OVS), dumps it
// back, and compares OVS's text with our printer's, line by line. With -update-golden it
// rewrites the committed golden dumps that TestGoldenDumps compares against without root.
func TestPrivilegedPrintMatchesOVS(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := flowtest.StartOVS(t, flowtest.DefaultOVSOptions())
	for _, set := range flowtest.LoadSets(t) {
		t.Run(set.Name, func(t *testing.T) {
			o := o.For(t)
			o.Load(set)
			gotFlows := o.DumpFlows()
			if diff := flowtest.DiffLines(flowtest.PrintFlows(set.Flows), gotFlows); diff != "" {
				t.Errorf("our printer (-) vs ovs-ofctl dump-flows (+):\n%s", diff)
			}
			// Full dump lines (with duration, n_packets, idle_age) parse too, to the same flows.
			var fromStats []*flow.Flow
			for _, l := range o.DumpFlowsWithStats() {
				f, err := flow.ParseFlow(l)
				if err != nil {
					t.Errorf("parse dump-flows line: %v", err)
					continue
				}
				if !f.Stats.Valid {
					t.Errorf("dump line %q: statistics not recognised", l)
				}
				if got := f.DumpString(); got != l {
					t.Errorf("DumpString() = %q, want OVS's %q", got, l)
				}
				fromStats = append(fromStats, f)
			}
			if diff := flowtest.DiffLines(gotFlows, flowtest.PrintFlows(fromStats)); diff != "" {
				t.Errorf("dump-flows --no-stats (-) vs parsed dump-flows with statistics (+):\n%s", diff)
			}
			var gotGroups []string
			if set.GroupsFile != "" {
				gotGroups = o.DumpGroups()
				if diff := flowtest.DiffLines(flowtest.PrintGroups(set.Groups), gotGroups); diff != "" {
					t.Errorf("our printer (-) vs ovs-ofctl dump-groups (+):\n%s", diff)
				}
			}
			if *updateGolden {
				writeGolden(t, set.Name+".flows", gotFlows)
				if set.GroupsFile != "" {
					writeGolden(t, set.Name+".groups", gotGroups)
				}
			}
		})
	}
}

func writeGolden(t *testing.T, name string, lines []string) {
	t.Helper()
	dir := filepath.Join(flowtest.Dir(), "golden")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := "# ovs-ofctl -O OpenFlow15 dump (--no-stats), sorted; written by TestPrivilegedPrintMatchesOVS -update-golden\n" +
		strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPrivilegedRejectsLikeOVS feeds every flow of the rejection table to ovs-ofctl add-flow
// against a real ovs-vswitchd: the ones we refuse must be refused by OVS too (by ovs-ofctl or
// by the switch), except those marked stricter.
func TestPrivilegedRejectsLikeOVS(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := flowtest.StartOVS(t, flowtest.DefaultOVSOptions())
	o.Ofctl("add-meter", "meter=1,kbps,band=type=drop,rate=1000")
	o.Ofctl("add-group", "group_id=2,type=all,bucket=actions=output:1")
	for _, tt := range rejectTests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := o.Try("ovs-ofctl", "-O", "OpenFlow15", "add-flow", o.Target(), tt.flow)
			switch {
			case tt.stricter && err != nil:
				t.Errorf("ovs-ofctl now rejects %q (%s): drop the stricter mark", tt.flow, strings.TrimSpace(out))
			case !tt.stricter && err == nil:
				t.Errorf("ovs-ofctl accepts %q, which ParseFlow refuses (%s)", tt.flow, strings.TrimSpace(out))
			}
		})
	}
}

// TestPrivilegedTraceRuns checks that the harness can ask the switch about a packet: the
// Antrea-style set answers ofproto/trace for an ARP request from a pod.
func TestPrivilegedTraceRuns(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := flowtest.StartOVS(t, flowtest.DefaultOVSOptions())
	o.Load(flowtest.LoadSet(t, "antrea"))
	out := o.Appctl("ofproto/trace", "br0", "in_port=3,arp,arp_op=1,dl_src=0a:58:0a:0a:00:03,arp_sha=0a:58:0a:0a:00:03,arp_spa=10.10.0.3,arp_tpa=10.10.1.1")
	if !strings.Contains(out, "Datapath actions:") || !strings.Contains(out, "set_field:10.10.1.1->arp_spa") {
		t.Errorf("ofproto/trace did not run the ARP responder:\n%s", out)
	}
}
