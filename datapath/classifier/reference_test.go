package classifier

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/sluicenet/sluice/datapath/flow"
)

// refTable is the brute-force reference classifier: a plain list of flows, searched linearly,
// with OVS's lookup procedure transcribed from lib/classifier.c, and the order of its subtables
// (masks) kept the way OVS's pvector keeps it: a new mask is appended, an emptied one is
// replaced by the last, and each commit sorts them stably by their highest priority.
type refTable struct {
	rules []*refRule
	masks []flow.Key
}

type refRule struct {
	m       flow.Match
	pri     uint16
	cookie  uint64
	conj    []Conjunction
	payload int
}

func (r *refRule) clause() bool { return len(r.conj) > 0 }

// replace adds or replaces (same match and priority) a flow, keeping the old one's seq.
func (rt *refTable) replace(m flow.Match, pri uint16, cookie uint64, conj []Conjunction, payload int) {
	m.Key.And(&m.Mask)
	for _, r := range rt.rules {
		if r.m == m && r.pri == pri {
			r.cookie, r.conj, r.payload = cookie, conj, payload
			return
		}
	}
	if !rt.hasMask(&m.Mask) {
		rt.masks = append(rt.masks, m.Mask)
	}
	rt.rules = append(rt.rules, &refRule{m: m, pri: pri, cookie: cookie, conj: conj, payload: payload})
}

func (rt *refTable) hasMask(mask *flow.Key) bool {
	for _, r := range rt.rules {
		if r.m.Mask == *mask {
			return true
		}
	}
	return false
}

func (rt *refTable) maxPri(mask flow.Key) int {
	p := -1
	for _, r := range rt.rules {
		if r.m.Mask == mask {
			p = max(p, int(r.pri))
		}
	}
	return p
}

// commit sorts the masks as a transaction's commit does.
func (rt *refTable) commit() {
	slices.SortStableFunc(rt.masks, func(a, b flow.Key) int { return cmp.Compare(rt.maxPri(b), rt.maxPri(a)) })
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

// delete removes the selected flows mask by mask in the current mask order, so emptied masks
// leave the order in the sequence a table's Delete empties them.
func (rt *refTable) delete(f Filter) []int {
	var gone []int
	for _, mask := range slices.Clone(rt.masks) {
		rt.rules = slices.DeleteFunc(rt.rules, func(r *refRule) bool {
			if r.m.Mask == mask && rt.selects(&f, r) {
				gone = append(gone, r.payload)
				return true
			}
			return false
		})
		if !rt.hasMask(&mask) {
			i := slices.Index(rt.masks, mask)
			rt.masks[i] = rt.masks[len(rt.masks)-1]
			rt.masks = rt.masks[:len(rt.masks)-1]
		}
	}
	slices.Sort(gone)
	return gone
}

// lookup returns the payload of the matching flow (-1 for none) and the conjunction id used.
func (rt *refTable) lookup(k *flow.Key) (payload int, conjID uint32, viaConj bool) {
	r, id, via := rt.ovsLookup(k, true)
	if r == nil {
		return -1, id, via
	}
	return r.payload, id, via
}

// ruleGen draws flows and keys from small value sets so that flows overlap a lot.
type ruleGen struct {
	r         *rand.Rand
	payload   int
	conjHeavy bool // mostly clause and conj_id flows
	manyIDs   bool // clause flows with up to 24 conjunction actions over 30 ids
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
	nconj := 3
	if g.manyIDs {
		ids, nconj = 30, 24
	}
	switch {
	case x < 5:
		ru.Match = g.match(0)
	case x < 8:
		ru.Match = g.match(0)
		for range 1 + r.IntN(nconj) {
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
		s += fmt.Sprintf("  #%d pri=%d mask=%x key=%x conj=%v\n", r.payload, r.pri, r.m.Mask.W[:22], r.m.Key.W[:22], r.conj)
	}
	return s
}

// ovsLookup is OVS's classifier_lookup__ transcribed procedurally: visit the masks in order,
// take each matching bucket's highest-priority flow, keep a list of soft matches, and drop back
// one flow at a time within a bucket of identical matches.
func (rt *refTable) ovsLookup(k *flow.Key, allowConj bool) (*refRule, uint32, bool) {
	var order [][]*refRule
	for _, mask := range rt.masks {
		var b []*refRule
		for _, r := range rt.rules {
			if r.m.Mask == mask && r.m.Matches(k) {
				b = append(b, r)
			}
		}
		if b != nil {
			order = append(order, b)
		}
	}
	type softE struct {
		b []*refRule
		i int
	}
	var hard *refRule
	var soft []*softE
	for _, b := range order {
		slices.SortFunc(b, func(x, y *refRule) int { return cmp.Compare(y.pri, x.pri) })
		head := b[0]
		if hard != nil && head.pri <= hard.pri {
			continue
		}
		if !head.clause() {
			hard = head
		} else if allowConj {
			soft = append(soft, &softE{b: b})
		}
	}
	for {
		for i := 0; i < len(soft); {
			if soft[i] == nil || hard != nil && soft[i].b[soft[i].i].pri <= hard.pri {
				soft[i] = soft[len(soft)-1]
				soft = soft[:len(soft)-1]
			} else {
				i++
			}
		}
		if len(soft) == 0 {
			break
		}
		softPri := -1
		for _, e := range soft {
			softPri = max(softPri, int(e.b[e.i].pri))
		}
		nSoftPri := 0
		for _, e := range soft {
			if int(e.b[e.i].pri) == softPri {
				nSoftPri++
			}
		}
		matches := map[uint32]uint64{}
		for _, e := range soft {
			if int(e.b[e.i].pri) != softPri {
				continue
			}
			for _, c := range e.b[e.i].conj {
				if int(c.NClauses) > nSoftPri {
					continue
				}
				cl, ok := matches[c.ID]
				if !ok {
					cl = ^uint64(0) << (c.NClauses & 63)
				}
				cl |= 1 << (c.Clause - 1)
				matches[c.ID] = cl
				if cl != ^uint64(0) {
					continue
				}
				kk := *k
				kk.Set(flow.FieldConjID, uint64(c.ID))
				if r, _, _ := rt.ovsLookup(&kk, false); r != nil {
					return r, c.ID, true
				}
				break
			}
		}
		// Drop back to the next flow with the identical match.
		for j, e := range soft {
			if int(e.b[e.i].pri) != softPri {
				continue
			}
			if e.i+1 == len(e.b) {
				soft[j] = nil
				continue
			}
			e.i++
			if n := e.b[e.i]; !n.clause() {
				if hard == nil || n.pri > hard.pri {
					hard = n
				}
				soft[j] = nil
			}
		}
	}
	return hard, 0, false
}
