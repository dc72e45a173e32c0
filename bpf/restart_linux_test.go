package bpf

import (
	"bufio"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/sluicenet/sluice/internal/testutil"
	"github.com/vishvananda/netns"
)

// TestPrivilegedRestartAfterKill plays a datapath process that loads the program with pinned
// maps, attaches it with a pinned link and is then killed (SIGKILL, no cleanup): the program
// must stay attached, traffic must fall back to the kernel (its sockets are gone), and a new
// process must find the configuration and take the link over.
func TestPrivilegedRestartAfterKill(t *testing.T) {
	testutil.RequirePrivileged(t)
	pins := pinDir(t)
	nsA := testutil.NewNetNS(t, "sra")
	nsB := testutil.NewNetNS(t, "srb")
	va, vb := testutil.VethPair(t, testutil.UniqueName("sra"), nsA, testutil.UniqueName("srb"), nsB)
	testutil.AddAddr(t, nsA, va.Name, "192.0.2.1/24")
	testutil.AddAddr(t, nsB, vb.Name, "192.0.2.2/24")
	linkPin := filepath.Join(pins, "link_"+va.Name)

	// The first datapath process.
	cmd := exec.Command(os.Args[0], "-test.run=^TestRestartHelper$")
	cmd.Env = append(os.Environ(), helperEnv+"=restart", "HELPER_PINS="+pins, "HELPER_NETNS="+nsA.Name,
		"HELPER_IFINDEX="+strconv.Itoa(va.Index), "HELPER_LINK="+linkPin)
	cmd.Stderr = os.Stderr
	if _, err := cmd.StdinPipe(); err != nil { // held open so the helper blocks until killed
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper did not get ready: %q, %v", line, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	t.Run("program stays attached after the process is killed", func(t *testing.T) {
		if on, mode := xdpState(t, nsA, va.Index); !on || mode != AttachNative {
			t.Fatalf("kernel says attached=%v mode=%v, want native", on, mode)
		}
	})

	s, err := Load(Options{PinPath: pins})
	if err != nil {
		t.Fatalf("second process load: %v", err)
	}
	t.Cleanup(func() { s.Close() })

	t.Run("configuration survives in the pinned maps", func(t *testing.T) {
		ifs, err := s.Interfaces()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ifs[va.Index], (InterfaceConfig{Mode: ModeAll, Queues: 1}); got != want {
			t.Fatalf("interface %d: got %+v, want %+v", va.Index, got, want)
		}
	})

	t.Run("traffic falls back to the kernel while no datapath runs", func(t *testing.T) {
		pingCounts(t, nsB, s, "passed_no_socket", func(c Counters) uint64 { return c.PassedNoSocket })
	})

	t.Run("the new process takes the pinned link over", func(t *testing.T) {
		var a *Attachment
		err := nsA.Do(func() error {
			var err error
			a, err = s.LoadPinnedAttachment(linkPin)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Detach()
		if a.Ifindex != va.Index || a.Mode != AttachNative {
			t.Errorf("adopted: got ifindex %d mode %v, want %d native", a.Ifindex, a.Mode, va.Index)
		}
		if err := s.AddKernelOwned(netip.MustParsePrefix("192.0.2.1/32")); err != nil {
			t.Fatal(err)
		}
		pingCounts(t, nsB, s, "passed_kernel_owned", func(c Counters) uint64 { return c.PassedKernelOwned })
		if err := a.Detach(); err != nil {
			t.Fatal(err)
		}
		if on, _ := xdpState(t, nsA, va.Index); on {
			t.Error("still attached after Detach")
		}
	})
	if err := s.Unpin(); err != nil {
		t.Error(err)
	}
}

// TestRestartHelper is the killed datapath process of TestPrivilegedRestartAfterKill; it does
// nothing in a normal run.
func TestRestartHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "restart" {
		t.Skip("helper for TestPrivilegedRestartAfterKill")
	}
	runtime.LockOSThread() // this thread enters the namespace and the process dies with it
	h, err := netns.GetFromName(os.Getenv("HELPER_NETNS"))
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Set(h); err != nil {
		t.Fatal(err)
	}
	ifindex, err := strconv.Atoi(os.Getenv("HELPER_IFINDEX"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(Options{PinPath: os.Getenv("HELPER_PINS")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetInterface(ifindex, InterfaceConfig{Mode: ModeAll}); err != nil {
		t.Fatal(err)
	}
	a, err := s.Attach(ifindex, AttachAuto)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Pin(os.Getenv("HELPER_LINK")); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin) // the parent never closes stdin: wait for SIGKILL
}
