package forward

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/sluicenet/sluice/bpf"
	"github.com/sluicenet/sluice/datapath/afxdp"
	"github.com/sluicenet/sluice/datapath/port"
	"github.com/sluicenet/sluice/internal/testutil"
)

// The privileged forwarding test builds two pods on a node out of namespaces:
//
//	podA: ethA 10.0.0.1/24 ── hA ┐                  ┌ hB ── ethB 10.0.0.2/24 :podB
//	                             node: br0 10.0.0.254/24 (kernel-owned)
//	                             └─ forwarding loop ─┘  (a child process of the test binary)
//
// hA and hB carry the real steering program (package bpf) in mode all and are also ports of a
// Linux bridge: while the loop runs, every frame is redirected into its AF_XDP sockets and the
// loop sends it out of the other port; when the loop process dies its sockets close, the XSKMAP
// slots empty, and the bridge forwards instead (the configured kernel path). 10.0.0.254 is
// kernel-owned, so the steering program passes it (and ARP for it) to the bridge either way.

const (
	childEnv      = "SLUICE_FORWARD_CHILD" // set in the child: "nsName;pinDir;name:ifindex:slot,..."
	transferBytes = 100 << 20
)

type fwdNode struct {
	podA, podB, node *testutil.NetNS
	ethA, hA         testutil.Veth
	ethB, hB         testutil.Veth
	steer            *bpf.Steering
	pinDir           string
	loops            []*loopProcess // every loop process started, killed at the node's cleanup
}

// newPodsOnNode makes the three namespaces and the two veth pairs, with the pods' addresses and
// their TX checksum offload off.
func newPodsOnNode(t testing.TB) *fwdNode {
	t.Helper()
	n := &fwdNode{
		podA: testutil.NewNetNS(t, "fpa"), podB: testutil.NewNetNS(t, "fpb"), node: testutil.NewNetNS(t, "fnd"),
	}
	n.ethA, n.hA = testutil.VethPair(t, testutil.UniqueName("fea"), n.podA, testutil.UniqueName("fha"), n.node)
	n.ethB, n.hB = testutil.VethPair(t, testutil.UniqueName("feb"), n.podB, testutil.UniqueName("fhb"), n.node)
	testutil.AddAddr(t, n.podA, n.ethA.Name, "10.0.0.1/24")
	testutil.AddAddr(t, n.podB, n.ethB.Name, "10.0.0.2/24")
	// Checksums must be complete on the wire: frames forwarded through AF_XDP keep whatever the
	// sender left (FACTS.md), and tx off in the pod is what OVS's tests do too.
	run(t, n.podA, "ethtool -K "+n.ethA.Name+" tx off")
	run(t, n.podB, "ethtool -K "+n.ethB.Name+" tx off")
	return n
}

func run(t testing.TB, ns *testutil.NetNS, cmd string) {
	t.Helper()
	f := strings.Fields(cmd)
	if out, err := ns.Exec(f[0], f[1:]...); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
}

// newFwdNode adds the node's bridge (the kernel path) and the steering program to the pods.
func newFwdNode(t testing.TB) *fwdNode {
	t.Helper()
	n := newPodsOnNode(t)
	t.Cleanup(func() {
		for _, p := range n.loops {
			p.kill()
		}
	})
	for _, c := range []string{
		// A fixed MAC: a bridge otherwise takes its ports' lowest, and changes it when a port goes.
		"ip link add br0 address 02:00:00:00:00:fe type bridge",
		"ip link set " + n.hA.Name + " master br0",
		"ip link set " + n.hB.Name + " master br0",
		"ip addr add 10.0.0.254/24 dev br0",
		"ip link set br0 up",
	} {
		run(t, n.node, c)
	}

	n.pinDir = filepath.Join(bpf.BPFFSRoot, testutil.UniqueName("sluice-fwd-"))
	if err := bpf.EnsureBPFFS(n.pinDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(n.pinDir); err != nil {
			t.Errorf("remove pins: %v", err)
		}
	})
	var err error
	if n.steer, err = bpf.Load(bpf.Options{PinPath: n.pinDir, MaxSockets: 8, MaxInterfaces: 8, MaxPrefixes: 8}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = n.steer.Unpin()
		_ = n.steer.Close()
	})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(n.steer.SetInterface(n.hA.Index, bpf.InterfaceConfig{Mode: bpf.ModeAll, SlotBase: 0, Queues: 1}))
	must(n.steer.SetInterface(n.hB.Index, bpf.InterfaceConfig{Mode: bpf.ModeAll, SlotBase: 1, Queues: 1}))
	must(n.steer.AddKernelOwned(netip.MustParsePrefix("10.0.0.254/32")))
	err = n.node.Do(func() error {
		for _, h := range []testutil.Veth{n.hA, n.hB} {
			a, err := n.steer.Attach(h.Index, bpf.AttachAuto)
			if err != nil {
				return err
			}
			t.Cleanup(func() { _ = a.Detach() })
			t.Logf("xdp on %s: %v", h.Name, a.Mode)
		}
		return nil
	})
	must(err)
	return n
}

