package ovstest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SchemaPath is where Debian's openvswitch-common installs the Open_vSwitch database schema.
const SchemaPath = "/usr/share/openvswitch/vswitch.ovsschema"

// Port is one dummy port of the test bridge.
type Port struct {
	Name   string // interface name, e.g. "p1"
	OFPort uint32 // the OpenFlow port number requested with ofport_request
}

// Options configures Start.
type Options struct {
	// Bridge is the bridge's name.
	Bridge string
	// Ports are the dummy ports added to the bridge, in order.
	Ports []Port
	// Capture makes every port write the frames it transmits to <Dir>/<port>.pcap (dummy
	// netdev's tx_pcap option), read back with Captured.
	Capture bool
	// CommandTimeout bounds every ovs-* command the harness runs.
	CommandTimeout time.Duration
	// StartTimeout bounds how long Start waits for each daemon to answer.
	StartTimeout time.Duration
}

// DefaultOptions returns a bridge "br0" with dummy ports p1..p4 numbered 1..4, no capture, and
// timeouts generous enough for a loaded two-core machine (10 s per command, 20 s to start).
func DefaultOptions() Options {
	return Options{
		Bridge: "br0",
		Ports: []Port{
			{Name: "p1", OFPort: 1}, {Name: "p2", OFPort: 2},
			{Name: "p3", OFPort: 3}, {Name: "p4", OFPort: 4},
		},
		CommandTimeout: 10 * time.Second,
		StartTimeout:   20 * time.Second,
	}
}

// Switch is a running private ovsdb-server + ovs-vswitchd pair with one bridge.
type Switch struct {
	// Dir is the temporary directory holding the database, sockets and logs.
	Dir string
	// Bridge is the bridge's name.
	Bridge string

	opts     Options
	env      []string
	dbSock   string
	mgmt     string // the bridge's OpenFlow socket, as ovs-ofctl's target
	vsCtl    string // ovs-vswitchd's unixctl socket
	ovsdb    *daemon
	vswitchd *daemon

	mu      sync.Mutex
	odpToOF map[uint32]uint32 // datapath port number → OpenFlow port, filled lazily
}

// daemon is one child process and the result of waiting for it.
type daemon struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid after done is closed
}

