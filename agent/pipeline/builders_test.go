package pipeline

import (
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/flow/flowtest"
)

var update = flag.Bool("update", false, "rewrite testdata/pipeline/*.txt from the builders")

// The test node: gateway on port 2, pods A and B on ports 3 and 4 (the fixture's numbering).
var (
	testGWMAC = mustMAC("0e:00:00:00:00:01")
	testNode  = NodeConfig{
		Round:         7,
		GatewayOFPort: 2,
		GatewayIP:     netip.MustParseAddr("10.10.0.1"),
		GatewayMAC:    testGWMAC,
		PodCIDRs:      []netip.Prefix{netip.MustParsePrefix("10.10.0.0/24")},
		NodeIP:        netip.MustParseAddr("192.0.2.11"),
	}
	testPodA = PodConfig{Round: 7, OFPort: 3, MAC: mustMAC("0a:58:0a:0a:00:03"), IPs: []netip.Addr{netip.MustParseAddr("10.10.0.3")}}
	testPodB = PodConfig{Round: 7, OFPort: 4, MAC: mustMAC("0a:58:0a:0a:00:04"), IPs: []netip.Addr{netip.MustParseAddr("10.10.0.4")}}
)

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// testFlows returns NodeFlows plus PodFlows of pods A and B.
func testFlows(t testing.TB) (node, a, b []*flow.Flow) {
	t.Helper()
	node, err := NodeFlows(testNode)
	if err != nil {
		t.Fatalf("NodeFlows: %v", err)
	}
	a, err = PodFlows(testPodA, testGWMAC)
	if err != nil {
		t.Fatalf("PodFlows(A): %v", err)
	}
	b, err = PodFlows(testPodB, testGWMAC)
	if err != nil {
		t.Fatalf("PodFlows(B): %v", err)
	}
	return node, a, b
}

// printOrdered prints flows one per line in the order the builders made them (table by
// table), the order a reader follows the pipeline in; ovs-ofctl add-flows reads this form.
func printOrdered(flows []*flow.Flow) string {
	var b strings.Builder
	for _, f := range flows {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	node, a, b := testFlows(t)
	for _, c := range []struct {
		name  string
		flows []*flow.Flow
	}{{"node", node}, {"pod-a", a}, {"pod-b", b}} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join("testdata", "pipeline", c.name+".txt")
			got := printOrdered(c.flows)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if d := flowtest.DiffLines(strings.Split(strings.TrimSpace(string(want)), "\n"), strings.Split(strings.TrimSpace(got), "\n")); d != "" {
				t.Errorf("%s differs from the builders (- golden, + built; run go test -update to accept):\n%s", path, d)
			}
		})
	}
}

func TestFlowsValidateAndRoundTrip(t *testing.T) {
	node, a, b := testFlows(t)
	for _, f := range append(append(node, a...), b...) {
		if err := f.Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
		s := f.String()
		g, err := flow.ParseFlow(s)
		if err != nil {
			t.Errorf("ParseFlow(%q): %v", s, err)
			continue
		}
		if got := g.String(); got != s {
			t.Errorf("round trip:\n got %s\nwant %s", got, s)
		}
	}
}

func TestEveryTableHasADefault(t *testing.T) {
	node, _, _ := testFlows(t)
	has := map[uint8]bool{}
	for _, f := range node {
		if f.Priority == 0 {
			if has[f.Table] {
				t.Errorf("table %d has two default flows", f.Table)
			}
			has[f.Table] = true
		}
	}
	for tb := 0; tb < NumTables; tb++ {
		if !has[uint8(tb)] {
			t.Errorf("table %d (%s) has no priority-0 flow", tb, Table(tb))
		}
	}
}