// loopProcess is the forwarding loop running in a child process.
type loopProcess struct {
	cmd    *exec.Cmd
	stderr testutil.SyncBuffer
	mode   string
}

// startLoop re-executes the test binary as the loop process and waits until its sockets are in
// the XSKMAP.
func (n *fwdNode) startLoop(t testing.TB) *loopProcess {
	t.Helper()
	spec := fmt.Sprintf("%s;%s;%s:%d:0,%s:%d:1", n.node.Name, n.pinDir, n.hA.Name, n.hA.Index, n.hB.Name, n.hB.Index)
	p := &loopProcess{cmd: exec.Command(os.Args[0], "-test.run=^TestPrivilegedForwardingChild$")}
	p.cmd.Env = append(os.Environ(), childEnv+"="+spec)
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Killed with the node, not with the (sub)test that started it.
	n.loops = append(n.loops, p)
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if mode, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- mode
			}
		}
		close(ready)
	}()
	select {
	case mode, ok := <-ready:
		if !ok {
			_ = p.cmd.Wait()
			t.Fatalf("loop process exited before it was ready:\n%s", p.stderr.String())
		}
		p.mode = mode
	case <-time.After(30 * time.Second):
		t.Fatalf("loop process not ready after 30 s:\n%s", p.stderr.String())
	}
	return p
}

// kill ends the loop process by PID, as a crash or an OOM kill would.
func (p *loopProcess) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// TestPrivilegedForwardingChild is the loop process of TestPrivilegedForwarding; it does
// nothing unless started by it.
func TestPrivilegedForwardingChild(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("the loop process of TestPrivilegedForwarding")
	}
	if err := runLoopProcess(spec); err != nil {
		fmt.Fprintln(os.Stderr, "loop process:", err)
		os.Exit(1)
	}
}

func runLoopProcess(spec string) error {
	parts := strings.Split(spec, ";")
	if len(parts) != 3 {
		return fmt.Errorf("bad spec %q", spec)
	}
	// Sockets belong to the namespace of the thread that creates them: create them on this
	// thread inside the node namespace. The loop's own threads need no namespace.
	runtime.LockOSThread()
	h, err := netns.GetFromName(parts[0])
	if err != nil {
		return err
	}
	if err := netns.Set(h); err != nil {
		return err
	}
	steer, err := bpf.Load(bpf.Options{PinPath: parts[1], MaxSockets: 8, MaxInterfaces: 8, MaxPrefixes: 8})
	if err != nil {
		return err
	}
	var ifaces []xdpIface
	for _, p := range strings.Split(parts[2], ",") {
		f := strings.Split(p, ":")
		ifindex, _ := strconv.Atoi(f[1])
		slot, _ := strconv.Atoi(f[2])
		ifaces = append(ifaces, xdpIface{f[0], ifindex, uint32(slot)})
	}
	u, err := afxdp.NewUMEM(afxdp.DefaultUMEMOptions())
	if err != nil {
		return err
	}
	l, _, mode, err := newXDPLoop(steer, u, ifaces, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		return err
	}
	fmt.Println("ready", mode)
	return l.Run(context.Background()) // until killed
}