// Start starts a private Open vSwitch as described in the package comment and registers its
// teardown with t.Cleanup. It fails the test if OVS cannot be started.
func Start(t testing.TB, opts Options) *Switch {
	t.Helper()
	s, err := start(opts)
	if s != nil {
		t.Cleanup(func() {
			if t.Failed() {
				s.logTails(t)
			}
			if err := s.Close(); err != nil {
				t.Errorf("stop ovs: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("start ovs: %v", err)
	}
	return s
}

// start does Start's work; on error it returns the partly started switch (or nil) so the
// caller can still stop what runs.
func start(opts Options) (*Switch, error) {
	def := DefaultOptions()
	if opts.Bridge == "" {
		opts.Bridge = def.Bridge
	}
	if opts.CommandTimeout == 0 {
		opts.CommandTimeout = def.CommandTimeout
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = def.StartTimeout
	}
	// A short directory under /tmp: unix socket paths are limited to 108 bytes, which a
	// t.TempDir() named after a long subtest can exceed.
	dir, err := os.MkdirTemp("", "ovst")
	if err != nil {
		return nil, fmt.Errorf("make temp dir: %w", err)
	}
	s := &Switch{
		Dir:    dir,
		Bridge: opts.Bridge,
		opts:   opts,
		dbSock: filepath.Join(dir, "db.sock"),
		mgmt:   "unix:" + filepath.Join(dir, opts.Bridge+".mgmt"),
		vsCtl:  filepath.Join(dir, "ovs-vswitchd.ctl"),
	}
	s.env = append(os.Environ(),
		"OVS_RUNDIR="+dir, "OVS_DBDIR="+dir, "OVS_LOGDIR="+dir, "OVS_SYSCONFDIR="+dir)

	db := filepath.Join(dir, "conf.db")
	if _, err := s.run("", "ovsdb-tool", "create", db, SchemaPath); err != nil {
		return s, err
	}
	s.ovsdb, err = s.spawn("ovsdb-server", db,
		"--remote=punix:"+s.dbSock,
		"--unixctl="+filepath.Join(dir, "ovsdb-server.ctl"),
		"--log-file="+filepath.Join(dir, "ovsdb-server.log"),
		"-vconsole:off")
	if err != nil {
		return s, err
	}
	if err := s.waitFor("ovsdb-server", s.ovsdb, func() error {
		_, err := s.vsctl("--no-wait", "init")
		return err
	}); err != nil {
		return s, err
	}
	s.vswitchd, err = s.spawn("ovs-vswitchd", "unix:"+s.dbSock,
		"--enable-dummy=override", "--disable-system", "--disable-system-route",
		"--unixctl="+s.vsCtl,
		"--log-file="+filepath.Join(dir, "ovs-vswitchd.log"),
		"-vconsole:off")
	if err != nil {
		return s, err
	}
	if err := s.waitFor("ovs-vswitchd", s.vswitchd, func() error {
		_, err := s.AppCtl("version")
		return err
	}); err != nil {
		return s, err
	}
	// One transaction; without --no-wait ovs-vsctl returns once ovs-vswitchd has applied it.
	args := []string{"--", "add-br", opts.Bridge,
		"--", "set", "bridge", opts.Bridge, "datapath_type=netdev", "fail-mode=secure",
		"protocols=OpenFlow10,OpenFlow11,OpenFlow12,OpenFlow13,OpenFlow14,OpenFlow15"}
	for _, p := range opts.Ports {
		args = append(args, "--", "add-port", opts.Bridge, p.Name,
			"--", "set", "interface", p.Name, "type=dummy", fmt.Sprintf("ofport_request=%d", p.OFPort))
		if opts.Capture {
			args = append(args, "options:tx_pcap="+s.pcapPath(p.Name))
		}
	}
	if _, err := s.vsctl(args...); err != nil {
		return s, err
	}
	return s, nil
}

// spawn starts a daemon in the foreground as our child. It dies with the test binary
// (Pdeathsig) so a killed test leaves no switch behind.
func (s *Switch) spawn(name string, args ...string) (*daemon, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = s.env
	cmd.Dir = s.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &daemon{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		if d.err != nil && out.Len() > 0 {
			d.err = fmt.Errorf("%w: %s", d.err, bytes.TrimSpace(out.Bytes()))
		}
		close(d.done)
	}()
	return d, nil
}

// waitFor polls ready until it succeeds, the daemon exits, or StartTimeout passes.
func (s *Switch) waitFor(name string, d *daemon, ready func() error) error {
	deadline := time.Now().Add(s.opts.StartTimeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("%s exited during start: %v", name, d.err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait for %s: %w", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PIDs returns the process IDs of ovs-vswitchd and ovsdb-server (0 for one not started).
func (s *Switch) PIDs() (vswitchd, ovsdb int) {
	if s.vswitchd != nil {
		vswitchd = s.vswitchd.cmd.Process.Pid
	}
	if s.ovsdb != nil {
		ovsdb = s.ovsdb.cmd.Process.Pid
	}
	return vswitchd, ovsdb
}

// Close stops ovs-vswitchd and then ovsdb-server by PID (SIGTERM, SIGKILL after 5 s), waits
// for both, and removes Dir. Start registers it with t.Cleanup; calling it twice is harmless.
func (s *Switch) Close() error {
	var errs []error
	for _, d := range []*daemon{s.vswitchd, s.ovsdb} {
		if err := d.stop(5 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", s.Dir, err))
	}
	return errors.Join(errs...)
}

// stop terminates the daemon and waits for it. An exit caused by our own signal is success.
func (d *daemon) stop(grace time.Duration) error {
	if d == nil {
		return nil
	}
	select {
	case <-d.done:
		return nil // already gone (or stopped by an earlier Close)
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return nil
	case <-time.After(grace):
	}
	_ = d.cmd.Process.Kill()
	<-d.done
	return fmt.Errorf("%s (pid %d) ignored SIGTERM for %v and was killed", d.name, d.cmd.Process.Pid, grace)
}

// logTails prints the end of both daemons' logs, for a failing test.
func (s *Switch) logTails(t testing.TB) {
	t.Helper()
	for _, name := range []string{"ovs-vswitchd.log", "ovsdb-server.log"} {
		b, err := os.ReadFile(filepath.Join(s.Dir, name))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		t.Logf("%s (tail):\n%s", name, strings.Join(lines, "\n"))
	}
}

// run executes one command with the switch's environment, feeding stdin, and returns its
// standard output. The error carries the command line and its standard error.
func (s *Switch) run(stdin string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = s.env
	cmd.Dir = s.Dir
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()+" "+stdout.String()))
	}
	return stdout.String(), nil
}

func (s *Switch) vsctl(args ...string) (string, error) {
	return s.run("", "ovs-vsctl", append([]string{"--db=unix:" + s.dbSock, "--timeout=20"}, args...)...)
}

// VSCtl runs ovs-vsctl against the private database.
func (s *Switch) VSCtl(args ...string) (string, error) { return s.vsctl(args...) }

// AppCtl runs ovs-appctl against the private ovs-vswitchd.
func (s *Switch) AppCtl(args ...string) (string, error) {
	return s.run("", "ovs-appctl", append([]string{"-t", s.vsCtl}, args...)...)
}

// OFCtl runs `ovs-ofctl -O OpenFlow15 <command> <bridge socket> args...` with stdin (for "-"
// arguments); use it where a test expects OVS to refuse something.
func (s *Switch) OFCtl(stdin, command string, args ...string) (string, error) {
	return s.run(stdin, "ovs-ofctl", append([]string{"-O", "OpenFlow15", command, s.mgmt}, args...)...)
}

// AddFlows adds flows written one per line in ovs-ofctl syntax (blank lines and # comments
// allowed) as one OpenFlow 1.5 bundle, so either all are added or none.
func (s *Switch) AddFlows(t testing.TB, flows string) {
	t.Helper()
	if err := s.LoadFlows(flows); err != nil {
		t.Fatal(err)
	}
}

// LoadFlows is AddFlows returning the error, for tests that expect OVS to refuse a flow set.
func (s *Switch) LoadFlows(flows string) error {
	if _, err := s.run(flows, "ovs-ofctl", "-O", "OpenFlow15", "--bundle", "add-flows", s.mgmt, "-"); err != nil {
		return fmt.Errorf("add flows: %w", err)
	}
	return nil
}

// AddGroups adds groups written one per line in ovs-ofctl syntax.
func (s *Switch) AddGroups(t testing.TB, groups string) {
	t.Helper()
	if err := s.LoadGroups(groups); err != nil {
		t.Fatal(err)
	}
}

// LoadGroups is AddGroups returning the error.
func (s *Switch) LoadGroups(groups string) error {
	if _, err := s.OFCtl(groups, "add-groups", "-"); err != nil {
		return fmt.Errorf("add groups: %w", err)
	}
	return nil
}

// Reset removes every flow and group and flushes the datapath's connection tracker, so one
// switch can serve several flow sets.
func (s *Switch) Reset(t testing.TB) {
	t.Helper()
	if _, err := s.OFCtl("", "del-flows"); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if _, err := s.OFCtl("", "del-groups"); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if _, err := s.AppCtl("dpctl/flush-conntrack"); err != nil {
		t.Fatalf("reset: %v", err)
	}
}

// DumpFlows returns `ovs-ofctl dump-flows --no-stats` output (one flow a line, without the
// reply header), optionally restricted, e.g. DumpFlows(t, "table=5").
func (s *Switch) DumpFlows(t testing.TB, filter ...string) []string {
	t.Helper()
	flows, err := s.ListFlows(filter...)
	if err != nil {
		t.Fatal(err)
	}
	return flows
}

// ListFlows is DumpFlows returning the error: OVS can hold flows it cannot encode in a reply
// (some learned ones), and then refuses to dump them.
func (s *Switch) ListFlows(filter ...string) ([]string, error) {
	out, err := s.OFCtl("", "dump-flows", append([]string{"--no-stats"}, filter...)...)
	if err != nil {
		return nil, fmt.Errorf("dump flows: %w", err)
	}
	var flows []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "OFPST_") || strings.HasPrefix(l, "NXST_") {
			continue
		}
		flows = append(flows, l)
	}
	return flows, nil
}

// Trace runs ofproto/trace on a flow in ovs-ofctl syntax (e.g. "in_port=1,tcp,nw_dst=10.0.0.2,
// tp_dst=80"; UDP and SCTP ports are udp_dst/sctp_dst there) and parses the result. ctNext
// gives the ct_state each successive recirculation sees (e.g. "trk,est"); missing ones default
// to trk,new. Trace has no side effects.
func (s *Switch) Trace(flowSpec string, ctNext []string) (*Trace, error) {
	return s.trace(flowSpec, nil, ctNext)
}

// TracePacket traces a real frame arriving on OpenFlow port inPort. OVS parses the frame itself,
// and side effects happen: learn() installs its flows.
func (s *Switch) TracePacket(inPort uint32, frame []byte, ctNext []string) (*Trace, error) {
	return s.trace(fmt.Sprintf("in_port=%d", inPort), frame, ctNext)
}

func (s *Switch) trace(flowSpec string, frame []byte, ctNext []string) (*Trace, error) {
	args := []string{"ofproto/trace", s.Bridge, flowSpec}
	for _, c := range ctNext {
		args = append(args, "--ct-next", c)
	}
	if frame != nil {
		args = append(args, hex.EncodeToString(frame))
	}
	out, err := s.AppCtl(args...)
	if err != nil {
		return nil, fmt.Errorf("trace %s: %w", flowSpec, err)
	}
	ports, err := s.portMap()
	if err != nil {
		return nil, err
	}
	tr, err := ParseTrace(out)
	if err != nil {
		return nil, fmt.Errorf("trace %s: %w", flowSpec, err)
	}
	tr.odpToOF = ports
	return tr, nil
}

// Inject hands a frame to the datapath as if it arrived on the named port (netdev-dummy/
// receive): it goes through the real userspace datapath, conntrack included.
func (s *Switch) Inject(port string, frame []byte) error {
	if _, err := s.AppCtl("netdev-dummy/receive", port, hex.EncodeToString(frame)); err != nil {
		return fmt.Errorf("inject into %s: %w", port, err)
	}
	return nil
}

// Captured returns the frames the named port has transmitted so far (Options.Capture).
func (s *Switch) Captured(port string) ([][]byte, error) {
	b, err := os.ReadFile(s.pcapPath(port))
	if err != nil {
		return nil, fmt.Errorf("read capture of %s: %w", port, err)
	}
	return parsePcap(b)
}

func (s *Switch) pcapPath(port string) string { return filepath.Join(s.Dir, port+".pcap") }

// portMap returns the datapath → OpenFlow port numbering, from dpif/show lines such as
// "    p1 1/1: (dummy)" (name ofport/odp-port).
func (s *Switch) portMap() (map[uint32]uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.odpToOF != nil {
		return s.odpToOF, nil
	}
	out, err := s.AppCtl("dpif/show")
	if err != nil {
		return nil, err
	}
	m, err := parseDpifShow(out)
	if err != nil {
		return nil, err
	}
	s.odpToOF = m
	return m, nil
}
