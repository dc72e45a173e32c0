package forward

import (
	"strconv"
	"testing"

	"github.com/sluicenet/sluice/datapath/port"
)

// BenchmarkForwardStep forwards one batch per op through a route's step on in-memory ports
// sharing a UMEM: the loop's own cost per frame, without scheduling. pkts/s counts frames.
func BenchmarkForwardStep(b *testing.B) {
	for _, batch := range []int{1, 32, 64} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			r := newRig(b, rigOptions{})
			w := r.loop.workers[0]
			data := frame(64, 1)
			out := make([]port.Frame, batch)
			b.ReportAllocs()
			b.SetBytes(int64(len(data) * batch))
			frames := 0
			for b.Loop() {
				for range batch {
					r.wireA.Send(data)
				}
				n, _ := w.step()
				m, _ := r.wireB.Receive(out)
				for i := range out[:m] {
					out[i].Free()
				}
				frames += n
			}
			b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

// BenchmarkForwardLoop runs the loop on its own goroutine while the benchmark feeds wireA and
// drains wireB: end-to-end throughput through the adaptive poller. One op is one frame.
func BenchmarkForwardLoop(b *testing.B) {
	r := newRig(b, rigOptions{queueLen: 1024})
	stop := r.start(b)
	data := frame(64, 1)
	out := make([]port.Frame, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	drain := func() int {
		m, _ := r.wireB.Receive(out)
		for i := range out[:m] {
			out[i].Free()
		}
		return m
	}
	sent, got := 0, 0
	for b.Loop() {
		for !r.wireA.Send(data) {
			got += drain()
		}
		if sent++; sent%32 == 0 {
			got += drain()
		}
	}
	b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "pkts/s")
	stop()
	b.ReportMetric(float64(r.portB.Stats().Drops[port.DropTXRingFull])/float64(sent), "drops/op")
}
