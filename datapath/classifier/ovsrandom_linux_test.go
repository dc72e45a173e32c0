package classifier

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/flow/flowtest"
	"github.com/sluicenet/sluice/internal/testutil"
)

// ovsRandomFlow returns a random TCP flow in ovs-ofctl syntax, drawn (like ruleGen) from small
// value sets so that flows overlap, tie and form conjunctions. Cookies name flows.
// With heavy, most flows are clause or conj_id flows over two ids and two priorities.
func ovsRandomFlow(r *rand.Rand, cookie int, heavy bool) string {
	m := []string{"tcp"}
	if r.IntN(2) == 0 {
		plens := []int{32, 24, 16}
		m = append(m, fmt.Sprintf("nw_src=10.0.%d.%d/%d", r.IntN(2), 1+r.IntN(2), plens[r.IntN(3)]))
	}
	if r.IntN(2) == 0 {
		masks := []int{0xf, 0xc, 0x8, 0x3}
		m = append(m, fmt.Sprintf("tp_dst=%#x/%#x", r.IntN(16), masks[r.IntN(4)]))
	}
	if r.IntN(3) == 0 {
		m = append(m, fmt.Sprintf("reg0=%#x/%#x", r.IntN(4), 1+r.IntN(3)))
	}
	actions := "drop"
	x, ids, pris := r.IntN(10), 3, 3
	if heavy {
		x, ids, pris = 3+r.IntN(7), 2, 2
	}
	switch {
	case x < 4:
	case x < 8:
		var cs []string
		for range 1 + r.IntN(3) {
			n := 2 + r.IntN(2)
			cs = append(cs, fmt.Sprintf("conjunction(%d,%d/%d)", 1+r.IntN(ids), 1+r.IntN(n), n))
		}
		actions = strings.Join(cs, ",")
	default:
		m = append(m, fmt.Sprintf("conj_id=%d", 1+r.IntN(ids)))
	}
	return fmt.Sprintf("cookie=%#x,priority=%d,%s,actions=%s", cookie, 1+r.IntN(pris), strings.Join(m, ","), actions)
}

func ovsRandomFilter(r *rand.Rand) string {
	switch r.IntN(3) {
	case 0:
		return fmt.Sprintf("tcp,nw_src=10.0.%d.0/24", r.IntN(2))
	case 1:
		return fmt.Sprintf("tcp,tp_dst=%#x/0xc", r.IntN(4)*4)
	}
	return fmt.Sprintf("tcp,reg0=%#x/0x1", r.IntN(2))
}

func ovsRandomPacket(r *rand.Rand) string {
	return fmt.Sprintf("tcp,nw_src=10.0.%d.%d,tp_dst=%d,reg0=%d", r.IntN(2), 1+r.IntN(3), r.IntN(16), r.IntN(4))
}

// TestPrivilegedRandomVsOVS loads random flow sets (ordinary, clause and conj_id flows over a
// few overlapping masks and priorities) into a real ovs-vswitchd with add-flows and into a
// table in the same order, and compares ofproto/trace's flow with Lookup for random packets.
func TestPrivilegedRandomVsOVS(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := flowtest.StartOVS(t, flowtest.OVSOptions{})
	const sets, packets = 100, 12
	compared, viaConj, misses := 0, 0, 0
	for seed := range uint64(sets) {
		r := rand.New(rand.NewPCG(seed, 77))
		br := fmt.Sprintf("rnd%d", seed)
		target := o.AddBridge(br)
		ts := New[uint64](Options{})
		var lines []string
		for i := range 5 + r.IntN(25) {
			line := ovsRandomFlow(r, i+1, seed%2 == 1)
			f, err := flow.ParseFlow(line)
			if err != nil {
				t.Fatalf("parse %q: %v", line, err)
			}
			if _, _, err := ts.Replace(0, Rule[uint64]{Priority: f.Priority, Match: f.Match, Cookie: f.Cookie, Conj: f.Conjunctions(), Payload: f.Cookie}); err != nil {
				t.Fatalf("replace %q: %v", line, err)
			}
			lines = append(lines, line)
		}
		file := filepath.Join(t.TempDir(), "flows.txt")
		if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := o.Try("ovs-ofctl", "-O", "OpenFlow15", "add-flows", target, file); err != nil {
			t.Fatalf("seed %d: add-flows: %v\n%s", seed, err, out)
		}
		if seed%3 == 2 {
			// A non-strict delete: subtables empty and others move into their places.
			del := ovsRandomFilter(r)
			f, err := flow.ParseFlowFilter(del)
			if err != nil {
				t.Fatalf("parse %q: %v", del, err)
			}
			ts.Delete(0, Filter{Match: f.Match}, nil)
			if out, err := o.Try("ovs-ofctl", "-O", "OpenFlow15", "del-flows", target, del); err != nil {
				t.Fatalf("seed %d: del-flows: %v\n%s", seed, err, out)
			}
			lines = append(lines, "(del-flows "+del+")")
			time.Sleep(100 * time.Millisecond) // OVS removes after an RCU grace period
		}
		tbl := ts.Load().Table(0)
		for range packets {
			pkt := ovsRandomPacket(r)
			out := o.Appctl("ofproto/trace", br, "in_port=LOCAL,"+pkt)
			m := traceCookie.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("seed %d: no flow or miss in the trace:\n%s", seed, out)
			}
			var want uint64
			if m[1] != "" {
				want, _ = strconv.ParseUint(m[1], 0, 64)
			}
			p, err := flow.ParseFlowFilter(pkt)
			if err != nil {
				t.Fatalf("parse %q: %v", pkt, err)
			}
			var got uint64
			rr, _, via := tbl.LookupConj(&p.Match.Key, nil)
			if rr != nil {
				got = rr.Payload
			} else {
				misses++
			}
			if via {
				viaConj++
			}
			if got != want {
				t.Errorf("seed %d packet %s: table says cookie %#x, ovs-vswitchd %#x\nflows:\n%s\ntrace:\n%s",
					seed, pkt, got, want, strings.Join(lines, "\n"), out)
			}
			compared++
		}
		o.Vsctl("del-br", br) // AddBridge's cleanup would keep all the bridges until the end
	}
	t.Logf("%d (flow set, packet) pairs compared: %d found through a conjunction, %d misses", compared, viaConj, misses)
}
