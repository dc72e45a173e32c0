package ofswitch_test

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow/flowtest"
	"github.com/sluicenet/sluice/datapath/ofswitch"
	"github.com/sluicenet/sluice/internal/testutil"
)

// interopStep is one ovs-ofctl command run against both switches; check, when set, looks at
// the command's output (the two switches' outputs are not compared: they differ in MACs,
// names of the LOCAL port, counters).
type interopStep struct {
	name string
	args []string // after "ovs-ofctl -O OpenFlow15 CMD TARGET"
	cmd  string
	// stdin feeds "-" file arguments.
	stdin string
	// fails is set when both switches must refuse the command.
	fails bool
	// output is set when the command's own output must be the same on both switches.
	output bool
}

var interopFlows = `
table=0,priority=200,arp,actions=NORMAL
table=0,priority=100,cookie=0x1,ip,nw_dst=10.0.0.1,actions=output:1
table=0,priority=100,cookie=0x2,ip,nw_dst=10.0.0.2,actions=output:2
table=0,priority=90,cookie=0x1,ip,in_port=3,actions=resubmit(,10)
table=0,priority=0,actions=goto_table:10
table=10,priority=10,cookie=0x3,tcp,tp_dst=80,send_flow_rem,actions=ct(commit,zone=5,table=20)
table=10,priority=5,reg0=0x5/0xff,actions=set_field:0x1->reg1,load:0x2->NXM_NX_REG2[0..7],output:3
table=20,priority=1,ct_state=+trk+est,idle_timeout=60,hard_timeout=120,actions=mod_dl_dst:02:00:00:00:00:01,output:2
table=20,priority=1,ip,nw_src=192.0.2.0/24,actions=conjunction(7,1/2)
table=20,priority=1,tcp,tp_src=1000,actions=conjunction(7,2/2)
table=20,priority=1,conj_id=7,ip,actions=controller(userdata=01.02.03)
`

var interopBundle = `
table=30,priority=10,ip,nw_dst=198.51.100.1,actions=output:4
table=30,priority=10,ip,nw_dst=198.51.100.2,actions=group:1
table=30,priority=5,ipv6,ipv6_dst=2001:db8::1,actions=dec_ttl,output:1
`

