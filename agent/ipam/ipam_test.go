package ipam

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func mustPrefixes(t testing.TB, s ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, c := range s {
		out = append(out, netip.MustParsePrefix(c))
	}
	return out
}

func open(t testing.TB, dir string, cidrs ...string) *Allocator {
	t.Helper()
	al, err := Open(Options{StateDir: dir, CIDRs: mustPrefixes(t, cidrs...)})
	if err != nil {
		t.Fatalf("Open(%v): %v", cidrs, err)
	}
	t.Cleanup(func() { al.Close() })
	return al
}

func key(id string) Key { return Key{ContainerID: id, IfName: "eth0"} }

func pod(name string) Pod { return Pod{Namespace: "default", Name: name} }

func ips(ls []Lease) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.IP.String())
	}
	return out
}

// TestAllocateSequence checks the reserved addresses (network, gateway, IPv4 broadcast) are never
// handed out and the usable range is walked in order until it is exhausted.
func TestAllocateSequence(t *testing.T) {
	for _, tc := range []struct {
		name string
		cidr string
		want []string // every address handed out before exhaustion
		gw   string
	}{
		{"ipv4 /29", "10.1.0.0/29", []string{"10.1.0.2", "10.1.0.3", "10.1.0.4", "10.1.0.5", "10.1.0.6"}, "10.1.0.1"},
		{"ipv4 /30", "192.0.2.4/30", []string{"192.0.2.6"}, "192.0.2.5"},
		{"ipv4 /31 has no usable address", "10.1.0.0/31", nil, "10.1.0.1"},
		{"ipv4 /32 has no usable address", "10.1.0.7/32", nil, "invalid IP"},
		{"ipv6 /125 has no broadcast", "fd00::/125", []string{"fd00::2", "fd00::3", "fd00::4", "fd00::5", "fd00::6", "fd00::7"}, "fd00::1"},
		{"ipv6 /127", "fd00::/127", nil, "fd00::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			al := open(t, t.TempDir(), tc.cidr)
			var got []string
			for i := 0; ; i++ {
				ls, err := al.Allocate(key(string(rune('a'+i))), pod("p"))
				if errors.Is(err, ErrExhausted) {
					break
				}
				if err != nil {
					t.Fatalf("Allocate #%d: %v", i, err)
				}
				if g := ls[0].Gateway.String(); g != tc.gw {
					t.Errorf("gateway = %s, want %s", g, tc.gw)
				}
				got = append(got, ips(ls)...)
				if i > 10 {
					t.Fatalf("no exhaustion after %v", got)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("handed out %v, want %v", got, tc.want)
			}
		})
	}
}

