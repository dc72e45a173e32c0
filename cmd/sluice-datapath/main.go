// Command sluice-datapath is Sluice's drop-in for ovs-vswitchd: it takes the bridges whose
// datapath_type is "sluice" from ovsdb-server, serves OpenFlow 1.5 for each on
// unix:<rundir>/<bridge>.mgmt and forwards over AF_XDP (package bridge). SIGTERM or SIGINT stops
// it gracefully: sockets closed, XDP detached, or with --bpffs left pinned so the kernel carries
// the traffic until the next start takes it over.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluicenet/sluice/datapath/bridge"
)

func main() {
	opts := bridge.DefaultOptions()
	flag.StringVar(&opts.OVSDB, "ovsdb", opts.OVSDB, "ovsdb-server endpoint (unix:/path or tcp:ip:port)")
	flag.StringVar(&opts.RunDir, "rundir", opts.RunDir, "directory for the bridges' OpenFlow management sockets")
	flag.StringVar(&opts.PinDir, "bpffs", "", "bpffs directory to pin steering maps and XDP links in (empty: no pinning; shutdown detaches)")
	level := flag.String("log-level", "info", "log level: debug, info, warn or error")
	flag.Parse()
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(os.Stderr, "sluice-datapath: --log-level: %v\n", err)
		os.Exit(2)
	}
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := bridge.Run(ctx, opts); err != nil {
		opts.Logger.Error("sluice-datapath stopped", "error", err)
		os.Exit(1)
	}
	opts.Logger.Info("sluice-datapath stopped")
}
