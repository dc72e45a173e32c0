// Package flowtest loads the flow fixture sets in testdata/flows and, on Linux, runs a real
// Open vSwitch to compare against: an ovsdb-server and ovs-vswitchd of the test's own, in a
// temporary directory, with one netdev bridge on dummy ports (no kernel devices, no kernel
// module), or, with OVSOptions.NetNS and RealNetdevs, inside a test namespace on its veths.
// The differential tests of the classifier and the executor use both; the conntrack,
// openflow and forward tests use the switch. Every package that needs a real Open vSwitch
// starts it here, so there is one place that knows how to run and clean up the daemons.
package flowtest

import (
	"bufio"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

// Set is one fixture set: NAME.txt (flows, add-flows syntax), and optionally NAME.groups
// (add-groups syntax) and NAME.meters (one add-meter line each).
type Set struct {
	Name       string
	FlowsFile  string
	GroupsFile string // "" when the set has no groups
	Flows      []*flow.Flow
	Groups     []*flow.GroupEntry
	Meters     []*flow.MeterEntry
}

// Dir returns the repository's testdata/flows directory.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "flows")
}

// LoadSets parses every set in Dir, in name order, failing t on any error.
func LoadSets(t testing.TB) []*Set {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(Dir(), "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no flow fixtures in %s: %v", Dir(), err)
	}
	sort.Strings(files)
	var sets []*Set
	for _, fn := range files {
		sets = append(sets, LoadSet(t, strings.TrimSuffix(filepath.Base(fn), ".txt")))
	}
	return sets
}

// LoadSet parses the named set ("antrea", "learn", ...), failing t on any error.
func LoadSet(t testing.TB, name string) *Set {
	t.Helper()
	base := filepath.Join(Dir(), name)
	s := &Set{Name: name, FlowsFile: base + ".txt"}
	fh, err := os.Open(s.FlowsFile)
	if err != nil {
		t.Fatalf("open flow set: %v", err)
	}
	s.Flows, err = flow.ParseFlows(fh)
	fh.Close()
	if err != nil {
		t.Fatalf("%s: %v", s.FlowsFile, err)
	}
	if fh, err := os.Open(base + ".groups"); err == nil {
		s.GroupsFile = base + ".groups"
		s.Groups, err = flow.ParseGroups(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", s.GroupsFile, err)
		}
	}
	for _, l := range ReadLines(t, base+".meters") {
		m, err := flow.ParseMeter(l)
		if err != nil {
			t.Fatalf("%s.meters: %v", base, err)
		}
		s.Meters = append(s.Meters, m)
	}
	return s
}

// ReadLines returns a file's lines without blank lines and '#' comments; none when the file
// does not exist.
func ReadLines(t testing.TB, fn string) []string {
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
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// PrintFlows returns the flows printed (dump-flows --no-stats form), sorted, as an OVS dump
// compares.
func PrintFlows(flows []*flow.Flow) []string {
	out := make([]string, len(flows))
	for i, f := range flows {
		out[i] = f.String()
	}
	sort.Strings(out)
	return out
}

// PrintGroups does the same for groups (dump-groups form).
func PrintGroups(groups []*flow.GroupEntry) []string {
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = g.String()
	}
	sort.Strings(out)
	return out
}

// DiffLines returns the lines only in want ("- ") or only in got ("+ "), "" when the two
// multisets are equal.
func DiffLines(want, got []string) string {
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

// ReadPcap returns the frames of a classic little-endian pcap file, such as a dummy port's
// options:tx_pcap, where OVS writes one record per packet it sends. A missing file, or a last
// record still being written, yields the frames complete so far.
func ReadPcap(path string) [][]byte {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 24 {
		return nil
	}
	var out [][]byte
	for b = b[24:]; len(b) >= 16; {
		n := int(binary.LittleEndian.Uint32(b[8:]))
		if len(b) < 16+n {
			break
		}
		out = append(out, b[16:16+n:16+n])
		b = b[16+n:]
	}
	return out
}
