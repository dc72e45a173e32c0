package classifier

import (
	"errors"
	"slices"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

func names(rs []*Rule[string]) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Payload)
	}
	slices.Sort(out)
	return out
}

func tableNames(tb *Table[string]) []string {
	return names(slices.Collect(tb.All()))
}

func TestLookupPriorityAndMasks(t *testing.T) {
	ts := load(t,
		rule(0, mt(), "default"),
		rule(100, mt(ipv4(), fv{f: flow.FieldNwDst, v: 0x0a000000, m: 0xff000000}), "10/8"),
		rule(200, mt(ipv4(), fv{f: flow.FieldNwDst, v: 0x0a010000, m: 0xffff0000}), "10.1/16"),
		rule(150, mt(ipv4(), dst(0x0a010203)), "10.1.2.3"),
		rule(300, mt(ipv4(), fv{f: flow.FieldTpDst, v: 0x400, m: 0xfc00}), "ports 1024-2047"),
	)
	tb := ts.Load().Table(0)
	for _, c := range []struct {
		name string
		k    flow.Key
		want string
	}{
		{"no ip", key(), "default"},
		{"10/8 only", key(ipv4(), dst(0x0a020304)), "10/8"},
		{"higher-priority wider prefix beats exact", key(ipv4(), dst(0x0a010203)), "10.1/16"},
		{"port range by mask", key(ipv4(), dst(0x0a010203), tpDst(1500)), "ports 1024-2047"},
		{"port just outside range", key(ipv4(), dst(0x0b000000), tpDst(2048)), "default"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := name(tb.Lookup(&c.k, nil)); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
	if got := tb.Subtables(); got != 5 {
		t.Errorf("Subtables() = %d, want 5", got)
	}
}

// TestPriorityTieSubtableOrder: among overlapping flows of one priority the first subtable in
// OVS's pvector order wins; deleting a subtable's last flow moves the last subtable into its
// place. ovs-vswitchd 3.1 gives the same three answers for these flows (checked by hand with
// ofproto/trace after add-flows and del-flows --strict).
func TestPriorityTieSubtableOrder(t *testing.T) {
	ts := load(t,
		rule(100, mt(src(1)), "first"),
		rule(100, mt(dst(2)), "second"),
		rule(100, mt(src(1), dst(2)), "third"),
	)
	k := key(src(1), dst(2))
	if got := name(ts.Load().Table(0).Lookup(&k, nil)); got != "first" {
		t.Fatalf("got %s, want first", got)
	}
	// Replacing "first" keeps its subtable, so its place in the tie.
	if _, old, err := ts.Replace(0, rule(100, mt(src(1)), "first-v2")); err != nil || name(old) != "first" {
		t.Fatalf("Replace: old %s, err %v", name(old), err)
	}
	if got := name(ts.Load().Table(0).Lookup(&k, nil)); got != "first-v2" {
		t.Fatalf("after replace got %s, want first-v2", got)
	}
	ts.Delete(0, Filter{Match: mt(src(1)), Priority: 100, Strict: true}, nil)
	if got := name(ts.Load().Table(0).Lookup(&k, nil)); got != "third" {
		t.Fatalf("after delete got %s, want third", got)
	}
}

func TestInsertExistsAndNormalizes(t *testing.T) {
	ts := New[string](Options{})
	m := mt(fv{f: flow.FieldNwSrc, v: 0x0a0000ff, m: 0xffffff00}) // host bits outside the mask
	if _, err := ts.Insert(0, rule(5, m, "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Insert(0, rule(5, mt(fv{f: flow.FieldNwSrc, v: 0x0a000000, m: 0xffffff00}), "b")); !errors.Is(err, ErrExists) {
		t.Fatalf("second insert of the same match and priority: got %v, want ErrExists", err)
	}
	if _, err := ts.Insert(0, rule(6, m, "c")); err != nil {
		t.Fatalf("same match, other priority: %v", err)
	}
	if got := tableNames(ts.Load().Table(0)); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("table = %v, want [a c]", got)
	}
	if r := ts.Load().Table(0).Find(&m, 5); name(r) != "a" {
		t.Fatalf("Find with unnormalized match = %s, want a", name(r))
	}
}

func TestDeleteSemantics(t *testing.T) {
	build := func(t *testing.T) *Tables[string] {
		r := func(pri uint16, m flow.Match, n string, cookie uint64) Rule[string] {
			ru := rule(pri, m, n)
			ru.Cookie = cookie
			return ru
		}
		return load(t,
			r(100, mt(ipv4()), "ip", 0x10),
			r(200, mt(ipv4(), src(1)), "ip-src1", 0x11),
			r(300, mt(ipv4(), src(1), tpDst(80)), "ip-src1-80", 0x21),
			r(100, mt(ipv4(), src(1)), "ip-src1-pri100", 0x12),
			r(50, mt(src(1)), "src1-no-ip", 0x10),
			r(0, mt(), "default", 0),
		)
	}
	for _, c := range []struct {
		name  string
		f     Filter
		where func(*Rule[string]) bool
		want  []string // deleted
	}{
		{name: "strict needs the exact priority", f: Filter{Match: mt(ipv4(), src(1)), Priority: 150, Strict: true}},
		{name: "strict deletes one flow", f: Filter{Match: mt(ipv4(), src(1)), Priority: 200, Strict: true}, want: []string{"ip-src1"}},
		{name: "non-strict deletes more specific flows of any priority", f: Filter{Match: mt(ipv4(), src(1))},
			want: []string{"ip-src1", "ip-src1-80", "ip-src1-pri100"}},
		{name: "non-strict empty match deletes all", f: Filter{}, want: []string{"default", "ip", "ip-src1", "ip-src1-80", "ip-src1-pri100", "src1-no-ip"}},
		{name: "non-strict with cookie mask", f: Filter{Match: mt(ipv4()), Cookie: 0x10, CookieMask: 0xf0},
			want: []string{"ip", "ip-src1", "ip-src1-pri100"}},
		{name: "strict with cookie mismatch", f: Filter{Match: mt(ipv4()), Priority: 100, Strict: true, Cookie: 0x20, CookieMask: 0xff}},
		{name: "where predicate", f: Filter{}, where: func(r *Rule[string]) bool { return r.Priority >= 200 },
			want: []string{"ip-src1", "ip-src1-80"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := build(t)
			before := ts.Load()
			got := names(ts.Delete(0, c.f, c.where))
			if !slices.Equal(got, c.want) {
				t.Fatalf("deleted %v, want %v", got, c.want)
			}
			after := ts.Load()
			if got, want := after.Table(0).Len(), before.Table(0).Len()-len(c.want); got != want {
				t.Fatalf("Len() after = %d, want %d", got, want)
			}
			if len(c.want) == 0 && after.Gen() != before.Gen() {
				t.Fatalf("a delete that removed nothing changed the generation %d → %d", before.Gen(), after.Gen())
			}
			if len(c.want) > 0 && after.Gen() != before.Gen()+1 {
				t.Fatalf("generation %d → %d, want +1", before.Gen(), after.Gen())
			}
			// The old snapshot is untouched.
			if got := before.Table(0).Len(); got != 6 {
				t.Fatalf("old snapshot changed: Len() = %d, want 6", got)
			}
		})
	}
}

func TestDeleteRuleAndClear(t *testing.T) {
	ts := load(t, rule(1, mt(src(1)), "a"), rule(1, mt(src(2)), "b"))
	k := key(src(1))
	r := ts.Load().Table(0).Lookup(&k, nil)
	tx := ts.Begin()
	if !tx.DeleteRule(0, r) {
		t.Fatal("DeleteRule of a present rule reported false")
	}
	if tx.DeleteRule(0, r) {
		t.Fatal("second DeleteRule reported true")
	}
	tx.Commit()
	if got := tableNames(ts.Load().Table(0)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("table = %v, want [b]", got)
	}
	tx = ts.Begin()
	tx.Clear(0)
	tx.Commit()
	if n := ts.Load().Len(); n != 0 {
		t.Fatalf("Len() after Clear = %d", n)
	}
}

func TestModify(t *testing.T) {
	ts := load(t,
		rule(10, mt(src(1)), "a"),
		rule(20, mt(src(1), dst(2)), "b"),
		rule(30, mt(dst(2)), "c"),
	)
	tx := ts.Begin()
	got, err := tx.Modify(0, Filter{Match: mt(src(1))}, nil, func(r *Rule[string]) {
		r.Payload += "'"
		r.Priority = 999 // ignored
	})
	tx.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if g := names(got); !slices.Equal(g, []string{"a'", "b'"}) {
		t.Fatalf("modified %v, want [a' b']", g)
	}
	if g := tableNames(ts.Load().Table(0)); !slices.Equal(g, []string{"a'", "b'", "c"}) {
		t.Fatalf("table = %v", g)
	}
	if r := ts.Load().Table(0).Find(&got[0].Match, got[0].Priority); r == nil || r.Priority == 999 {
		t.Fatal("Modify changed the priority")
	}

	tx = ts.Begin()
	_, err = tx.Modify(0, Filter{Match: mt(dst(2)), Priority: 30, Strict: true}, nil, func(r *Rule[string]) {
		r.Conj = []Conjunction{conj(1, 3, 2)}
	})
	tx.Commit()
	if !errors.Is(err, ErrBadConjunction) {
		t.Fatalf("Modify to a bad conjunction: got %v, want ErrBadConjunction", err)
	}
	k := key(dst(2))
	if got := name(ts.Load().Table(0).Lookup(&k, nil)); got != "c" {
		t.Fatalf("flow after a rejected modify = %s, want c", got)
	}
}

func TestTransactionAtomicAndDiscard(t *testing.T) {
	ts := New[string](Options{})
	g0 := ts.Load().Gen()
	tx := ts.Begin()
	for i := range 100 {
		if _, err := tx.Insert(uint8(i%3), rule(uint16(i), mt(src(uint64(i))), "x")); err != nil {
			t.Fatal(err)
		}
	}
	if n := ts.Load().Len(); n != 0 {
		t.Fatalf("uncommitted flows visible: %d", n)
	}
	if n := tx.Table(1).Len(); n != 33 {
		t.Fatalf("transaction's view of table 1 has %d flows, want 33", n)
	}
	tx.Discard()
	if s := ts.Load(); s.Len() != 0 || s.Gen() != g0 {
		t.Fatalf("after Discard: %d flows, gen %d (was %d)", s.Len(), s.Gen(), g0)
	}
	if _, err := tx.Insert(0, rule(1, mt(), "late")); !errors.Is(err, ErrDone) {
		t.Fatalf("Insert after Discard: got %v, want ErrDone", err)
	}

	tx = ts.Begin()
	for i := range 100 {
		tx.Insert(uint8(i%3), rule(uint16(i), mt(src(uint64(i))), "x"))
	}
	s := tx.Commit()
	if s.Len() != 100 || s.Gen() != g0+1 || ts.Load() != s {
		t.Fatalf("after Commit: %d flows, gen %d, want 100 flows, gen %d", s.Len(), s.Gen(), g0+1)
	}
	if s2 := ts.Begin().Commit(); s2 != s {
		t.Fatal("an empty transaction published a new snapshot")
	}
}

func TestSelect(t *testing.T) {
	ts := load(t,
		rule(10, mt(src(1)), "a"),
		rule(20, mt(src(1), dst(2)), "b"),
		rule(30, mt(dst(2)), "c"),
	)
	tb := ts.Load().Table(0)
	if got := names(slices.Collect(tb.Select(Filter{Match: mt(dst(2))}))); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("non-strict select = %v, want [b c]", got)
	}
	if got := names(slices.Collect(tb.Select(Filter{Match: mt(dst(2)), Priority: 30, Strict: true}))); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("strict select = %v, want [c]", got)
	}
	var empty *Table[string]
	if n := len(slices.Collect(empty.All())); n != 0 || empty.Lookup(&flow.Key{}, nil) != nil {
		t.Fatal("nil table is not empty")
	}
}

