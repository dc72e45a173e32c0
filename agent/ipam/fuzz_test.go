package ipam

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// FuzzParseAllocation feeds arbitrary file names and contents to the state parser: it never
// panics, every error names the file and wraps ErrCorrupt, and what parses encodes back to itself.
func FuzzParseAllocation(f *testing.F) {
	v4 := Allocation{IP: netip.MustParseAddr("10.0.0.2"), CIDR: netip.MustParsePrefix("10.0.0.0/24"),
		Key: Key{ContainerID: "abc", IfName: "eth0"}, Pod: Pod{Namespace: "default", Name: "web"}}
	v6 := Allocation{IP: netip.MustParseAddr("fd00::2"), CIDR: netip.MustParsePrefix("fd00::/64"),
		Key: Key{ContainerID: "0123456789abcdef", IfName: "net1"}}
	f.Add("/var/lib/sluice/ipam/10.0.0.2", encodeAllocation(v4))
	f.Add("fd00::2", encodeAllocation(v6))
	f.Add("10.0.0.2", encodeAllocation(v4)[:20])
	f.Add("10.0.0.3", encodeAllocation(v4))
	f.Add("10.0.0.2", []byte("sluice-ipam 1\nip 10.0.0.2\nip 10.0.0.2\n"))
	f.Add("10.0.0.2", []byte{})
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		a, err := ParseAllocation(name, data)
		if err != nil {
			if !strings.Contains(err.Error(), name) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %q does not name %q or wrap ErrCorrupt", err, name)
			}
			return
		}
		b, err := ParseAllocation(name, encodeAllocation(a))
		if err != nil {
			t.Fatalf("re-parse of encoded %+v: %v", a, err)
		}
		if b != a {
			t.Fatalf("round trip %+v != %+v", b, a)
		}
	})
}
