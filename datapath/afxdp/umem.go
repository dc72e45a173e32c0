package afxdp

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
)

// PacketHeadroom is XDP_PACKET_HEADROOM, the headroom the kernel always leaves in front of a
// received frame in its chunk.
const PacketHeadroom = 256

// UMEMOptions configures a UMEM.
type UMEMOptions struct {
	// NumChunks is how many chunks the UMEM holds. Every socket keeps up to its fill ring size in
	// the kernel and up to its TX ring size in flight, so NumChunks should exceed the sum of those
	// over all sockets sharing the UMEM, with room for frames the datapath holds.
	NumChunks uint32
	// ChunkSize is the size of one chunk: a power of two from 2048 to the page size (the kernel's
	// aligned mode).
	ChunkSize uint32
	// Headroom is the number of bytes in front of the frame data in every chunk, at least
	// PacketHeadroom (256), which the kernel always reserves; anything above that is registered
	// as UMEM headroom. Encapsulation grows frames into it. The largest frame a chunk holds is
	// ChunkSize - Headroom.
	Headroom uint32
}

// DefaultUMEMOptions returns the options Sluice uses: 4096 chunks of 2 KiB (8 MiB, exactly the
// default 8 MiB memlock limit for a process without CAP_IPC_LOCK) with the kernel's 256-byte
// headroom, so frames up to 1792 bytes fit — a 1500-byte MTU plus Ethernet, VLAN and a Geneve or
// VXLAN outer header built in the headroom.
func DefaultUMEMOptions() UMEMOptions {
	return UMEMOptions{NumChunks: 4096, ChunkSize: 2048, Headroom: PacketHeadroom}
}

func (o UMEMOptions) validate(pageSize int) error {
	switch {
	case o.NumChunks == 0:
		return fmt.Errorf("umem: NumChunks is 0")
	case bits.OnesCount32(o.ChunkSize) != 1 || o.ChunkSize < 2048 || int(o.ChunkSize) > pageSize:
		return fmt.Errorf("umem: ChunkSize %d is not a power of two in [2048, %d]", o.ChunkSize, pageSize)
	case o.Headroom < PacketHeadroom || o.Headroom > o.ChunkSize-64: // ChunkSize >= 2048 here: no wrap
		return fmt.Errorf("umem: Headroom %d outside [%d, ChunkSize-64]", o.Headroom, PacketHeadroom)
	}
	return nil
}

// UMEM is a packet memory area cut into chunks, together with the allocator that tracks which
// chunks are free. It is shared by every socket of the process (see the package comment for the
// ownership rules). The allocator methods are safe for concurrent use.
type UMEM struct {
	mem       []byte
	opts      UMEMOptions
	chunkMask uint64 // clears the offset within a chunk
	shift     uint   // log2(ChunkSize)

	mu   sync.Mutex // the allocator's lock
	free []uint64   // guarded by mu: stack of free chunk base addresses
	out  []uint64   // guarded by mu: bit per chunk, set while the chunk is allocated

	lifeMu sync.Mutex // orders socket creation, socket close and UMEM close
	users  []*Socket  // guarded by lifeMu: open sockets; new ones share with a bound one
	closed bool       // guarded by lifeMu

	doubleFrees atomic.Uint64
	badFrees    atomic.Uint64
	unmap       func([]byte) error
}

func newUMEM(mem []byte, opts UMEMOptions, unmap func([]byte) error) *UMEM {
	u := &UMEM{
		mem:       mem,
		opts:      opts,
		chunkMask: ^uint64(opts.ChunkSize - 1),
		shift:     uint(bits.TrailingZeros32(opts.ChunkSize)),
		free:      make([]uint64, opts.NumChunks),
		out:       make([]uint64, (opts.NumChunks+63)/64),
		unmap:     unmap,
	}
	// Hand out low addresses first: pop from the end.
	for i := range opts.NumChunks {
		u.free[opts.NumChunks-1-i] = uint64(i) * uint64(opts.ChunkSize)
	}
	return u
}

