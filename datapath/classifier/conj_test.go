package classifier

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

// docExample is the conjunctive flow of ovs-fields(7): ip_src ∈ {1,4,6,7} and ip_dst ∈ {2,5,7,8}.
func docExample(pri uint16) []Rule[string] {
	rs := []Rule[string]{rule(pri, mt(conjID(1234)), "conj1234")}
	for _, s := range []uint64{1, 4, 6, 7} {
		rs = append(rs, rule(pri, mt(ipv4(), src(s)), "src", conj(1234, 1, 2)))
	}
	for _, d := range []uint64{2, 5, 7, 8} {
		rs = append(rs, rule(pri, mt(ipv4(), dst(d)), "dst", conj(1234, 2, 2)))
	}
	return rs
}

type conjCase struct {
	name    string
	rules   []Rule[string]
	key     flow.Key
	want    string
	wantVia bool
	wantID  uint32
}

func runConjCases(t *testing.T, cases []conjCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := load(t, c.rules...)
			r, id, via := ts.Load().Table(0).LookupConj(&c.key, nil)
			if got := name(r); got != c.want || via != c.wantVia || (via && id != c.wantID) {
				t.Errorf("got %s (via conjunction %v, id %d), want %s (via conjunction %v, id %d)", got, via, id, c.want, c.wantVia, c.wantID)
			}
		})
	}
}

func TestConjunction(t *testing.T) {
	ip := func(s, d uint64) flow.Key { return key(ipv4(), src(s), dst(d)) }
	with := func(base []Rule[string], more ...Rule[string]) []Rule[string] {
		return append(append([]Rule[string]{}, base...), more...)
	}
	ex := docExample(100)
	runConjCases(t, []conjCase{
		{name: "both dimensions match", rules: ex, key: ip(4, 5), want: "conj1234", wantVia: true, wantID: 1234},
		{name: "other pair matches", rules: ex, key: ip(7, 7), want: "conj1234", wantVia: true, wantID: 1234},
		{name: "only dimension 1", rules: ex, key: ip(4, 3), want: "<none>"},
		{name: "only dimension 2", rules: ex, key: ip(3, 5), want: "<none>"},
		{name: "higher-priority ordinary flow wins",
			rules: with(ex, rule(200, mt(ipv4()), "ip200")), key: ip(4, 5), want: "ip200"},
		{name: "equal-priority ordinary flow wins",
			rules: with(ex, rule(100, mt(ipv4()), "ip100")), key: ip(4, 5), want: "ip100"},
		{name: "lower-priority ordinary flow loses",
			rules: with(ex, rule(50, mt(ipv4()), "ip50")), key: ip(4, 5), want: "conj1234", wantVia: true, wantID: 1234},
		{name: "unfinished conjunction falls through to lower priority",
			rules: with(ex, rule(50, mt(ipv4()), "ip50")), key: ip(4, 3), want: "ip50"},
		// The second lookup (with conj_id set) finds the lower flow itself, as in OVS.
		{name: "completed conjunction without a conj_id flow falls through",
			rules: with(ex[1:], rule(50, mt(ipv4()), "ip50")), key: ip(4, 5), want: "ip50", wantVia: true, wantID: 1234},
		{name: "conj_id flow priority is independent of the clauses",
			rules: with(with(ex[1:], rule(10, mt(conjID(1234)), "conj-low")), rule(5, mt(ipv4()), "ip5")),
			key:   ip(4, 5), want: "conj-low", wantVia: true, wantID: 1234},
		{name: "second lookup returns the best ordinary flow with conj_id set",
			rules: with(with(ex[1:], rule(10, mt(conjID(1234)), "conj-low")), rule(50, mt(ipv4()), "ip50")),
			key:   ip(4, 5), want: "ip50", wantVia: true, wantID: 1234},
		{name: "conj_id flow with an extra match that fails",
			rules: with(ex[1:], rule(100, mt(conjID(1234), tpDst(80)), "conj-80"), rule(1, mt(), "miss")),
			key:   ip(4, 5), want: "miss", wantVia: true, wantID: 1234},
		{name: "conj_id flow with an extra match that holds",
			rules: with(ex[1:], rule(100, mt(conjID(1234), tpDst(80)), "conj-80"), rule(1, mt(), "miss")),
			key:   key(ipv4(), src(4), dst(5), tpDst(80)), want: "conj-80", wantVia: true, wantID: 1234},
		{name: "packet carrying conj_id matches the conj_id flow directly",
			rules: ex, key: key(ipv4(), src(4), dst(3), conjID(1234)), want: "conj1234"},
	})
}

