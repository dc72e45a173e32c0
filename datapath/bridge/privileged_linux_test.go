package bridge_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice/internal/testutil"
)

// The privileged test runs the real sluice-datapath binary against Debian's ovsdb-server:
//
//	podA: eth 10.0.0.1/24 ── hA (ofport 1) ┐                  ┌ hB (ofport 2) ── eth 10.0.0.2/24 :podB
//	                                        node namespace: sluice-datapath (nsenter --net)
//	                                        br0.mgmt ← ovs-ofctl, db.sock ← ovs-vsctl
//
// The binary runs with only its network namespace switched (nsenter --net), so the test's
// ovs-vsctl and ovs-ofctl reach its sockets in the temporary directory directly.

// ovsdbServer is Debian's ovsdb-server on a fresh database in a temporary directory.
type ovsdbServer struct {
	dir, sock string
}

func startOVSDBServer(t testing.TB) *ovsdbServer {
	t.Helper()
	for _, bin := range []string{"ovsdb-server", "ovsdb-tool", "ovs-vsctl", "ovs-ofctl", "nsenter"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not installed: %v", bin, err)
		}
	}
	dir := t.TempDir()
	s := &ovsdbServer{dir: dir, sock: filepath.Join(dir, "db.sock")}
	if out, err := exec.Command("ovsdb-tool", "create", filepath.Join(dir, "conf.db"),
		"/usr/share/openvswitch/vswitch.ovsschema").CombinedOutput(); err != nil {
		t.Fatalf("ovsdb-tool create: %v: %s", err, out)
	}
	cmd := exec.Command("ovsdb-server", "--remote=punix:"+s.sock,
		"--pidfile="+filepath.Join(dir, "ovsdb-server.pid"),
		"--unixctl="+filepath.Join(dir, "ovsdb-server.ctl"),
		"--log-file="+filepath.Join(dir, "ovsdb-server.log"),
		filepath.Join(dir, "conf.db"))
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+dir, "OVS_LOGDIR="+dir, "OVS_DBDIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ovsdb-server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	eventually(t, 10*time.Second, "ovsdb-server socket appears", func() error {
		_, err := os.Stat(s.sock)
		return err
	})
	s.vsctl(t, "--no-wait", "init")
	return s
}

// vsctl runs ovs-vsctl against the server (waiting for the datapath unless --no-wait).
func (s *ovsdbServer) vsctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := s.tryVsctl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (s *ovsdbServer) tryVsctl(args ...string) (string, error) {
	cmd := exec.Command("ovs-vsctl", append([]string{"--db=unix:" + s.sock, "--timeout=20"}, args...)...)
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+s.dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ovs-vsctl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func eventually(t testing.TB, within time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// datapathProcess is sluice-datapath running in the node namespace.
type datapathProcess struct {
	cmd    *exec.Cmd
	stderr testutil.SyncBuffer
	exited chan struct{}
}

// buildDatapath compiles cmd/sluice-datapath into a temporary directory.
func buildDatapath(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluice-datapath")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/sluice-datapath").CombinedOutput(); err != nil {
		t.Fatalf("build sluice-datapath: %v\n%s", err, out)
	}
	return bin
}

// startDatapath runs bin inside node (network namespace only) with args; t.Cleanup stops it
// by PID (SIGTERM, then SIGKILL after 10 s).
func startDatapath(t testing.TB, bin string, node *testutil.NetNS, args ...string) *datapathProcess {
	t.Helper()
	p := &datapathProcess{exited: make(chan struct{})}
	p.cmd = exec.Command("nsenter", append([]string{"--net=/run/netns/" + node.Name, bin}, args...)...)
	p.cmd.Stderr = &p.stderr
	p.cmd.Stdout = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("sluice-datapath output:\n%s", p.stderr.String())
		}
	})
	return p
}

