package pipeline

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/datapath/conntrack"
	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/internal/ovstest"
	"github.com/sluicenet/sluice/internal/testutil"
)

const (
	flowsDir   = "../../testdata/flows"
	diffPorts  = 8
	diffSeed   = 20261122
	randomEach = 60
)

var (
	trk = conntrack.StateTracked
	est = conntrack.StateEstablished
	rpl = conntrack.StateReply
	nw  = conntrack.StateNew
	rel = conntrack.StateRelated
	inv = conntrack.StateInvalid
)

// handPicked are cases chosen per flow set, before the random ones.
var handPicked = map[string][]testPacket{
	"antrea": {
		tcp4("pod-a-to-pod-b-3306-new", 3, "10.10.0.3", "10.10.0.4", 40000, 3306, 0x0a580a0a0003, trk|nw, trk|nw, trk|nw),
		tcp4("pod-a-to-pod-b-80-new", 3, "10.10.0.3", "10.10.0.4", 40001, 80, 0x0a580a0a0003, trk|nw, trk|nw, trk|nw, trk|nw),
		tcp4("pod-a-to-pod-b-80-est", 3, "10.10.0.3", "10.10.0.4", 40001, 80, 0x0a580a0a0003, trk|est, trk|est),
		tcp4("pod-a-to-pod-b-22-rejected", 3, "10.10.0.3", "10.10.0.4", 40002, 22, 0x0a580a0a0003, trk|nw, trk|nw),
		tcp4("pod-d-to-remote-denied", 6, "10.10.0.6", "10.10.1.9", 40003, 80, 0x0a580a0a0006, trk|nw, trk|nw),
		tcp4("spoofed-source", 3, "10.10.0.9", "10.10.0.4", 40004, 80, 0x0a580a0a0003),
		tcp4("svc-clusterip-80", 3, "10.10.0.3", "10.96.0.20", 40005, 80, 0x0a580a0a0003, trk|nw, trk|nw|conntrack.StateDNAT, trk|nw, trk|nw),
		tcp4("svc-no-endpoint", 3, "10.10.0.3", "10.96.0.30", 40006, 80, 0x0a580a0a0003, trk|nw),
		tcp4("svc-affinity-learn", 3, "10.10.0.3", "10.96.0.40", 40007, 80, 0x0a580a0a0003, trk|nw, trk|nw, trk|nw),
		tcp4("svc-affinity-learned", 3, "10.10.0.3", "10.96.0.40", 40008, 80, 0x0a580a0a0003, trk|nw, trk|nw, trk|nw),
		tcp4("nodeport", 2, "192.0.2.50", "192.0.2.11", 40009, 30004, 0x0e0000000009, trk|nw, trk|nw, trk|nw),
		udp4("dns", 5, "10.10.0.5", "10.96.0.10", 40010, 53, 0x0a580a0a0005, trk|nw, trk|nw, trk|nw),
		tcp4("from-tunnel-est", 1, "10.10.1.7", "10.10.0.5", 8080, 40011, 0xaabbccddeeff, trk|est|rpl, trk|est|rpl),
		tcp4("gateway-to-pod", 2, "10.10.0.1", "10.10.0.3", 40012, 8080, 0x0e0000000001, trk|nw, trk|nw),
		tcp4("invalid", 4, "10.10.0.4", "10.10.0.3", 40013, 80, 0x0a580a0a0004, trk|inv),
		tcp4("related", 4, "10.10.0.4", "10.10.0.3", 40014, 80, 0x0a580a0a0004, trk|rel, trk|rel),
	},
	"diff-learn": {
		withMACs(tcp4("learn-from-port-1", 1, "10.0.0.1", "10.0.0.2", 1000, 80, 0), 0x020000000011, 0x020000000022),
		withMACs(tcp4("learned-to-port-1", 2, "10.0.0.2", "10.0.0.1", 80, 1000, 0), 0x020000000022, 0x020000000011),
		withMACs(tcp4("learned-to-port-2", 1, "10.0.0.1", "10.0.0.2", 1000, 80, 0), 0x020000000011, 0x020000000022),
		withMACs(tcp4("relearn-on-port-4", 4, "10.0.0.1", "10.0.0.2", 1000, 80, 0), 0x020000000099, 0x020000000011),
		tcp4("affinity-learn", 3, "10.0.0.3", "10.96.0.1", 5555, 80, 0x020000000033),
		tcp4("affinity-learned", 3, "10.0.0.3", "10.96.0.1", 5555, 80, 0x020000000033),
		tcp4("affinity-other-client", 3, "10.0.0.4", "10.96.0.1", 5555, 80, 0x020000000044),
	},
	"diff-ct": {
		tcp4("nat-new", 1, "10.0.0.5", "10.96.0.1", 1234, 80, 0x020000000001, trk|nw, trk|nw|conntrack.StateDNAT),
		tcp4("nat-est", 1, "10.0.0.5", "10.96.0.1", 1234, 80, 0x020000000001, trk|est),
		tcp4("nat-reply", 2, "10.0.0.5", "10.96.0.1", 1234, 80, 0x020000000001, trk|est|rpl),
		tcp4("nat-inv", 2, "10.0.0.5", "10.96.0.1", 1234, 80, 0x020000000001, trk|inv),
		udp4("zone-from-reg-new", 3, "10.2.0.1", "10.96.0.2", 999, 53, 0x020000000003, trk|nw),
		udp4("zone-from-reg-est", 3, "10.2.0.1", "10.96.0.2", 999, 53, 0x020000000003, trk|est, trk|nw),
		tcp4("snat-new", 4, "10.0.0.9", "198.51.100.1", 4000, 443, 0x020000000004, trk|nw, trk|nw|conntrack.StateSNAT),
		tcp4("snat-est", 4, "10.0.0.9", "198.51.100.1", 4000, 443, 0x020000000004, trk|est, trk|est|conntrack.StateSNAT),
		tcp4("related", 4, "10.0.0.9", "198.51.100.1", 4000, 443, 0x020000000004, trk|rel),
		tcp4("untracked-continue", 5, "192.168.0.1", "198.51.100.1", 4000, 443, 0x020000000005),
	},
	"diff-conjunction": {
		tcp4("conj1-both", 5, "10.0.0.2", "10.0.1.7", 1, 443, 0x020000000001),
		tcp4("conj2-all-three", 3, "10.0.0.1", "10.0.9.9", 1, 22, 0x020000000001),
		tcp4("conj1-and-2-overlap", 3, "10.0.0.1", "10.0.1.7", 1, 80, 0x020000000001),
		tcp4("ordinary-wins", 3, "10.0.0.1", "10.0.1.99", 1, 80, 0x020000000001),
		tcp4("conj2-two-of-three", 4, "10.0.0.1", "10.0.9.9", 1, 22, 0x020000000001),
		udp4("conj3", 1, "10.0.0.77", "8.8.8.8", 1, 53, 0x020000000001),
		tcp4("conj4-then-conj5", 1, "172.16.0.1", "10.0.2.2", 1, 9, 0x020000000001),
		udp4("conj4-then-miss", 3, "172.16.0.1", "10.0.2.2", 1, 9, 0x020000000001),
	},
	"diff-resubmit": {
		tcp4("chain-port-1", 1, "10.0.0.1", "10.0.0.2", 1, 2, 0x020000000001),
		tcp4("loop", 2, "10.0.0.1", "10.0.0.2", 1, 2, 0x020000000001),
		tcp4("reg-chain-to-in-port", 3, "10.0.0.1", "10.0.0.2", 1, 2, 0x020000000001),
		tcp4("goto", 4, "10.0.0.1", "10.0.0.2", 1, 80, 0x020000000001),
		tcp4("repeat-resubmit", 5, "10.0.0.1", "10.0.0.2", 1, 80, 0x020000000001),
		tcp4("in-port-override", 6, "10.0.0.1", "10.0.0.2", 1, 80, 0x020000000001),
		tcp4("fanout-32", 7, "10.0.0.1", "10.0.0.2", 1, 80, 0x020000000001),
		tcp4("miss-then-output", 8, "10.0.0.1", "10.0.0.2", 1, 80, 0x020000000001),
	},
}