// interopSteps are the steps of TestPrivilegedInterop, in order; dump-flows runs after each.
var interopSteps = []interopStep{
	// ovs-vswitchd starts a bridge with priority=0,actions=NORMAL; Sluice starts empty.
	{name: "del-flows", cmd: "del-flows"},
	{name: "add-flow", cmd: "add-flow", args: []string{"table=0,priority=300,in_port=4,actions=drop"}},
	{name: "add-flows", cmd: "add-flows", args: []string{"-"}, stdin: interopFlows},
	{name: "mod-flows", cmd: "mod-flows", args: []string{"ip,nw_dst=10.0.0.2,actions=output:4"}},
	{name: "mod-flows-strict", cmd: "mod-flows", args: []string{"--strict", "table=0,priority=100,ip,nw_dst=10.0.0.1,actions=output:3"}},
	{name: "add-flow-replace", cmd: "add-flow", args: []string{"table=10,priority=10,cookie=0x9,tcp,tp_dst=80,actions=output:2"}},
	{name: "mod-flows-cookie", cmd: "mod-flows", args: []string{"cookie=0x2/-1,actions=output:1,output:2"}},
	{name: "dump-flows-table", cmd: "dump-flows", args: []string{"table=10"}, output: true},
	{name: "dump-flows-match", cmd: "dump-flows", args: []string{"ip"}, output: true},
	{name: "dump-aggregate", cmd: "dump-aggregate", args: []string{"table=20"}, output: true},
	{name: "del-flows-strict", cmd: "del-flows", args: []string{"--strict", "table=0,priority=300,in_port=4"}},
	{name: "del-flows-cookie", cmd: "del-flows", args: []string{"cookie=0x1/-1"}},
	{name: "add-group", cmd: "add-group", args: []string{"group_id=1,type=select,bucket=output:1,bucket=output:2"}},
	{name: "add-group-exists", cmd: "add-group", args: []string{"group_id=1,type=all,bucket=output:1"}, fails: true},
	{name: "add-meter", cmd: "add-meter", args: []string{"meter=1,pktps,band=type=drop,rate=10"}},
	{name: "add-flow-meter", cmd: "add-flow", args: []string{"table=40,priority=1,ip,actions=meter:1,output:1"}},
	{name: "add-flow-group", cmd: "add-flow", args: []string{"table=50,priority=1,ip,actions=group:1"}},
	{name: "del-flows-out-group", cmd: "del-flows", args: []string{"table=50,out_group=1"}},
	{name: "bundle-add-flows", cmd: "add-flows", args: []string{"--bundle", "-"}, stdin: interopBundle},
	{name: "bundle-refused", cmd: "add-flows", args: []string{"--bundle", "-"}, stdin: "table=31,priority=1,actions=group:99\ntable=31,priority=2,actions=output:1\n", fails: true},
	{name: "packet-out", cmd: "packet-out", args: []string{"in_port=1 packet=" + hex.EncodeToString(frame(2)) + " actions=output:2"}},
	{name: "packet-out-set-field", cmd: "packet-out", args: []string{"in_port=1 packet=" + hex.EncodeToString(frame(2)) + " actions=set_field:10.0.0.9->ip_dst,output:3"}},
	{name: "packet-out-table", cmd: "packet-out", args: []string{"in_port=1 packet=" + hex.EncodeToString(frame(2)) + " actions=output:TABLE"}},
	{name: "bundle-replace-flows", cmd: "replace-flows", args: []string{"--bundle", "-"}, stdin: interopBundle + interopFlows},
	{name: "del-flows-out-port", cmd: "del-flows", args: []string{"out_port=4"}},
	{name: "mod-port-down", cmd: "mod-port", args: []string{"p2", "down"}},
	{name: "bad-goto", cmd: "add-flow", args: []string{"table=5,actions=goto_table:2"}, fails: true},
}

var statsRE = regexp.MustCompile(`(duration|n_packets|n_bytes|idle_age|hard_age)=[^,]*, ?`)

// normalizeDump returns dump-flows lines without counters and durations, sorted.
func normalizeDump(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "OFPST_") || strings.HasPrefix(l, "NXST_") {
			continue
		}
		lines = append(lines, statsRE.ReplaceAllString(l, ""))
	}
	slices.Sort(lines)
	return lines
}

// ofctl runs ovs-ofctl -O OpenFlow15 against target.
func ofctl(target, stdin, cmd string, args ...string) (string, error) {
	var opts, rest []string
	for _, a := range args {
		if strings.HasPrefix(a, "--") {
			opts = append(opts, a)
		} else {
			rest = append(rest, a)
		}
	}
	full := append(append([]string{"-O", "OpenFlow15"}, opts...), append([]string{cmd, target}, rest...)...)
	c := exec.Command("ovs-ofctl", full...)
	if stdin != "" {
		c.Stdin = strings.NewReader(stdin)
	}
	out, err := c.CombinedOutput()
	return string(out), err
}

