package ipam

import (
	"fmt"
	"testing"
)

// BenchmarkAllocateRelease measures one durable Allocate plus Release (dual-stack) with held
// other allocations in the directory, which every operation re-reads.
func BenchmarkAllocateRelease(b *testing.B) {
	for _, held := range []int{0, 100} {
		b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
			al := open(b, b.TempDir(), "10.40.0.0/16", "fd40::/64")
			for i := range held {
				if _, err := al.Allocate(key(fmt.Sprintf("held-%d", i)), pod("p")); err != nil {
					b.Fatal(err)
				}
			}
			k := key("bench")
			b.ReportAllocs()
			for b.Loop() {
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
