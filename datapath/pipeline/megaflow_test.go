package pipeline

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/datapath/conntrack"
	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/packet"
)

// TestMegaflowAgreesWithTranslation checks the caches' wildcard tracking: every flow set gets
// a stream of packets drawn from a small pool with the fields flows rarely look at (source
// port, tcp_flags, TTL, ToS) varied, so many packets share megaflows. One pipeline answers from
// its caches, an identical one translates every packet afresh; their results must be equal.
func TestMegaflowAgreesWithTranslation(t *testing.T) {
	sets, _ := filepath.Glob(filepath.Join(flowsDir, "*.txt"))
	for _, path := range sets {
		name := strings.TrimSuffix(filepath.Base(path), ".txt")
		t.Run(name, func(t *testing.T) {
			flowsText, _ := os.ReadFile(path)
			groupsText, _ := os.ReadFile(strings.TrimSuffix(path, ".txt") + ".groups")
			metersText, _ := os.ReadFile(strings.TrimSuffix(path, ".txt") + ".meters")
			mk := func() *Pipeline {
				return newSetPipeline(t, string(flowsText), string(groupsText), string(metersText), func(o *Options) {
					o.Conntrack = conntrack.New(conntrack.Options{Seed: 7, MaxConns: 1 << 16})
				})
			}
			cached, fresh := mk(), mk()
			rc, rf := cached.NewRunner(), fresh.NewRunner()
			rf.noCache = true
			flows, err := flow.ParseFlows(bytes.NewReader(flowsText))
			if err != nil {
				t.Fatal(err)
			}
			h := fnv.New64a()
			h.Write([]byte(name))
			r := rand.New(rand.NewPCG(1, h.Sum64()))
			hv := harvest(flows)
			pool := make([]testPacket, 40)
			for i := range pool {
				pool[i] = randomPacket(r, hv, 8, i)
			}
			var a, b Result
			for i := range 2000 {
				pk := pool[r.IntN(len(pool))]
				k := pk.key
				if k.Get(flow.FieldEthType) == flow.EthTypeIPv4 {
					if r.IntN(2) == 0 {
						k.Set(flow.FieldTpSrc, uint64(1024+r.IntN(64)))
					}
					if k.Get(flow.FieldNwProto) == flow.IPProtoTCP {
						k.Set(flow.FieldTCPFlags, []uint64{0x002, 0x010, 0x012, 0x011, 0x018}[r.IntN(5)])
					}
					if r.IntN(4) == 0 {
						k.Set(flow.FieldNwTTL, uint64(r.IntN(4)))
					}
					if r.IntN(4) == 0 {
						k.Set(flow.FieldNwDst, k.Get(flow.FieldNwDst)&^0xff|uint64(r.IntN(4)))
					}
					if r.IntN(4) == 0 {
						k.Set(flow.FieldNwSrc, k.Get(flow.FieldNwSrc)&^0xff|uint64(r.IntN(4)))
					}
					if r.IntN(6) == 0 {
						k.Set(flow.FieldTpDst, pick(r, hv, flow.FieldTpDst, 16, 0.9))
					}
				}
				if r.IntN(6) == 0 {
					k.Set(flow.FieldEthSrc, k.Get(flow.FieldEthSrc)&^0xff|uint64(r.IntN(3)))
				}
				frame := packet.Build(&k, nil)
				rc.Process(frame, pk.inPort, &a)
				rf.Process(frame, pk.inPort, &b)
				if got, want := resultString(&a), resultString(&b); got != want {
					tr, _ := fresh.Trace(frame, pk.inPort, TraceOptions{NoSideEffects: true})
					t.Fatalf("packet %d: cached and fresh translations differ\n cached: %s\n  fresh: %s\n%s", i, got, want, tr)
				}
			}
			hits, misses, n := rc.MegaflowStats()
			t.Logf("exact-match %+v; megaflow hits %d, misses %d, %d masks", rc.CacheStats(), hits, misses, n)
		})
	}
}

func resultString(res *Result) string {
	var sb strings.Builder
	for _, o := range res.Outputs {
		fmt.Fprintf(&sb, "out:%d:%x:%d ", o.Port, o.Frame, o.PktMark)
	}
	for _, pi := range res.PacketIns {
		fmt.Fprintf(&sb, "pin:%d:%x ", pi.Reason, pi.Frame)
	}
	fmt.Fprintf(&sb, "drop:%v/%v", res.Drop, res.ParseDrop)
	return sb.String()
}
