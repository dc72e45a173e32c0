package classifier

import (
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

// fv is one field of a test match or key: f == v under mask m (m 0 means the whole field).
type fv struct {
	f    flow.Field
	v, m uint64
}

func mt(fs ...fv) flow.Match {
	var m flow.Match
	for _, x := range fs {
		mask := x.m
		if mask == 0 {
			mask = x.f.Info().Mask64()
		}
		m.Set(x.f, x.v, mask)
	}
	return m
}

func key(fs ...fv) flow.Key {
	var k flow.Key
	for _, x := range fs {
		k.Set(x.f, x.v)
	}
	return k
}

func src(v uint64) fv                        { return fv{f: flow.FieldNwSrc, v: v} }
func dst(v uint64) fv                        { return fv{f: flow.FieldNwDst, v: v} }
func tpDst(v uint64) fv                      { return fv{f: flow.FieldTpDst, v: v} }
func conjID(v uint64) fv                     { return fv{f: flow.FieldConjID, v: v} }
func ipv4() fv                               { return fv{f: flow.FieldEthType, v: 0x0800} }
func conj(id uint32, k, n uint8) Conjunction { return Conjunction{ID: id, Clause: k, NClauses: n} }

// rule is a test flow whose payload is its name.
func rule(pri uint16, m flow.Match, name string, cs ...Conjunction) Rule[string] {
	return Rule[string]{Priority: pri, Match: m, Payload: name, Conj: cs}
}

// load builds table 0 from rules, failing the test on any error.
func load(t *testing.T, rules ...Rule[string]) *Tables[string] {
	t.Helper()
	ts := New[string](Options{HashSeed: 42})
	tx := ts.Begin()
	for _, r := range rules {
		if _, err := tx.Insert(0, r); err != nil {
			t.Fatalf("insert %q: %v", r.Payload, err)
		}
	}
	tx.Commit()
	return ts
}

func name(r *Rule[string]) string {
	if r == nil {
		return "<none>"
	}
	return r.Payload
}