// TestPrivilegedDifferential loads every flow set under testdata/flows into a real
// ovs-vswitchd and into the pipeline and checks that both give every generated packet the
// same verdict (see docs/differential-testing.md). Select groups without
// selection_method=hash are given it (with the 5-tuple as fields) on both sides, because
// ofproto/trace cannot follow OVS's default dp_hash method.
func TestPrivilegedDifferential(t *testing.T) {
	testutil.RequirePrivileged(t)
	sets, err := filepath.Glob(filepath.Join(flowsDir, "*.txt"))
	if err != nil || len(sets) == 0 {
		t.Fatalf("no flow sets in %s (%v)", flowsDir, err)
	}
	opts := ovstest.DefaultOptions()
	opts.Ports = nil
	var ports []uint32
	for i := 1; i <= diffPorts; i++ {
		opts.Ports = append(opts.Ports, ovstest.Port{Name: fmt.Sprintf("p%d", i), OFPort: uint32(i)})
		ports = append(ports, uint32(i))
	}
	sw := ovstest.Start(t, opts)
	total := 0
	t.Run("Differential", func(t *testing.T) {
		for _, path := range sets {
			name := strings.TrimSuffix(filepath.Base(path), ".txt")
			t.Run(name, func(t *testing.T) {
				total += runFlowSet(t, sw, path, name, ports)
			})
		}
	})
	t.Logf("%d differential cases", total)
}