func TestCookies(t *testing.T) {
	node, a, b := testFlows(t)
	check := func(name string, flows []*flow.Flow, wantC Component, wantObj uint64) {
		t.Run(name, func(t *testing.T) {
			for _, f := range flows {
				r, c, o := CookieFields(f.Cookie)
				if r != 7 || c != wantC || o != wantObj {
					t.Errorf("%s: cookie fields = round %d, component %d, object %d; want 7, %d, %d", f, r, c, o, wantC, wantObj)
				}
			}
		})
	}
	check("node", node, ComponentNode, 0)
	check("pod-a", a, ComponentPod, 3)
	check("pod-b", b, ComponentPod, 4)

	t.Run("PodFilter selects only that pod, any round", func(t *testing.T) {
		fa := PodFilter(3)
		other, err := PodFlows(PodConfig{Round: 8, OFPort: 3, MAC: testPodA.MAC, IPs: testPodA.IPs}, testGWMAC)
		if err != nil {
			t.Fatal(err)
		}
		for _, set := range []struct {
			flows []*flow.Flow
			want  bool
		}{{a, true}, {other, true}, {b, false}, {node, false}} {
			for _, f := range set.flows {
				if got := f.Cookie&fa.CookieMask == fa.Cookie&fa.CookieMask; got != set.want {
					t.Errorf("PodFilter(3) selects %s = %v, want %v", f, got, set.want)
				}
			}
		}
	})
	t.Run("RoundFilter selects only that round", func(t *testing.T) {
		for round, want := range map[uint16]bool{7: true, 6: false, 8: false} {
			fr := RoundFilter(round)
			for _, f := range node {
				if got := f.Cookie&fr.CookieMask == fr.Cookie&fr.CookieMask; got != want {
					t.Errorf("RoundFilter(%d) selects %s = %v, want %v", round, f, got, want)
				}
			}
		}
	})
}

func TestConfigErrors(t *testing.T) {
	v6 := netip.MustParseAddr("fd00::3")
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"node without gateway port", func() error { c := testNode; c.GatewayOFPort = 0; _, err := NodeFlows(c); return err }, "gateway ofport"},
		{"node with short MAC", func() error { c := testNode; c.GatewayMAC = net.HardwareAddr{1, 2}; _, err := NodeFlows(c); return err }, "gateway MAC"},
		{"node with IPv6 gateway", func() error { c := testNode; c.GatewayIP = v6; _, err := NodeFlows(c); return err }, "not supported"},
		{"pod without IPs", func() error { c := testPodA; c.IPs = nil; _, err := PodFlows(c, testGWMAC); return err }, "no IPs"},
		{"pod with IPv6", func() error { c := testPodA; c.IPs = []netip.Addr{v6}; _, err := PodFlows(c, testGWMAC); return err }, "not supported"},
		{"pod without port", func() error { c := testPodA; c.OFPort = 0; _, err := PodFlows(c, testGWMAC); return err }, "ofport"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestRegisterText(t *testing.T) {
	cases := []struct{ got, want string }{
		{PktSource.Match(SourcePod), "reg0=0x3/0xf"},
		{PktDest.Load(DestLocal), "set_field:0x30/0xf0->reg0"},
		{RewriteMAC.Match(1), "reg0=0x200/0x200"},
		{OutputMethod.Load(OutputToPort), "set_field:0x200000/0x600000->reg0"},
		{TargetOFPort.Load(4), "set_field:0x4->reg1"},
		{TargetOFPort.NXM(), "NXM_NX_REG1[]"},
		{PktSource.NXM(), "NXM_NX_REG0[0..3]"},
		{ConnSource.NXM(), "NXM_NX_CT_MARK[0..3]"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if s := PktDest.Subfield(); s.Field != flow.FieldReg0 || s.Ofs != 4 || s.Bits != 4 {
		t.Errorf("PktDest.Subfield() = %+v, want reg0[4..7]", s)
	}
	if s := TargetOFPort.Subfield(); s.Field != flow.FieldReg0+1 || s.Bits != 32 {
		t.Errorf("TargetOFPort.Subfield() = %+v, want reg1[0..31]", s)
	}
}
