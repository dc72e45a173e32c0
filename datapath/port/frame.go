package port

// Frame is one packet in a chunk of a Memory. The zero Frame is empty and owns nothing. Frames
// are passed by value in batches; copying the value does not copy the packet, and exactly one
// copy may be handed on (see the package comment on ownership).
type Frame struct {
	mem  Memory
	buf  []byte // the whole chunk
	base uint64 // the chunk's address in mem
	off  int    // data starts at buf[off]
	n    int    // data length
}

// NewFrame describes the n-byte frame at address addr of mem (an RX descriptor). The caller
// passes its ownership of the chunk to the Frame.
func NewFrame(mem Memory, addr uint64, n int) Frame {
	base := mem.ChunkBase(addr)
	return Frame{mem: mem, buf: mem.Chunk(addr), base: base, off: int(addr - base), n: n}
}

// AllocFrame takes a chunk of mem and returns an empty frame at the memory's headroom; ok is
// false when mem has no free chunk.
func AllocFrame(mem Memory) (f Frame, ok bool) {
	addr, ok := mem.Alloc()
	if !ok {
		return Frame{}, false
	}
	return NewFrame(mem, addr+uint64(mem.Headroom()), 0), true
}

// Data returns the frame's bytes, in place: writes change the packet.
func (f *Frame) Data() []byte { return f.buf[f.off : f.off+f.n] }

// Len returns the frame's length in bytes.
func (f *Frame) Len() int { return f.n }

// Addr returns the memory address of the frame's first byte (what a TX descriptor points to).
func (f *Frame) Addr() uint64 { return f.base + uint64(f.off) }

// Memory returns the memory the frame lives in; nil for the zero Frame.
func (f *Frame) Memory() Memory { return f.mem }

// Headroom returns how many bytes Push can add in front.
func (f *Frame) Headroom() int { return f.off }

// Tailroom returns how many bytes SetLen can add at the end.
func (f *Frame) Tailroom() int { return len(f.buf) - f.off - f.n }

// SetLen sets the frame's length, growing into the tailroom (new bytes are not zeroed) or
// trimming the end; it reports false, changing nothing, when n does not fit.
func (f *Frame) SetLen(n int) bool {
	if n < 0 || f.off+n > len(f.buf) {
		return false
	}
	f.n = n
	return true
}

// Push grows the frame by n bytes at the front (to prepend a header) and reports false,
// changing nothing, when the headroom is smaller than n.
func (f *Frame) Push(n int) bool {
	if n < 0 || n > f.off {
		return false
	}
	f.off -= n
	f.n += n
	return true
}

// Pull removes n bytes from the front (to strip a header) and reports false, changing nothing,
// when the frame is shorter than n.
func (f *Frame) Pull(n int) bool {
	if n < 0 || n > f.n {
		return false
	}
	f.off += n
	f.n -= n
	return true
}

// Adopt makes f a frame of mem for transmission: f itself when it already lives in mem,
// otherwise a copy at mem's headroom (the original is freed and the copy counted). When the
// frame does not fit a chunk of mem or mem has no free chunk, f is freed, the drop counted, and
// ok is false.
func Adopt(f Frame, mem Memory, c *Counters) (_ Frame, ok bool) {
	if f.mem == mem {
		return f, true
	}
	if f.n > mem.MaxFrameLen() {
		f.Free()
		c.Dropped(DropTooLong, 1)
		return Frame{}, false
	}
	cp, ok := AllocFrame(mem)
	if !ok {
		f.Free()
		c.Dropped(DropNoMemory, 1)
		return Frame{}, false
	}
	cp.n = f.n
	copy(cp.Data(), f.Data())
	f.Free()
	c.Copied(1)
	return cp, true
}

// Free gives the frame's chunk back to its memory and empties f. Freeing the zero Frame does
// nothing.
func (f *Frame) Free() {
	if f.mem != nil {
		f.mem.Free(f.base)
	}
	*f = Frame{}
}
