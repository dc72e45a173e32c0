package afxdp

// TXQueue is the ring through which we give the kernel frames to send.
//
// We write the producer index and the entries; the kernel writes the consumer index and the
// flags. It belongs to the socket's transmit side: one goroutine at a time.
type TXQueue struct{ ring[Desc] }

// Produce queues descs for sending and returns how many fit; the kernel owns those frames from
// now on, the rest stay with the caller. In copy mode nothing is sent until a Kick.
func (q *TXQueue) Produce(descs []Desc) int { return q.produce(descs) }

// Pending returns how many produced descriptors the kernel has not consumed yet.
func (q *TXQueue) Pending() int {
	q.cachedCons = q.consumer.Load() // written by the kernel
	return int(q.cachedProd - q.cachedCons)
}

// NeedWakeup reports whether the kernel asked for a sendto(2) before it sends more; only
// meaningful when bound with XDP_USE_NEED_WAKEUP.
func (q *TXQueue) NeedWakeup() bool { return q.needWakeup() }
