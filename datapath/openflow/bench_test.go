package openflow

import (
	"testing"
)

func benchFlowMod(b *testing.B) (*FlowMod, []byte) {
	b.Helper()
	m := goldenOfTB(b, "flow_add_ct_commit_nat")
	raw, err := Marshal(1, m)
	if err != nil {
		b.Fatal(err)
	}
	return m.(*FlowMod), raw
}

func goldenOfTB(tb testing.TB, file string) Message {
	for _, g := range readGolden(tb) {
		if g.file == "ovs-ofctl/"+file+".txt" && g.raw[1] == byte(TypeFlowMod) {
			_, m, err := Unmarshal(g.raw)
			if err != nil {
				tb.Fatal(err)
			}
			return m
		}
	}
	tb.Fatalf("no flow mod in %s", file)
	return nil
}

// BenchmarkEncodeFlowMod measures encoding a ct(commit,nat,exec) flow mod into a reused buffer,
// as a controller pushing a bundle does.
func BenchmarkEncodeFlowMod(b *testing.B) {
	m, raw := benchFlowMod(b)
	buf := make([]byte, 0, 4096)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = Append(buf[:0], 1, m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkDecodeFlowMod measures decoding the same message, as a switch receiving it does.
func BenchmarkDecodeFlowMod(b *testing.B) {
	_, raw := benchFlowMod(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Unmarshal(raw); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
