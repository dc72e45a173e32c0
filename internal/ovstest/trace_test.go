package ovstest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The files under testdata/traces are ofproto/trace output recorded from Debian's OVS 3.1 by
// TestPrivilegedOVSHarness's cases of the same name.
func TestParseTraceRecorded(t *testing.T) {
	for _, tc := range []struct {
		file     string
		verdict  string
		tables   []int
		passes   int
		buckets  []int
		firstAct string
	}{
		{"OutputWithSetField", "output:2[dl_dst=00:00:00:00:00:02]", []int{0}, 1, nil, "set_field:00:00:00:00:00:02->eth_dst"},
		{"NoMatchDrops", "drop", []int{0}, 1, nil, ""},
		{"CTNewNATDecTTL", "ct(commit,zone=5,nat(dst=10.1.1.1:8080)); ct(zone=5); output:3[nw_ttl=63]", []int{0, 1, 2}, 2, nil, "ct(table=1,zone=5)"},
		{"CTEstablished", "ct(zone=5); output:1", []int{0, 1}, 2, nil, "ct(table=1,zone=5)"},
		{"CTEstablishedToInPortSkipped", "ct(zone=5)", []int{0, 1}, 2, nil, "ct(table=1,zone=5)"},
		{"SelectGroupByHash", "output:2", []int{0}, 1, []int{1}, "group:1"},
		{"ResubmitLoop", "error(Recursion too deep)", nil, 1, nil, "resubmit(,6)"},
		{"Controller", "controller(reason=1)", []int{0}, 1, nil, "controller(userdata=01.02)"},
		{"ConjunctionVLAN", "output:1[vlan=vid=10,pcp=0]; output:3[nw_ttl=8]", []int{0}, 1, nil, "push_vlan:0x8100"},
		{"ConjunctionOneDimensionMisses", "drop", []int{0}, 1, nil, ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "traces", tc.file+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			tr, err := ParseTrace(string(b))
			if err != nil {
				t.Fatal(err)
			}
			if len(tr.Passes) != tc.passes {
				t.Errorf("passes: got %d, want %d", len(tr.Passes), tc.passes)
			}
			v, err := tr.Verdict()
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Canonical(); got != tc.verdict {
				t.Errorf("verdict: got %q, want %q", got, tc.verdict)
			}
			if tc.tables != nil && !slices.Equal(tr.Tables(), tc.tables) {
				t.Errorf("tables: got %v, want %v", tr.Tables(), tc.tables)
			}
			first := tr.Passes[0].Steps[0]
			var firstAct string
			if len(first.Actions) > 0 && !first.Missed {
				firstAct = first.Actions[0]
			}
			if firstAct != tc.firstAct {
				t.Errorf("first action: got %q, want %q", firstAct, tc.firstAct)
			}
			var buckets []int
			for _, s := range tr.Passes[0].Steps {
				buckets = append(buckets, s.Buckets...)
			}
			if !slices.Equal(buckets, tc.buckets) {
				t.Errorf("buckets: got %v, want %v", buckets, tc.buckets)
			}
		})
	}
}

func TestParseTraceStepFields(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "traces", "CTNewNATDecTTL.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ParseTrace(string(b))
	if err != nil {
		t.Fatal(err)
	}
	p := tr.Passes[1]
	if p.RecircID == 0 || !strings.Contains(p.Header, "ct_state=trk|new") {
		t.Errorf("recirculated pass: got id %#x header %q", p.RecircID, p.Header)
	}
	if !slices.Equal(p.Notes, []string{"thaw", "Resuming from table 1"}) {
		t.Errorf("notes: got %q", p.Notes)
	}
	s := p.Steps[0]
	if s.Table != 1 || s.Match != "ct_state=+new+trk,tcp" || s.Priority != 100 || s.Missed {
		t.Errorf("step: got %+v", s)
	}
	if tr.Passes[0].Steps[0].Match != "tcp,tp_dst=80" {
		t.Errorf("first match: got %q", tr.Passes[0].Steps[0].Match)
	}
	if p.Steps[1].Match != "ip" || p.Steps[1].Priority != 0 {
		t.Errorf("catch-all-ish step: got %+v", p.Steps[1])
	}
}

