package afxdp

import (
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// The tests here drive the rings and the allocator against an in-memory stand-in for the kernel:
// rings laid out like the kernel's mmap'd rings but in ordinary memory, and a "kernel" that plays
// the other side of each ring with the same atomics the real one uses. Run with -race, the
// detector checks that every entry is published before its index and read after it.

// testRingMem lays a ring out as the kernel does, with indices on separate cache lines.
func testRingMem(size uint32, entry uint64) ringMem {
	mem := make([]byte, 192+uint64(size)*entry)
	return ringMem{mem: mem, producer: 0, consumer: 64, flags: 128, desc: 192}
}

// newTestSocket returns a Socket whose rings live in ordinary memory; it has no file descriptor,
// so only the ring and allocator paths (not Wait, Kick, Statistics) work.
func newTestSocket(t testing.TB, u *UMEM, size uint32) *Socket {
	t.Helper()
	s := &Socket{fd: -1, umem: u}
	o := SocketOptions{FillSize: size, CompletionSize: size, RXSize: size, TXSize: size}
	if err := s.layRings([4]ringMem{testRingMem(size, 8), testRingMem(size, 8), testRingMem(size, 16), testRingMem(size, 16)}, o); err != nil {
		t.Fatal(err)
	}
	s.inFill = newChunkSet(u.opts.NumChunks)
	s.inTX = newChunkSet(u.opts.NumChunks)
	s.fillBatch = make([]uint64, 16)
	s.compBatch = make([]uint64, 16)
	return s
}

func newTestUMEM(t testing.TB, chunks uint32) *UMEM {
	t.Helper()
	o := DefaultUMEMOptions()
	o.NumChunks = chunks
	u, err := NewUMEM(o)
	if err != nil {
		t.Fatalf("NewUMEM: %v", err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u
}

// fakeKernel plays the kernel's side of a test socket's rings.
type fakeKernel struct {
	s *Socket
	u *UMEM
}

// deliver moves up to max chunks from the fill ring to the RX ring, writing a frame built by
// payload into each, and returns how many it delivered.
func (k *fakeKernel) deliver(max int, payload func(buf []byte) int) int {
	f, r := &k.s.fill.ring, &k.s.rx.ring
	fcons, fprod := f.consumer.Load(), f.producer.Load() // fill: we consume
	rprod, rcons := r.producer.Load(), r.consumer.Load() // rx: we produce
	n := min(uint32(max), fprod-fcons, r.size-(rprod-rcons))
	for i := range n {
		addr := k.s.fill.entries[(fcons+i)&f.mask] + uint64(k.u.opts.Headroom)
		buf := k.u.mem[addr : addr+uint64(k.u.MaxFrameLen())]
		k.s.rx.entries[(rprod+i)&r.mask] = Desc{Addr: addr, Len: uint32(payload(buf))}
	}
	f.consumer.Store(fcons + n)
	r.producer.Store(rprod + n)
	return int(n)
}

// send moves up to max descriptors from the TX ring to the completion ring, handing each frame
// to sent first, and returns how many.
func (k *fakeKernel) send(max int, sent func(frame []byte)) int {
	tr, c := &k.s.tx.ring, &k.s.comp.ring
	tcons, tprod := tr.consumer.Load(), tr.producer.Load()
	cprod, ccons := c.producer.Load(), c.consumer.Load()
	n := min(uint32(max), tprod-tcons, c.size-(cprod-ccons))
	for i := range n {
		d := k.s.tx.entries[(tcons+i)&tr.mask]
		sent(k.u.mem[d.Addr : d.Addr+uint64(d.Len)])
		// The kernel returns the descriptor's address, not the chunk base.
		k.s.comp.entries[(cprod+i)&c.mask] = d.Addr
	}
	tr.consumer.Store(tcons + n)
	c.producer.Store(cprod + n)
	return int(n)
}

func TestUMEMOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*UMEMOptions)
		ok   bool
	}{
		{"defaults", func(*UMEMOptions) {}, true},
		{"4 KiB chunks", func(o *UMEMOptions) { o.ChunkSize = 4096 }, true},
		{"no chunks", func(o *UMEMOptions) { o.NumChunks = 0 }, false},
		{"chunk not a power of two", func(o *UMEMOptions) { o.ChunkSize = 3000 }, false},
		{"chunk too small", func(o *UMEMOptions) { o.ChunkSize = 1024 }, false},
		{"chunk above page", func(o *UMEMOptions) { o.ChunkSize = 8192 }, false},
		{"headroom below kernel's", func(o *UMEMOptions) { o.Headroom = 128 }, false},
		{"headroom fills chunk", func(o *UMEMOptions) { o.Headroom = 2040 }, false},
		{"headroom so large the sum wraps", func(o *UMEMOptions) { o.Headroom = 0xffffffe0 }, false},
		{"extra headroom", func(o *UMEMOptions) { o.Headroom = 320 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultUMEMOptions()
			tt.mod(&o)
			err := o.validate(4096)
			if (err == nil) != tt.ok {
				t.Fatalf("validate(%+v): got err %v, want ok=%v", o, err, tt.ok)
			}
		})
	}
}