// TestManyBucketsGrowAndShrink pushes a subtable through shard splits and back down, with
// hashes narrowed so probe chains and backward-shift deletion get exercised.
func TestManyBucketsGrowAndShrink(t *testing.T) {
	for _, hm := range []uint64{0, 0xff} {
		ts := New[string](Options{HashSeed: 7, hashMask: hm})
		const n = 3000
		tx := ts.Begin()
		for i := range n {
			tx.Insert(0, rule(1, mt(src(uint64(i))), "x"))
		}
		tx.Commit()
		check := func(present func(int) bool) {
			t.Helper()
			tb := ts.Load().Table(0)
			for i := range n {
				k := key(src(uint64(i)))
				if got := tb.Lookup(&k, nil) != nil; got != present(i) {
					t.Fatalf("hashMask %#x: src %d present = %v, want %v", hm, i, got, present(i))
				}
			}
		}
		check(func(int) bool { return true })
		// Delete odd ones, one transaction each for some, batched for others.
		for i := 1; i < n; i += 2 {
			if i < 200 {
				ts.Delete(0, Filter{Match: mt(src(uint64(i))), Priority: 1, Strict: true}, nil)
				continue
			}
			if i == 201 {
				tx = ts.Begin()
			}
			tx.Delete(0, Filter{Match: mt(src(uint64(i))), Priority: 1, Strict: true}, nil)
		}
		tx.Commit()
		check(func(i int) bool { return i%2 == 0 })
		if got := ts.Load().Table(0).Len(); got != n/2 {
			t.Fatalf("Len() = %d, want %d", got, n/2)
		}
	}
}

