package ovsdb_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	sovsdb "github.com/sluicenet/sluice/datapath/ovsdb"
	"github.com/sluicenet/sluice/internal/testutil"
)

// ovsdbServer is Debian's ovsdb-server running on a fresh database in a temporary directory.
type ovsdbServer struct {
	t    testing.TB
	dir  string
	sock string
	mu   sync.Mutex
	cmd  *exec.Cmd
}

// startOVSDBServer creates a database from Debian's vswitch.ovsschema and starts ovsdb-server
// on it (no ovs-vswitchd); t.Cleanup stops it by PID.
func startOVSDBServer(t testing.TB) *ovsdbServer {
	t.Helper()
	s := newOVSDBServer(t)
	s.start()
	return s
}

// newOVSDBServer creates the database but does not start ovsdb-server yet.
func newOVSDBServer(t testing.TB) *ovsdbServer {
	t.Helper()
	for _, bin := range []string{"ovsdb-server", "ovsdb-tool", "ovs-vsctl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not installed (Debian package openvswitch-switch): %v", bin, err)
		}
	}
	dir := t.TempDir()
	s := &ovsdbServer{t: t, dir: dir, sock: filepath.Join(dir, "db.sock")}
	out, err := exec.Command("ovsdb-tool", "create", filepath.Join(dir, "conf.db"),
		"/usr/share/openvswitch/vswitch.ovsschema").CombinedOutput()
	if err != nil {
		t.Fatalf("ovsdb-tool create: %v: %s", err, out)
	}
	t.Cleanup(s.stop)
	return s
}

// startVswitchd starts Debian's ovs-vswitchd on the server's database inside ns, so the tap
// devices of its bridges' internal ports stay there (userspace "netdev" bridges only: the
// kernel has no openvswitch module); t.Cleanup stops it by PID.
func (s *ovsdbServer) startVswitchd(t *testing.T, ns *testutil.NetNS) {
	t.Helper()
	cmd := ns.Command("ovs-vswitchd", "unix:"+s.sock,
		"--pidfile="+filepath.Join(s.dir, "ovs-vswitchd.pid"),
		"--unixctl="+filepath.Join(s.dir, "ovs-vswitchd.ctl"),
		"--log-file="+filepath.Join(s.dir, "ovs-vswitchd.log"))
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+s.dir, "OVS_LOGDIR="+s.dir, "OVS_DBDIR="+s.dir)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ovs-vswitchd: %v", err)
	}
	t.Cleanup(func() { terminate(cmd) })
}

// terminate ends a daemon this test started: SIGTERM to its PID, SIGKILL if it has not exited
// within five seconds (a wedged daemon must not hang the test), then waits for it.
func terminate(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	t := time.AfterFunc(5*time.Second, func() { _ = cmd.Process.Kill() })
	_ = cmd.Wait()
	t.Stop()
}

func (s *ovsdbServer) start() {
	s.t.Helper()
	cmd := exec.Command("ovsdb-server", "--remote=punix:"+s.sock,
		"--pidfile="+filepath.Join(s.dir, "ovsdb-server.pid"),
		"--unixctl="+filepath.Join(s.dir, "ovsdb-server.ctl"),
		"--log-file="+filepath.Join(s.dir, "ovsdb-server.log"),
		filepath.Join(s.dir, "conf.db"))
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+s.dir, "OVS_LOGDIR="+s.dir, "OVS_DBDIR="+s.dir)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start ovsdb-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	eventually(s.t, "ovsdb-server socket appears", func() error {
		_, err := os.Stat(s.sock)
		return err
	})
}

// stop ends the ovsdb-server this test started (SIGTERM to its PID) and waits for it.
func (s *ovsdbServer) stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	terminate(cmd)
}

