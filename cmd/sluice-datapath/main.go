// Command sluice-datapath is Sluice's drop-in for ovs-vswitchd: it takes the bridges whose
// datapath_type is "sluice" from ovsdb-server, serves OpenFlow 1.5 for each on
// unix:<rundir>/<bridge>.mgmt and forwards over AF_XDP (package bridge). Its settings come from
// flags and, with --config FILE, from a YAML file keyed by the flag names; a flag given on the
// command line overrides the file. SIGTERM or SIGINT stops it gracefully: sockets closed, XDP
// detached, or with --bpffs left pinned so the kernel carries the traffic until the next start
// takes it over.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluicenet/sluice/datapath/bridge"
)

// settings is everything the command line and the configuration file decide.
type settings struct {
	opts     bridge.Options
	logLevel slog.Level
}

// parseArgs parses args (without the program name) and the --config file they name, if any.
func parseArgs(args []string, stderr io.Writer) (settings, error) {
	s := settings{opts: bridge.DefaultOptions()}
	fs := flag.NewFlagSet("sluice-datapath", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "YAML configuration file whose keys are these flags' names (command-line flags override it)")
	fs.StringVar(&s.opts.OVSDB, "ovsdb", s.opts.OVSDB, "ovsdb-server endpoint (unix:/path or tcp:ip:port)")
	fs.StringVar(&s.opts.RunDir, "rundir", s.opts.RunDir, "directory for the bridges' OpenFlow management sockets")
	fs.StringVar(&s.opts.PinDir, "bpffs", "", "bpffs directory to pin steering maps and XDP links in (empty: no pinning; shutdown detaches)")
	fs.DurationVar(&s.opts.StatusInterval, "status-interval", s.opts.StatusInterval, "how often link state and counters go to ovsdb (other_config:stats-update-interval overrides)")
	fs.StringVar(&s.opts.MetricsAddr, "metrics-addr", s.opts.MetricsAddr, "where to serve /metrics and /healthz: host:port on loopback, or unix:/path; empty disables")
	fs.TextVar(&s.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *config != "" {
		if err := applyConfig(fs, *config); err != nil {
			return s, err
		}
	}
	return s, nil
}

func main() {
	s, err := parseArgs(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice-datapath: %v\n", err)
		os.Exit(2)
	}
	s.opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: s.logLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := bridge.Run(ctx, s.opts); err != nil {
		s.opts.Logger.Error("sluice-datapath stopped", "error", err)
		os.Exit(1)
	}
	s.opts.Logger.Info("sluice-datapath stopped")
}
