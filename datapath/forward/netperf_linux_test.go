package forward

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/flow/flowtest"
	"github.com/sluicenet/sluice/internal/testutil"
)

// BenchmarkPrivilegedNetperf measures netperf TCP_STREAM, TCP_RR and TCP_CRR between the two
// pods of the forwarding test's topology, for three paths in one run:
//
//   - sluice: the forwarding loop (child process) with the steering program, copy mode;
//   - bridge: the same namespaces with the loop killed, so the node's Linux bridge forwards;
//   - ovs-afxdp: OVS 3.1 (flowtest's ovsdb-server and ovs-vswitchd, in the node namespace) with a netdev bridge and
//     type=afxdp ports on the same host veth ends.
//
// It also reports the CPU the idle loop process and the idle ovs-vswitchd use over 10 s. Each
// figure comes from one netperf run: run with -benchtime=1x and compare ratios, not absolutes:
//
//	SLUICE_PRIVILEGED_TESTS=1 go test -run XXX -bench PrivilegedNetperf -benchtime=1x ./datapath/forward/
func BenchmarkPrivilegedNetperf(b *testing.B) {
	testutil.RequirePrivileged(b)
	for _, tool := range []string{"netperf", "netserver", "ovs-vswitchd", "ovsdb-server", "ovsdb-tool", "ovs-vsctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s not installed (hack/deps.sh installs it): %v", tool, err)
		}
	}
	tests := []struct{ name, unit string }{{"TCP_STREAM", "Mb/s"}, {"TCP_RR", "trans/s"}, {"TCP_CRR", "trans/s"}}
	measure := func(b *testing.B, n *fwdNode) {
		startDaemon(b, n.podB, nil, "netserver", "-D", "-L", "10.0.0.2")
		time.Sleep(300 * time.Millisecond)
		for _, tt := range tests {
			b.Run(tt.name, func(b *testing.B) {
				var v float64
				for b.Loop() {
					v = netperf(b, n.podA, tt.name)
				}
				b.ReportMetric(v, tt.unit)
			})
		}
	}
	b.Run("path=sluice", func(b *testing.B) {
		n := newFwdNode(b)
		loop := n.startLoop(b)
		testutil.Ping(b, n.podA, "10.0.0.2")
		measure(b, n)
		b.Run("idle", func(b *testing.B) {
			for b.Loop() {
				b.ReportMetric(idleCPU(b, loop.cmd.Process.Pid), "cpu%")
			}
		})
		loop.kill()
		b.Run("path=bridge", func(b *testing.B) { measure(b, n) })
	})
	b.Run("path=ovs-afxdp", func(b *testing.B) {
		n := newPodsOnNode(b)
		vswitchd := startOVS(b, n)
		testutil.Ping(b, n.podA, "10.0.0.2")
		measure(b, n)
		b.Run("idle", func(b *testing.B) {
			for b.Loop() {
				b.ReportMetric(idleCPU(b, vswitchd), "cpu%")
			}
		})
	})
}

// startDaemon runs a command in ns in the foreground, with env added to the environment, and
// kills it by PID at cleanup; it returns the PID (`ip netns exec` execs the command, so it is
// the command's own).
func startDaemon(t testing.TB, ns *testutil.NetNS, env []string, name string, args ...string) int {
	t.Helper()
	cmd := ns.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd.Process.Pid
}

// netperf runs one 5-second netperf test from ns to 10.0.0.2 and returns its throughput.
func netperf(t testing.TB, ns *testutil.NetNS, test string) float64 {
	t.Helper()
	out, err := ns.Exec("netperf", "-H", "10.0.0.2", "-t", test, "-l", "5", "-P", "0", "--", "-o", "THROUGHPUT")
	if err != nil {
		t.Fatalf("netperf %s: %v\n%s", test, err, out)
	}
	lines := strings.Fields(strings.TrimSpace(out))
	v, err := strconv.ParseFloat(lines[len(lines)-1], 64)
	if err != nil {
		t.Fatalf("netperf %s output %q: %v", test, out, err)
	}
	return v
}

// idleCPU returns the CPU pid used over 10 s, in percent of one core.
func idleCPU(t testing.TB, pid int) float64 {
	t.Helper()
	ticks := func() float64 {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		u, _ := strconv.ParseFloat(f[11], 64) // utime, field 14 of stat
		s, _ := strconv.ParseFloat(f[12], 64) // stime, field 15
		return u + s
	}
	before := ticks()
	time.Sleep(10 * time.Second)
	return (ticks() - before) / 100 / 10 * 100 // USER_HZ is 100
}

// startOVS starts flowtest's ovsdb-server and ovs-vswitchd in the node namespace, with the
// netdev bridge's ports being the host veth ends as type=afxdp, and returns ovs-vswitchd's PID.
func startOVS(t testing.TB, n *fwdNode) int {
	t.Helper()
	o := flowtest.StartOVS(t, flowtest.OVSOptions{NetNS: n.node, RealNetdevs: true})
	for _, h := range []string{n.hA.Name, n.hB.Name} {
		o.Vsctl("add-port", "br0", h, "--", "set", "interface", h, "type=afxdp", "options:xdp-mode=native")
	}
	for _, h := range []string{n.hA.Name, n.hB.Name} {
		link, _ := n.node.Exec("ip", "-o", "link", "show", h) // "xdp" native, "xdpgeneric" generic
		t.Logf("ovs port %s: error=%s; %s", h, strings.TrimSpace(o.Vsctl("get", "interface", h, "error")), strings.TrimSpace(link))
	}
	return o.VswitchdPID()
}
