package classifier

import (
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

// fuzzRule decodes one flow from 6 bytes: priority, kind (ordinary, clause or conj_id flow),
// which fields it matches and their values, and a conjunction.
func fuzzRule(b []byte, payload int) Rule[int] {
	ru := Rule[int]{Priority: uint16(b[0] % 4), Payload: payload}
	var m flow.Match
	if b[2]&1 != 0 {
		m.Set(flow.FieldInPort, uint64(1+b[3]%3), 0xffffffff)
	}
	if b[2]&2 != 0 {
		m.Set(flow.FieldNwSrc, genSrcs[(b[3]>>2)%4], genPlens[b[4]%4])
	}
	if b[2]&4 != 0 {
		masks := []uint64{0xf, 0xc, 0x8, 0x3}
		m.Set(flow.FieldTpDst, uint64(b[4]>>2&0xf), masks[(b[3]>>4)%4])
	}
	if b[2]&8 != 0 {
		m.Set(flow.FieldReg0, uint64(b[4]>>6), uint64(1+(b[3]>>6)%3))
	}
	id := uint32(1 + b[5]%3)
	switch b[1] % 4 {
	case 2:
		n := 2 + (b[5]>>2)%2
		ru.Conj = []Conjunction{{ID: id, Clause: 1 + (b[5]>>3)%n, NClauses: n}}
		if b[1]&0x80 != 0 {
			ru.Conj = append(ru.Conj, Conjunction{ID: 1 + (id % 3), Clause: 1 + (b[5]>>5)%2, NClauses: 2})
		}
	case 3:
		m.Set(flow.FieldConjID, uint64(id), 0xffffffff)
	}
	ru.Match = m
	return ru
}

func fuzzKey(b []byte) flow.Key {
	var k flow.Key
	k.Set(flow.FieldInPort, uint64(1+b[0]%3))
	k.Set(flow.FieldNwSrc, genSrcs[(b[0]>>2)%4]|uint64(b[0]>>4&1))
	k.Set(flow.FieldTpDst, uint64(b[1]&0xf))
	k.Set(flow.FieldReg0, uint64(b[1]>>4&3))
	return k
}

// FuzzLookup builds a small table from the input, then compares lookups of keys from the rest
// of the input with the brute-force reference, and checks the tracked wildcards.
func FuzzLookup(f *testing.F) {
	f.Add([]byte{0x02, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x02, 0x02, 0x02, 0x00, 0x10, 0x00, 0x00, 0x00})
	f.Add([]byte{0x04, 1, 2, 2, 3, 0, 0, 1, 2, 4, 0, 8, 0, 1, 3, 1, 0, 3, 0, 0, 0, 2, 0x04, 1, 2, 0x20})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		n := int(data[0] % 16)
		data = data[1:]
		ts := New[int](Options{HashSeed: 9, hashMask: 0xf})
		rt := &refTable{}
		tx := ts.Begin()
		for i := 0; i < n && len(data) >= 6; i++ {
			ru := fuzzRule(data[:6], i)
			data = data[6:]
			if _, _, err := tx.Replace(0, ru); err != nil {
				t.Fatalf("Replace: %v", err)
			}
			rt.replace(ru.Match, ru.Priority, ru.Cookie, ru.Conj, ru.Payload)
		}
		tx.Commit()
		rt.commit()
		tb := ts.Load().Table(0)
		for len(data) >= 2 {
			k := fuzzKey(data)
			data = data[2:]
			var wc flow.Key
			r, id, via := tb.LookupConj(&k, &wc)
			wp, wid, wvia := rt.lookup(&k)
			if payloadOf(r) != wp || id != wid || via != wvia {
				t.Fatalf("got #%d (conj %d %v), want #%d (conj %d %v)\nflows:\n%s", payloadOf(r), id, via, wp, wid, wvia, describe(rt))
			}
			for _, other := range [][]byte{{0, 0}, {0xff, 0xff}, {0x5a, 0xa5}} {
				k2 := fuzzKey(other)
				for i := range k2.W {
					k2.W[i] = k.W[i]&wc.W[i] | k2.W[i]&^wc.W[i]
				}
				if wp2, _, _ := rt.lookup(&k2); wp2 != wp {
					t.Fatalf("megaflow mask too wide: #%d vs #%d", wp, wp2)
				}
			}
		}
	})
}