// startBoth starts a private ovs-vswitchd and a Sluice switch, both with ports 1..4, and
// returns them with a short temporary directory (unix socket paths are limited to 108 bytes).
func startBoth(t *testing.T) (*flowtest.OVS, *testSwitch, string) {
	t.Helper()
	testutil.RequirePrivileged(t)
	if _, err := exec.LookPath("ovs-ofctl"); err != nil {
		t.Skip("ovs-ofctl is not installed")
	}
	ovs := flowtest.StartOVS(t, flowtest.OVSOptions{Ports: 4})
	dir, err := os.MkdirTemp("", "sluice-ofs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return ovs, startSwitch(t, ofswitch.Options{Path: filepath.Join(dir, "br0.mgmt")}), dir
}

func TestPrivilegedInterop(t *testing.T) {
	ovs, sw, _ := startBoth(t)
	sluiceTarget := "unix:" + sw.Path()

	want := map[string][]string{} // step → ovs's dump-flows
	wantGroups := map[string][]string{}
	for _, target := range []struct{ name, addr string }{{"ovs", ovs.Target()}, {"sluice", sluiceTarget}} {
		t.Run(target.name, func(t *testing.T) {
			for _, st := range interopSteps {
				t.Run(st.name, func(t *testing.T) {
					out, err := ofctl(target.addr, st.stdin, st.cmd, st.args...)
					if st.fails && err == nil {
						t.Fatalf("%s %v succeeded, want a refusal:\n%s", st.cmd, st.args, out)
					}
					if !st.fails && err != nil {
						t.Fatalf("%s %v: %v\n%s", st.cmd, st.args, err, out)
					}
					dump, err := ofctl(target.addr, "", "dump-flows")
					if err != nil {
						t.Fatalf("dump-flows: %v\n%s", err, dump)
					}
					groups, err := ofctl(target.addr, "", "dump-groups")
					if err != nil {
						t.Fatalf("dump-groups: %v\n%s", err, groups)
					}
					meters, err := ofctl(target.addr, "", "dump-meters")
					if err != nil {
						t.Fatalf("dump-meters: %v\n%s", err, meters)
					}
					got, gotGroups := normalizeDump(dump), append(normalizeDump(groups), normalizeDump(meters)...)
					if st.output {
						got = append(got, normalizeDump(out)...)
					}
					if target.name == "ovs" {
						want[st.name], wantGroups[st.name] = got, gotGroups
						return
					}
					if len(got) == 0 && st.name != "del-flows" {
						t.Errorf("dump-flows is empty after %s", st.name)
					}
					if d := flowtest.DiffLines(want[st.name], got); d != "" {
						t.Errorf("dump-flows differs from ovs-vswitchd's (- ovs, + sluice):\n%s", d)
					}
					if d := flowtest.DiffLines(wantGroups[st.name], gotGroups); d != "" {
						t.Errorf("dump-groups/dump-meters differs from ovs-vswitchd's (- ovs, + sluice):\n%s", d)
					}
				})
			}
			t.Run("dump-ports", func(t *testing.T) {
				out, err := ofctl(target.addr, "", "dump-ports")
				if err != nil {
					t.Fatalf("dump-ports: %v\n%s", err, out)
				}
				for _, p := range []string{"port  1:", "port  4:", "port LOCAL:"} {
					if !strings.Contains(out, p) {
						t.Errorf("dump-ports lacks %q:\n%s", p, out)
					}
				}
			})
			t.Run("dump-ports-desc", func(t *testing.T) {
				out, err := ofctl(target.addr, "", "dump-ports-desc")
				if err != nil {
					t.Fatalf("dump-ports-desc: %v\n%s", err, out)
				}
				for _, p := range []string{" 1(p1): addr:", " 4(p4): addr:", " LOCAL(br0): addr:", "config:     PORT_DOWN"} {
					if !strings.Contains(out, p) {
						t.Errorf("dump-ports-desc lacks %q:\n%s", p, out)
					}
				}
			})
		})
	}
	t.Run("sluice/packet-out-delivered", func(t *testing.T) {
		// packet-out output:2 once directly, and once through the tables, where table 0 sends
		// 10.0.0.2 to ports 1 and 2 after mod-flows-cookie (output to the in_port 1 is dropped,
		// as in OVS); set_field output:3 once.
		if n := len(sw.ports[2].Frames()); n != 2 {
			t.Errorf("port 2 transmitted %d frames, want 2", n)
		}
		if n := len(sw.ports[1].Frames()); n != 0 {
			t.Errorf("port 1 (the in_port) transmitted %d frames, want 0", n)
		}
		if fs := sw.ports[3].Frames(); len(fs) != 1 || fs[0][33] != 9 {
			t.Errorf("port 3 transmitted %x, want one frame to 10.0.0.9", fs)
		}
	})
}
