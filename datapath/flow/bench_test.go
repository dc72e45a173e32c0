package flow

import "testing"

func antreaLines(b *testing.B) []string {
	b.Helper()
	lines := readLines(b, fixtureDir+"/antrea.txt")
	if len(lines) == 0 {
		b.Fatal("no antrea fixture")
	}
	return lines
}

// BenchmarkParseFlow parses the Antrea-style pipeline's flows (the agent's and the switch's
// cost per flow of the text form).
func BenchmarkParseFlow(b *testing.B) {
	lines := antreaLines(b)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, l := range lines {
			if _, err := ParseFlow(l); err != nil {
				b.Fatal(err)
			}
		}
		n += len(lines)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "flows/s")
}

// BenchmarkFlowString prints the same flows (dump-flows cost per flow).
func BenchmarkFlowString(b *testing.B) {
	var flows []*Flow
	for _, l := range antreaLines(b) {
		f, err := ParseFlow(l)
		if err != nil {
			b.Fatal(err)
		}
		flows = append(flows, f)
	}
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
