package bridge

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sluicenet/sluice/bpf"
	"github.com/sluicenet/sluice/datapath/afxdp"
	"github.com/sluicenet/sluice/datapath/ofswitch"
	"github.com/sluicenet/sluice/datapath/packet"
	"github.com/sluicenet/sluice/datapath/pipeline"
	"github.com/sluicenet/sluice/datapath/port"
)

// Metrics is a snapshot of every counter the datapath keeps, read at scrape time from the
// counters the packet path already maintains (nothing is counted for the metrics' sake).
type Metrics struct {
	// Drops are the runtime's own drops by reason.
	Drops [NumDropReasons]uint64
	// Steering holds the XDP steering program's verdict counters; SteeringErr is set when they
	// could not be read.
	Steering    bpf.Counters
	SteeringErr bool
	Bridges     []BridgeMetrics // sorted by name
	Ports       []PortMetrics   // sorted by bridge, then interface name
	Tunnels     []TunnelMetrics // sorted by bridge, then interface name
}

// TunnelMetrics are one tunnel port's counters: until encapsulation exists, only the frames it
// dropped.
type TunnelMetrics struct {
	Bridge, Interface string
	OFPort            uint32
	TxDropped         uint64
}

// BridgeMetrics are one bridge's counters.
type BridgeMetrics struct {
	Name          string
	Flows         int
	PipelineDrops [pipeline.NumDropReasons]uint64
	ParseDrops    [packet.NumDropReasons]uint64
	Switch        ofswitch.Counters
}

// PortMetrics are one attached netdev's counters: the port's own and its AF_XDP socket's
// XDP_STATISTICS (XSKErr is set when those could not be read).
type PortMetrics struct {
	Bridge, Interface string
	OFPort            uint32
	Stats             port.Stats
	XSK               afxdp.Statistics
	XSKErr            bool
}

