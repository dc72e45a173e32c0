package classifier

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/sluicenet/sluice/datapath/flow"
)

// refTable is the brute-force reference classifier: a plain list of flows, searched linearly,
// with OVS's lookup semantics written down as directly as possible.
type refTable struct {
	rules   []*refRule
	nextSeq uint64
}

type refRule struct {
	m       flow.Match
	pri     uint16
	cookie  uint64
	conj    []Conjunction
	payload int
	seq     uint64
}

func (r *refRule) clause() bool { return len(r.conj) > 0 }

func refBetter(a, b *refRule) bool {
	return a.pri > b.pri || a.pri == b.pri && a.seq < b.seq
}

// replace adds or replaces (same match and priority) a flow, keeping the old one's seq.
func (rt *refTable) replace(m flow.Match, pri uint16, cookie uint64, conj []Conjunction, payload int) {
	m.Key.And(&m.Mask)
	for _, r := range rt.rules {
		if r.m == m && r.pri == pri {
			r.cookie, r.conj, r.payload = cookie, conj, payload
			return
		}
	}
	rt.nextSeq++
	rt.rules = append(rt.rules, &refRule{m: m, pri: pri, cookie: cookie, conj: conj, payload: payload, seq: rt.nextSeq})
}

func (rt *refTable) selects(f *Filter, r *refRule) bool {
	if r.cookie&f.CookieMask != f.Cookie&f.CookieMask {
		return false
	}
	fk := f.Match.Key
	fk.And(&f.Match.Mask)
	if f.Strict {
		return r.pri == f.Priority && r.m.Mask == f.Match.Mask && r.m.Key == fk
	}
	for i := range fk.W {
		// The flow must care about every bit the filter cares about, with the same value.
		if f.Match.Mask.W[i]&^r.m.Mask.W[i] != 0 || r.m.Key.W[i]&f.Match.Mask.W[i] != fk.W[i] {
			return false
		}
	}
	return true
}

func (rt *refTable) delete(f Filter) []int {
	var gone []int
	rt.rules = slices.DeleteFunc(rt.rules, func(r *refRule) bool {
		if rt.selects(&f, r) {
			gone = append(gone, r.payload)
			return true
		}
		return false
	})
	slices.Sort(gone)
	return gone
}

// lookup returns the payload of the matching flow (-1 for none) and the conjunction id used.
func (rt *refTable) lookup(k *flow.Key) (payload int, conjID uint32, viaConj bool) {
	var hard *refRule
	var soft []*refRule
	for _, r := range rt.rules {
		if !r.m.Matches(k) {
			continue
		}
		if r.clause() {
			soft = append(soft, r)
		} else if hard == nil || refBetter(r, hard) {
			hard = r
		}
	}
	soft = slices.DeleteFunc(soft, func(r *refRule) bool { return hard != nil && r.pri <= hard.pri })
	slices.SortFunc(soft, func(a, b *refRule) int {
		if a.pri != b.pri {
			return cmp.Compare(b.pri, a.pri)
		}
		return cmp.Compare(a.seq, b.seq)
	})
	for len(soft) > 0 {
		n := 1
		for n < len(soft) && soft[n].pri == soft[0].pri {
			n++
		}
		level := soft[:n]
		soft = soft[n:]
		seen := map[uint32]uint64{}
		for _, s := range level {
			for _, c := range s.conj {
				if int(c.NClauses) > len(level) {
					continue
				}
				b, ok := seen[c.ID]
				if !ok {
					if c.NClauses == 64 {
						b = ^uint64(0)
					} else {
						b = ^uint64(0) << c.NClauses
					}
				}
				b |= 1 << (c.Clause - 1)
				seen[c.ID] = b
				if b != ^uint64(0) {
					continue
				}
				kk := *k
				kk.Set(flow.FieldConjID, uint64(c.ID))
				if r := rt.lookupHard(&kk); r != nil {
					return r.payload, c.ID, true
				}
				break
			}
		}
	}
	if hard == nil {
		return -1, 0, false
	}
	return hard.payload, 0, false
}