func TestOverlaps(t *testing.T) {
	ts := load(t, rule(10, mt(src(1)), "a"), rule(20, mt(dst(2)), "b"))
	tb := ts.Load().Table(0)
	for _, c := range []struct {
		name string
		m    flow.Match
		pri  uint16
		want bool
	}{
		{"disjoint value, same priority", mt(src(3)), 10, false},
		{"other field, same priority", mt(dst(5)), 10, true},
		{"same match, other priority", mt(src(1)), 11, false},
		{"wildcard, same priority", mt(), 20, true},
		{"more specific, same priority", mt(dst(2), tpDst(80)), 20, true},
		{"conflicting more specific", mt(dst(3), tpDst(80)), 20, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := c.m
			m.Key.And(&m.Mask)
			if got := tb.Overlaps(&m, c.pri); got != c.want {
				t.Errorf("Overlaps = %v, want %v", got, c.want)
			}
		})
	}
}

func TestOverlapsInsideTransaction(t *testing.T) {
	ts := load(t, rule(10, mt(src(1)), "low"))
	tx := ts.Begin()
	defer tx.Discard()
	// A new higher-priority subtable appended after the low one, not yet sorted.
	tx.Insert(0, rule(50, mt(dst(1)), "new"))
	m := mt(dst(1), src(7))
	if !tx.Table(0).Overlaps(&m, 50) {
		t.Fatal("overlap with a flow added earlier in the same transaction not seen")
	}
}
