package afxdp

// CompletionQueue is the ring in which the kernel returns the chunks of frames it has sent.
//
// The kernel writes the producer index and the entries; we write the consumer index. It belongs
// to the socket's transmit side: one goroutine at a time.
type CompletionQueue struct{ ring[uint64] }

// Consume copies up to len(addrs) completed addresses into addrs, releases their ring slots,
// and returns how many it copied. An address is the one given in the TX descriptor, which may
// point past the chunk base; UMEM.Free masks it back. The caller owns those chunks.
func (q *CompletionQueue) Consume(addrs []uint64) int { return q.consume(addrs) }