// lookupHard: best ordinary flow, where a flow is invisible if a clause flow with the identical
// match has a higher priority.
func (rt *refTable) lookupHard(k *flow.Key) *refRule {
	var best *refRule
	for _, r := range rt.rules {
		if r.clause() || !r.m.Matches(k) {
			continue
		}
		hidden := false
		for _, o := range rt.rules {
			if o.clause() && o.m == r.m && o.pri > r.pri {
				hidden = true
			}
		}
		if !hidden && (best == nil || refBetter(r, best)) {
			best = r
		}
	}
	return best
}

// ruleGen draws flows and keys from small value sets so that flows overlap a lot.
type ruleGen struct {
	r         *rand.Rand
	payload   int
	conjHeavy bool // mostly clause and conj_id flows
}

var (
	genSrcs  = []uint64{0x0a000001, 0x0a000002, 0x0a000101, 0x0a010001}
	genPlens = []uint64{0xffffffff, 0xffffff00, 0xffff0000, 0xff000000}
)

func (g *ruleGen) match(conjID uint32) flow.Match {
	var m flow.Match
	r := g.r
	if r.IntN(3) == 0 {
		m.Set(flow.FieldInPort, uint64(1+r.IntN(3)), 0xffffffff)
	}
	if r.IntN(2) == 0 {
		m.Set(flow.FieldNwSrc, genSrcs[r.IntN(len(genSrcs))], genPlens[r.IntN(len(genPlens))])
	}
	if r.IntN(2) == 0 {
		masks := []uint64{0xf, 0xc, 0x8, 0x3}
		m.Set(flow.FieldTpDst, uint64(r.IntN(16)), masks[r.IntN(len(masks))])
	}
	if r.IntN(3) == 0 {
		m.Set(flow.FieldReg0, uint64(r.IntN(4)), uint64(1+r.IntN(3)))
	}
	if conjID != 0 {
		m.Set(flow.FieldConjID, uint64(conjID), 0xffffffff)
	}
	return m
}

// rule returns a random flow: ordinary, clause or conj_id flow.
func (g *ruleGen) rule() Rule[int] {
	r := g.r
	g.payload++
	ru := Rule[int]{Priority: uint16(1 + r.IntN(5)), Cookie: uint64(r.IntN(4)), Payload: g.payload}
	x := r.IntN(10)
	ids := 4
	if g.conjHeavy {
		x = 2 + x*7/10
		ru.Priority = uint16(1 + r.IntN(2))
		ids = 2
	}
	switch {
	case x < 5:
		ru.Match = g.match(0)
	case x < 8:
		ru.Match = g.match(0)
		for range 1 + r.IntN(3) {
			n := uint8(2 + r.IntN(2))
			ru.Conj = append(ru.Conj, Conjunction{ID: uint32(1 + r.IntN(ids)), Clause: uint8(1 + r.IntN(int(n))), NClauses: n})
		}
	default:
		ru.Match = g.match(uint32(1 + r.IntN(ids)))
	}
	return ru
}

func (g *ruleGen) key() flow.Key {
	var k flow.Key
	r := g.r
	k.Set(flow.FieldInPort, uint64(1+r.IntN(3)))
	k.Set(flow.FieldNwSrc, genSrcs[r.IntN(len(genSrcs))]|uint64(r.IntN(2)))
	k.Set(flow.FieldTpDst, uint64(r.IntN(16)))
	k.Set(flow.FieldReg0, uint64(r.IntN(4)))
	if r.IntN(8) == 0 {
		k.Set(flow.FieldConjID, uint64(r.IntN(3)))
	}
	return k
}

func (g *ruleGen) filter(strictOf *Rule[int]) Filter {
	if strictOf != nil {
		return Filter{Match: strictOf.Match, Priority: strictOf.Priority, Strict: true}
	}
	f := Filter{Match: g.match(0)}
	if g.r.IntN(3) == 0 {
		f.Cookie, f.CookieMask = uint64(g.r.IntN(4)), 3
	}
	return f
}

func describe(rt *refTable) string {
	s := ""
	for _, r := range rt.rules {
		s += fmt.Sprintf("  #%d pri=%d seq=%d mask=%x key=%x conj=%v\n", r.payload, r.pri, r.seq, r.m.Mask.W[:22], r.m.Key.W[:22], r.conj)
	}
	return s
}