func TestUMEMDefaults(t *testing.T) {
	u := newTestUMEM(t, 4096)
	if got, want := u.MaxFrameLen(), 1792; got != want {
		t.Errorf("MaxFrameLen: got %d, want %d", got, want)
	}
	if got, want := len(u.mem), 8<<20; got != want {
		t.Errorf("memory: got %d bytes, want %d", got, want)
	}
}

func TestUMEMAllocator(t *testing.T) {
	u := newTestUMEM(t, 8)
	addrs := make([]uint64, 10)
	if got := u.AllocBatch(addrs); got != 8 {
		t.Fatalf("AllocBatch of 10 from 8 chunks: got %d", got)
	}
	if _, ok := u.Alloc(); ok {
		t.Fatal("Alloc from an empty UMEM succeeded")
	}
	seen := map[uint64]bool{}
	for _, a := range addrs[:8] {
		if a%2048 != 0 || seen[a] {
			t.Fatalf("address %#x not a unique chunk base", a)
		}
		seen[a] = true
	}
	t.Run("free masks to chunk base", func(t *testing.T) {
		u.Free(addrs[0] + 300) // a frame's data address, as a completion returns it
		a, ok := u.Alloc()
		if !ok || a != addrs[0] {
			t.Fatalf("Alloc after Free(base+300): got %#x %v, want %#x", a, ok, addrs[0])
		}
	})
	t.Run("double free is counted and ignored", func(t *testing.T) {
		u.Free(addrs[1])
		u.Free(addrs[1] + 1)
		if got := u.DoubleFrees(); got != 1 {
			t.Fatalf("DoubleFrees: got %d, want 1", got)
		}
		if got := u.Available(); got != 1 {
			t.Fatalf("Available: got %d, want 1", got)
		}
	})
	t.Run("address outside is counted", func(t *testing.T) {
		u.Free(8 * 2048)
		if got := u.BadFrees(); got != 1 {
			t.Fatalf("BadFrees: got %d, want 1", got)
		}
	})
	t.Run("everything returns", func(t *testing.T) {
		u.FreeBatch(addrs[2:8])
		u.Free(addrs[0])
		if got := u.Available(); got != 8 {
			t.Fatalf("Available: got %d, want 8", got)
		}
	})
}

func setIndices[T any](r *ring[T], v uint32) {
	r.producer.Store(v)
	r.consumer.Store(v)
	r.cachedProd, r.cachedCons = v, v
}

func TestRingIndicesWrap(t *testing.T) {
	u := newTestUMEM(t, 64)
	s := newTestSocket(t, u, 8)
	// Start every index just below 2^32 so the run crosses the wrap.
	const start = ^uint32(0) - 5
	setIndices(&s.fill.ring, start)
	setIndices(&s.comp.ring, start)
	setIndices(&s.rx.ring, start)
	setIndices(&s.tx.ring, start)
	k := &fakeKernel{s: s, u: u}
	descs := make([]Desc, 8)
	var seq, got uint32
	for round := range 20 {
		s.Refill()
		k.deliver(3, func(b []byte) int { seq++; binary.BigEndian.PutUint32(b, seq); return 60 })
		n := s.Receive(descs)
		for _, d := range descs[:n] {
			got++
			if v := binary.BigEndian.Uint32(u.mem[d.Addr:]); v != got {
				t.Fatalf("round %d: frame %d carries %d", round, got, v)
			}
		}
		if m := s.Transmit(descs[:n]); m != n {
			t.Fatalf("round %d: Transmit queued %d of %d into an empty TX ring", round, m, n)
		}
		k.send(8, func([]byte) {})
		s.Complete()
	}
	if got != seq || got < 40 {
		t.Fatalf("received %d frames, kernel delivered %d", got, seq)
	}
	if s.fill.cachedProd-start < 40 {
		t.Fatalf("fill producer moved only %d: wrap not exercised", s.fill.cachedProd-start)
	}
}

