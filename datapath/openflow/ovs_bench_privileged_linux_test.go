package openflow

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/flow/flowtest"
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
			k := dialController(b, o.MgmtPath("br0"))
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
			rssBefore := vswitchdRSS(b, o)
			var grown int64
			for b.Loop() {
				k.noErrors(k.transact(msgs...))
				b.StopTimer()
				grown = max(grown, vswitchdRSS(b, o)-rssBefore)
				k.noErrors(k.transact(del))
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "flows/s")
			b.ReportMetric(float64(grown)/float64(n), "vswitchd-RSS-B/flow")
		})
	}
}

// vswitchdRSS returns ovs-vswitchd's resident set size in bytes.
func vswitchdRSS(b *testing.B, o *flowtest.OVS) int64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", o.VswitchdPID()))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
