package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/flow/flowtest"
	"github.com/sluicenet/sluice/internal/ovstest"
	"github.com/sluicenet/sluice/internal/testutil"
)

// TestPrivilegedOVSAgrees loads the same flows into a real ovs-vswitchd (netdev bridge, dummy
// ports 1..6) and checks that ofproto/trace sends every verdict case where Sluice's pipeline
// sends it, with the same Ethernet addresses and TTL: the flows mean the same on both
// backends.
func TestPrivilegedOVSAgrees(t *testing.T) {
	testutil.RequirePrivileged(t)
	node, a, b := testFlows(t)
	path := filepath.Join(t.TempDir(), "flows.txt")
	if err := os.WriteFile(path, []byte(printOrdered(append(append(node, a...), b...))), 0o644); err != nil {
		t.Fatal(err)
	}
	o := flowtest.StartOVS(t, flowtest.DefaultOVSOptions())
	o.Load(&flowtest.Set{Name: "agent-pipeline", FlowsFile: path})

	t.Run("switch holds exactly the built flows", func(t *testing.T) {
		want := flowtest.PrintFlows(append(append(node, a...), b...))
		if d := flowtest.DiffLines(want, o.DumpFlows()); d != "" {
			t.Errorf("dump-flows differs from the built flows (- built, + OVS):\n%s", d)
		}
	})
	for _, c := range verdictCases {
		t.Run(c.name, func(t *testing.T) {
			out := o.For(t).Appctl("ofproto/trace", "br0", "in_port="+strconv.Itoa(int(c.inPort))+","+c.match)
			tr, err := ovstest.ParseTrace(out)
			if err != nil {
				t.Fatalf("parse trace: %v\n%s", err, out)
			}
			v, err := tr.Verdict()
			if err != nil {
				t.Fatalf("verdict: %v\n%s", err, out)
			}
			var outs []ovstest.Event
			for _, e := range v.Events {
				if e.Kind == ovstest.EventOutput || e.Kind == ovstest.EventController {
					outs = append(outs, e)
				}
			}
			if c.want.Port == 0 {
				if len(outs) != 0 {
					t.Errorf("OVS: %s, want dropped\n%s", v.Canonical(), out)
				}
				return
			}
			if len(outs) != 1 || outs[0].Kind != ovstest.EventOutput || outs[0].Port != c.want.Port {
				t.Fatalf("OVS: %s, want exactly output:%d\n%s", v.Canonical(), c.want.Port, out)
			}
			in, err := flow.ParseFlow(c.match + ",actions=drop")
			if err != nil {
				t.Fatal(err)
			}
			for f, name := range map[flow.Field]string{flow.FieldEthSrc: "dl_src", flow.FieldEthDst: "dl_dst", flow.FieldNwTTL: "nw_ttl"} {
				want, ok := c.want.Fields[f]
				if !ok || in.Match.Key.Get(f) == want {
					continue
				}
				mod := name + "=" + formatField(f, want)
				if !slices.Contains(outs[0].Mods, mod) {
					t.Errorf("OVS output mods %v lack %s\n%s", outs[0].Mods, mod, out)
				}
			}
		})
	}
}

func formatField(f flow.Field, v uint64) string {
	if f == flow.FieldNwTTL {
		return strconv.FormatUint(v, 10)
	}
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
