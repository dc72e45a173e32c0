package flow

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/internal/testutil"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/flows/golden from a real ovs-vswitchd (privileged)")

// ovsSwitch is an ovsdb-server and ovs-vswitchd of our own, in a temporary directory, with one
// netdev bridge br0 on dummy ports (no kernel devices).
type ovsSwitch struct {
	t   *testing.T
	dir string
	env []string
}

// startOVS starts the two daemons as child processes and stops them (by PID) at cleanup.
func startOVS(t *testing.T) *ovsSwitch {
	t.Helper()
	for _, bin := range []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("Open vSwitch is not installed (%s not found)", bin)
		}
	}
	dir, err := os.MkdirTemp("", "sluice-ovs-")
	if err != nil {
		t.Fatalf("make OVS directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	o := &ovsSwitch{t: t, dir: dir, env: append(os.Environ(),
		"OVS_RUNDIR="+dir, "OVS_DBDIR="+dir, "OVS_LOGDIR="+dir, "OVS_SYSCONFDIR="+dir)}
	schema := "/usr/share/openvswitch/vswitch.ovsschema"
	o.run("ovsdb-tool", "create", filepath.Join(dir, "conf.db"), schema)
	o.daemon("ovsdb-server", filepath.Join(dir, "conf.db"), "--remote=punix:"+filepath.Join(dir, "db.sock"),
		"--unixctl="+filepath.Join(dir, "ovsdb-server.ctl"), "--log-file="+filepath.Join(dir, "ovsdb-server.log"))
	o.waitFor(filepath.Join(dir, "db.sock"))
	o.vsctl("--no-wait", "init")
	o.daemon("ovs-vswitchd", "unix:"+filepath.Join(dir, "db.sock"), "--enable-dummy=override",
		"--unixctl="+filepath.Join(dir, "ovs-vswitchd.ctl"), "--log-file="+filepath.Join(dir, "ovs-vswitchd.log"))
	o.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev")
	for i := 1; i <= 6; i++ {
		o.vsctl("add-port", "br0", fmt.Sprintf("p%d", i), "--", "set", "interface", fmt.Sprintf("p%d", i),
			"type=dummy", fmt.Sprintf("ofport_request=%d", i))
	}
	o.waitFor(filepath.Join(dir, "br0.mgmt"))
	return o
}

func (o *ovsSwitch) daemon(name string, args ...string) {
	o.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = o.env
	if err := cmd.Start(); err != nil {
		o.t.Fatalf("start %s: %v", name, err)
	}
	o.t.Cleanup(func() {
		cmd.Process.Kill() // by PID: our own child
		cmd.Wait()
	})
}

func (o *ovsSwitch) waitFor(path string) {
	o.t.Helper()
	for range 200 {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	o.t.Fatalf("%s did not appear", path)
}

func (o *ovsSwitch) run(name string, args ...string) string {
	o.t.Helper()
	out, err := o.try(name, args...)
	if err != nil {
		o.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (o *ovsSwitch) try(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = o.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (o *ovsSwitch) vsctl(args ...string) {
	o.t.Helper()
	o.run("ovs-vsctl", append([]string{"--db=unix:" + filepath.Join(o.dir, "db.sock"), "--timeout=10"}, args...)...)
}

func (o *ovsSwitch) ofctl(args ...string) string {
	o.t.Helper()
	target := "unix:" + filepath.Join(o.dir, "br0.mgmt")
	full := append([]string{"-O", "OpenFlow15", args[0], target}, args[1:]...)
	return o.run("ovs-ofctl", full...)
}

// dumpLines returns the non-header lines of an ovs-ofctl dump, trimmed and sorted.
func dumpLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "OFPST_") || strings.HasPrefix(l, "NXST_") {
			continue
		}
		lines = append(lines, l)
	}
	sort.Strings(lines)
	return lines
}

// TestPrivilegedPrintMatchesOVS loads every fixture set into a real ovs-vswitchd with
// ovs-ofctl -O OpenFlow15 add-flows (which also proves each set is valid for OVS), dumps it
// back, and compares OVS's text with our printer's, line by line. With -update-golden it
// rewrites the committed golden dumps that TestGoldenDumps compares against without root.
func TestPrivilegedPrintMatchesOVS(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := startOVS(t)
	for _, set := range fixtureSets(t) {
		t.Run(set.name, func(t *testing.T) {
			o.t = t
			o.ofctl("del-flows")
			o.ofctl("del-groups")
			o.try("ovs-ofctl", "-O", "OpenFlow15", "del-meters", "unix:"+filepath.Join(o.dir, "br0.mgmt"))
			for _, m := range set.meters {
				o.ofctl("add-meter", m.String())
			}
			if set.groupsFile != "" {
				o.ofctl("add-groups", set.groupsFile)
			}
			o.ofctl("add-flows", set.flowsFile)

			gotFlows := dumpLines(o.ofctl("dump-flows", "--no-stats"))
			if diff := diffLines(printFlows(set.flows), gotFlows); diff != "" {
				t.Errorf("our printer (-) vs ovs-ofctl dump-flows (+):\n%s", diff)
			}
			var gotGroups []string
			if set.groupsFile != "" {
				gotGroups = dumpLines(o.ofctl("dump-groups"))
				if diff := diffLines(printGroups(set.groups), gotGroups); diff != "" {
					t.Errorf("our printer (-) vs ovs-ofctl dump-groups (+):\n%s", diff)
				}
			}
			if *updateGolden {
				writeGolden(t, set.name+".flows", gotFlows)
				if set.groupsFile != "" {
					writeGolden(t, set.name+".groups", gotGroups)
				}
			}
		})
	}
}

func writeGolden(t *testing.T, name string, lines []string) {
	t.Helper()
	dir := filepath.Join(fixtureDir, "golden")
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
	o := startOVS(t)
	o.ofctl("add-meter", "meter=1,kbps,band=type=drop,rate=1000")
	o.ofctl("add-group", "group_id=2,type=all,bucket=actions=output:1")
	target := "unix:" + filepath.Join(o.dir, "br0.mgmt")
	for _, tt := range rejectTests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := o.try("ovs-ofctl", "-O", "OpenFlow15", "add-flow", target, tt.flow)
			switch {
			case tt.stricter && err != nil:
				t.Errorf("ovs-ofctl now rejects %q (%s): drop the stricter mark", tt.flow, strings.TrimSpace(out))
			case !tt.stricter && err == nil:
				t.Errorf("ovs-ofctl accepts %q, which ParseFlow refuses (%s)", tt.flow, strings.TrimSpace(out))
			}
		})
	}
}
