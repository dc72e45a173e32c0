package ipam

import (
	"fmt"
	"testing"
)

// BenchmarkAllocateRelease measures one durable Allocate plus Release (dual-stack) with other
// allocations held in the directory; with two allocators taking turns (two processes sharing the
// directory) every operation re-reads the directory.
func BenchmarkAllocateRelease(b *testing.B) {
	for _, tc := range []struct {
		held       int
		allocators int
	}{{0, 1}, {100, 1}, {100, 2}} {
		b.Run(fmt.Sprintf("held=%d/allocators=%d", tc.held, tc.allocators), func(b *testing.B) {
			dir := b.TempDir()
			var als []*Allocator
			for range tc.allocators {
				als = append(als, open(b, dir, "10.40.0.0/16", "fd40::/64"))
			}
			for i := range tc.held {
				if _, err := als[0].Allocate(key(fmt.Sprintf("held-%d", i)), pod("p")); err != nil {
					b.Fatal(err)
				}
			}
			k := key("bench")
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				al := als[n%len(als)]
				n++
				if _, err := al.Allocate(k, pod("bench")); err != nil {
					b.Fatal(err)
				}
				if err := al.Release(k); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
