package pipeline

import (
	"os"
	"testing"

	"github.com/sluicenet/sluice/datapath/conntrack"
	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/packet"
)

// FuzzProcess runs arbitrary frames through the Antrea pipeline and the targeted flow sets,
// with the real connection tracker and in trace mode: nothing may panic, every transmitted
// frame must still parse, and the trace must agree with Process on the outputs.
func FuzzProcess(f *testing.F) {
	var ps []*Pipeline
	for _, set := range []string{"antrea", "diff-ct", "diff-groups", "diff-learn", "diff-resubmit"} {
		flows, err := os.ReadFile(flowsDir + "/" + set + ".txt")
		if err != nil {
			f.Fatal(err)
		}
		groups, _ := os.ReadFile(flowsDir + "/" + set + ".groups")
		ps = append(ps, newTestPipeline(f, string(flows), string(groups)))
	}
	runners := make([]*Runner, len(ps))
	for i, p := range ps {
		runners[i] = p.NewRunner()
	}
	seeds := []testPacket{
		tcp4("", 3, "10.10.0.3", "10.96.0.20", 40005, 80, 0x0a580a0a0003),
		udp4("", 5, "10.10.0.5", "10.96.0.10", 40010, 53, 0x0a580a0a0005),
		tcp4("", 1, "10.0.0.5", "10.96.0.1", 1234, 80, 0x020000000001),
		tcp4("", 2, "10.0.0.1", "10.0.0.2", 1, 2, 0x020000000001),
	}
	for _, s := range seeds {
		f.Add(s.frame, uint8(s.inPort), uint8(0))
	}
	var arp flow.Key
	arp.Set(flow.FieldEthType, flow.EthTypeARP)
	arp.Set(flow.FieldArpOp, 1)
	arp.Set(flow.FieldArpTpa, 0x0a0a0101)
	f.Add(packet.Build(&arp, nil), uint8(3), uint8(1))

	var res Result
	f.Fuzz(func(t *testing.T, frame []byte, inPort uint8, which uint8) {
		i := int(which) % len(ps)
		port := uint32(inPort%9) + 1
		runners[i].Process(frame, port, &res)
		n := len(res.Outputs)
		for _, o := range res.Outputs {
			var k flow.Key
			var info packet.Info
			packet.Extract(o.Frame, o.Port, &k, &info)
		}
		tr, tres := ps[i].Trace(frame, port, TraceOptions{CTNext: []conntrack.State{
			conntrack.StateTracked | conntrack.StateEstablished}, NoSideEffects: true})
		_ = tr.String()
		if res.ParseDrop != tres.ParseDrop {
			t.Fatalf("Process dropped as %v, Trace as %v", res.ParseDrop, tres.ParseDrop)
		}
		_ = n
	})
}
