package afxdp

import (
	"strconv"
	"testing"
)

// BenchmarkRingCycle moves batches of frames through all four rings against the in-memory
// kernel on one goroutine: refill, deliver, receive, transmit, send, complete. One op is one
// batch; pkts/s counts frames.
func BenchmarkRingCycle(b *testing.B) {
	for _, batch := range []int{1, 16, 64} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			u := newTestUMEM(b, 4096)
			s := newTestSocket(b, u, 1024)
			s.fillBatch = make([]uint64, 64)
			s.compBatch = make([]uint64, 64)
			k := &fakeKernel{s: s, u: u}
			descs := make([]Desc, batch)
			payload := func(buf []byte) int { return 64 }
			sent := func([]byte) {}
			b.ReportAllocs()
			b.SetBytes(int64(64 * batch))
			frames := 0
			for b.Loop() {
				s.Refill()
				k.deliver(batch, payload)
				n := s.Receive(descs)
				s.Transmit(descs[:n])
				k.send(batch, sent)
				s.Complete()
				frames += n
			}
			b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

// BenchmarkUMEMAllocFree measures the allocator in batches of 64, the way sockets use it.
func BenchmarkUMEMAllocFree(b *testing.B) {
	u := newTestUMEM(b, 4096)
	addrs := make([]uint64, 64)
	b.ReportAllocs()
	for b.Loop() {
		n := u.AllocBatch(addrs)
		u.FreeBatch(addrs[:n])
	}
	b.ReportMetric(64*float64(b.N)/b.Elapsed().Seconds(), "chunks/s")
}