// TestAllocateIdempotent checks a retried ADD (same container and interface) gets the same address
// and another interface of the same container gets another.
func TestAllocateIdempotent(t *testing.T) {
	al := open(t, t.TempDir(), "10.2.0.0/24")
	first, err := al.Allocate(key("c1"), pod("a"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := al.Allocate(key("c1"), pod("a"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ips(first), ips(again)) {
		t.Errorf("retried Allocate = %v, want %v", ips(again), ips(first))
	}
	other, err := al.Allocate(Key{ContainerID: "c1", IfName: "net1"}, pod("a"))
	if err != nil {
		t.Fatal(err)
	}
	if ips(other)[0] == ips(first)[0] {
		t.Errorf("second interface got the same address %v", ips(other))
	}
}

// TestRelease checks Release frees the key's addresses, is idempotent, and leaves other keys alone.
func TestRelease(t *testing.T) {
	al := open(t, t.TempDir(), "10.3.0.0/24", "fd03::/64")
	if _, err := al.Allocate(key("a"), pod("a")); err != nil {
		t.Fatal(err)
	}
	keep, err := al.Allocate(key("b"), pod("b"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := al.Release(key("a")); err != nil {
			t.Fatalf("Release #%d: %v", i, err)
		}
	}
	if err := al.Release(key("never")); err != nil {
		t.Errorf("Release of unknown key: %v", err)
	}
	list, bad, err := al.List()
	if err != nil || len(bad) != 0 {
		t.Fatalf("List: %v %v", err, bad)
	}
	var got []string
	for _, a := range list {
		got = append(got, a.IP.String()+"="+a.Key.ContainerID)
	}
	want := []string{keep[0].IP.String() + "=b", keep[1].IP.String() + "=b"}
	if !slices.Equal(got, want) {
		t.Errorf("after release: %v, want %v", got, want)
	}
}

// TestRoundRobin checks a released address is not handed out again until the pool wraps.
func TestRoundRobin(t *testing.T) {
	al := open(t, t.TempDir(), "10.4.0.0/29") // .2 .. .6
	var got []string
	for i, id := range []string{"a", "b", "c", "d", "e", "f"} {
		ls, err := al.Allocate(key(id), pod(id))
		if err != nil {
			t.Fatalf("Allocate %s: %v", id, err)
		}
		got = append(got, ips(ls)...)
		if i < 3 { // release at once: the next allocation must still move on
			if err := al.Release(key(id)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// a=.2 b=.3 c=.4 released at once; d=.5 e=.6 then wrap: f=.2
	want := []string{"10.4.0.2", "10.4.0.3", "10.4.0.4", "10.4.0.5", "10.4.0.6", "10.4.0.2"}
	if !slices.Equal(got, want) {
		t.Errorf("handed out %v, want %v", got, want)
	}
}

// TestExhausted checks the exact error and that errors.Is/As see it.
func TestExhausted(t *testing.T) {
	al := open(t, t.TempDir(), "198.51.100.0/30", "198.51.100.8/30")
	for _, id := range []string{"a", "b"} {
		if _, err := al.Allocate(key(id), pod(id)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := al.Allocate(key("c"), pod("c"))
	want := "allocate c/eth0: ip pool exhausted: no free address in 198.51.100.0/30, 198.51.100.8/30"
	if err == nil || err.Error() != want {
		t.Fatalf("Allocate on a full pool: %v, want %q", err, want)
	}
	var ee *ExhaustedError
	if !errors.As(err, &ee) || !errors.Is(err, ErrExhausted) || len(ee.CIDRs) != 2 {
		t.Errorf("error %v: not an *ExhaustedError wrapping ErrExhausted with 2 CIDRs", err)
	}
	if err := al.Release(key("a")); err != nil {
		t.Fatal(err)
	}
	if ls, err := al.Allocate(key("c"), pod("c")); err != nil || ips(ls)[0] != "198.51.100.2" {
		t.Errorf("Allocate after a release = %v, %v; want 198.51.100.2", ls, err)
	}
}

// TestDualStack checks one address per family, and that exhausting one family gives back the
// other family's new address.
func TestDualStack(t *testing.T) {
	dir := t.TempDir()
	al := open(t, dir, "10.5.0.0/24", "fd05::/126") // one IPv6 address: fd05::2 (::3 too: no broadcast)
	ls, err := al.Allocate(key("a"), pod("a"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ips(ls), []string{"10.5.0.2", "fd05::2"}; !slices.Equal(got, want) {
		t.Errorf("dual-stack lease %v, want %v", got, want)
	}
	if g := ls[1].Gateway.String(); g != "fd05::1" {
		t.Errorf("ipv6 gateway %s, want fd05::1", g)
	}
	if _, err := al.Allocate(key("b"), pod("b")); err != nil {
		t.Fatal(err)
	}
	_, err = al.Allocate(key("c"), pod("c"))
	if !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "fd05::/126") {
		t.Fatalf("third pod: %v, want exhaustion of fd05::/126", err)
	}
	list, _, err := al.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.Key.ContainerID == "c" {
			t.Errorf("exhausted allocation left %s behind", a.IP)
		}
	}
	if len(list) != 4 {
		t.Errorf("%d allocations, want 4: %v", len(list), list)
	}
}

// TestPersistence checks a new allocator on the same directory (a restart) keeps every allocation
// and does not hand them out again.
func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	al := open(t, dir, "10.6.0.0/29")
	held := map[string]bool{}
	for _, id := range []string{"a", "b", "c"} {
		ls, err := al.Allocate(key(id), pod(id))
		if err != nil {
			t.Fatal(err)
		}
		held[ips(ls)[0]] = true
	}
	al.Close()
	al2 := open(t, dir, "10.6.0.0/29")
	ls, err := al2.Allocate(key("a"), pod("a"))
	if err != nil || !held[ips(ls)[0]] {
		t.Errorf("retry after restart = %v, %v; want one of %v", ls, err, held)
	}
	for _, id := range []string{"d", "e"} {
		ls, err := al2.Allocate(key(id), pod(id))
		if err != nil {
			t.Fatal(err)
		}
		if held[ips(ls)[0]] {
			t.Errorf("restarted allocator handed out %s again", ips(ls)[0])
		}
	}
}

// TestCorruptFile checks a damaged allocation file keeps its address reserved and is reported
// with its file name; an orphaned temporary file is removed.
func TestCorruptFile(t *testing.T) {
	dir := t.TempDir()
	al := open(t, dir, "10.7.0.0/29")
	if err := os.WriteFile(filepath.Join(dir, "10.7.0.2"), []byte("sluice-ipam 1\nip 10.7"), 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, tmpPrefix+"10.7.0.3")
	if err := os.WriteFile(tmp, []byte("sluice-ipam 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ls, err := al.Allocate(key("a"), pod("a"))
	if err != nil {
		t.Fatal(err)
	}
	if got := ips(ls)[0]; got != "10.7.0.3" {
		t.Errorf("Allocate = %s, want 10.7.0.3 (10.7.0.2 is reserved by its corrupt file)", got)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphaned %s still there: %v", tmp, err)
	}
	r, err := al.GC(func(Allocation) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	wantFile := filepath.Join(dir, "10.7.0.2")
	if len(r.Corrupt) != 1 || !strings.Contains(r.Corrupt[0].Error(), wantFile) || !errors.Is(r.Corrupt[0], ErrCorrupt) {
		t.Errorf("GC corrupt report %v, want one ErrCorrupt naming %s", r.Corrupt, wantFile)
	}
	if _, err := os.Stat(wantFile); err != nil {
		t.Errorf("GC removed the corrupt file: %v", err)
	}
}

// TestGC checks Reconcile releases exactly the attachments that are gone.
func TestGC(t *testing.T) {
	al := open(t, t.TempDir(), "10.8.0.0/24", "fd08::/64")
	for _, id := range []string{"live1", "gone1", "live2", "gone2"} {
		if _, err := al.Allocate(key(id), pod(id)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := al.Reconcile(map[Key]bool{key("live1"): true, key("live2"): true})
	if err != nil {
		t.Fatal(err)
	}
	var released []string
	for _, a := range r.Released {
		released = append(released, a.Key.ContainerID+"/"+a.Pod.Name)
	}
	slices.Sort(released)
	if want := []string{"gone1/gone1", "gone1/gone1", "gone2/gone2", "gone2/gone2"}; !slices.Equal(released, want) {
		t.Errorf("released %v, want %v", released, want)
	}
	list, _, err := al.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if !strings.HasPrefix(a.Key.ContainerID, "live") {
			t.Errorf("%s of %s survived GC", a.IP, a.Key.ContainerID)
		}
	}
	if len(list) != 4 {
		t.Errorf("%d allocations after GC, want 4", len(list))
	}
}

// TestPodCIDRChange checks a node re-created with another podCIDR: old allocations are not
// returned to a retried ADD, and GC reports and releases them even for live pods.
func TestPodCIDRChange(t *testing.T) {
	dir := t.TempDir()
	old := open(t, dir, "10.9.0.0/24")
	if _, err := old.Allocate(key("a"), pod("a")); err != nil {
		t.Fatal(err)
	}
	old.Close()
	al := open(t, dir, "10.10.0.0/24")
	ls, err := al.Allocate(key("a"), pod("a"))
	if err != nil || ips(ls)[0] != "10.10.0.2" {
		t.Errorf("Allocate after the cidr change = %v, %v; want 10.10.0.2", ls, err)
	}
	r, err := al.GC(func(Allocation) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if len(r.OutOfRange) != 1 || r.OutOfRange[0].IP.String() != "10.9.0.2" || len(r.Released) != 0 {
		t.Errorf("GC report %+v, want 10.9.0.2 out of range and nothing else", r)
	}
	list, _, _ := al.List()
	if len(list) != 1 || list[0].IP.String() != "10.10.0.2" {
		t.Errorf("after GC: %v, want only 10.10.0.2", list)
	}
}

// TestOpenErrors checks bad configuration is refused with a message naming the problem.
func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cidrs []string
		want  string
	}{
		{"no cidr", nil, "no pod cidr"},
		{"host bits", []string{"10.0.0.1/24"}, "host bits set"},
		{"overlap", []string{"10.0.0.0/16", "10.0.1.0/24"}, "overlap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(Options{StateDir: t.TempDir(), CIDRs: mustPrefixes(t, tc.cidrs...)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%v) = %v, want error containing %q", tc.cidrs, err, tc.want)
			}
		})
	}
	al := open(t, t.TempDir(), "10.0.0.0/24")
	if _, err := al.Allocate(Key{ContainerID: "a\nb", IfName: "eth0"}, pod("a")); err == nil {
		t.Errorf("Allocate with a newline in the container id succeeded")
	}
}
