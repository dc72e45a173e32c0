package bridge_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/flow/flowtest"
	"github.com/sluicenet/sluice/internal/testutil"
)

// interopSwitch is one of the two switches TestPrivilegedInterop drives: its ovsdb-server
// (through vsctl), where its bridges' management sockets are, and its own pods and node
// namespace (OVS's afxdp and Sluice both put an XDP program on a netdev, so the two switches
// never share one).
type interopSwitch struct {
	dpType    string   // datapath_type of the bridge
	ifaceOpts []string // extra Interface columns for the host veth ends
	vsctl     func(t testing.TB, args ...string) string
	mgmt      func(bridge string) string

	podA, podB, node *testutil.NetNS
	hA, hB           testutil.Veth
}

// interopResult is what a switch produced at one step: its flow table and group table
// (dump-flows/dump-groups --no-stats, which leaves out duration, n_packets, n_bytes, idle_age
// and hard_age), and for connectivity steps whether the traffic went through.
type interopResult struct {
	flows, groups []string
	connectivity  string // "" for steps without traffic
}

// interopStep is one step of TestPrivilegedInterop, run against each switch in turn.
type interopStep struct {
	name string
	run  func(t *testing.T, s *interopSwitch, mgmt string) string // returns the connectivity result, if any
}

const interopBridge = "br1"

// interopFlows is the add-flows step's file: the reverse forwarding flow and flows with
// other matches and actions that must list the same on both switches.
const interopFlows = `table=0,priority=10,cookie=0x1,in_port=2,actions=output:1
table=0,priority=300,cookie=0x2,udp,tp_dst=9,actions=drop
table=0,priority=0,cookie=0x3,actions=drop
table=0,priority=20,cookie=0x5,ip,nw_dst=10.0.0.9,actions=set_field:10.0.0.2->ip_dst,goto_table:1
table=1,priority=5,cookie=0x4,ip,nw_src=192.0.2.0/24,actions=dec_ttl,output:1
`

// interopBundle is the --bundle add-flows step's file: forwarding through the groups.
const interopBundle = `table=0,priority=10,cookie=0x6,in_port=1,actions=group:1
table=0,priority=10,cookie=0x6,in_port=2,actions=group:2
`

// pingResult pings from ns to addr and returns "reachable" or "unreachable". A wanted
// reachability is retried for a few seconds (a fresh AF_XDP port may drop the very first
// frames); an unwanted one is tried once.
func pingResult(ns *testutil.NetNS, addr string, want bool) string {
	tries := 1
	if want {
		tries = 5
	}
	for range tries {
		if _, err := ns.Exec("ping", "-c", "2", "-i", "0.2", "-W", "1", addr); err == nil {
			return "reachable"
		}
	}
	return "unreachable"
}

// pingStep is a step pinging both ways between the pods, wanting reachability or not.
func pingStep(name string, want bool) interopStep {
	return interopStep{name: name, run: func(t *testing.T, s *interopSwitch, _ string) string {
		wantS := map[bool]string{true: "reachable", false: "unreachable"}[want]
		ab, ba := pingResult(s.podA, "10.0.0.2", want), pingResult(s.podB, "10.0.0.1", want)
		if ab != wantS || ba != wantS {
			t.Errorf("ping a→b %s, b→a %s, want both %s", ab, ba, wantS)
		}
		return "a→b " + ab + ", b→a " + ba
	}}
}

// tcpStep transfers 4 MiB each way between the pods.
func tcpStep(name string, port int) interopStep {
	return interopStep{name: name, run: func(t *testing.T, s *interopSwitch, _ string) string {
		ok := t.Run("a_to_b", func(t *testing.T) {
			testutil.TransferTCP(t, s.podA, s.podB, fmt.Sprintf("10.0.0.2:%d", port), 4<<20)
		})
		ok = t.Run("b_to_a", func(t *testing.T) {
			testutil.TransferTCP(t, s.podB, s.podA, fmt.Sprintf("10.0.0.1:%d", port+1), 4<<20)
		}) && ok
		return fmt.Sprintf("tcp both ways ok=%v", ok)
	}}
}