// Metrics reads the datapath's counters.
func (d *Datapath) Metrics() Metrics {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := Metrics{Drops: d.Drops()}
	c, err := d.steer.Counters()
	m.Steering, m.SteeringErr = c, err != nil
	for _, b := range d.bridges {
		bm := BridgeMetrics{Name: b.name, Flows: len(b.pipe.Flows()), Switch: b.sw.Counters()}
		for r := range bm.PipelineDrops {
			bm.PipelineDrops[r] = b.pipe.Drops(pipeline.DropReason(r))
		}
		for r := range bm.ParseDrops {
			bm.ParseDrops[r] = b.pipe.ParseDrops(packet.DropReason(r))
		}
		m.Bridges = append(m.Bridges, bm)
	}
	for _, p := range d.ifaces {
		pm := PortMetrics{Bridge: p.br.name, Interface: p.iface.Name, OFPort: p.ofport, Stats: p.xdp.Stats()}
		st, err := p.xdp.Socket().Statistics()
		pm.XSK, pm.XSKErr = st, err != nil
		m.Ports = append(m.Ports, pm)
	}
	for _, tp := range d.tunnels {
		m.Tunnels = append(m.Tunnels, TunnelMetrics{Bridge: tp.br.name, Interface: tp.name, OFPort: tp.ofport, TxDropped: tp.dropped.Load()})
	}
	slices.SortFunc(m.Tunnels, func(a, b TunnelMetrics) int {
		return cmp.Or(strings.Compare(a.Bridge, b.Bridge), strings.Compare(a.Interface, b.Interface))
	})
	slices.SortFunc(m.Bridges, func(a, b BridgeMetrics) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(m.Ports, func(a, b PortMetrics) int {
		return cmp.Or(strings.Compare(a.Bridge, b.Bridge), strings.Compare(a.Interface, b.Interface))
	})
	return m
}

// WriteText writes m in the Prometheus text exposition format (version 0.0.4).
func (m *Metrics) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	family := func(name, typ, help string) { fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ) }
	family("sluice_datapath_drops_total", "counter", "Packet copies the datapath runtime dropped, by reason.")
	for r, n := range m.Drops {
		fmt.Fprintf(bw, "sluice_datapath_drops_total{reason=%q} %d\n", DropReason(r).String(), n)
	}
	if !m.SteeringErr {
		family("sluice_xdp_steering_frames_total", "counter", "Frames the XDP steering program redirected or passed to the kernel, by verdict.")
		s := m.Steering
		for _, v := range []struct {
			verdict string
			n       uint64
		}{{"redirected", s.Redirected}, {"passed_kernel_owned", s.PassedKernelOwned}, {"passed_not_owned", s.PassedNotOwned},
			{"passed_no_config", s.PassedNoConfig}, {"passed_no_socket", s.PassedNoSocket},
			{"passed_queue_range", s.PassedQueueRange}, {"passed_malformed", s.PassedMalformed}} {
			fmt.Fprintf(bw, "sluice_xdp_steering_frames_total{verdict=%q} %d\n", v.verdict, v.n)
		}
	}
	family("sluice_bridge_flows", "gauge", "Flows in the bridge's tables.")
	for _, b := range m.Bridges {
		fmt.Fprintf(bw, "sluice_bridge_flows{bridge=%q} %d\n", label(b.Name), b.Flows)
	}
	family("sluice_pipeline_drops_total", "counter", "Packets the bridge's pipeline dropped, by reason.")
	for _, b := range m.Bridges {
		for r := 1; r < len(b.PipelineDrops); r++ { // 0 is "none"
			fmt.Fprintf(bw, "sluice_pipeline_drops_total{bridge=%q,reason=%q} %d\n", label(b.Name), pipeline.DropReason(r).String(), b.PipelineDrops[r])
		}
	}
	family("sluice_parse_drops_total", "counter", "Frames the bridge's pipeline could not parse, by reason.")
	for _, b := range m.Bridges {
		for r := 1; r < len(b.ParseDrops); r++ { // 0 is "none"
			fmt.Fprintf(bw, "sluice_parse_drops_total{bridge=%q,reason=%q} %d\n", label(b.Name), packet.DropReason(r).String(), b.ParseDrops[r])
		}
	}
	family("sluice_packet_ins_total", "counter", "Packet-ins sent to controllers, or not sent and why.")
	for _, b := range m.Bridges {
		for _, v := range []struct {
			result string
			n      uint64
		}{{"sent", b.Switch.PacketInsSent}, {"rate_limited", b.Switch.PacketInsRateLimited}, {"queue_full", b.Switch.PacketInsQueueFull}} {
			fmt.Fprintf(bw, "sluice_packet_ins_total{bridge=%q,result=%q} %d\n", label(b.Name), v.result, v.n)
		}
	}
	portFamily := func(name, help string, val func(p *PortMetrics) uint64) {
		family(name, "counter", help)
		for i := range m.Ports {
			p := &m.Ports[i]
			fmt.Fprintf(bw, "%s{bridge=%q,interface=%q,ofport=\"%d\"} %d\n", name, label(p.Bridge), label(p.Interface), p.OFPort, val(p))
		}
	}
	portFamily("sluice_port_rx_packets_total", "Frames the port received.", func(p *PortMetrics) uint64 { return p.Stats.RXFrames })
	portFamily("sluice_port_rx_bytes_total", "Bytes the port received.", func(p *PortMetrics) uint64 { return p.Stats.RXBytes })
	portFamily("sluice_port_tx_packets_total", "Frames the port transmitted.", func(p *PortMetrics) uint64 { return p.Stats.TXFrames })
	portFamily("sluice_port_tx_bytes_total", "Bytes the port transmitted.", func(p *PortMetrics) uint64 { return p.Stats.TXBytes })
	family("sluice_port_tx_drops_total", "counter", "Frames the port dropped on transmit, by reason.")
	for _, p := range m.Ports {
		for r, n := range p.Stats.Drops {
			fmt.Fprintf(bw, "sluice_port_tx_drops_total{bridge=%q,interface=%q,ofport=\"%d\",reason=%q} %d\n",
				label(p.Bridge), label(p.Interface), p.OFPort, port.DropReason(r).String(), n)
		}
	}
	for _, tp := range m.Tunnels {
		fmt.Fprintf(bw, "sluice_port_tx_drops_total{bridge=%q,interface=%q,ofport=\"%d\",reason=%q} %d\n",
			label(tp.Bridge), label(tp.Interface), tp.OFPort, DropTunnelEncap.String(), tp.TxDropped)
	}
	family("sluice_xsk_events_total", "counter", "The AF_XDP socket's XDP_STATISTICS counters, by kind.")
	for _, p := range m.Ports {
		if p.XSKErr {
			continue
		}
		x := p.XSK
		for _, v := range []struct {
			kind string
			n    uint64
		}{{"rx_dropped", x.RXDropped}, {"rx_invalid_descs", x.RXInvalidDescs}, {"tx_invalid_descs", x.TXInvalidDescs},
			{"rx_ring_full", x.RXRingFull}, {"rx_fill_ring_empty", x.RXFillRingEmpty}, {"tx_ring_empty_descs", x.TXRingEmptyDescs},
			{"rx_out_of_range", x.RXOutOfRange}} {
			fmt.Fprintf(bw, "sluice_xsk_events_total{bridge=%q,interface=%q,ofport=\"%d\",kind=%q} %d\n", label(p.Bridge), label(p.Interface), p.OFPort, v.kind, v.n)
		}
	}
	return bw.Flush()
}

// label is a label value that formats, with %q, the way the text exposition format quotes it:
// only backslash, double quote and newline are escaped (Go's %q would also escape other bytes).
type label string

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// Format writes the quoted, escaped value.
func (v label) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, `"`+labelEscaper.Replace(string(v))+`"`)
}

// ListenMetrics opens the metrics listener at addr: "unix:/path" (a stale socket file is
// replaced) or "host:port" whose host must be a loopback address or "localhost" — the
// endpoint has no authentication, so it never listens on other addresses.
func ListenMetrics(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		_ = os.Remove(path)
		l, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("listen for metrics: %w", err)
		}
		return l, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics on %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("listen for metrics on %q: only loopback addresses or unix: sockets are allowed", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics: %w", err)
	}
	return l, nil
}

// serveMetrics serves /metrics and /healthz on l until ctx ends.
func (d *Datapath) serveMetrics(ctx context.Context, l net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		m := d.Metrics()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = m.WriteText(w)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if d.ctx.Err() != nil {
			http.Error(w, "stopping", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		d.log.Warn("metrics endpoint stopped", "error", err)
	}
}
