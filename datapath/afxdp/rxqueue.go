package afxdp

// RXQueue is the ring in which the kernel hands us received frames.
//
// The kernel writes the producer index and the entries; we write the consumer index. It belongs
// to the socket's receive side: one goroutine at a time.
type RXQueue struct{ ring[Desc] }

// Consume copies up to len(descs) received descriptors into descs, releases their ring slots
// to the kernel, and returns how many it copied. The caller owns those frames.
func (q *RXQueue) Consume(descs []Desc) int { return q.consume(descs) }