// A synthetic trace exercising what the recorded ones do not: masked sets, clone, a tagged
// input losing its tag, skb_mark, cookies, catch-all matches and an untraced recirculation.
func TestVerdictDatapathActions(t *testing.T) {
	const flow = "Flow: tcp,in_port=1,dl_vlan=100,dl_vlan_pcp=3,vlan_tci1=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_tos=4,nw_ecn=1,nw_ttl=64,nw_frag=no,tp_src=1,tp_dst=2,tcp_flags=0\n\n"
	for _, tc := range []struct {
		name, actions, want string
	}{
		{"Drop", "drop", "drop"},
		{"MaskedSet", "set(ipv4(dst=192.168.0.0/255.255.0.0)),3", "output:3[nw_dst=192.168.0.2]"},
		{"SetSameValueIsNoMod", "set(ipv4(ttl=64)),3", "output:3"},
		{"ToSWholeByte", "set(ipv4(tos=0x8/0xfc)),3", "output:3[nw_tos=9]"},
		{"PopTag", "pop_vlan,2", "output:2[vlan=none]"},
		{"Clone", "clone(set(tcp(dst=80)),2),4", "output:2[tp_dst=80]; output:4"},
		{"SkbMark", "set(skb_mark(0x5)),2", "output:2[pkt_mark=5]"},
		{"UntracedRecirc", "ct(zone=1),recirc(0x99)", "ct(zone=1); recirc(0x99) (not traced)"},
		{"Hash", "hash(sym_l4(0)),recirc(0x9)", "hash(sym_l4(0)); recirc(0x9) (not traced)"},
		{"Mac", "set(eth(src=AA:bb:cc:dd:ee:ff)),2", "output:2[dl_src=aa:bb:cc:dd:ee:ff]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := flow + "bridge(\"br0\")\n-------------\n 0. priority 0, cookie 0x2a\n    x\n\nFinal flow: unchanged\nDatapath actions: " + tc.actions + "\n"
			tr, err := ParseTrace(out)
			if err != nil {
				t.Fatal(err)
			}
			if s := tr.Passes[0].Steps[0]; s.Cookie != 0x2a || s.Match != "" || s.Priority != 0 {
				t.Errorf("step: got %+v", s)
			}
			v, err := tr.Verdict()
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Canonical(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseTraceRejects(t *testing.T) {
	for _, tc := range []struct{ name, out string }{
		{"Empty", ""},
		{"Garbage", "hello\n"},
		{"NoDatapathActions", "Flow: ip\n\nbridge(\"br0\")\n 0. No match.\n"},
		{"UnterminatedBanner", "Flow: ip\nDatapath actions: drop\n=====\nrecirc(0x1)\n"},
		{"StepWithoutPriority", "Flow: ip\n 0. something odd\nDatapath actions: drop\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tr, err := ParseTrace(tc.out); err == nil {
				t.Errorf("accepted %q as %+v", tc.out, tr)
			}
		})
	}
	tr, err := ParseTrace("Flow: ip\nDatapath actions: 1,(2\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Verdict(); err == nil {
		t.Error("verdict accepted unbalanced parentheses")
	}
}

func TestParseDpifShow(t *testing.T) {
	out := "dummy@ovs-dummy: hit:0 missed:0\n  br0:\n    br0 65534/100: (dummy-internal)\n    p1 1/7: (dummy)\n    p2 2/2: (dummy)\n"
	m, err := parseDpifShow(out)
	if err != nil {
		t.Fatal(err)
	}
	for odp, of := range map[uint32]uint32{100: 65534, 7: 1, 2: 2} {
		if m[odp] != of {
			t.Errorf("odp %d: got ofport %d, want %d", odp, m[odp], of)
		}
	}
	if _, err := parseDpifShow("nothing"); err == nil {
		t.Error("accepted output without ports")
	}
}

func TestParsePcap(t *testing.T) {
	hdr := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0}
	rec := []byte{0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 0xa, 0xb, 0xc}
	frames, err := parsePcap(append(append([]byte{}, hdr...), rec...))
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 1 || !slices.Equal(frames[0], []byte{0xa, 0xb, 0xc}) {
		t.Errorf("got %x, want one frame 0a0b0c", frames)
	}
	if _, err := parsePcap(append(append([]byte{}, hdr...), rec[:18]...)); err == nil {
		t.Error("accepted a truncated record")
	}
	if _, err := parsePcap(hdr[:10]); err == nil {
		t.Error("accepted a truncated header")
	}
}

// FuzzParseTrace checks that no input makes the parser or the verdict panic or loop.
func FuzzParseTrace(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "traces", "*.txt"))
	for _, fn := range files {
		b, err := os.ReadFile(fn)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, out string) {
		tr, err := ParseTrace(out)
		if err != nil {
			return
		}
		v, err := tr.Verdict()
		if err != nil {
			return
		}
		_ = v.Canonical()
		_ = v.Drop()
	})
}
