package pipeline

import "github.com/sluicenet/sluice/datapath/flow"

// megaflowCache maps a key, masked by the bits a translation depended on, to that
// translation's program, as OVS's datapath classifier (dpcls) does: one hash table per
// distinct mask, probed in order. It sits behind the exact-match cache and catches packets
// that differ only in fields no flow looked at (a new connection's source port, tcp_flags
// where nothing matches them), so they skip translation.
//
// Entries carry no generation of their own: the whole cache is dropped when the pipeline's
// version moves, and when it holds maxMegaflows entries. It belongs to one Runner.
type megaflowCache struct {
	gen  uint64
	subs []*megaflowSub
	n    int

	hits, misses uint64
}

type megaflowSub struct {
	mask flow.Key
	m    map[flow.Key]*program
}

// maxMegaflows bounds a Runner's megaflow cache.
const maxMegaflows = 1 << 16

// passTagMask covers the pass tag bits runPass puts in every cache key.
const passTagMask = uint64(0x1ff) << passShift

// lookup returns the program of a megaflow that k belongs to, for pipeline version gen.
func (c *megaflowCache) lookup(k *flow.Key, gen uint64) (*program, bool) {
	if c.gen != gen {
		c.reset(gen)
		c.misses++
		return nil, false
	}
	var mk flow.Key
	for _, s := range c.subs {
		for i := range mk.W {
			mk.W[i] = k.W[i] & s.mask.W[i]
		}
		if p, ok := s.m[mk]; ok {
			c.hits++
			return p, true
		}
	}
	c.misses++
	return nil, false
}

// insert adds the megaflow (k masked by wc) for version gen.
func (c *megaflowCache) insert(k, wc *flow.Key, gen uint64, p *program) {
	if c.gen != gen || c.n >= maxMegaflows {
		c.reset(gen)
	}
	var s *megaflowSub
	for _, t := range c.subs {
		if t.mask == *wc {
			s = t
			break
		}
	}
	if s == nil {
		s = &megaflowSub{mask: *wc, m: make(map[flow.Key]*program)}
		c.subs = append(c.subs, s)
	}
	var mk flow.Key
	for i := range mk.W {
		mk.W[i] = k.W[i] & wc.W[i]
	}
	if _, ok := s.m[mk]; !ok {
		c.n++
	}
	s.m[mk] = p
}

func (c *megaflowCache) reset(gen uint64) {
	c.gen = gen
	c.subs = c.subs[:0]
	c.n = 0
}
