package ipam

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment of the re-executed test binary acting as a crashing allocator process.
const (
	envChild   = "SLUICE_IPAM_CRASH_CHILD" // state directory
	envPrefix  = "SLUICE_IPAM_CRASH_KEYS"  // key prefix, unique per run
	envCrashAt = "SLUICE_IPAM_CRASH_AT"    // "<point>:<n>": SIGKILL itself at the n-th call of point
)

var crashCIDRs = []string{"10.20.0.0/24", "fd20::/120"}

func TestMain(m *testing.M) {
	if dir := os.Getenv(envChild); dir != "" {
		crashChild(dir)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild allocates and releases in a loop, writing one line per step to stdout (a pipe: each
// short write is atomic), until it is killed or the step budget is spent.
//
//	begin K       Allocate(K) called      alloc K IP...   Allocate(K) returned
//	rbegin K      Release(K) called       rdone K         Release(K) returned
func crashChild(dir string) {
	var cidrs []netip.Prefix
	for _, c := range crashCIDRs {
		cidrs = append(cidrs, netip.MustParsePrefix(c))
	}
	al, err := Open(Options{StateDir: dir, CIDRs: cidrs})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if at := os.Getenv(envCrashAt); at != "" {
		point, nstr, _ := strings.Cut(at, ":")
		n, _ := strconv.Atoi(nstr)
		al.crashPoint = func(p string) {
			if p == point {
				if n--; n == 0 {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}
		}
	}
	say := func(f string, a ...any) { os.Stdout.WriteString(fmt.Sprintf(f, a...) + "\n") }
	say("ready")
	prefix := os.Getenv(envPrefix)
	for i := range 60 {
		k := key(fmt.Sprintf("%s-%d", prefix, i))
		say("begin %s", k.ContainerID)
		ls, err := al.Allocate(k, pod(k.ContainerID))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		say("alloc %s %s", k.ContainerID, strings.Join(ips(ls), " "))
		if i%3 == 2 {
			r := key(fmt.Sprintf("%s-%d", prefix, i-1))
			say("rbegin %s", r.ContainerID)
			if err := al.Release(r); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			say("rdone %s", r.ContainerID)
		}
	}
	time.Sleep(time.Minute) // wait for the kill
}

// runChild starts the child on dir and SIGKILLs it after delay past its "ready" line (or lets it
// kill itself at crashAt), returning its output lines.
func runChild(t *testing.T, dir, prefix, crashAt string, delay time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+dir, envPrefix+"="+prefix, envCrashAt+"="+crashAt)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL); cmd.Wait() })
	var lines []string
	var mu sync.Mutex
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				close(ready)
				continue
			}
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("child never became ready")
	}
	if crashAt == "" {
		time.Sleep(delay)
		syscall.Kill(pid, syscall.SIGKILL)
	} else {
		time.AfterFunc(30*time.Second, func() { syscall.Kill(pid, syscall.SIGKILL) })
	}
	<-done
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return lines
}

// crashLedger is what the parent knows from the child's reports across all runs on one directory.
type crashLedger struct {
	held     map[string]string // key → addresses, reported handed out and not released
	inflight map[string]bool   // keys with an unfinished Allocate at the kill
	release  map[string]bool   // keys with an unfinished Release at the kill
}

func newLedger() *crashLedger {
	return &crashLedger{held: map[string]string{}, inflight: map[string]bool{}, release: map[string]bool{}}
}

func (l *crashLedger) apply(t *testing.T, lines []string) {
	t.Helper()
	clear(l.inflight)
	clear(l.release)
	for _, ln := range lines {
		f := strings.Fields(ln)
		switch f[0] {
		case "begin":
			l.inflight[f[1]] = true
		case "rbegin":
			l.release[f[1]] = true
		case "alloc":
			delete(l.inflight, f[1])
			l.held[f[1]] = strings.Join(f[2:], " ")
		case "rdone":
			delete(l.release, f[1])
			delete(l.held, f[1])
		default:
			t.Fatalf("child said %q", ln)
		}
	}
}