func TestRingFullAndEmpty(t *testing.T) {
	u := newTestUMEM(t, 64)
	s := newTestSocket(t, u, 8)
	t.Run("refill stops at the ring size", func(t *testing.T) {
		total := 0
		for range 4 {
			total += s.Refill()
		}
		if total != 8 {
			t.Fatalf("Refill into an 8-entry ring: got %d", total)
		}
		if got := s.fill.Free(); got != 0 {
			t.Fatalf("Free on a full ring: got %d", got)
		}
	})
	t.Run("tx ring full keeps the rest with the caller", func(t *testing.T) {
		descs := make([]Desc, 10)
		for i := range descs {
			a, _ := u.Alloc()
			descs[i] = Desc{Addr: a + 256, Len: 64}
		}
		if got := s.Transmit(descs); got != 8 {
			t.Fatalf("Transmit 10 into 8: got %d", got)
		}
		if got := s.tx.Pending(); got != 8 {
			t.Fatalf("Pending: got %d, want 8", got)
		}
		u.Free(descs[8].Addr)
		u.Free(descs[9].Addr)
	})
	t.Run("invalid tx descriptor stops the batch", func(t *testing.T) {
		s2 := newTestSocket(t, u, 8)
		a, _ := u.Alloc()
		descs := []Desc{{Addr: a + 256, Len: 64}, {Addr: a + 2000, Len: 100}}
		if got := s2.Transmit(descs); got != 1 {
			t.Fatalf("Transmit with a chunk-crossing second descriptor: got %d, want 1", got)
		}
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("empty rx ring", func(t *testing.T) {
		if got := s.Receive(make([]Desc, 4)); got != 0 {
			t.Fatalf("Receive on empty ring: got %d", got)
		}
	})
	t.Run("close returns everything", func(t *testing.T) {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if got := u.Available(); got != 64 {
			t.Fatalf("Available after Close: got %d, want 64", got)
		}
	})
}

func TestRxOutOfRangeDescriptorIsDropped(t *testing.T) {
	u := newTestUMEM(t, 16)
	s := newTestSocket(t, u, 8)
	s.Refill()
	k := &fakeKernel{s: s, u: u}
	k.deliver(2, func([]byte) int { return 60 })
	// Corrupt the second descriptor so it runs past its chunk.
	s.rx.entries[1].Len = 4000
	descs := make([]Desc, 4)
	if got := s.Receive(descs); got != 1 {
		t.Fatalf("Receive: got %d, want 1", got)
	}
	if got := s.rxInvalid.Load(); got != 1 {
		t.Fatalf("rxInvalid: got %d, want 1", got)
	}
	u.Free(descs[0].Addr)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := u.Available(); got != 16 {
		t.Fatalf("Available: got %d, want 16 (no leak)", got)
	}
}

// TestRingsAgainstConcurrentKernel runs the full receive → transmit → completion cycle with the
// fake kernel on its own goroutine, checks every frame arrives in order and intact, and that the
// frame accounting balances afterwards.
func TestRingsAgainstConcurrentKernel(t *testing.T) {
	const frames = 5000
	u := newTestUMEM(t, 256)
	s := newTestSocket(t, u, 64)
	k := &fakeKernel{s: s, u: u}
	var done atomic.Bool
	var wg sync.WaitGroup
	var kerr atomic.Value
	wg.Add(1)
	go func() { // the kernel
		defer wg.Done()
		var delivered, sent uint64
		for sent < frames {
			if delivered < frames {
				k.deliver(int(min(16, frames-delivered)), func(b []byte) int {
					binary.BigEndian.PutUint64(b, delivered)
					n := 60 + int(delivered%1700)
					for i := 8; i < n; i++ {
						b[i] = byte(delivered) ^ byte(i)
					}
					delivered++
					return n
				})
			}
			if k.send(16, func(f []byte) {
				v := binary.BigEndian.Uint64(f)
				if v != sent || len(f) != 60+int(v%1700) {
					kerr.CompareAndSwap(nil, "frame out of order or wrong length")
				}
				for i := 8; i < len(f); i++ {
					if f[i] != byte(v)^byte(i) {
						kerr.CompareAndSwap(nil, "frame content corrupted")
						break
					}
				}
				sent++
			}) == 0 {
				runtime.Gosched() // nothing to do: let the user side run (2 shared cores)
			}
		}
		done.Store(true)
	}()
	descs := make([]Desc, 32)
	var pending []Desc // received, not yet queued: a full TX ring delays frames, never drops them
	for !done.Load() {
		if len(pending) == 0 {
			s.Refill()
			pending = descs[:s.Receive(descs)]
		}
		pending = pending[s.Transmit(pending):]
		if s.Complete() == 0 {
			runtime.Gosched()
		}
	}
	wg.Wait()
	if e := kerr.Load(); e != nil {
		t.Fatal(e)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := u.Available(); got != 256 {
		t.Fatalf("Available after Close: got %d, want 256", got)
	}
	if d := u.DoubleFrees() + u.BadFrees(); d != 0 {
		t.Fatalf("double or bad frees: %d", d)
	}
}

func TestDescLayout(t *testing.T) {
	if got := unsafe.Sizeof(Desc{}); got != 16 {
		t.Fatalf("Desc size: got %d, want 16 (struct xdp_desc)", got)
	}
}
