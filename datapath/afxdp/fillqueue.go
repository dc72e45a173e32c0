package afxdp

// FillQueue is the ring through which we give the kernel empty chunks to receive into.
//
// We write the producer index and the entries; the kernel writes the consumer index and the
// flags. It belongs to the socket's receive side: one goroutine at a time.
type FillQueue struct{ ring[uint64] }

// Produce queues the chunk addresses in addrs for the kernel to fill and returns how many fit;
// the kernel owns those chunks from now on, the rest stay with the caller.
func (q *FillQueue) Produce(addrs []uint64) int { return q.produce(addrs) }

// Free returns how many entries could be produced now.
func (q *FillQueue) Free() int { return int(q.prodFree(q.size)) }

// NeedWakeup reports whether the kernel asked for a syscall (poll or recvfrom) before it
// consumes more fill entries; only meaningful when bound with XDP_USE_NEED_WAKEUP.
func (q *FillQueue) NeedWakeup() bool { return q.needWakeup() }
