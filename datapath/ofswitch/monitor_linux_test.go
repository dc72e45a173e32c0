package ofswitch_test

import (
	"encoding/hex"
	"github.com/sluicenet/sluice/internal/testutil"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/flow/flowtest"
)

// monitor runs `ovs-ofctl monitor` on target until the test ends (stopped by PID); rundir
// receives its control socket.
func monitor(t *testing.T, rundir, target string, args ...string) *testutil.SyncBuffer {
	t.Helper()
	out := &testutil.SyncBuffer{}
	// miss_send_len 128: service connections get asynchronous messages only when it is set.
	cmd := exec.Command("ovs-ofctl", append(append([]string{"-O", "OpenFlow15"}, args...), "monitor", target, "128")...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+rundir)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ovs-ofctl monitor: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return out
}

var monitorNoise = regexp.MustCompile(`duration=?[0-9.]+s|xid=0x[0-9a-f]+`)

// asyncLines returns the monitor's output lines, without durations and xids.
func asyncLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, monitorNoise.ReplaceAllString(l, ""))
		}
	}
	return out
}

// TestPrivilegedMonitor checks that `ovs-ofctl monitor` prints the same asynchronous messages
// (flow removed, packet-in in both formats) from the Sluice switch as from ovs-vswitchd.
func TestPrivilegedMonitor(t *testing.T) {
	ovs, sw, dir := startBoth(t)
	pkt := hex.EncodeToString(frame(2))
	steps := []struct {
		name   string
		format string
		cmds   [][]string
	}{
		{"flow-removed", "standard", [][]string{
			{"add-flow", "table=0,priority=5,cookie=0x5,ip,send_flow_rem,actions=output:1"},
			{"del-flows", "cookie=0x5/-1"},
		}},
		{"packet-in", "standard", [][]string{
			{"add-flow", "table=0,priority=9,udp,cookie=0x6,actions=controller"},
			{"packet-out", "in_port=1 packet=" + pkt + " actions=output:TABLE"},
			{"del-flows", "cookie=0x6/-1"},
		}},
		{"packet-in2-userdata", "nxt_packet_in2", [][]string{
			{"add-flow", "table=0,priority=9,udp,cookie=0x7,actions=controller(userdata=0a.0b.0c)"},
			{"packet-out", "in_port=1 packet=" + pkt + " actions=output:TABLE"},
			{"del-flows", "cookie=0x7/-1"},
		}},
	}
	want := map[string][]string{}
	for _, target := range []struct{ name, addr string }{{"ovs", ovs.Target()}, {"sluice", "unix:" + sw.Path()}} {
		t.Run(target.name, func(t *testing.T) {
			if _, err := ofctl(target.addr, "", "del-flows"); err != nil {
				t.Fatal(err)
			}
			for _, st := range steps {
				t.Run(st.name, func(t *testing.T) {
					out := monitor(t, dir, target.addr, "--packet-in-format="+st.format)
					time.Sleep(500 * time.Millisecond) // let the monitor connect and configure
					for _, c := range st.cmds {
						if o, err := ofctl(target.addr, "", c[0], c[1:]...); err != nil {
							t.Fatalf("%v: %v\n%s", c, err, o)
						}
					}
					time.Sleep(500 * time.Millisecond)
					got := asyncLines(out.String())
					if len(got) == 0 {
						t.Fatalf("monitor printed nothing")
					}
					if target.name == "ovs" {
						want[st.name] = got
						return
					}
					if d := flowtest.DiffLines(want[st.name], got); d != "" {
						t.Errorf("monitor output differs (- ovs, + sluice):\n%s", d)
					}
				})
			}
		})
	}
}
