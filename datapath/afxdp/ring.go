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

// ring holds the index bookkeeping every AF_XDP ring shares. producer and consumer point into
// memory shared with the kernel; which side writes which index depends on the ring and is stated
// on each ring type. The cached fields belong to us alone.
type ring struct {
	producer *atomic.Uint32
	consumer *atomic.Uint32
	flags    *atomic.Uint32
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

func (m ringMem) ring(size uint32) (ring, error) {
	if size == 0 || size&(size-1) != 0 {
		return ring{}, fmt.Errorf("ring size %d is not a power of two", size)
	}
	for _, off := range []uint64{m.producer, m.consumer, m.flags} {
		if off+4 > uint64(len(m.mem)) || off%4 != 0 {
			return ring{}, fmt.Errorf("ring index offset %d outside %d-byte mapping", off, len(m.mem))
		}
	}
	return ring{
		producer: (*atomic.Uint32)(unsafe.Pointer(&m.mem[m.producer])),
		consumer: (*atomic.Uint32)(unsafe.Pointer(&m.mem[m.consumer])),
		flags:    (*atomic.Uint32)(unsafe.Pointer(&m.mem[m.flags])),
		size:     size,
		mask:     size - 1,
	}, nil
}

// addrs returns the ring's entry array as UMEM addresses (fill and completion rings).
func (m ringMem) addrs(size uint32) ([]uint64, error) {
	if m.desc+uint64(size)*8 > uint64(len(m.mem)) || m.desc%8 != 0 {
		return nil, fmt.Errorf("ring entries at %d do not fit a %d-byte mapping", m.desc, len(m.mem))
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(&m.mem[m.desc])), size), nil
}

// descs returns the ring's entry array as descriptors (RX and TX rings).
func (m ringMem) descs(size uint32) ([]Desc, error) {
	if m.desc+uint64(size)*uint64(unsafe.Sizeof(Desc{})) > uint64(len(m.mem)) || m.desc%8 != 0 {
		return nil, fmt.Errorf("ring entries at %d do not fit a %d-byte mapping", m.desc, len(m.mem))
	}
	return unsafe.Slice((*Desc)(unsafe.Pointer(&m.mem[m.desc])), size), nil
}

// prodFree returns how many entries we may produce, refreshing cachedCons from the kernel only
// when the cached view has fewer than want free.
func (r *ring) prodFree(want uint32) uint32 {
	free := r.size - (r.cachedProd - r.cachedCons)
	if free >= want {
		return free
	}
	r.cachedCons = r.consumer.Load() // written by the kernel
	return r.size - (r.cachedProd - r.cachedCons)
}

// prodSubmit publishes everything produced so far. The atomic store orders the entry writes
// before the index, which is what the kernel's acquire load of the producer expects.
func (r *ring) prodSubmit() { r.producer.Store(r.cachedProd) }

// consAvail returns how many entries we may consume, refreshing cachedProd from the kernel only
// when the cached view is empty.
func (r *ring) consAvail() uint32 {
	avail := r.cachedProd - r.cachedCons
	if avail == 0 {
		r.cachedProd = r.producer.Load() // written by the kernel
		avail = r.cachedProd - r.cachedCons
	}
	return avail
}

// consRelease hands consumed entries back to the kernel after we copied them out.
func (r *ring) consRelease() { r.consumer.Store(r.cachedCons) }

// needWakeup reports whether the kernel set XDP_RING_NEED_WAKEUP on this ring.
func (r *ring) needWakeup() bool { return r.flags.Load()&ringNeedWakeup != 0 }

// ringNeedWakeup is XDP_RING_NEED_WAKEUP (include/uapi/linux/if_xdp.h).
const ringNeedWakeup = 1
