package openflow

import (
	"fmt"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/internal/testutil"
)

// BenchmarkPrivilegedOVSBundle measures how fast ovs-vswitchd (dummy datapath) takes an atomic
// bundle of n flow mods sent with this codec: open, n adds, commit, then a delete of all.
// Run with -benchtime 1x; it needs the OVS daemons (SLUICE_PRIVILEGED_TESTS=1).
func BenchmarkPrivilegedOVSBundle(b *testing.B) {
	testutil.RequirePrivileged(b)
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("flows=%d", n), func(b *testing.B) {
			o := startOVS(b)
			k := dialController(b, o.mgmt())
			msgs := make([]Message, 0, n+2)
			msgs = append(msgs, &BundleControl{BundleID: 1, CtlType: BundleOpenRequest, Flags: BundleAtomic})
			for i := range n {
				fm := NewFlowMod(FlowAdd)
				fm.TableID, fm.Priority = 10, 100
				fm.Match.Set(flow.FieldEthType, 0x0800, 0xffff)
				fm.Match.Set(flow.FieldNwDst, 0x0a000000|uint64(i), 0xffffffff)
				fm.Instructions = []Instruction{&ApplyActions{Actions: []Action{&Output{Port: 1}}}}
				msgs = append(msgs, &BundleAdd{BundleID: 1, Flags: BundleAtomic, Message: fm})
			}
			msgs = append(msgs, &BundleControl{BundleID: 1, CtlType: BundleCommitRequest, Flags: BundleAtomic})
			del := NewFlowMod(FlowDelete)
			del.TableID = TableAll
			b.ReportAllocs()
			for b.Loop() {
				k.noErrors(k.transact(msgs...))
				b.StopTimer()
				k.noErrors(k.transact(del))
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "flows/s")
		})
	}
}
