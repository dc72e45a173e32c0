package flow

import (
	"bufio"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

const fixtureDir = "../../testdata/flows"

// fixtureSet is one testdata/flows set: NAME.txt (flows), NAME.groups and NAME.meters.
type fixtureSet struct {
	name       string
	flowsFile  string
	groupsFile string
	flows      []*Flow
	groups     []*GroupEntry
	meters     []*MeterEntry
}

func fixtureSets(t *testing.T) []fixtureSet {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", fixtureDir, err)
	}
	var sets []fixtureSet
	for _, fn := range files {
		s := fixtureSet{name: strings.TrimSuffix(filepath.Base(fn), ".txt"), flowsFile: fn}
		fh, err := os.Open(fn)
		if err != nil {
			t.Fatal(err)
		}
		s.flows, err = ParseFlows(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
		base := strings.TrimSuffix(fn, ".txt")
		if fh, err := os.Open(base + ".groups"); err == nil {
			s.groupsFile = base + ".groups"
			s.groups, err = ParseGroups(fh)
			fh.Close()
			if err != nil {
				t.Fatalf("%s.groups: %v", base, err)
			}
		}
		for _, l := range readLines(t, base+".meters") {
			m, err := ParseMeter(l)
			if err != nil {
				t.Fatalf("%s.meters: %v", base, err)
			}
			s.meters = append(s.meters, m)
		}
		sets = append(sets, s)
	}
	return sets
}

// readLines returns a file's non-blank, non-comment lines (none if it does not exist).
func readLines(t testing.TB, fn string) []string {
	t.Helper()
	fh, err := os.Open(fn)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func printFlows(flows []*Flow) []string {
	out := make([]string, len(flows))
	for i, f := range flows {
		out[i] = f.String()
	}
	sort.Strings(out)
	return out
}

func printGroups(groups []*GroupEntry) []string {
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = g.String()
	}
	sort.Strings(out)
	return out
}

// diffLines returns the lines only in want ("-") or only in got ("+"), or "" when equal.
func diffLines(want, got []string) string {
	count := map[string]int{}
	for _, l := range want {
		count[l]++
	}
	for _, l := range got {
		count[l]--
	}
	var b strings.Builder
	for _, l := range want {
		if count[l] > 0 {
			b.WriteString("- " + l + "\n")
			count[l]--
		}
	}
	for _, l := range got {
		if count[l] < 0 {
			b.WriteString("+ " + l + "\n")
			count[l]++
		}
	}
	return b.String()
}

// withoutStats returns a copy of f without the statistics a dump line carries.
func withoutStats(f *Flow) *Flow {
	c := *f
	c.Stats = Stats{IdleAge: -1, HardAge: -1}
	return &c
}

// TestFixturesRoundTrip proves that every fixture flow, group and meter prints to text that
// parses back to the same value, and that printing is a fixed point.
func TestFixturesRoundTrip(t *testing.T) {
	for _, set := range fixtureSets(t) {
		t.Run(set.name, func(t *testing.T) {
			if len(set.flows) == 0 {
				t.Fatalf("no flows in %s", set.flowsFile)
			}
			for _, f := range set.flows {
				text := f.String()
				g, err := ParseFlow(text)
				if err != nil {
					t.Errorf("reparse %q: %v", text, err)
					continue
				}
				if !reflect.DeepEqual(withoutStats(f), withoutStats(g)) {
					t.Errorf("round trip of %q changed the flow:\n got %#v\nwant %#v", text, g, f)
				}
				if again := g.String(); again != text {
					t.Errorf("printing is not a fixed point:\n got %q\nwant %q", again, text)
				}
			}
			for _, g := range set.groups {
				text := g.String()
				h, err := ParseGroup(text)
				if err != nil {
					t.Errorf("reparse group %q: %v", text, err)
					continue
				}
				if !reflect.DeepEqual(g, h) {
					t.Errorf("round trip of group %q changed it:\n got %#v\nwant %#v", text, h, g)
				}
			}
			for _, m := range set.meters {
				text := m.String()
				n, err := ParseMeter(text)
				if err != nil || !reflect.DeepEqual(m, n) {
					t.Errorf("round trip of meter %q: got %#v, %v; want %#v", text, n, err, m)
				}
			}
		})
	}
}

// TestGoldenDumps compares our printer with dumps that a real ovs-vswitchd produced for the
// same fixtures (testdata/flows/golden, written by TestPrivilegedPrintMatchesOVS
// -update-golden), and checks that OVS's own dump lines parse to the fixture's flows.
func TestGoldenDumps(t *testing.T) {
	for _, set := range fixtureSets(t) {
		t.Run(set.name, func(t *testing.T) {
			golden := readLines(t, filepath.Join(fixtureDir, "golden", set.name+".flows"))
			if golden == nil {
				t.Fatalf("no golden dump for %s: run the privileged test with -update-golden", set.name)
			}
			sort.Strings(golden)
			if diff := diffLines(printFlows(set.flows), golden); diff != "" {
				t.Errorf("our printer (-) vs OVS's dump (+):\n%s", diff)
			}
			var reparsed []*Flow
			for _, l := range golden {
				f, err := ParseFlow(l)
				if err != nil {
					t.Errorf("parse OVS dump line: %v", err)
					continue
				}
				if f.String() != l {
					t.Errorf("OVS's line is not a fixed point of our printer:\n got %q\nwant %q", f.String(), l)
				}
				reparsed = append(reparsed, f)
			}
			if diff := diffLines(printFlows(set.flows), printFlows(reparsed)); diff != "" {
				t.Errorf("fixture (-) vs parsed OVS dump (+):\n%s", diff)
			}
			if set.groupsFile == "" {
				return
			}
			goldenGroups := readLines(t, filepath.Join(fixtureDir, "golden", set.name+".groups"))
			sort.Strings(goldenGroups)
			if diff := diffLines(printGroups(set.groups), goldenGroups); diff != "" {
				t.Errorf("our group printer (-) vs OVS's dump-groups (+):\n%s", diff)
			}
		})
	}
}