func TestConjunctionSeveral(t *testing.T) {
	// Flow "a" is in conjunctions 1 and 2; dimension 2 differs.
	multi := []Rule[string]{
		rule(100, mt(src(1)), "a", conj(1, 1, 2), conj(2, 1, 2)),
		rule(100, mt(dst(10)), "b1", conj(1, 2, 2)),
		rule(100, mt(dst(20)), "b2", conj(2, 2, 2)),
		rule(100, mt(conjID(1)), "c1"),
		rule(100, mt(conjID(2)), "c2"),
		rule(1, mt(), "miss"),
	}
	three := []Rule[string]{
		rule(100, mt(src(1)), "x", conj(3, 1, 3)),
		rule(100, mt(dst(2)), "y", conj(3, 2, 3)),
		rule(100, mt(tpDst(80)), "z", conj(3, 3, 3)),
		rule(100, mt(conjID(3)), "c3"),
		rule(1, mt(), "miss"),
	}
	levels := []Rule[string]{
		rule(200, mt(src(1)), "hi1", conj(5, 1, 2)),
		rule(200, mt(dst(9)), "hi2", conj(5, 2, 2)),
		rule(200, mt(conjID(5)), "c5"),
		rule(100, mt(src(1)), "lo1", conj(6, 1, 2)),
		rule(100, mt(dst(2)), "lo2", conj(6, 2, 2)),
		rule(100, mt(conjID(6)), "c6"),
	}
	// Both conjunction 7 and 8 complete at priority 100: the clause flows are walked in
	// subtable order (here: the order their masks first appeared) and the first id to complete
	// wins. ovs-vswitchd 3.1 answers the same for all four (checked by hand after add-flows).
	overlap := func(last ...Conjunction) []Rule[string] {
		return []Rule[string]{
			rule(100, mt(src(1)), "p", conj(7, 1, 2)),
			rule(100, mt(tpDst(80)), "q", conj(8, 1, 2)),
			rule(100, mt(dst(2)), "r", last...),
			rule(100, mt(conjID(7)), "c7"),
			rule(100, mt(conjID(8)), "c8"),
		}
	}
	reversed := func(last ...Conjunction) []Rule[string] {
		rs := overlap(last...)
		rs[0], rs[2] = rs[2], rs[0]
		return rs
	}
	runConjCases(t, []conjCase{
		{name: "flow in two conjunctions completes the first", rules: multi, key: key(src(1), dst(10)), want: "c1", wantVia: true, wantID: 1},
		{name: "flow in two conjunctions completes the second", rules: multi, key: key(src(1), dst(20)), want: "c2", wantVia: true, wantID: 2},
		{name: "flow in two conjunctions, neither complete", rules: multi, key: key(src(1), dst(30)), want: "miss"},
		{name: "three clauses all match", rules: three, key: key(src(1), dst(2), tpDst(80)), want: "c3", wantVia: true, wantID: 3},
		{name: "three clauses, two match", rules: three, key: key(src(1), dst(2), tpDst(81)), want: "miss"},
		{name: "higher-priority conjunction first", rules: levels, key: key(src(1), dst(9)), want: "c5", wantVia: true, wantID: 5},
		{name: "unfinished higher conjunction falls to lower one", rules: levels, key: key(src(1), dst(2)), want: "c6", wantVia: true, wantID: 6},
		{name: "overlapping conjunctions, action order 7 then 8", rules: overlap(conj(7, 2, 2), conj(8, 2, 2)),
			key: key(src(1), dst(2), tpDst(80)), want: "c7", wantVia: true, wantID: 7},
		{name: "overlapping conjunctions, action order 8 then 7", rules: overlap(conj(8, 2, 2), conj(7, 2, 2)),
			key: key(src(1), dst(2), tpDst(80)), want: "c8", wantVia: true, wantID: 8},
		{name: "overlapping conjunctions, dst subtable first, action order 7 then 8", rules: reversed(conj(7, 2, 2), conj(8, 2, 2)),
			key: key(src(1), dst(2), tpDst(80)), want: "c8", wantVia: true, wantID: 8},
		{name: "overlapping conjunctions, dst subtable first, action order 8 then 7", rules: reversed(conj(8, 2, 2), conj(7, 2, 2)),
			key: key(src(1), dst(2), tpDst(80)), want: "c8", wantVia: true, wantID: 8},
		{name: "same id at different priorities is a different conjunction",
			rules: []Rule[string]{
				rule(100, mt(src(1)), "d1", conj(9, 1, 2)),
				rule(90, mt(dst(2)), "d2", conj(9, 2, 2)),
				rule(100, mt(conjID(9)), "c9"),
				rule(1, mt(), "miss"),
			},
			key: key(src(1), dst(2)), want: "miss"},
	})
}