var selectNoMethod = regexp.MustCompile(`type=select,(bucket=)`)

// runFlowSet loads one flow set on both sides and compares every packet; it returns the
// number of cases.
func runFlowSet(t *testing.T, sw *ovstest.Switch, path, name string, ports []uint32) int {
	flowsText, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	groupsText, _ := os.ReadFile(strings.TrimSuffix(path, ".txt") + ".groups")
	groupsText = selectNoMethod.ReplaceAll(groupsText, []byte("type=select,selection_method=hash,fields(ip_src,ip_dst,tcp_src,tcp_dst,udp_src,udp_dst),$1"))

	sw.Reset(t)
	p := New(Options{Ports: ports})
	var flows []*flow.Flow
	t.Run("load", func(t *testing.T) {
		var ovsErr, ourErr error
		if len(bytes.TrimSpace(groupsText)) > 0 {
			if ovsErr = sw.LoadGroups(string(groupsText)); ovsErr == nil {
				var gs []*flow.GroupEntry
				if gs, ourErr = flow.ParseGroups(bytes.NewReader(groupsText)); ourErr == nil {
					ourErr = p.AddGroups(gs)
				}
			}
		}
		if ovsErr == nil {
			ovsErr = sw.LoadFlows(string(flowsText))
		}
		if ourErr == nil {
			if flows, ourErr = flow.ParseFlows(bytes.NewReader(flowsText)); ourErr == nil {
				ourErr = p.AddFlows(flows)
			}
		}
		if (ovsErr == nil) != (ourErr == nil) {
			t.Fatalf("OVS and Sluice disagree on loading %s:\n OVS: %v\n Sluice: %v", name, ovsErr, ourErr)
		}
		if ovsErr != nil {
			t.Logf("both refuse %s: OVS %v; Sluice %v", name, ovsErr, ourErr)
			flows = nil
		}
	})
	if flows == nil {
		return 0
	}
	fdbFlush := bytes.Contains(flowsText, []byte("NORMAL"))

	h := fnv.New64a()
	h.Write([]byte(name))
	r := rand.New(rand.NewPCG(diffSeed, h.Sum64()))
	hv := harvest(flows)
	cases := append([]testPacket(nil), handPicked[name]...)
	for i := range randomEach {
		cases = append(cases, randomPacket(r, hv, len(ports), i))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if fdbFlush {
				if _, err := sw.AppCtl("fdb/flush", sw.Bridge); err != nil {
					t.Fatal(err)
				}
			}
			otr, err := sw.TracePacket(tc.inPort, tc.frame, ctNextArgs(tc.ctNext))
			if err != nil {
				t.Fatal(err)
			}
			ov, err := otr.Verdict()
			if err != nil {
				t.Fatalf("%v\n%s", err, otr.Raw)
			}
			str, res := p.Trace(tc.frame, tc.inPort, TraceOptions{CTNext: tc.ctNext})
			sv := sluiceVerdict(tc.frame, tc.inPort, str, res)
			if os.Getenv("SLUICE_DIFF_VERBOSE") != "" {
				t.Logf("verdict: %s", canonical(ov))
			}
			if got, want := canonical(sv), canonical(ov); got != want {
				t.Errorf("verdicts differ (ct-next %v)\n Sluice: %s\n    OVS: %s\n--- Sluice trace ---\n%s--- OVS trace ---\n%s",
					ctNextArgs(tc.ctNext), got, want, str, otr.Raw)
			}
		})
	}
	return len(cases)
}
