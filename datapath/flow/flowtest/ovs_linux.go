package flowtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// OVS is an ovsdb-server and ovs-vswitchd of one test, in a temporary directory, with bridge
// "br0" (datapath_type=netdev) and dummy ports p1..pN as OpenFlow ports 1..N. The daemons are
// children of the test process and are killed (by PID) at cleanup, also on failure.
type OVS struct {
	Dir string // rundir: db.sock, br0.mgmt, logs
	t   testing.TB
	env []string
}

// OVSOptions configures StartOVS.
type OVSOptions struct {
	Ports int // dummy ports to add as OpenFlow ports 1..Ports
}

// DefaultOVSOptions returns six ports: enough for every fixture set (tunnel, gateway, four pods).
func DefaultOVSOptions() OVSOptions { return OVSOptions{Ports: 6} }

// StartOVS starts the switch, or skips t when Open vSwitch is not installed. The caller gates
// it with testutil.RequirePrivileged (the daemons need root for their run directory's files
// and the netdev datapath).
func StartOVS(t testing.TB, opts OVSOptions) *OVS {
	t.Helper()
	for _, bin := range []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl", "ovs-appctl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("Open vSwitch is not installed (%s not found)", bin)
		}
	}
	// Unix socket paths are limited to 108 bytes: keep the directory short.
	dir, err := os.MkdirTemp("", "sluice-ovs-")
	if err != nil {
		t.Fatalf("make OVS directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	o := &OVS{Dir: dir, t: t, env: append(os.Environ(),
		"OVS_RUNDIR="+dir, "OVS_DBDIR="+dir, "OVS_LOGDIR="+dir, "OVS_SYSCONFDIR="+dir)}
	db := filepath.Join(dir, "conf.db")
	o.run("ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema")
	o.daemon("ovsdb-server", db, "--remote=punix:"+o.path("db.sock"),
		"--unixctl="+o.path("ovsdb-server.ctl"), "--log-file="+o.path("ovsdb-server.log"))
	o.waitFor(o.path("db.sock"))
	o.Vsctl("--no-wait", "init")
	o.daemon("ovs-vswitchd", "unix:"+o.path("db.sock"), "--enable-dummy=override",
		"--unixctl="+o.path("ovs-vswitchd.ctl"), "--log-file="+o.path("ovs-vswitchd.log"))
	o.Vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev")
	for i := 1; i <= opts.Ports; i++ {
		p := fmt.Sprintf("p%d", i)
		o.Vsctl("add-port", "br0", p, "--", "set", "interface", p, "type=dummy", fmt.Sprintf("ofport_request=%d", i))
	}
	o.waitFor(o.path("br0.mgmt"))
	return o
}

func (o *OVS) path(name string) string { return filepath.Join(o.Dir, name) }

func (o *OVS) daemon(name string, args ...string) {
	o.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = o.env
	if err := cmd.Start(); err != nil {
		o.t.Fatalf("start %s: %v", name, err)
	}
	o.t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
}

func (o *OVS) waitFor(path string) {
	o.t.Helper()
	for range 400 {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	o.t.Fatalf("%s did not appear; see the logs in %s", path, o.Dir)
}

func (o *OVS) run(name string, args ...string) string {
	o.t.Helper()
	out, err := o.Try(name, args...)
	if err != nil {
		o.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// Try runs an OVS tool with this switch's environment and returns its combined output.
func (o *OVS) Try(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = o.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Vsctl runs ovs-vsctl against this switch's database, failing the test on error.
func (o *OVS) Vsctl(args ...string) string {
	o.t.Helper()
	return o.run("ovs-vsctl", append([]string{"--db=unix:" + o.path("db.sock"), "--timeout=10"}, args...)...)
}

// Target is the bridge's OpenFlow management socket, for ovs-ofctl.
func (o *OVS) Target() string { return "unix:" + o.path("br0.mgmt") }

// Ofctl runs "ovs-ofctl -O OpenFlow15 CMD br0 ARGS...", failing the test on error.
func (o *OVS) Ofctl(cmd string, args ...string) string {
	o.t.Helper()
	return o.run("ovs-ofctl", append([]string{"-O", "OpenFlow15", cmd, o.Target()}, args...)...)
}

// Appctl runs ovs-appctl against this ovs-vswitchd (e.g. "ofproto/trace", "br0", "in_port=1,..."),
// failing the test on error.
func (o *OVS) Appctl(args ...string) string {
	o.t.Helper()
	return o.run("ovs-appctl", append([]string{"--target=" + o.path("ovs-vswitchd.ctl")}, args...)...)
}

// Load replaces the switch's flows, groups and meters with the set's (meters, then groups, then
// flows, so references resolve).
func (o *OVS) Load(s *Set) {
	o.t.Helper()
	o.Ofctl("del-flows")
	o.Ofctl("del-groups")
	o.Try("ovs-ofctl", "-O", "OpenFlow15", "del-meters", o.Target())
	for _, m := range s.Meters {
		o.Ofctl("add-meter", m.String())
	}
	if s.GroupsFile != "" {
		o.Ofctl("add-groups", s.GroupsFile)
	}
	o.Ofctl("add-flows", s.FlowsFile)
}

// DumpFlows returns dump-flows --no-stats, trimmed and sorted.
func (o *OVS) DumpFlows() []string { return dumpLines(o.Ofctl("dump-flows", "--no-stats")) }

// DumpFlowsWithStats returns dump-flows with statistics, trimmed and sorted.
func (o *OVS) DumpFlowsWithStats() []string { return dumpLines(o.Ofctl("dump-flows")) }

// DumpGroups returns dump-groups, trimmed and sorted.
func (o *OVS) DumpGroups() []string { return dumpLines(o.Ofctl("dump-groups")) }

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