// xdpIface is a netdev to open queue 0 of and its XSKMAP slot.
type xdpIface struct {
	name    string
	ifindex int
	slot    uint32
}

// newXDPLoop opens an AF_XDP port on queue 0 of each interface, all on u, registers them with
// the steering program, and returns a loop forwarding the first port to the second and back,
// the ports, and the bind mode. Call it on a thread in the interfaces' namespace.
func newXDPLoop(steer *bpf.Steering, u *afxdp.UMEM, ifaces []xdpIface, log *slog.Logger) (*Loop, []*port.XDP, string, error) {
	var ports []*port.XDP
	mode := "copy"
	for _, i := range ifaces {
		s, err := afxdp.NewSocket(u, i.ifindex, 0, afxdp.DefaultSocketOptions())
		if err != nil {
			return nil, ports, "", err
		}
		ports = append(ports, port.NewXDP(i.name, s, 64))
		if s.ZeroCopy() {
			mode = "zero-copy"
		}
		if err := steer.SetSocket(i.slot, s.FD()); err != nil {
			return nil, ports, "", err
		}
	}
	l, err := New(log, []Route{{From: ports[0], To: ports[1]}, {From: ports[1], To: ports[0]}}, DefaultOptions())
	return l, ports, mode, err
}

func (n *fwdNode) counters(t *testing.T) bpf.Counters {
	t.Helper()
	c, err := n.steer.Counters()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPrivilegedForwarding runs acceptance item 2 of issue 2: ICMP and 100 MB TCP both ways
// through the loop, a kernel-owned address on the XDP_PASS path, fallback to the kernel bridge
// when the loop process is killed, and the loop taking traffic back when it restarts.
func TestPrivilegedForwarding(t *testing.T) {
	testutil.RequirePrivileged(t)
	n := newFwdNode(t)
	loop := n.startLoop(t)
	t.Logf("AF_XDP sockets bound in %s mode", loop.mode)

	t.Run("ICMP through the loop", func(t *testing.T) {
		before := n.counters(t)
		testutil.Ping(t, n.podA, "10.0.0.2")
		testutil.Ping(t, n.podB, "10.0.0.1")
		after := n.counters(t)
		if d := after.Redirected - before.Redirected; d < 12 { // 6 requests + 6 replies
			t.Fatalf("redirected to the loop: %d frames, want ≥ 12", d)
		}
		if d := after.PassedNoSocket - before.PassedNoSocket; d != 0 {
			t.Fatalf("%d frames passed for lack of a socket while the loop ran", d)
		}
	})
	t.Run("TCP 100 MB A to B", func(t *testing.T) {
		before := n.counters(t)
		testutil.TransferTCP(t, n.podA, n.podB, "10.0.0.2:5001", transferBytes)
		// 100 MB in at most 1500-byte frames: ≥ 70,000 data frames went through the sockets.
		if d := n.counters(t).Redirected - before.Redirected; d < transferBytes/1500 {
			t.Fatalf("redirected during the transfer: %d frames, want ≥ %d", d, transferBytes/1500)
		}
	})
	t.Run("TCP 100 MB B to A", func(t *testing.T) {
		testutil.TransferTCP(t, n.podB, n.podA, "10.0.0.1:5002", transferBytes)
	})
	t.Run("kernel-owned address takes XDP_PASS", func(t *testing.T) {
		before := n.counters(t)
		testutil.Ping(t, n.podA, "10.0.0.254")
		if d := n.counters(t).PassedKernelOwned - before.PassedKernelOwned; d < 3 {
			t.Fatalf("passed as kernel-owned: %d frames, want ≥ 3", d)
		}
	})
	t.Run("loop killed: kernel path", func(t *testing.T) {
		loop.kill()
		before := n.counters(t)
		testutil.Ping(t, n.podA, "10.0.0.2")
		testutil.Ping(t, n.podA, "10.0.0.254")
		after := n.counters(t)
		if d := after.PassedNoSocket - before.PassedNoSocket; d < 6 {
			t.Fatalf("passed for lack of a socket: %d frames, want ≥ 6", d)
		}
		if d := after.Redirected - before.Redirected; d != 0 {
			t.Fatalf("%d frames redirected with no loop running", d)
		}
	})
	t.Run("loop restarted takes traffic back", func(t *testing.T) {
		loop = n.startLoop(t)
		before := n.counters(t)
		testutil.Ping(t, n.podA, "10.0.0.2")
		after := n.counters(t)
		if d := after.Redirected - before.Redirected; d < 6 {
			t.Fatalf("redirected after restart: %d frames, want ≥ 6", d)
		}
		if d := after.PassedNoSocket - before.PassedNoSocket; d != 0 {
			t.Fatalf("%d frames passed for lack of a socket after restart", d)
		}
		testutil.TransferTCP(t, n.podA, n.podB, "10.0.0.2:5003", 10<<20)
	})
	t.Run("netdev disappears under the loop", func(t *testing.T) {
		if out, err := n.podB.Exec("ip", "link", "del", n.ethB.Name); err != nil {
			t.Fatalf("delete pod B's veth: %v\n%s", err, out)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(loop.stderr.String(), "source port gone") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.Contains(loop.stderr.String(), "source port gone") {
			t.Fatalf("loop process did not report the vanished port:\n%s", loop.stderr.String())
		}
		// The loop process lives on, and so does pod A's kernel path to the node.
		if err := loop.cmd.Process.Signal(syscall.Signal(0)); err != nil {
			t.Fatalf("loop process gone after a netdev vanished: %v\n%s", err, loop.stderr.String())
		}
		testutil.Ping(t, n.podA, "10.0.0.254")
	})
	loop.kill()
	if s := loop.stderr.String(); strings.Contains(s, "panic") || strings.Contains(s, "DATA RACE") {
		t.Errorf("loop process failed:\n%s", s)
	}
}

// TestPrivilegedForwardingAccounting runs the loop in-process on real AF_XDP ports, forwards
// ICMP and TCP, stops it, closes the ports, and checks every chunk is back in the UMEM.
func TestPrivilegedForwardingAccounting(t *testing.T) {
	testutil.RequirePrivileged(t)
	n := newFwdNode(t)
	u, err := afxdp.NewUMEM(afxdp.DefaultUMEMOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	var l *Loop
	var ports []*port.XDP
	t.Cleanup(func() {
		for _, p := range ports {
			_ = p.Close()
		}
	})
	err = n.node.Do(func() (err error) {
		l, ports, _, err = newXDPLoop(n.steer, u,
			[]xdpIface{{n.hA.Name, n.hA.Index, 0}, {n.hB.Name, n.hB.Index, 1}}, slog.New(slog.DiscardHandler))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var runErr error
	stopped := false
	stop := func() error {
		if !stopped {
			cancel()
			runErr, stopped = <-done, true
		}
		return runErr
	}
	// Registered after the ports' Close: when ping or transfer fails, the loop's goroutines
	// leave the sockets before Close unmaps their rings.
	t.Cleanup(func() { _ = stop() })
	testutil.Ping(t, n.podA, "10.0.0.2")
	testutil.TransferTCP(t, n.podB, n.podA, "10.0.0.1:5004", 10<<20)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := l.Stats()
	if st[0].Forwarded == 0 || st[1].Forwarded == 0 {
		t.Fatalf("forwarded %d and %d frames, want both > 0", st[0].Forwarded, st[1].Forwarded)
	}
	for _, p := range ports {
		if err := p.Close(); err != nil {
			t.Fatalf("close %s: %v", p.Name(), err)
		}
	}
	if got, want := u.Available(), u.NumChunks(); got != want {
		t.Fatalf("chunks back in the UMEM after stop and close: got %d, want %d", got, want)
	}
	if d := u.DoubleFrees() + u.BadFrees(); d != 0 {
		t.Fatalf("double or bad frees: %d", d)
	}
}