// ofctlStep runs one ovs-ofctl command with its arguments; a "-" argument reads file.
func ofctlStep(name, file string, args ...string) interopStep {
	return interopStep{name: name, run: func(t *testing.T, _ *interopSwitch, mgmt string) string {
		ofctl(t, mgmt, withFile(t, file, args)...)
		return ""
	}}
}

// refusedStep runs one ovs-ofctl command like ofctlStep and requires the switch to refuse it.
func refusedStep(name, file string, args ...string) interopStep {
	return interopStep{name: name, run: func(t *testing.T, _ *interopSwitch, mgmt string) string {
		full := withFile(t, file, args)
		all := append([]string{"-O", "OpenFlow15", full[0], "unix:" + mgmt}, full[1:]...)
		if out, err := exec.Command("ovs-ofctl", all...).CombinedOutput(); err == nil {
			t.Errorf("ovs-ofctl %s succeeded, want a refusal:\n%s", strings.Join(all, " "), out)
		}
		return ""
	}}
}

// withFile returns args with each "-" replaced by a temporary file holding file.
func withFile(t *testing.T, file string, args []string) []string {
	full := append([]string(nil), args...)
	if file == "" {
		return full
	}
	fn := filepath.Join(t.TempDir(), "flows.txt")
	if err := os.WriteFile(fn, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, a := range full {
		if a == "-" {
			full[i] = fn
		}
	}
	return full
}

// interopSteps are the steps of TestPrivilegedInterop in order. Port 1 leads to pod A
// (10.0.0.1), port 2 to pod B (10.0.0.2); the host ends share no kernel path, so only the
// switch's flows connect the pods.
var interopSteps = []interopStep{
	{name: "add-br", run: func(t *testing.T, s *interopSwitch, mgmt string) string {
		// fail-mode secure: ovs-vswitchd would otherwise add a NORMAL flow of its own.
		s.vsctl(t, "add-br", interopBridge, "--", "set", "bridge", interopBridge, "datapath_type="+s.dpType,
			"--", "set-fail-mode", interopBridge, "secure")
		eventually(t, 10*time.Second, "management socket "+mgmt, func() error {
			_, err := os.Stat(mgmt)
			return err
		})
		return ""
	}},
	{name: "add-port", run: func(t *testing.T, s *interopSwitch, mgmt string) string {
		for i, h := range []string{s.hA.Name, s.hB.Name} {
			cols := append([]string{fmt.Sprintf("ofport_request=%d", i+1)}, s.ifaceOpts...)
			s.vsctl(t, append([]string{"add-port", interopBridge, h, "--", "set", "interface", h}, cols...)...)
			if got, want := s.vsctl(t, "get", "interface", h, "ofport"), fmt.Sprint(i+1); got != want {
				t.Errorf("ofport of %s = %s, want %s (error: %s)", h, got, want, s.vsctl(t, "get", "interface", h, "error"))
			}
		}
		// Both switches take a host end's frames with an XDP program (OVS's afxdp netdev,
		// Sluice's steering program): no kernel or AF_PACKET fallback.
		for _, h := range []string{s.hA.Name, s.hB.Name} {
			if out := run(t, s.node, "ip link show "+h); !strings.Contains(out, "xdp") {
				t.Errorf("%s has no XDP program after add-port:\n%s", h, out)
			}
		}
		out := ofctl(t, mgmt, "show")
		for _, want := range []string{"1(" + s.hA.Name + ")", "2(" + s.hB.Name + ")", "LOCAL(" + interopBridge + ")"} {
			if !strings.Contains(out, want) {
				t.Errorf("ovs-ofctl show lacks %q:\n%s", want, out)
			}
		}
		return ""
	}},
	pingStep("ping-without-flows", false),
	ofctlStep("add-flow", "", "add-flow", "table=0,priority=10,cookie=0x1,in_port=1,actions=output:2"),
	ofctlStep("add-flows", interopFlows, "add-flows", "-"),
	pingStep("ping-by-flows", true),
	tcpStep("tcp-by-flows", 5401),
	ofctlStep("mod-flows", "", "mod-flows", "in_port=2,actions=drop"),
	pingStep("ping-after-mod-flows-drop", false),
	ofctlStep("mod-flows-strict", "", "mod-flows", "--strict", "table=0,priority=10,in_port=2,actions=output:1"),
	pingStep("ping-after-mod-flows-strict", true),
	ofctlStep("del-flows-strict", "", "del-flows", "--strict", "table=0,priority=300,udp,tp_dst=9"),
	ofctlStep("del-flows-cookie", "", "del-flows", "cookie=0x1/-1"),
	pingStep("ping-after-del-flows-cookie", false),
	ofctlStep("add-group-1", "", "add-group", "group_id=1,type=all,bucket=output:2"),
	ofctlStep("add-group-2", "", "add-group", "group_id=2,type=indirect,bucket=output:1"),
	ofctlStep("bundle-add-flows", interopBundle, "add-flows", "--bundle", "-"),
	// The first flow would cut pod A off, the second names a missing group: the bundle
	// must change nothing, which the next ping and the listings show.
	refusedStep("bundle-refused", "table=0,priority=50,cookie=0x7,in_port=1,actions=drop\ntable=0,priority=1,cookie=0x7,actions=group:99\n",
		"add-flows", "--bundle", "-"),
	pingStep("ping-by-groups", true),
	tcpStep("tcp-by-groups", 5403),
	{name: "group-flows-counted", run: func(t *testing.T, _ *interopSwitch, mgmt string) string {
		out := ofctl(t, mgmt, "dump-flows", "cookie=0x6/-1")
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.Contains(l, "cookie=0x6") && strings.Contains(l, "n_packets=0,") {
				t.Errorf("a bundle flow forwarded nothing:\n%s", out)
			}
		}
		return ""
	}},
	{name: "dump-ports", run: func(t *testing.T, _ *interopSwitch, mgmt string) string {
		out := ofctl(t, mgmt, "dump-ports")
		for _, want := range []string{"port  1:", "port  2:"} {
			if !strings.Contains(out, want) {
				t.Errorf("dump-ports lacks %q:\n%s", want, out)
			}
		}
		if n := txPackets(t, ofctl(t, mgmt, "dump-ports", "2")); n == 0 {
			t.Errorf("port 2 transmitted nothing after the pings and transfers")
		}
		return ""
	}},
	{name: "packet-out", run: func(t *testing.T, _ *interopSwitch, mgmt string) string {
		before := txPackets(t, ofctl(t, mgmt, "dump-ports", "2"))
		// A broadcast frame of the local experimental EtherType 0x88b5, padded to 60 bytes.
		frame := "ffffffffffff" + "02000000000a" + "88b5" + strings.Repeat("00", 46)
		ofctl(t, mgmt, "packet-out", "in_port=controller packet="+frame+" actions=output:2")
		eventually(t, 5*time.Second, "tx_packets of port 2 grows by the packet-out", func() error {
			// At least: the pods may send frames of their own (IPv6 router solicitations).
			if after := txPackets(t, ofctl(t, mgmt, "dump-ports", "2")); after < before+1 {
				return fmt.Errorf("tx pkts %d, want at least %d", after, before+1)
			}
			return nil
		})
		return ""
	}},
}

