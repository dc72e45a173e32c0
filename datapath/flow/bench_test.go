package flow_test

import (
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/flow/flowtest"
)

// BenchmarkParseFlow parses the Antrea-style pipeline's flows (the cost per flow of the text
// form for the agent and the switch).
func BenchmarkParseFlow(b *testing.B) {
	var lines []string
	for _, f := range flowtest.LoadSet(b, "antrea").Flows {
		lines = append(lines, f.String())
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, l := range lines {
			if _, err := flow.ParseFlow(l); err != nil {
				b.Fatal(err)
			}
		}
		n += len(lines)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "flows/s")
}

// BenchmarkFlowString prints the same flows (dump-flows cost per flow).
func BenchmarkFlowString(b *testing.B) {
	flows := flowtest.LoadSet(b, "antrea").Flows
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, f := range flows {
			_ = f.String()
		}
		n += len(flows)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "flows/s")
}
