package bridge

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/bpf"
	"github.com/sluicenet/sluice/datapath/afxdp"
	"github.com/sluicenet/sluice/datapath/ofswitch"
	"github.com/sluicenet/sluice/datapath/packet"
	"github.com/sluicenet/sluice/datapath/pipeline"
	"github.com/sluicenet/sluice/datapath/port"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden")

// sampleMetrics has a value in every kind of series, and one port whose socket statistics
// could not be read.
func sampleMetrics() Metrics {
	return Metrics{
		Drops:    [NumDropReasons]uint64{DropNoPort: 3, DropTooLong: 1},
		Steering: bpf.Counters{Redirected: 100, PassedKernelOwned: 7, PassedMalformed: 1},
		Bridges: []BridgeMetrics{{
			Name: "br0", Flows: 4,
			PipelineDrops: [pipeline.NumDropReasons]uint64{pipeline.DropRecursion: 2},
			ParseDrops:    [packet.NumDropReasons]uint64{packet.DropIPv4Truncated: 5},
			Switch:        ofswitch.Counters{PacketInsSent: 9, PacketInsRateLimited: 1},
		}},
		Ports: []PortMetrics{
			{Bridge: "br0", Interface: "veth1", OFPort: 1,
				Stats: port.Stats{RXFrames: 10, RXBytes: 1000, TXFrames: 20, TXBytes: 2000, Drops: [port.NumDropReasons]uint64{port.DropTXRingFull: 6}},
				XSK:   afxdp.Statistics{RXRingFull: 2, RXFillRingEmpty: 8}},
			{Bridge: "br0", Interface: "veth2", OFPort: 2, XSKErr: true},
		},
		Tunnels: []TunnelMetrics{{Bridge: "br0", Interface: "tun0", OFPort: 10, TxDropped: 4}},
	}
}

func TestMetricsWriteText(t *testing.T) {
	m := sampleMetrics()
	var buf bytes.Buffer
	if err := m.WriteText(&buf); err != nil {
		t.Fatalf("WriteText: %v", err)
	}
	golden := filepath.Join("testdata", "metrics.golden")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if got := buf.String(); got != string(want) {
		t.Errorf("WriteText output differs from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
	t.Run("label values escaped", func(t *testing.T) {
		name := "b\\r\"0\nx\tß"
		m := Metrics{SteeringErr: true, Bridges: []BridgeMetrics{{Name: name}}, Ports: []PortMetrics{{Bridge: name, Interface: "p"}},
			Tunnels: []TunnelMetrics{{Bridge: name, Interface: "t"}}}
		var buf bytes.Buffer
		if err := m.WriteText(&buf); err != nil {
			t.Fatal(err)
		}
		want := `sluice_bridge_flows{bridge="b\\r\"0\nx` + "\tß" + `"} 0`
		if got := buf.String(); !strings.Contains(got, want+"\n") {
			t.Errorf("WriteText wrote\n%s\nwant a line %s", got, want)
		}
		if got, raw := buf.String(), "\"0\nx"; strings.Contains(got, raw) {
			t.Errorf("WriteText left a raw newline of a label value in:\n%s", got)
		}
		for line := range strings.Lines(buf.String()) {
			if strings.Contains(line, "bridge=") && !strings.Contains(line, `bridge="b\\r\"0\nx`+"\tß\"") {
				t.Errorf("series with an unescaped bridge label: %s", line)
			}
		}
	})
	t.Run("no steering line when unreadable", func(t *testing.T) {
		m := Metrics{SteeringErr: true}
		var buf bytes.Buffer
		if err := m.WriteText(&buf); err != nil {
			t.Fatal(err)
		}
		if got := buf.String(); strings.Contains(got, "sluice_xdp_steering_frames_total") {
			t.Errorf("WriteText with SteeringErr wrote steering counters:\n%s", got)
		}
	})
}

func TestListenMetrics(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		wantErr string
	}{
		{"127.0.0.1:0", ""},
		{"[::1]:0", ""},
		{"localhost:0", ""},
		{"unix:" + filepath.Join(t.TempDir(), "metrics.sock"), ""},
		{"0.0.0.0:9192", "only loopback"},
		{":9192", "only loopback"},
		{"192.0.2.1:9192", "only loopback"},
		{"nonsense", "missing port"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			l, err := ListenMetrics(tc.addr)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ListenMetrics(%q) error = %v, want nil", tc.addr, err)
				}
				l.Close()
				return
			}
			if err == nil {
				l.Close()
				t.Fatalf("ListenMetrics(%q) succeeded, want an error containing %q", tc.addr, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ListenMetrics(%q) error = %v, want one containing %q", tc.addr, err, tc.wantErr)
			}
		})
	}
}

// BenchmarkMetricsWriteText is the cost of rendering one scrape of a bridge with two ports.
func BenchmarkMetricsWriteText(b *testing.B) {
	m := sampleMetrics()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := m.WriteText(&buf); err != nil {
			b.Fatal(err)
		}
	}
}