// vsctl runs ovs-vsctl against the server. Without --no-wait among args it waits for cur_cfg,
// at most 20 s.
func (s *ovsdbServer) vsctl(args ...string) (string, error) {
	all := append([]string{"--db=unix:" + s.sock, "--timeout=20"}, args...)
	cmd := exec.Command("ovs-vsctl", all...)
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+s.dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ovs-vsctl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func (s *ovsdbServer) mustVSCtl(args ...string) string {
	s.t.Helper()
	out, err := s.vsctl(args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// get returns `ovs-vsctl get interface name column`, unquoted.
func (s *ovsdbServer) get(name, column string) string {
	s.t.Helper()
	return strings.Trim(s.mustVSCtl("get", "interface", name, column), `"`)
}

// netnsDatapath attaches netdevs that exist in one network namespace (looked up by name
// through netlink, which is all the ovsdb package needs from a datapath) and reports their
// real state and counters. Internal ports need no device.
type netnsDatapath struct {
	h        *netlink.Handle
	mu       sync.Mutex
	ports    map[string]sovsdb.Interface
	attaches int
	detaches int
}

var _ sovsdb.Datapath = (*netnsDatapath)(nil)

func newNetnsDatapath(t testing.TB, ns *testutil.NetNS) *netnsDatapath {
	t.Helper()
	h, err := netlink.NewHandleAt(ns.Handle())
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", ns.Name, err)
	}
	t.Cleanup(h.Close)
	return &netnsDatapath{h: h, ports: map[string]sovsdb.Interface{}}
}

func (d *netnsDatapath) AddBridge(_ context.Context, b sovsdb.Bridge) (sovsdb.BridgeStatus, error) {
	return sovsdb.BridgeStatus{DatapathID: b.DatapathID(net.HardwareAddr{0x02, 0, 0, 0, 0, 1}), DatapathVersion: "<netns test>"}, nil
}

func (d *netnsDatapath) DeleteBridge(context.Context, sovsdb.Bridge) error { return nil }

func (d *netnsDatapath) Attach(_ context.Context, iface sovsdb.Interface) error {
	if iface.Kind == sovsdb.KindNetdev {
		if _, err := d.h.LinkByName(iface.Name); err != nil {
			return fmt.Errorf("no network device named %s: %w", iface.Name, err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ports[iface.Name] = iface
	d.attaches++
	return nil
}

func (d *netnsDatapath) Detach(_ context.Context, iface sovsdb.Interface) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.ports, iface.Name)
	d.detaches++
	return nil
}

func (d *netnsDatapath) Status(_ context.Context, iface sovsdb.Interface) (sovsdb.Status, error) {
	if iface.Kind != sovsdb.KindNetdev {
		return sovsdb.Status{AdminUp: true, LinkUp: true}, nil
	}
	l, err := d.h.LinkByName(iface.Name)
	if err != nil {
		return sovsdb.Status{}, fmt.Errorf("network device %s is gone: %w", iface.Name, err)
	}
	a := l.Attrs()
	st := sovsdb.Status{
		AdminUp: a.Flags&net.FlagUp != 0,
		LinkUp:  a.OperState == netlink.OperUp,
		MAC:     a.HardwareAddr,
		Ifindex: a.Index,
		MTU:     a.MTU,
	}
	if s := a.Statistics; s != nil {
		st.Counters = sovsdb.Counters{RxPackets: s.RxPackets, TxPackets: s.TxPackets,
			RxBytes: s.RxBytes, TxBytes: s.TxBytes, RxDropped: s.RxDropped, TxDropped: s.TxDropped,
			RxErrors: s.RxErrors, TxErrors: s.TxErrors}
	}
	return st, nil
}

func (d *netnsDatapath) port(name string) (sovsdb.Interface, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.ports[name]
	return p, ok
}

func (d *netnsDatapath) counts() (attaches, detaches int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.attaches, d.detaches
}

// TestPrivilegedOVSDBServer drives the Client with the real ovs-vsctl against the real
// ovsdb-server, with veths in a test namespace standing in for pod interfaces.
func TestPrivilegedOVSDBServer(t *testing.T) {
	testutil.RequirePrivileged(t)
	srv := startOVSDBServer(t)
	srv.mustVSCtl("--no-wait", "init")
	node := testutil.NewNetNS(t, "ovn")
	pod := testutil.NewNetNS(t, "ovp")
	veth, peer := testutil.VethPair(t, testutil.UniqueName("sa"), node, testutil.UniqueName("sb"), pod)
	testutil.AddAddr(t, node, veth.Name, "192.0.2.1/24")
	testutil.AddAddr(t, pod, peer.Name, "192.0.2.2/24")
	missing := testutil.UniqueName("sm")
	dp := newNetnsDatapath(t, node)
	startClient(t, "unix:"+srv.sock, dp)
	top := t

	t.Run("add-br returns and the local port is 65534", func(t *testing.T) {
		srv.mustVSCtl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type="+sovsdb.DatapathType)
		if got := srv.get("br0", "ofport"); got != "65534" {
			t.Fatalf("br0 ofport %s, want 65534", got)
		}
		if got := srv.mustVSCtl("get", "bridge", "br0", "datapath_id"); got != `"0000020000000001"` {
			t.Fatalf("br0 datapath_id %s, want 0000020000000001", got)
		}
	})

	t.Run("add-port gets an ofport and the netdev's status", func(t *testing.T) {
		srv.mustVSCtl("add-port", "br0", veth.Name)
		if got := srv.get(veth.Name, "ofport"); got != "1" {
			t.Fatalf("ofport %s, want 1", got)
		}
		checks := []struct{ col, want string }{
			{"mac_in_use", veth.MAC.String()},
			{"ifindex", strconv.Itoa(veth.Index)},
			{"admin_state", "up"},
			{"link_state", "up"},
			{"mtu", "1500"},
		}
		for _, c := range checks {
			if got := srv.get(veth.Name, c.col); got != c.want {
				t.Errorf("%s: got %s, want %s", c.col, got, c.want)
			}
		}
		show := srv.mustVSCtl("show")
		if !strings.Contains(show, "Port "+veth.Name) || !strings.Contains(show, `datapath_type: sluice`) {
			t.Errorf("ovs-vsctl show lacks the port or the datapath type:\n%s", show)
		}
	})

	t.Run("ofport_request moves the port to 7", func(t *testing.T) {
		srv.mustVSCtl("set", "interface", veth.Name, "ofport_request=7")
		if got := srv.get(veth.Name, "ofport"); got != "7" {
			t.Fatalf("ofport %s, want 7", got)
		}
		if p, ok := dp.port(veth.Name); !ok || p.OFPort != 7 {
			t.Fatalf("datapath has %s on ofport %d (attached %v), want 7", veth.Name, p.OFPort, ok)
		}
	})

	t.Run("statistics come from the netdev", func(t *testing.T) {
		if out, err := pod.Exec("ping", "-c", "3", "-i", "0.2", "-W", "2", "192.0.2.1"); err != nil {
			t.Fatalf("ping over the veth: %v\n%s", err, out)
		}
		eventually(t, "statistics count the pings", func() error {
			s := srv.get(veth.Name, "statistics")
			for _, kv := range strings.Split(strings.Trim(s, "{}"), ", ") {
				if k, v, _ := strings.Cut(kv, "="); k == "rx_packets" {
					if n, _ := strconv.Atoi(v); n >= 3 {
						return nil
					}
				}
			}
			return fmt.Errorf("statistics %s: want rx_packets >= 3", s)
		})
	})

	t.Run("missing netdev is reported by ovs-vsctl, show and the error column", func(t *testing.T) {
		// ovs-vsctl prints the interface's error column once cur_cfg catches up (and still
		// exits 0, as it does with ovs-vswitchd).
		out, err := srv.vsctl("add-port", "br0", missing)
		if err != nil || !strings.Contains(out, "Error detected while setting up '"+missing+"': attach "+missing) {
			t.Errorf("add-port of a missing netdev: err %v, output %q: want ovs-vsctl to print the error column", err, out)
		}
		if got := srv.get(missing, "ofport"); got != "-1" {
			t.Errorf("ofport %s, want -1", got)
		}
		msg := srv.get(missing, "error")
		if !strings.Contains(msg, "no network device named "+missing) {
			t.Errorf("error column %q: want it to say the netdev does not exist", msg)
		}
		if show := srv.mustVSCtl("show"); !strings.Contains(show, `error: "`) || !strings.Contains(show, missing) {
			t.Errorf("ovs-vsctl show does not show the error:\n%s", show)
		}
	})

	t.Run("netdev created later is attached on the next retry", func(t *testing.T) {
		testutil.VethPair(top, missing, node, testutil.UniqueName("sc"), pod) // outlives the subtest
		eventually(t, missing+" attached", func() error {
			if got := srv.get(missing, "ofport"); got == "-1" || got == "[]" {
				return fmt.Errorf("ofport %s", got)
			}
			if e := srv.get(missing, "error"); e != "[]" {
				return fmt.Errorf("error column %s", e)
			}
			return nil
		})
	})

	renamed := testutil.UniqueName("sr")
	t.Run("kernel rename is noticed, rename in ovsdb keeps ofport 7", func(t *testing.T) {
		if err := node.Do(func() error {
			l, err := netlink.LinkByName(veth.Name)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetDown(l); err != nil {
				return err
			}
			if err := netlink.LinkSetName(l, renamed); err != nil {
				return err
			}
			return netlink.LinkSetUp(l)
		}); err != nil {
			t.Fatalf("rename %s to %s: %v", veth.Name, renamed, err)
		}
		eventually(t, "old name reported gone", func() error {
			if got := srv.get(veth.Name, "ofport"); got != "-1" {
				return fmt.Errorf("ofport %s", got)
			}
			// First "is gone" from the status check, then "no network device" from retries.
			if e := srv.get(veth.Name, "error"); !strings.Contains(e, veth.Name) {
				return fmt.Errorf("error column %s", e)
			}
			return nil
		})
		srv.mustVSCtl("del-port", "br0", veth.Name, "--", "add-port", "br0", renamed,
			"--", "set", "interface", renamed, "ofport_request=7")
		if got := srv.get(renamed, "ofport"); got != "7" {
			t.Fatalf("%s ofport %s, want 7", renamed, got)
		}
		if _, ok := dp.port(veth.Name); ok {
			t.Errorf("old name %s still attached", veth.Name)
		}
	})

	t.Run("removed port is detached", func(t *testing.T) {
		srv.mustVSCtl("del-port", "br0", renamed)
		if _, ok := dp.port(renamed); ok {
			t.Fatalf("%s still attached after del-port returned", renamed)
		}
		if ports := srv.mustVSCtl("list-ports", "br0"); strings.Contains(ports, renamed) {
			t.Fatalf("list-ports still has %s: %s", renamed, ports)
		}
	})

	t.Run("ovsdb-server restart: reconnect, status rewritten, ports undisturbed", func(t *testing.T) {
		attaches, detaches := dp.counts()
		srv.stop()
		srv.start()
		eventually(t, "ephemeral mac_in_use written again", func() error {
			out, err := srv.vsctl("--no-wait", "get", "interface", missing, "mac_in_use")
			if err != nil || out == "[]" {
				return fmt.Errorf("mac_in_use %q: %v", out, err)
			}
			return nil
		})
		if a, d := dp.counts(); a != attaches || d != detaches {
			t.Errorf("restart caused %d attaches and %d detaches, want none", a-attaches, d-detaches)
		}
		srv.mustVSCtl("set", "interface", missing, "ofport_request=9")
		if got := srv.get(missing, "ofport"); got != "9" {
			t.Fatalf("after restart: ofport %s, want 9", got)
		}
	})

	t.Run("bridge deletion detaches everything", func(t *testing.T) {
		srv.mustVSCtl("del-br", "br0")
		for _, name := range []string{"br0", missing} {
			if _, ok := dp.port(name); ok {
				t.Errorf("%s still attached", name)
			}
		}
	})
}

// TestPrivilegedOVSDBServerStartsLater starts the Client before ovsdb-server exists, as a
// node's containers may start in any order.
func TestPrivilegedOVSDBServerStartsLater(t *testing.T) {
	testutil.RequirePrivileged(t)
	srv := newOVSDBServer(t)
	node := testutil.NewNetNS(t, "ovn")
	startClient(t, "unix:"+srv.sock, newNetnsDatapath(t, node))
	time.Sleep(300 * time.Millisecond) // a few failed connection attempts
	srv.start()
	srv.mustVSCtl("--no-wait", "init")
	t.Run("add-br returns once the Client is connected", func(t *testing.T) {
		srv.mustVSCtl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type="+sovsdb.DatapathType)
		if got := srv.get("br0", "ofport"); got != "65534" {
			t.Fatalf("br0 ofport %s, want 65534", got)
		}
	})
}

// TestPrivilegedSharedWithOVSVswitchd runs ovs-vswitchd and the Client on one database: each
// manages its own bridges and leaves the other's rows alone.
func TestPrivilegedSharedWithOVSVswitchd(t *testing.T) {
	testutil.RequirePrivileged(t)
	if _, err := exec.LookPath("ovs-vswitchd"); err != nil {
		t.Fatalf("ovs-vswitchd not installed (Debian package openvswitch-switch): %v", err)
	}
	srv := startOVSDBServer(t)
	srv.mustVSCtl("--no-wait", "init")
	node := testutil.NewNetNS(t, "ovn")
	srv.startVswitchd(t, node)
	pod := testutil.NewNetNS(t, "ovp")
	veth, _ := testutil.VethPair(t, testutil.UniqueName("sa"), node, testutil.UniqueName("sb"), pod)
	dp := newNetnsDatapath(t, node)
	startClient(t, "unix:"+srv.sock, dp)
	// ovs-vswitchd acknowledges cur_cfg for Sluice's bridges too, possibly before the Client
	// has written their ofports, so ovs-vsctl may return early: wait for the columns instead.
	srv.mustVSCtl("add-br", "brk", "--", "set", "bridge", "brk", "datapath_type=netdev")
	_, _ = srv.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type="+sovsdb.DatapathType)
	_, _ = srv.vsctl("add-port", "br0", veth.Name, "--", "set", "interface", veth.Name, "ofport_request=5")

	t.Run("each switch numbers its own ports", func(t *testing.T) {
		eventually(t, "ofports written", func() error {
			for name, want := range map[string]string{"brk": "65534", "br0": "65534", veth.Name: "5"} {
				if got := srv.get(name, "ofport"); got != want {
					return fmt.Errorf("%s: ofport %s, want %s", name, got, want)
				}
			}
			return nil
		})
		if _, ok := dp.port("brk"); ok {
			t.Errorf("the Client attached ovs-vswitchd's bridge brk")
		}
	})

	t.Run("datapath_types lists both switches", func(t *testing.T) {
		eventually(t, "datapath_types", func() error {
			got := srv.mustVSCtl("get", "open_vswitch", ".", "datapath_types")
			if !strings.Contains(got, "netdev") || !strings.Contains(got, sovsdb.DatapathType) {
				return fmt.Errorf("datapath_types %s", got)
			}
			return nil
		})
	})
}

// BenchmarkPrivilegedVSCtlAddPort measures `ovs-vsctl add-port` without --no-wait against
// Debian's ovsdb-server with the Client serving the bridge: process start, the transaction,
// the reconcile, the status write and cur_cfg. Ports are internal, so no netdev is needed.
func BenchmarkPrivilegedVSCtlAddPort(b *testing.B) {
	testutil.RequirePrivileged(b)
	srv := startOVSDBServer(b)
	if _, err := srv.vsctl("--no-wait", "init"); err != nil {
		b.Fatal(err)
	}
	node := testutil.NewNetNS(b, "ovn")
	startClient(b, "unix:"+srv.sock, newNetnsDatapath(b, node),
		func(o *sovsdb.Options) { o.StatusInterval = sovsdb.DefaultOptions().StatusInterval })
	if _, err := srv.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type="+sovsdb.DatapathType); err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, mode := range []struct{ name, flag string }{
		{"no-wait", "--no-wait"}, // ovs-vsctl and ovsdb-server alone, for comparison
		{"wait", "--timeout=20"}, // plus the Client's reconcile until cur_cfg
	} {
		b.Run(mode.name, func(b *testing.B) {
			for b.Loop() {
				name := fmt.Sprint("p", n)
				n++
				if _, err := srv.vsctl(mode.flag, "add-port", "br0", name, "--", "set", "interface", name, "type=internal"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ports/s")
		})
	}
}