// TestConjunctionOVSQuirks pins behaviour that follows from OVS's implementation rather than
// its documentation; the differential suite against ovs-vswitchd is the judge of these.
func TestConjunctionOVSQuirks(t *testing.T) {
	// 64 distinct clause flows that all match the zero key: reg0 bit i == 0 and reg1 bit i == 0.
	sixtyFour := func(first Conjunction) []Rule[string] {
		var rs []Rule[string]
		for i := range 64 {
			f := flow.FieldReg0
			if i >= 32 {
				f = flow.FieldReg1
			}
			c := conj(99, 1, 2)
			if i == 0 {
				c = first
			}
			rs = append(rs, rule(100, mt(fv{f: f, v: 0, m: 1 << (i % 32)}), "clause", c))
		}
		return append(rs, rule(100, mt(conjID(7)), "c7"), rule(1, mt(), "miss"))
	}
	runConjCases(t, []conjCase{
		{name: "clause flow hides a lower ordinary flow with the same match only in the second lookup",
			rules: []Rule[string]{
				rule(100, mt(src(1)), "s", conj(1, 1, 2)),
				rule(50, mt(src(1)), "same-match-50"),
				rule(100, mt(dst(2)), "d", conj(1, 2, 2)),
				rule(10, mt(conjID(1)), "c1"),
			},
			key: key(src(1), dst(2)), want: "c1", wantVia: true, wantID: 1},
		{name: "same-match ordinary flow under an unfinished clause flow still matches",
			rules: []Rule[string]{
				rule(100, mt(src(1)), "s", conj(1, 1, 2)),
				rule(50, mt(src(1)), "same-match-50"),
				rule(100, mt(dst(2)), "d", conj(1, 2, 2)),
				rule(10, mt(conjID(1)), "c1"),
			},
			key: key(src(1), dst(3)), want: "same-match-50"},
		{name: "one flow with both clauses needs a second clause-flow match",
			rules: []Rule[string]{
				rule(100, mt(src(1)), "both", conj(1, 1, 2), conj(1, 2, 2)),
				rule(100, mt(conjID(1)), "c1"),
				rule(1, mt(), "miss"),
			},
			key: key(src(1)), want: "miss"},
		{name: "one flow with both clauses plus any other clause-flow match",
			rules: []Rule[string]{
				rule(100, mt(src(1)), "both", conj(1, 1, 2), conj(1, 2, 2)),
				rule(100, mt(dst(2)), "other", conj(50, 1, 2)),
				rule(100, mt(conjID(1)), "c1"),
				rule(1, mt(), "miss"),
			},
			key: key(src(1), dst(2)), want: "c1", wantVia: true, wantID: 1},
		{name: "64-clause conjunction completes on one clause given 64 clause matches",
			rules: sixtyFour(conj(7, 5, 64)), key: key(), want: "c7", wantVia: true, wantID: 7},
		{name: "63-clause conjunction needs all its clauses",
			rules: sixtyFour(conj(7, 5, 63)), key: key(), want: "miss"},
	})
}

func TestBadConjunctionRejected(t *testing.T) {
	for _, c := range []Conjunction{conj(1, 1, 1), conj(1, 0, 2), conj(1, 3, 2), conj(1, 1, 65)} {
		t.Run(fmt.Sprintf("conjunction(%d,%d/%d)", c.ID, c.Clause, c.NClauses), func(t *testing.T) {
			ts := New[string](Options{})
			_, err := ts.Insert(0, rule(1, mt(src(1)), "bad", c))
			if err == nil {
				t.Fatal("got no error, want ErrBadConjunction")
			}
			if !errors.Is(err, ErrBadConjunction) {
				t.Fatalf("got %v, want ErrBadConjunction", err)
			}
			if n := ts.Load().Len(); n != 0 {
				t.Fatalf("table has %d flows after a rejected insert", n)
			}
		})
	}
}

// TestConjAccManyIDs checks the accumulator past its stack array (more than 16 ids at one
// priority) and across level resets against a map.
func TestConjAccManyIDs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var acc conjAcc
	defer acc.release()
	for level := range 50 {
		acc.reset()
		want := map[uint32]uint64{}
		for range 1 + r.IntN(400) {
			id := uint32(r.IntN(1 + level*10))
			n := uint8(2 + r.IntN(63))
			k := uint8(1 + r.IntN(int(n)))
			b, ok := want[id]
			if !ok {
				b = ^uint64(0) << (n & 63)
			}
			b |= 1 << (k - 1)
			want[id] = b
			if got := acc.add(id, k, n); got != (b == ^uint64(0)) {
				t.Fatalf("level %d: add(%d, %d/%d) = %v, want %v", level, id, k, n, got, !got)
			}
		}
	}
}

// TestConjunctionManyAtOnePriority: 40 conjunctions share their port clause flow, as Antrea
// does for K8s NetworkPolicy rules at one priority; only the one whose other clauses match wins.
func TestConjunctionManyAtOnePriority(t *testing.T) {
	var rs []Rule[string]
	var portConj []Conjunction
	for id := uint32(1); id <= 40; id++ {
		rs = append(rs,
			rule(100, mt(src(uint64(id))), fmt.Sprintf("src%d", id), conj(id, 1, 3)),
			rule(100, mt(dst(uint64(id))), fmt.Sprintf("dst%d", id), conj(id, 2, 3)),
			rule(100, mt(conjID(uint64(id))), fmt.Sprintf("c%d", id)))
		portConj = append(portConj, conj(id, 3, 3))
	}
	rs = append(rs, rule(100, mt(tpDst(80)), "port80", portConj...), rule(1, mt(), "miss"))
	runConjCases(t, []conjCase{
		{name: "conjunction 33", rules: rs, key: key(src(33), dst(33), tpDst(80)), want: "c33", wantVia: true, wantID: 33},
		{name: "src of 33, dst of 34", rules: rs, key: key(src(33), dst(34), tpDst(80)), want: "miss"},
		{name: "wrong port", rules: rs, key: key(src(33), dst(33), tpDst(81)), want: "miss"},
	})
}
