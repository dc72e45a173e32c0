package flowtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/internal/testutil"
)

// OVS is an ovsdb-server and ovs-vswitchd of one test, in a temporary directory, with bridge
// "br0" (datapath_type=netdev) and dummy ports p1..pN as OpenFlow ports 1..N. The daemons are
// children of the test process and are killed (by PID) and waited for at cleanup, also on
// failure; when the test failed, the tail of ovs-vswitchd's log is logged first.
//
// The methods fail the test StartOVS was given; a subtest calls them through For(t), because
// a FailNow on the parent from a subtest's goroutine is not allowed.
type OVS struct {
	Dir string // rundir: db.sock, br0.mgmt, logs
	t   testing.TB
	env []string
}

// OVSOptions configures StartOVS.
type OVSOptions struct {
	Ports int // dummy ports to add as OpenFlow ports 1..Ports

	// NetNS, when set, runs both daemons inside that namespace, so ovs-vswitchd opens its
	// netdevs; the tools still reach the daemons through their unix sockets.
	NetNS *testutil.NetNS
	// RealNetdevs keeps OVS's own netdev types (afxdp, system, tap) beside dummy instead of
	// replacing them all with dummy, for ports on real devices such as veths.
	RealNetdevs bool
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
	o.daemon(opts.NetNS, "ovsdb-server", db, "--remote=punix:"+o.path("db.sock"),
		"--unixctl="+o.path("ovsdb-server.ctl"), "--log-file="+o.path("ovsdb-server.log"))
	o.waitFor(o.path("db.sock"))
	o.Vsctl("--no-wait", "init")
	dummy := "--enable-dummy=override"
	if opts.RealNetdevs {
		dummy = "--enable-dummy"
	}
	o.daemon(opts.NetNS, "ovs-vswitchd", "unix:"+o.path("db.sock"), dummy,
		"--unixctl="+o.path("ovs-vswitchd.ctl"), "--log-file="+o.path("ovs-vswitchd.log"),
		"--pidfile="+o.path("ovs-vswitchd.pid"))
	t.Cleanup(func() { // runs before the daemons are killed
		if t.Failed() {
			log, _ := os.ReadFile(o.path("ovs-vswitchd.log"))
			t.Logf("ovs-vswitchd.log (tail):\n%s", log[max(0, len(log)-4000):])
		}
	})
	o.Vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev")
	for i := 1; i <= opts.Ports; i++ {
		p := fmt.Sprintf("p%d", i)
		o.Vsctl("add-port", "br0", p, "--", "set", "interface", p, "type=dummy", fmt.Sprintf("ofport_request=%d", i))
	}
	o.waitFor(o.path("br0.mgmt"))
	return o
}

func (o *OVS) path(name string) string { return filepath.Join(o.Dir, name) }

// For returns the same switch with its methods failing t instead, for use inside t.Run.
func (o *OVS) For(t testing.TB) *OVS {
	c := *o
	c.t = t
	return &c
}

// MgmtPath returns the path of a bridge's OpenFlow management socket (bridge "br0" for the
// one StartOVS makes), to dial as a controller.
func (o *OVS) MgmtPath(bridge string) string { return o.path(bridge + ".mgmt") }

// AddBridge adds netdev bridge name with fail-mode secure (no flows at all, not even the
// default NORMAL one), waits for its management socket, deletes it at cleanup of the test o
// fails, and returns its OpenFlow target for ovs-ofctl ("unix:…/name.mgmt").
func (o *OVS) AddBridge(name string) string {
	o.t.Helper()
	o.Vsctl("add-br", name, "--", "set", "bridge", name, "datapath_type=netdev", "--", "set-fail-mode", name, "secure")
	o.t.Cleanup(func() {
		o.Try("ovs-vsctl", "--db=unix:"+o.path("db.sock"), "--timeout=10", "--if-exists", "del-br", name)
	})
	o.waitFor(o.MgmtPath(name))
	return "unix:" + o.MgmtPath(name)
}

// VswitchdPID returns ovs-vswitchd's process ID, failing the test when its pidfile is unreadable.
func (o *OVS) VswitchdPID() int {
	o.t.Helper()
	b, err := os.ReadFile(o.path("ovs-vswitchd.pid"))
	if err != nil {
		o.t.Fatalf("read ovs-vswitchd pidfile: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		o.t.Fatalf("parse ovs-vswitchd pidfile: %v", err)
	}
	return pid
}

// daemon starts a daemon in the foreground, inside ns when it is not nil (`ip netns exec`
// execs, so the PID is the daemon's own), and kills it by PID and waits at cleanup.
func (o *OVS) daemon(ns *testutil.NetNS, name string, args ...string) {
	o.t.Helper()
	cmd := exec.Command(name, args...)
	if ns != nil {
		cmd = ns.Command(name, args...)
	}
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

// toolTimeout bounds one OVS tool run, so a wedged daemon fails the test instead of hanging it
// (ovs-vsctl has its own --timeout; ovs-ofctl and ovs-appctl have none).
const toolTimeout = 2 * time.Minute

// Try runs an OVS tool with this switch's environment and returns its standard output; what
// it wrote to standard error (OVS tools log warnings there, such as deprecated actions) goes
// into the error when the tool fails. The tool is killed after two minutes.
func (o *OVS) Try(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = o.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
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
func (o *OVS) DumpFlows() []string { return DumpLines(o.Ofctl("dump-flows", "--no-stats")) }

// DumpFlowsWithStats returns dump-flows with statistics, trimmed and sorted.
func (o *OVS) DumpFlowsWithStats() []string { return DumpLines(o.Ofctl("dump-flows")) }

// DumpGroups returns dump-groups, trimmed and sorted.
func (o *OVS) DumpGroups() []string { return DumpLines(o.Ofctl("dump-groups")) }

// DumpLines returns the entries of an ovs-ofctl dump (dump-flows, dump-groups, ... of any
// switch), trimmed and sorted, without the reply header lines.
func DumpLines(out string) []string {
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
