package ofswitch_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/ofswitch"
	"github.com/sluicenet/sluice/datapath/openflow"
	"github.com/sluicenet/sluice/internal/ovstest"
	"github.com/sluicenet/sluice/internal/testutil"
)

// bundleBytes encodes open, n flow adds and commit of bundle 1 (two flow shapes, so two
// subtables: ip,nw_dst=X and tcp,nw_dst=X,tp_dst=Y).
func bundleBytes(tb testing.TB, n int) (raw []byte, commitXID uint32) {
	tb.Helper()
	var b []byte
	var err error
	xid := uint32(1)
	b, err = openflow.Append(b, xid, &openflow.BundleControl{BundleID: 1, CtlType: openflow.BundleOpenRequest, Flags: openflow.BundleAtomic})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		s := "table=0,priority=10,ip,actions=output:1"
		if i%2 == 1 {
			s = "table=0,priority=20,tcp,tp_dst=80,actions=output:2"
		}
		f := mustFlow(tb, s)
		f.Match.Set(flow.FieldNwDst, uint64(0x0a000000+i), 0xffffffff)
		fm, err := openflow.FlowModFor(f, openflow.FlowAdd)
		if err != nil {
			tb.Fatal(err)
		}
		xid++
		if b, err = openflow.Append(b, xid, &openflow.BundleAdd{BundleID: 1, Flags: openflow.BundleAtomic, XID: xid, Message: fm}); err != nil {
			tb.Fatal(err)
		}
	}
	xid++
	b, err = openflow.Append(b, xid, &openflow.BundleControl{BundleID: 1, CtlType: openflow.BundleCommitRequest, Flags: openflow.BundleAtomic})
	if err != nil {
		tb.Fatal(err)
	}
	return b, xid
}

// benchConn dials an OpenFlow switch socket and does the handshake.
func benchConn(tb testing.TB, path string) (*openflow.Conn, net.Conn) {
	tb.Helper()
	nc, err := net.Dial("unix", path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { nc.Close() })
	c := openflow.NewConn(nc)
	if err := c.Handshake(); err != nil {
		tb.Fatal(err)
	}
	return c, nc
}

// waitXID reads until the reply to xid, failing on an error reply.
func waitXID(tb testing.TB, c *openflow.Conn, xid uint32) {
	tb.Helper()
	for {
		h, m, _, err := c.Read()
		if err != nil {
			tb.Fatalf("read: %v", err)
		}
		if e, ok := m.(*openflow.Error); ok {
			tb.Fatalf("switch answered %s to xid %d", e.Name(), h.XID)
		}
		if h.XID == xid {
			return
		}
	}
}

// deleteAll removes every flow and waits for it.
func deleteAll(tb testing.TB, c *openflow.Conn) {
	tb.Helper()
	del := openflow.NewFlowMod(openflow.FlowDelete)
	del.TableID = openflow.TableAll
	if _, err := c.Send(del); err != nil {
		tb.Fatal(err)
	}
	xid, err := c.Send(&openflow.BarrierRequest{})
	if err != nil {
		tb.Fatal(err)
	}
	waitXID(tb, c, xid)
}

// benchBundle measures committing a bundle of n flow adds (from BUNDLE_OPEN to COMMIT_REPLY),
// and the memory the switch holds for them (mem returns the switch's current use in bytes).
func benchBundle(b *testing.B, path string, n int, mem func() uint64) {
	raw, commit := bundleBytes(b, n)
	c, nc := benchConn(b, path)
	deleteAll(b, c)
	before := mem()
	var total time.Duration
	first := true
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if _, err := nc.Write(raw); err != nil {
			b.Fatal(err)
		}
		waitXID(b, c, commit)
		total += time.Since(start)
		b.StopTimer()
		if first {
			after := mem()
			if after > before {
				b.ReportMetric(float64(after-before)*100000/float64(n)/(1<<20), "MiB/100k-flows")
			}
			first = false
		}
		deleteAll(b, c)
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "flows/s")
}

// BenchmarkBundleAddFlows commits bundles of 10k and 100k flow adds into the Sluice switch
// and, when privileged tests are enabled, into a private ovs-vswitchd, over the same client.
// Run with -benchtime=3x: one 100k iteration takes seconds.
func BenchmarkBundleAddFlows(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("sluice/%dk", n/1000), func(b *testing.B) {
			dir, err := os.MkdirTemp("", "sluice-ofb-")
			if err != nil {
				b.Fatal(err)
			}
			defer os.RemoveAll(dir)
			sw := startSwitch(b, ofswitch.Options{Path: filepath.Join(dir, "br0.mgmt")})
			benchBundle(b, sw.Path(), n, heapInUse)
		})
		b.Run(fmt.Sprintf("ovs/%dk", n/1000), func(b *testing.B) {
			testutil.RequirePrivileged(b)
			opts := ovstest.DefaultOptions()
			opts.CommandTimeout = 120 * time.Second
			ovs := ovstest.Start(b, opts)
			pid, _ := ovs.PIDs()
			benchBundle(b, filepath.Join(ovs.Dir, "br0.mgmt"), n, func() uint64 { return rss(b, pid) })
		})
	}
}

// heapInUse is this process's live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// rss is a process's resident set size.
func rss(tb testing.TB, pid int) uint64 {
	fh, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Fatal(errors.New("no VmRSS"))
	return 0
}