// stop sends SIGTERM (nsenter execs the binary, so the PID is the datapath's) and waits.
func (p *datapathProcess) stop(t testing.TB) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("sluice-datapath did not stop within 10 s of SIGTERM")
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func run(t testing.TB, ns *testutil.NetNS, cmd string) string {
	t.Helper()
	f := strings.Fields(cmd)
	out, err := ns.Exec(f[0], f[1:]...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return out
}

func ofctl(t testing.TB, mgmt string, args ...string) string {
	t.Helper()
	all := append([]string{"-O", "OpenFlow15"}, args[0], "unix:"+mgmt)
	all = append(all, args[1:]...)
	out, err := exec.Command("ovs-ofctl", all...).CombinedOutput()
	if err != nil {
		t.Fatalf("ovs-ofctl %s: %v\n%s", strings.Join(all, " "), err, out)
	}
	return string(out)
}

// txPackets reads "tx pkts=N" from ovs-ofctl dump-ports output for one port.
func txPackets(t testing.TB, dump string) int {
	t.Helper()
	_, rest, ok := strings.Cut(dump, "tx pkts=")
	if !ok {
		t.Fatalf("no tx pkts in dump-ports output:\n%s", dump)
	}
	n, err := strconv.Atoi(strings.TrimRight(strings.Fields(rest)[0], ","))
	if err != nil {
		t.Fatalf("tx pkts in %q: %v", dump, err)
	}
	return n
}

// newPods makes two pod namespaces (10.0.0.1/24 and 10.0.0.2/24, TX checksum offload off) and
// a node namespace holding the host ends of their veths; names start with prefix.
func newPods(t testing.TB, prefix string) (podA, podB, node *testutil.NetNS, hA, hB testutil.Veth) {
	t.Helper()
	podA, podB, node = testutil.NewNetNS(t, prefix+"pa"), testutil.NewNetNS(t, prefix+"pb"), testutil.NewNetNS(t, prefix+"pn")
	ethA, hA := testutil.VethPair(t, testutil.UniqueName(prefix+"ea"), podA, testutil.UniqueName(prefix+"ha"), node)
	ethB, hB := testutil.VethPair(t, testutil.UniqueName(prefix+"eb"), podB, testutil.UniqueName(prefix+"hb"), node)
	testutil.AddAddr(t, podA, ethA.Name, "10.0.0.1/24")
	testutil.AddAddr(t, podB, ethB.Name, "10.0.0.2/24")
	// Frames forwarded through AF_XDP keep whatever checksum the sender left (FACTS.md).
	run(t, podA, "ethtool -K "+ethA.Name+" tx off")
	run(t, podB, "ethtool -K "+ethB.Name+" tx off")
	return podA, podB, node, hA, hB
}

// startBridge starts sluice-datapath in node with extra args, adds br0 with hA as ofport 1 and
// hB as ofport 2, and returns the process and the bridge's management socket.
func startBridge(t testing.TB, bin string, db *ovsdbServer, node *testutil.NetNS, hA, hB string, extra ...string) (*datapathProcess, string) {
	t.Helper()
	rundir := t.TempDir()
	args := append([]string{"--ovsdb", "unix:" + db.sock, "--rundir", rundir}, extra...)
	dp := startDatapath(t, bin, node, args...)
	db.vsctl(t, "add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=sluice")
	db.vsctl(t, "add-port", "br0", hA, "--", "set", "interface", hA, "ofport_request=1")
	db.vsctl(t, "add-port", "br0", hB, "--", "set", "interface", hB, "ofport_request=2")
	return dp, filepath.Join(rundir, "br0.mgmt")
}

// TestPrivilegedDatapath drives sluice-datapath with stock ovs-vsctl and ovs-ofctl and
// forwards between two pods by the flows the test installs.
func TestPrivilegedDatapath(t *testing.T) {
	testutil.RequirePrivileged(t)
	bin := buildDatapath(t)
	db := startOVSDBServer(t)
	podA, podB, node, hA, hB := newPods(t, "d")

	metricsSock := filepath.Join(t.TempDir(), "metrics.sock")
	dp, mgmt := startBridge(t, bin, db, node, hA.Name, hB.Name, "--log-level", "debug", "--metrics-addr", "unix:"+metricsSock)

	t.Run("ofport_written_back", func(t *testing.T) {
		for name, want := range map[string]string{hA.Name: "1", hB.Name: "2", "br0": "65534"} {
			if got := db.vsctl(t, "get", "interface", name, "ofport"); got != want {
				t.Errorf("ofport of %s = %s, want %s", name, got, want)
			}
		}
	})
	t.Run("management_socket_serves_openflow15", func(t *testing.T) {
		out := ofctl(t, mgmt, "show")
		for _, want := range []string{"1(" + hA.Name + ")", "2(" + hB.Name + ")", "LOCAL(br0)"} {
			if !strings.Contains(out, want) {
				t.Errorf("ovs-ofctl show lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("no_flows_no_forwarding", func(t *testing.T) {
		// The host ends share no kernel path: only the datapath's flows connect the pods.
		if out, err := podA.Exec("ping", "-c", "2", "-i", "0.2", "-W", "1", "10.0.0.2"); err == nil {
			t.Errorf("ping went through with an empty flow table:\n%s", out)
		}
	})
	t.Run("flows_installed", func(t *testing.T) {
		ofctl(t, mgmt, "add-flow", "in_port=1,actions=output:2")
		ofctl(t, mgmt, "add-flow", "in_port=2,actions=output:1")
		out := ofctl(t, mgmt, "dump-flows")
		for _, want := range []string{"in_port=1 actions=output:2", "in_port=2 actions=output:1"} {
			if !strings.Contains(strings.ReplaceAll(out, ",", " "), want) {
				t.Errorf("dump-flows lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("ping_a_to_b", func(t *testing.T) { testutil.Ping(t, podA, "10.0.0.2") })
	t.Run("ping_b_to_a", func(t *testing.T) { testutil.Ping(t, podB, "10.0.0.1") })
	t.Run("tcp_transfer_a_to_b", func(t *testing.T) { testutil.TransferTCP(t, podA, podB, "10.0.0.2:5201", 8<<20) })
	t.Run("tcp_transfer_b_to_a", func(t *testing.T) { testutil.TransferTCP(t, podB, podA, "10.0.0.1:5202", 8<<20) })
	t.Run("vsctl_show_lists_ports", func(t *testing.T) {
		out := db.vsctl(t, "show")
		for _, want := range []string{`Bridge br0`, `datapath_type: sluice`, `Port ` + hA.Name, `Port ` + hB.Name} {
			if !strings.Contains(out, want) {
				t.Errorf("ovs-vsctl show lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("statistics_written", func(t *testing.T) {
		eventually(t, 15*time.Second, "rx_packets of "+hA.Name+" in statistics", func() error {
			out, err := db.tryVsctl("get", "interface", hA.Name, "statistics:rx_packets")
			if err != nil {
				return err
			}
			if n, _ := strconv.Atoi(out); n < 3 {
				return fmt.Errorf("rx_packets = %q, want at least the 3 pings", out)
			}
			return nil
		})
	})
	t.Run("metrics_endpoint_counts_traffic", func(t *testing.T) {
		if got := scrape(t, metricsSock, "/healthz"); got != "ok\n" {
			t.Errorf("/healthz = %q, want %q", got, "ok\n")
		}
		rxA := fmt.Sprintf(`sluice_port_rx_packets_total{bridge="br0",interface=%q,ofport="1"}`, hA.Name)
		txB := fmt.Sprintf(`sluice_port_tx_packets_total{bridge="br0",interface=%q,ofport="2"}`, hB.Name)
		flows := `sluice_bridge_flows{bridge="br0"}`
		before := scrape(t, metricsSock, "/metrics")
		testutil.Ping(t, podA, "10.0.0.2")
		after := scrape(t, metricsSock, "/metrics")
		for _, series := range []string{rxA, txB} {
			if b, a := metricValue(t, before, series), metricValue(t, after, series); a < b+3 {
				t.Errorf("%s went from %d to %d over 3 pings, want at least +3", series, b, a)
			}
		}
		if got := metricValue(t, after, flows); got != 2 {
			t.Errorf("%s = %d, want the 2 installed flows", flows, got)
		}
		if got := metricValue(t, after, `sluice_xdp_steering_frames_total{verdict="redirected"}`); got < 6 {
			t.Errorf("steering redirected = %d, want at least the 6 pings' frames", got)
		}
	})
	t.Run("tunnel_port_registered_and_drops_with_reason", func(t *testing.T) {
		db.vsctl(t, "add-port", "br0", "tun0", "--", "set", "interface", "tun0", "type=geneve",
			"options:remote_ip=flow", "options:key=flow", "ofport_request=10")
		if got := db.vsctl(t, "get", "interface", "tun0", "ofport"); got != "10" {
			t.Errorf("ofport of tun0 = %s, want 10", got)
		}
		if got := db.vsctl(t, "get", "interface", "tun0", "error"); got != "[]" {
			t.Errorf("error of tun0 = %s, want none", got)
		}
		if out := ofctl(t, mgmt, "dump-ports-desc"); !strings.Contains(out, "10(tun0)") {
			t.Errorf("dump-ports-desc lacks 10(tun0):\n%s", out)
		}
		// ARP requests for an address nobody has go to the tunnel port.
		ofctl(t, mgmt, "add-flow", "cookie=0x77,priority=40000,in_port=1,arp,arp_tpa=10.0.0.99,actions=output:10")
		_, _ = podA.Exec("ping", "-c", "2", "-i", "0.2", "-W", "1", "10.0.0.99")
		ofctl(t, mgmt, "del-flows", "cookie=0x77/-1")
		dump := ofctl(t, mgmt, "dump-ports", "10")
		_, rest, _ := strings.Cut(dump, "tx pkts=")
		_, drop, _ := strings.Cut(rest, "drop=")
		if n, _ := strconv.Atoi(strings.TrimRight(strings.Fields(drop + " x")[0], ",")); n < 1 {
			t.Errorf("tun0 tx drop = %q, want at least 1:\n%s", drop, dump)
		}
		scraped := scrape(t, metricsSock, "/metrics")
		for _, series := range []string{`sluice_datapath_drops_total{reason="tunnel_encap_not_implemented"}`,
			`sluice_port_tx_drops_total{bridge="br0",interface="tun0",ofport="10",reason="tunnel_encap_not_implemented"}`} {
			if got := metricValue(t, scraped, series); got < 1 {
				t.Errorf("%s = %d, want at least 1", series, got)
			}
		}
		eventually(t, 15*time.Second, "tx_dropped of tun0 in statistics", func() error {
			out, err := db.tryVsctl("get", "interface", "tun0", "statistics:tx_dropped")
			if err != nil {
				return err
			}
			if n, _ := strconv.Atoi(out); n < 1 {
				return fmt.Errorf("tx_dropped = %q, want at least 1", out)
			}
			return nil
		})
		testutil.Ping(t, podA, "10.0.0.2") // the tunnel port does not disturb the others
		db.vsctl(t, "del-port", "br0", "tun0")
		if out := ofctl(t, mgmt, "dump-ports-desc"); strings.Contains(out, "tun0") {
			t.Errorf("dump-ports-desc still lists tun0 after del-port:\n%s", out)
		}
	})
	t.Run("missing_netdev_shows_error", func(t *testing.T) {
		// ovs-vsctl warns about the failed attach but succeeds, as with ovs-vswitchd.
		_, _ = db.tryVsctl("add-port", "br0", "nosuchdev0")
		if got := db.vsctl(t, "get", "interface", "nosuchdev0", "ofport"); got != "-1" {
			t.Errorf("ofport of nosuchdev0 = %s, want -1", got)
		}
		if got := db.vsctl(t, "get", "interface", "nosuchdev0", "error"); !strings.Contains(got, "No such device") {
			t.Errorf("error of nosuchdev0 = %s, want one saying No such device", got)
		}
		testutil.Ping(t, podA, "10.0.0.2") // the failed port does not disturb the others
	})
	t.Run("packet_out_transmits_and_port_stats_count_it", func(t *testing.T) {
		before := txPackets(t, ofctl(t, mgmt, "dump-ports", "2"))
		// A broadcast frame of the local experimental EtherType 0x88b5, padded to 60 bytes.
		frame := "ffffffffffff" + "02000000000a" + "88b5" + strings.Repeat("00", 46)
		ofctl(t, mgmt, "packet-out", "in_port=controller packet="+frame+" actions=output:2")
		eventually(t, 5*time.Second, "tx_packets of port 2 grows by the packet-out", func() error {
			if after := txPackets(t, ofctl(t, mgmt, "dump-ports", "2")); after != before+1 {
				return fmt.Errorf("tx pkts %d, want %d", after, before+1)
			}
			return nil
		})
	})
	t.Run("controller_action_sends_packet_in", func(t *testing.T) {
		var out testutil.SyncBuffer
		mon := exec.Command("stdbuf", "-oL", "ovs-ofctl", "-O", "OpenFlow15", "monitor", "unix:"+mgmt, "128") // line-buffered: it is a pipe
		mon.Stdout, mon.Stderr = &out, &out
		mon.Env = append(os.Environ(), "OVS_RUNDIR="+t.TempDir()) // its control socket
		if err := mon.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = mon.Process.Kill()
			_ = mon.Wait()
		}()
		ofctl(t, mgmt, "add-flow", "priority=40000,udp,tp_dst=9999,actions=controller")
		defer ofctl(t, mgmt, "del-flows", "udp,tp_dst=9999")
		eventually(t, 10*time.Second, "a packet-in for UDP to port 9999", func() error {
			// Netcat is not everywhere: a UDP datagram from Go inside the pod.
			_ = podA.Do(func() error {
				c, err := net.Dial("udp4", "10.0.0.2:9999")
				if err != nil {
					return err
				}
				defer c.Close()
				_, err = c.Write([]byte("sluice"))
				return err
			})
			if !strings.Contains(out.String(), "PACKET_IN") || !strings.Contains(out.String(), "tp_dst=9999") {
				return fmt.Errorf("monitor output so far:\n%s", out.String())
			}
			return nil
		})
	})
	t.Run("vanished_netdev_shows_error", func(t *testing.T) {
		hc := testutil.UniqueName("dhc")
		run(t, node, "ip link add "+hc+" type veth peer name "+hc+"p")
		run(t, node, "ip link set "+hc+" up")
		db.vsctl(t, "add-port", "br0", hc)
		if got := db.vsctl(t, "get", "interface", hc, "ofport"); got == "-1" || got == "[]" {
			t.Fatalf("ofport of %s = %s, want a port number", hc, got)
		}
		run(t, node, "ip link del "+hc)
		eventually(t, 20*time.Second, "error of the deleted "+hc, func() error {
			out, err := db.tryVsctl("get", "interface", hc, "error")
			if err != nil {
				return err
			}
			if !strings.Contains(out, hc) {
				return fmt.Errorf("error column = %s, want one naming %s", out, hc)
			}
			return nil
		})
		db.vsctl(t, "del-port", "br0", hc)
		testutil.Ping(t, podA, "10.0.0.2") // the others still forward
	})
	t.Run("del_port_detaches_xdp", func(t *testing.T) {
		db.vsctl(t, "del-port", "br0", hB.Name)
		if out := run(t, node, "ip link show "+hB.Name); strings.Contains(out, "xdp") {
			t.Errorf("%s still has XDP after del-port:\n%s", hB.Name, out)
		}
		if out := ofctl(t, mgmt, "show"); strings.Contains(out, hB.Name) {
			t.Errorf("ovs-ofctl show still lists %s:\n%s", hB.Name, out)
		}
	})
	t.Run("local_port_is_a_host_device", func(t *testing.T) {
		out := run(t, node, "ip -o link show br0")
		mac := strings.Trim(db.vsctl(t, "get", "interface", "br0", "mac_in_use"), `"`)
		if !strings.Contains(out, "UP") || mac == "" || !strings.Contains(out, mac) {
			t.Errorf("br0 in the node = %q, want it up with mac_in_use %q", out, mac)
		}
	})
	t.Run("ping_a_to_local_port", func(t *testing.T) {
		testutil.AddAddr(t, node, "br0", "10.0.0.254/24")
		ofctl(t, mgmt, "add-flow", "priority=40000,in_port=1,ip,nw_dst=10.0.0.254,actions=LOCAL")
		ofctl(t, mgmt, "add-flow", "priority=40000,in_port=1,arp,arp_tpa=10.0.0.254,actions=LOCAL")
		ofctl(t, mgmt, "add-flow", "priority=40000,in_port=LOCAL,actions=output:1")
		testutil.Ping(t, podA, "10.0.0.254")
	})
	t.Run("local_port_tx_checksum_offload_off", func(t *testing.T) {
		if out := run(t, node, "ethtool -k br0"); !strings.Contains(out, "tx-checksumming: off") {
			t.Errorf("ethtool -k br0 = %s, want tx-checksumming: off", out)
		}
	})
	t.Run("tcp_transfer_a_to_local_port", func(t *testing.T) {
		testutil.TransferTCP(t, podA, node, "10.0.0.254:5203", 8<<20)
	})
	t.Run("other_internal_interface_is_a_host_device", func(t *testing.T) {
		db.vsctl(t, "add-port", "br0", "sluice-gw0", "--", "set", "interface", "sluice-gw0", "type=internal", "ofport_request=5")
		if got := db.vsctl(t, "get", "interface", "sluice-gw0", "ofport"); got != "5" {
			t.Errorf("ofport of sluice-gw0 = %s, want 5", got)
		}
		if out := run(t, node, "ip -o link show sluice-gw0"); !strings.Contains(out, "UP") {
			t.Errorf("sluice-gw0 in the node = %q, want it up", out)
		}
		if out := ofctl(t, mgmt, "show"); !strings.Contains(out, "5(sluice-gw0)") {
			t.Errorf("ovs-ofctl show lacks 5(sluice-gw0):\n%s", out)
		}
		db.vsctl(t, "del-port", "br0", "sluice-gw0")
		eventually(t, 10*time.Second, "sluice-gw0 gone after del-port", func() error {
			if out, err := node.Exec("ip", "link", "show", "sluice-gw0"); err == nil {
				return fmt.Errorf("sluice-gw0 still exists:\n%s", out)
			}
			return nil
		})
	})
	t.Run("del_br_removes_local_device", func(t *testing.T) {
		db.vsctl(t, "del-br", "br0")
		eventually(t, 10*time.Second, "br0 gone from the node", func() error {
			if out, err := node.Exec("ip", "link", "show", "br0"); err == nil {
				return fmt.Errorf("br0 still exists:\n%s", out)
			}
			return nil
		})
	})
	t.Run("sigterm_detaches_and_removes_socket", func(t *testing.T) {
		dp.stop(t)
		if out := dp.stderr.String(); !strings.Contains(out, "sluice-datapath stopped") || strings.Contains(out, "level=ERROR") {
			t.Errorf("unclean shutdown:\n%s", out)
		}
		if out := run(t, node, "ip link show "+hA.Name); strings.Contains(out, "xdp") {
			t.Errorf("%s still has XDP after shutdown:\n%s", hA.Name, out)
		}
		if _, err := os.Stat(mgmt); !os.IsNotExist(err) {
			t.Errorf("management socket after shutdown: stat error %v, want not exist", err)
		}
		if _, err := os.Stat(metricsSock); !os.IsNotExist(err) {
			t.Errorf("metrics socket after shutdown: stat error %v, want not exist", err)
		}
	})
}

// TestPrivilegedDatapathRestartPinned restarts sluice-datapath with pinned XDP links while the
// node has a kernel path (a Linux bridge over both host ends): stopped, the kernel forwards;
// restarted, the datapath takes the links over and forwards once the flows are back.
func TestPrivilegedDatapathRestartPinned(t *testing.T) {
	testutil.RequirePrivileged(t)
	bin := buildDatapath(t)
	db := startOVSDBServer(t)
	podA, _, node, hA, hB := newPods(t, "r")
	for _, c := range []string{
		"ip link add kbr0 type bridge",
		"ip link set " + hA.Name + " master kbr0",
		"ip link set " + hB.Name + " master kbr0",
		"ip link set kbr0 up",
	} {
		run(t, node, c)
	}
	pinDir := filepath.Join("/sys/fs/bpf", testutil.UniqueName("sluice-dpd-"))
	t.Cleanup(func() {
		if err := os.RemoveAll(pinDir); err != nil {
			t.Errorf("remove pins: %v", err)
		}
	})
	dp, mgmt := startBridge(t, bin, db, node, hA.Name, hB.Name, "--bpffs", pinDir)
	addFlows := func(t testing.TB) {
		ofctl(t, mgmt, "add-flow", "in_port=1,actions=output:2")
		ofctl(t, mgmt, "add-flow", "in_port=2,actions=output:1")
	}
	forwardedByFlows := func(t testing.TB) {
		out := ofctl(t, mgmt, "dump-flows")
		if !strings.Contains(out, "in_port=1") || strings.Contains(out, "n_packets=0,") {
			t.Errorf("flows did not forward the pings:\n%s", out)
		}
	}
	xdpOn := func(name string) bool { return strings.Contains(run(t, node, "ip link show "+name), "xdp") }

	addFlows(t)

	t.Run("datapath_forwards_by_flows", func(t *testing.T) {
		testutil.Ping(t, podA, "10.0.0.2")
		forwardedByFlows(t)
	})
	t.Run("shutdown_leaves_pinned_links_attached", func(t *testing.T) {
		dp.stop(t)
		for _, h := range []string{hA.Name, hB.Name} {
			if !xdpOn(h) {
				t.Errorf("%s lost its XDP program at a pinned shutdown", h)
			}
			if _, err := os.Stat(filepath.Join(pinDir, "link-"+h)); err != nil {
				t.Errorf("pin of %s: %v", h, err)
			}
		}
	})
	t.Run("kernel_path_forwards_while_stopped", func(t *testing.T) { testutil.Ping(t, podA, "10.0.0.2") })

	dp = startDatapath(t, bin, node, dp.cmd.Args[3:]...) // the same flags: Args is nsenter --net=… bin flags…
	t.Run("restart_takes_over_pinned_links", func(t *testing.T) {
		eventually(t, 15*time.Second, "ports back on br0", func() error {
			out, err := exec.Command("ovs-ofctl", "-O", "OpenFlow15", "show", "unix:"+mgmt).CombinedOutput()
			if err != nil || !strings.Contains(string(out), hA.Name) || !strings.Contains(string(out), hB.Name) {
				return fmt.Errorf("ovs-ofctl show: %v\n%s", err, out)
			}
			return nil
		})
		if got := strings.Count(dp.stderr.String(), "took over pinned xdp link"); got != 2 {
			t.Errorf("took over %d pinned links, want 2:\n%s", got, dp.stderr.String())
		}
	})
	t.Run("no_forwarding_until_flows_reinstalled", func(t *testing.T) {
		if out, err := podA.Exec("ping", "-c", "2", "-i", "0.2", "-W", "1", "10.0.0.2"); err == nil {
			t.Errorf("ping went through before the flows were reinstalled:\n%s", out)
		}
	})
	t.Run("flows_reinstalled_restore_forwarding", func(t *testing.T) {
		addFlows(t)
		testutil.Ping(t, podA, "10.0.0.2")
		forwardedByFlows(t)
	})
	t.Run("removing_pins_detaches_xdp", func(t *testing.T) {
		dp.stop(t)
		if err := os.RemoveAll(pinDir); err != nil {
			t.Fatal(err)
		}
		// The kernel frees a link whose last reference went away from deferred work, so the
		// program leaves the netdev shortly after, not at once.
		for _, h := range []string{hA.Name, hB.Name} {
			eventually(t, 5*time.Second, h+" loses its XDP program after its pin was removed", func() error {
				if xdpOn(h) {
					return fmt.Errorf("%s still has XDP", h)
				}
				return nil
			})
		}
	})
}

// BenchmarkPrivilegedDatapathTCP measures one TCP stream through sluice-datapath (two veths,
// one flow each way, copy-mode AF_XDP on veth).
func BenchmarkPrivilegedDatapathTCP(b *testing.B) {
	testutil.RequirePrivileged(b)
	bin := buildDatapath(b)
	db := startOVSDBServer(b)
	podA, podB, node, hA, hB := newPods(b, "b")
	_, mgmt := startBridge(b, bin, db, node, hA.Name, hB.Name)
	ofctl(b, mgmt, "add-flow", "in_port=1,actions=output:2")
	ofctl(b, mgmt, "add-flow", "in_port=2,actions=output:1")
	testutil.Ping(b, podA, "10.0.0.2")
	const size = 16 << 20
	b.SetBytes(size)
	b.ReportAllocs()
	port := 5300
	for b.Loop() {
		port++
		testutil.TransferTCP(b, podA, podB, "10.0.0.2:"+strconv.Itoa(port), size)
	}
}

// BenchmarkPrivilegedDatapathNetperf runs netperf TCP_RR and TCP_STREAM between the pods
// through sluice-datapath with one flow each way (the two-port flow set); compare with
// forward's BenchmarkPrivilegedNetperf, which measures ovs-vswitchd's AF_XDP path.
func BenchmarkPrivilegedDatapathNetperf(b *testing.B) {
	testutil.RequirePrivileged(b)
	for _, tool := range []string{"netperf", "netserver"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s not installed: %v", tool, err)
		}
	}
	bin := buildDatapath(b)
	db := startOVSDBServer(b)
	podA, podB, node, hA, hB := newPods(b, "n")
	_, mgmt := startBridge(b, bin, db, node, hA.Name, hB.Name)
	ofctl(b, mgmt, "add-flow", "in_port=1,actions=output:2")
	ofctl(b, mgmt, "add-flow", "in_port=2,actions=output:1")
	testutil.Ping(b, podA, "10.0.0.2")
	srv := podB.Command("netserver", "-D", "-L", "10.0.0.2")
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
	})
	time.Sleep(300 * time.Millisecond) // netserver's listen
	for _, tt := range []struct{ test, unit string }{{"TCP_RR", "trans/s"}, {"TCP_STREAM", "Mb/s"}} {
		b.Run(tt.test, func(b *testing.B) {
			var v float64
			for b.Loop() {
				out, err := podA.Exec("netperf", "-H", "10.0.0.2", "-t", tt.test, "-l", "5", "-P", "0", "--", "-o", "THROUGHPUT")
				if err != nil {
					b.Fatalf("netperf %s: %v\n%s", tt.test, err, out)
				}
				f := strings.Fields(out)
				if v, err = strconv.ParseFloat(f[len(f)-1], 64); err != nil {
					b.Fatalf("netperf %s output %q: %v", tt.test, out, err)
				}
			}
			b.ReportMetric(v, tt.unit)
		})
	}
}

// scrape GETs path from the metrics endpoint on the unix socket sock and returns the body.
func scrape(t testing.TB, sock, path string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	resp, err := c.Get("http://sluice-datapath" + path)
	if err != nil {
		t.Fatalf("scrape %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %s, error %v\n%s", path, resp.Status, err, body)
	}
	return string(body)
}

// metricValue returns the value of the series (name and labels as rendered) in a scrape.
func metricValue(t testing.TB, text, series string) uint64 {
	t.Helper()
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatalf("value of %s in %q: %v", series, line, err)
			}
			return n
		}
	}
	t.Fatalf("no series %s in scrape:\n%s", series, text)
	return 0
}