// Options returns the options the UMEM was made with.
func (u *UMEM) Options() UMEMOptions { return u.opts }

// ChunkSize returns the size of one chunk in bytes.
func (u *UMEM) ChunkSize() int { return int(u.opts.ChunkSize) }

// Headroom returns how many bytes precede the frame data in a chunk.
func (u *UMEM) Headroom() int { return int(u.opts.Headroom) }

// MaxFrameLen returns the longest frame a chunk holds behind the headroom.
func (u *UMEM) MaxFrameLen() int { return int(u.opts.ChunkSize - u.opts.Headroom) }

// NumChunks returns the number of chunks in the UMEM.
func (u *UMEM) NumChunks() int { return int(u.opts.NumChunks) }

// ChunkBase returns the address of the chunk that contains addr.
func (u *UMEM) ChunkBase(addr uint64) uint64 { return addr & u.chunkMask }

// Chunk returns the whole chunk that contains addr (ChunkSize bytes), or nil when addr lies
// outside the UMEM.
func (u *UMEM) Chunk(addr uint64) []byte {
	base := addr & u.chunkMask
	if base >= uint64(len(u.mem)) {
		return nil
	}
	return u.mem[base : base+uint64(u.opts.ChunkSize) : base+uint64(u.opts.ChunkSize)]
}

// Alloc takes one free chunk and returns its base address; ok is false when none is free. The
// caller owns the chunk.
func (u *UMEM) Alloc() (addr uint64, ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.free) == 0 {
		return 0, false
	}
	addr = u.popLocked()
	return addr, true
}

// AllocBatch fills dst with up to len(dst) free chunk addresses and returns how many; the caller
// owns them.
func (u *UMEM) AllocBatch(dst []uint64) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := min(len(dst), len(u.free))
	for i := range n {
		dst[i] = u.popLocked()
	}
	return n
}

func (u *UMEM) popLocked() uint64 {
	addr := u.free[len(u.free)-1]
	u.free = u.free[:len(u.free)-1]
	i := addr >> u.shift
	u.out[i/64] |= 1 << (i % 64)
	return addr
}

// Free gives the chunk containing addr back to the allocator. addr may point anywhere inside the
// chunk (a completion address, a frame's data). Freeing a chunk that is already free, or an
// address outside the UMEM, is counted and otherwise ignored.
func (u *UMEM) Free(addr uint64) {
	u.mu.Lock()
	u.pushLocked(addr)
	u.mu.Unlock()
}

// FreeBatch is Free for many addresses under one lock.
func (u *UMEM) FreeBatch(addrs []uint64) {
	u.mu.Lock()
	for _, a := range addrs {
		u.pushLocked(a)
	}
	u.mu.Unlock()
}

func (u *UMEM) pushLocked(addr uint64) {
	base := addr & u.chunkMask
	if base >= uint64(len(u.mem)) {
		u.badFrees.Add(1)
		return
	}
	i := base >> u.shift
	bit := uint64(1) << (i % 64)
	if u.out[i/64]&bit == 0 {
		u.doubleFrees.Add(1)
		return
	}
	u.out[i/64] &^= bit
	u.free = append(u.free, base) // never grows past cap: one slot per chunk
}

// Available returns the number of free chunks.
func (u *UMEM) Available() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.free)
}

// DoubleFrees returns how often a chunk that was already free was freed again.
func (u *UMEM) DoubleFrees() uint64 { return u.doubleFrees.Load() }

// BadFrees returns how often an address outside the UMEM was freed.
func (u *UMEM) BadFrees() uint64 { return u.badFrees.Load() }

// Close releases the memory. It fails while sockets still use the UMEM; after Close no frame of
// the UMEM may be touched.
func (u *UMEM) Close() error {
	u.lifeMu.Lock()
	defer u.lifeMu.Unlock()
	if u.closed {
		return nil
	}
	if len(u.users) > 0 {
		return fmt.Errorf("close umem: %d sockets still open", len(u.users))
	}
	u.closed = true
	if u.unmap != nil {
		return u.unmap(u.mem)
	}
	return nil
}
