package afxdp

// chunkSet is a bitmap of chunk indices; a socket keeps one per side to know which chunks the
// kernel holds, so Close can take them all back.
type chunkSet []uint64

func newChunkSet(n uint32) chunkSet { return make(chunkSet, (n+63)/64) }

func (c chunkSet) add(i uint64)    { c[i/64] |= 1 << (i % 64) }
func (c chunkSet) remove(i uint64) { c[i/64] &^= 1 << (i % 64) }

// drain appends the base address of every chunk in the set to dst and empties the set.
func (c chunkSet) drain(dst []uint64, shift uint) []uint64 {
	for w, bits := range c {
		for b := 0; bits != 0; b++ {
			if bits&1 != 0 {
				dst = append(dst, uint64(w*64+b)<<shift)
			}
			bits >>= 1
		}
		c[w] = 0
	}
	return dst
}