// check reopens dir as the restarted agent would and compares the disk with the ledger: every
// address handed out is still held by its key (so it cannot be handed out again), nothing
// beyond the in-flight call is held, no file is corrupt and no temporary file survives.
func (l *crashLedger) check(t *testing.T, dir string) {
	t.Helper()
	al := open(t, dir, crashCIDRs...)
	list, bad, err := al.List()
	if err != nil || len(bad) != 0 {
		t.Fatalf("state after crash: %v %v", err, bad)
	}
	onDisk := map[string][]string{}
	for _, a := range list {
		onDisk[a.Key.ContainerID] = append(onDisk[a.Key.ContainerID], a.IP.String())
	}
	for k, want := range l.held {
		if l.release[k] { // a Release that died between the families may have removed some
			for _, ip := range onDisk[k] {
				if !strings.Contains(" "+want+" ", " "+ip+" ") {
					t.Errorf("key %s being released holds %s, never handed out to it (%s)", k, ip, want)
				}
			}
			continue
		}
		if got := strings.Join(onDisk[k], " "); got != want {
			t.Errorf("key %s: handed out %q before the crash, on disk %q", k, want, got)
		}
	}
	extra := 0
	for k := range onDisk {
		if _, ok := l.held[k]; ok {
			continue
		}
		if !l.inflight[k] {
			t.Errorf("key %s holds %v on disk but was never handed out nor in flight", k, onDisk[k])
		}
		extra++
	}
	if extra > 1 {
		t.Errorf("%d keys held beyond those handed out, want at most the one in flight", extra)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			t.Errorf("temporary file %s survived a locked operation", e.Name())
		}
	}
	// The retried DEL finishes an interrupted release.
	for k := range l.release {
		if err := al.Release(key(k)); err != nil {
			t.Fatal(err)
		}
		delete(l.held, k)
	}
	// The retried ADD of the in-flight key gets what the disk holds, or a fresh address that
	// collides with no held one.
	for k := range l.inflight {
		ls, err := al.Allocate(key(k), pod(k))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(ips(ls), " ")
		for _, prev := range onDisk[k] { // a dual-stack ADD may have died between the families
			if !slices.Contains(ips(ls), prev) {
				t.Errorf("retried ADD of %s got %s, disk held %v", k, got, onDisk[k])
			}
		}
		l.held[k] = got
	}
	seen := map[string]string{}
	for k, addrs := range l.held {
		for _, ip := range strings.Fields(addrs) {
			if other, dup := seen[ip]; dup {
				t.Errorf("%s handed out to both %s and %s", ip, other, k)
			}
			seen[ip] = k
		}
	}
	al.Close()
}

// sameView checks that surv, an allocator that stayed open (with its cached view) while another
// process was killed, sees exactly what a freshly opened one reads from disk.
func sameView(t *testing.T, surv *Allocator, dir string) {
	t.Helper()
	render := func(al *Allocator) string {
		list, bad, err := al.List()
		if err != nil || len(bad) != 0 {
			t.Fatalf("List: %v %v", err, bad)
		}
		var b strings.Builder
		for _, a := range list {
			fmt.Fprintf(&b, "%s=%s ", a.IP, a.Key.ContainerID)
		}
		return b.String()
	}
	fresh := open(t, dir, crashCIDRs...)
	defer fresh.Close()
	if got, want := render(surv), render(fresh); got != want {
		t.Errorf("allocator open across the crash sees %q, the disk holds %q", got, want)
	}
}

// TestCrashAtEachStep SIGKILLs an allocating process at each step of the durable write and checks
// the restarted allocator's view.
func TestCrashAtEachStep(t *testing.T) {
	for _, point := range []string{"tmp-written", "linked", "dir-synced"} {
		for _, n := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s#%d", point, n), func(t *testing.T) {
				dir := t.TempDir()
				l := newLedger()
				surv := open(t, dir, crashCIDRs...)
				if _, _, err := surv.List(); err != nil { // fill its cache
					t.Fatal(err)
				}
				l.apply(t, runChild(t, dir, "k", fmt.Sprintf("%s:%d", point, n), 0))
				sameView(t, surv, dir)
				if len(l.inflight) != 1 {
					t.Errorf("in flight at the crash: %v, want one key", l.inflight)
				}
				l.check(t, dir)
			})
		}
	}
}

// TestCrashRandom SIGKILLs allocating processes at random moments, several in a row on one state
// directory, checking after each restart.
func TestCrashRandom(t *testing.T) {
	dir := t.TempDir()
	l := newLedger()
	surv := open(t, dir, crashCIDRs...)
	for run := range 8 {
		if _, _, err := surv.List(); err != nil { // fill its cache
			t.Fatal(err)
		}
		delay := time.Duration(rand.IntN(15000)) * time.Microsecond
		l.apply(t, runChild(t, dir, fmt.Sprintf("r%d", run), "", delay))
		sameView(t, surv, dir)
		l.check(t, dir)
		if t.Failed() {
			t.Fatalf("run %d (killed after %v) failed; state in %s", run, delay, dir)
		}
	}
	t.Logf("%d attachments held after 8 crashes", len(l.held))
	if _, err := os.Stat(filepath.Join(dir, lockName)); err != nil {
		t.Errorf("lock file: %v", err)
	}
}
