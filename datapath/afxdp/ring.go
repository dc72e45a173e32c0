package afxdp

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Desc is an RX or TX ring descriptor: the UMEM address of a frame's first byte and its length.
// Its layout is the kernel's struct xdp_desc.
type Desc struct {
	Addr    uint64
	Len     uint32
	Options uint32
}

// ring is one single-producer/single-consumer ring shared with the kernel, with entries of type
// T (chunk addresses on the fill and completion rings, descriptors on RX and TX). producer,
// consumer and flags point into the shared memory; which side writes which index depends on the
// ring and is stated on each ring type. The cached fields and the methods' side belong to us.
type ring[T any] struct {
	producer *atomic.Uint32
	consumer *atomic.Uint32
	flags    *atomic.Uint32
	entries  []T
	size     uint32 // number of entries, a power of two
	mask     uint32 // size - 1

	// cachedProd and cachedCons are our copies of the two indices. On a ring we produce into,
	// cachedProd is authoritative (ours) and cachedCons is refreshed from the kernel; on a ring we
	// consume from, it is the other way round.
	cachedProd uint32
	cachedCons uint32
}

// ringMem is the shared memory of one ring as the kernel lays it out: indices and flags at the
// offsets XDP_MMAP_OFFSETS reports, and the entry array at desc.
type ringMem struct {
	mem                      []byte
	producer, consumer, desc uint64
	flags                    uint64
}

// newRing lays a ring of size entries over m, starting from the indices found there (zero on a
// fresh socket).
func newRing[T any](m ringMem, size uint32) (ring[T], error) {
	if size == 0 || size&(size-1) != 0 {
		return ring[T]{}, fmt.Errorf("ring size %d is not a power of two", size)
	}
	for _, off := range []uint64{m.producer, m.consumer, m.flags} {
		if off+4 > uint64(len(m.mem)) || off%4 != 0 {
			return ring[T]{}, fmt.Errorf("ring index offset %d outside %d-byte mapping", off, len(m.mem))
		}
	}
	var zero T
	if m.desc+uint64(size)*uint64(unsafe.Sizeof(zero)) > uint64(len(m.mem)) || m.desc%8 != 0 {
		return ring[T]{}, fmt.Errorf("ring entries at %d do not fit a %d-byte mapping", m.desc, len(m.mem))
	}
	r := ring[T]{
		producer: (*atomic.Uint32)(unsafe.Pointer(&m.mem[m.producer])),
		consumer: (*atomic.Uint32)(unsafe.Pointer(&m.mem[m.consumer])),
		flags:    (*atomic.Uint32)(unsafe.Pointer(&m.mem[m.flags])),
		entries:  unsafe.Slice((*T)(unsafe.Pointer(&m.mem[m.desc])), size),
		size:     size,
		mask:     size - 1,
	}
	r.cachedProd, r.cachedCons = r.producer.Load(), r.consumer.Load()
	return r, nil
}

// prodFree returns how many entries we may produce, refreshing cachedCons from the kernel only
// when the cached view has fewer than want free.
func (r *ring[T]) prodFree(want uint32) uint32 {
	free := r.size - (r.cachedProd - r.cachedCons)
	if free >= want {
		return free
	}
	r.cachedCons = r.consumer.Load() // written by the kernel
	return r.size - (r.cachedProd - r.cachedCons)
}

// produce writes as many of items as fit and publishes them with one store of the producer
// index; the atomic store orders the entry writes before it, which is what the kernel's acquire
// load of the producer expects. It returns how many it wrote.
func (r *ring[T]) produce(items []T) int {
	n := min(uint32(len(items)), r.prodFree(uint32(len(items))))
	for i := range n {
		r.entries[(r.cachedProd+i)&r.mask] = items[i]
	}
	if n > 0 {
		r.cachedProd += n
		r.producer.Store(r.cachedProd)
	}
	return int(n)
}

// consume copies up to len(dst) entries out, then hands their slots back to the kernel with one
// store of the consumer index, and returns how many it copied. cachedProd is refreshed from the
// kernel only when the cached view is empty.
func (r *ring[T]) consume(dst []T) int {
	avail := r.cachedProd - r.cachedCons
	if avail == 0 {
		r.cachedProd = r.producer.Load() // written by the kernel
		avail = r.cachedProd - r.cachedCons
	}
	n := min(uint32(len(dst)), avail)
	for i := range n {
		dst[i] = r.entries[(r.cachedCons+i)&r.mask]
	}
	if n > 0 {
		r.cachedCons += n
		r.consumer.Store(r.cachedCons)
	}
	return int(n)
}

// needWakeup reports whether the kernel set XDP_RING_NEED_WAKEUP on this ring.
func (r *ring[T]) needWakeup() bool { return r.flags.Load()&ringNeedWakeup != 0 }

// ringNeedWakeup is XDP_RING_NEED_WAKEUP (include/uapi/linux/if_xdp.h).
const ringNeedWakeup = 1
