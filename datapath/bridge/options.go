package bridge

import (
	"log/slog"
	"time"

	"github.com/sluicenet/sluice/datapath/afxdp"
	"github.com/sluicenet/sluice/datapath/ofswitch"
	"github.com/sluicenet/sluice/datapath/ovsdb"
)

// Options configures a Datapath and Run.
type Options struct {
	// OVSDB is ovsdb-server's endpoint ("unix:/var/run/openvswitch/db.sock"); Run uses it.
	OVSDB string
	// RunDir holds the management sockets, <RunDir>/<bridge>.mgmt.
	RunDir string
	// PinDir is a directory on bpffs for the steering maps and the XDP links; "" pins nothing
	// (shutdown then detaches XDP, and a restart starts from scratch).
	PinDir string
	// Logger receives lifecycle events; nil discards them. Nothing is logged per packet.
	Logger *slog.Logger
	// Batch is how many frames one receive moves.
	Batch int
	// BusyPolls is how many empty receives in a row a port's goroutine makes before it sleeps.
	BusyPolls int
	// IdleWait is how long one sleep lasts at most; it bounds how long a detach takes.
	IdleWait time.Duration
	// UMEM sizes the one UMEM all sockets share: NumChunks must exceed the fill and TX rings of
	// every socket together.
	UMEM afxdp.UMEMOptions
	// Socket configures every AF_XDP socket.
	Socket afxdp.SocketOptions
	// MaxSockets is the number of XSKMAP slots, so the number of netdevs that can be attached.
	MaxSockets uint32
	// StatusInterval is how often link state and counters go to the database.
	StatusInterval time.Duration
	// MetricsAddr is where Run serves /metrics (Prometheus text format) and /healthz:
	// "host:port" on a loopback address or "unix:/path"; "" serves nothing.
	MetricsAddr string
}

// DefaultOptions returns Debian's ovsdb-server socket, ofswitch's socket directory, no
// pinning, batches of 64, 256 busy polls, 100 ms sleeps, a UMEM of 16384 2-KiB chunks
// (32 MiB) with 512-entry rings (room for more than 8 ports), 256 XSKMAP slots, and ovsdb's
// default 5 s status interval, and metrics on 127.0.0.1:9192.
func DefaultOptions() Options {
	so := afxdp.DefaultSocketOptions()
	so.FillSize, so.CompletionSize, so.RXSize, so.TXSize = 512, 512, 512, 512
	uo := afxdp.DefaultUMEMOptions()
	uo.NumChunks = 16384
	return Options{
		OVSDB:          ovsdb.DefaultOptions().Endpoint,
		RunDir:         ofswitch.DefaultSocketDir,
		Batch:          64,
		BusyPolls:      256,
		IdleWait:       100 * time.Millisecond,
		UMEM:           uo,
		Socket:         so,
		MaxSockets:     256,
		StatusInterval: ovsdb.DefaultOptions().StatusInterval,
		MetricsAddr:    DefaultMetricsAddr,
	}
}

// DefaultMetricsAddr is where sluice-datapath serves its counters unless told otherwise.
const DefaultMetricsAddr = "127.0.0.1:9192"

// DropReason says why the runtime dropped a copy of a packet the pipeline output.
type DropReason int

const (
	// DropNoPort: the output port has no I/O (unknown, detached, or the no-op LOCAL port).
	DropNoPort DropReason = iota
	// DropNoMemory: no free UMEM chunk for the copy.
	DropNoMemory
	// DropTooLong: the output does not fit a UMEM chunk.
	DropTooLong
	// DropTunnelEncap: the output port is a tunnel port, and tunnel encapsulation is not
	// implemented yet.
	DropTunnelEncap
	// NumDropReasons is the number of reasons.
	NumDropReasons
)

var dropNames = [NumDropReasons]string{"no_port", "no_memory", "too_long", "tunnel_encap_not_implemented"}

// String returns the reason's metric label.
func (r DropReason) String() string {
	if r < 0 || r >= NumDropReasons {
		return "unknown"
	}
	return dropNames[r]
}