// TestPrivilegedInterop runs the same ovs-vsctl/ovs-ofctl steps and the same pod traffic
// against sluice-datapath and against ovs-vswitchd, and requires the same connectivity and the
// same flow and group listings (without counters and durations) from both after every step:
//
//	sluice: pods ── veths ── node ns: sluice-datapath, bridge br1 datapath_type=sluice
//	ovs:    pods ── veths ── node ns: ovs-vswitchd,    bridge br1 datapath_type=netdev,
//	                                  host ends as type=afxdp interfaces
//
// Each switch has its own ovsdb-server, node namespace, pods and veths (one XDP program per
// netdev), all removed when its subtest ends. ovs-vswitchd is flowtest's, run inside the node
// namespace with its real netdev types.
func TestPrivilegedInterop(t *testing.T) {
	testutil.RequirePrivileged(t)
	bin := buildDatapath(t)

	switches := []struct {
		name  string
		start func(t *testing.T) *interopSwitch
	}{
		{"sluice", func(t *testing.T) *interopSwitch {
			db := startOVSDBServer(t)
			podA, podB, node, hA, hB := newPods(t, "is")
			rundir := t.TempDir()
			startDatapath(t, bin, node, "--ovsdb", "unix:"+db.sock, "--rundir", rundir)
			return &interopSwitch{
				dpType: "sluice",
				vsctl:  func(t testing.TB, args ...string) string { t.Helper(); return db.vsctl(t, args...) },
				mgmt:   func(br string) string { return filepath.Join(rundir, br+".mgmt") },
				podA:   podA, podB: podB, node: node, hA: hA, hB: hB,
			}
		}},
		{"ovs", func(t *testing.T) *interopSwitch {
			podA, podB, node, hA, hB := newPods(t, "io")
			o := flowtest.StartOVS(t, flowtest.OVSOptions{NetNS: node, RealNetdevs: true})
			return &interopSwitch{
				dpType:    "netdev",
				ifaceOpts: []string{"type=afxdp", "options:xdp-mode=native"},
				vsctl: func(t testing.TB, args ...string) string {
					t.Helper()
					return strings.TrimSpace(o.For(t).Vsctl(args...))
				},
				mgmt: o.MgmtPath,
				podA: podA, podB: podB, node: node, hA: hA, hB: hB,
			}
		}},
	}

	results := map[string][]interopResult{} // switch → result per step
	for _, sw := range switches {
		t.Run(sw.name, func(t *testing.T) {
			s := sw.start(t)
			mgmt := s.mgmt(interopBridge)
			for _, st := range interopSteps {
				var r interopResult
				t.Run(st.name, func(t *testing.T) {
					r.connectivity = st.run(t, s, mgmt)
					if _, err := os.Stat(mgmt); err != nil {
						return // no bridge yet
					}
					r.flows = flowtest.DumpLines(ofctl(t, mgmt, "dump-flows", "--no-stats"))
					r.groups = flowtest.DumpLines(ofctl(t, mgmt, "dump-groups"))
				})
				results[sw.name] = append(results[sw.name], r)
			}
		})
	}

	t.Run("same_results", func(t *testing.T) {
		sl, ovs := results["sluice"], results["ovs"]
		if sl == nil || ovs == nil {
			t.Skip("needs the subtests of both switches (-run filtered one out)")
		}
		if len(sl) != len(interopSteps) || len(ovs) != len(interopSteps) {
			t.Fatalf("a switch stopped early: sluice ran %d, ovs %d of %d steps", len(sl), len(ovs), len(interopSteps))
		}
		last := sl[len(sl)-1]
		t.Logf("final listing (sluice):\n%s\n%s", strings.Join(last.flows, "\n"), strings.Join(last.groups, "\n"))
		compared := 0
		defer func() {
			if compared == 0 {
				t.Errorf("no flow or group listed at any step: nothing was compared")
			}
		}()
		for i, st := range interopSteps {
			t.Run(st.name, func(t *testing.T) {
				if got, want := sl[i].connectivity, ovs[i].connectivity; got != want {
					t.Errorf("connectivity: sluice %q, ovs %q", got, want)
				}
				compared += len(sl[i].flows) + len(sl[i].groups)
				if d := flowtest.DiffLines(ovs[i].flows, sl[i].flows); d != "" {
					t.Errorf("dump-flows differs (- ovs, + sluice):\n%s", d)
				}
				if d := flowtest.DiffLines(ovs[i].groups, sl[i].groups); d != "" {
					t.Errorf("dump-groups differs (- ovs, + sluice):\n%s", d)
				}
			})
		}
	})
}
