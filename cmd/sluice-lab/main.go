// Command sluice-lab runs Sluice's one-machine lab. Today it brings the control plane (etcd,
// kube-apiserver, kube-controller-manager in their own network namespace on a lab fabric) up
// and down:
//
//	sluice-lab up      start it (idempotent) and print the kubeconfigs
//	sluice-lab down    stop every process by PID, delete the namespaces and the state dir
//	sluice-lab status  print the recorded processes, their liveness and memory
//	sluice-lab forward (internal) the loopback forwarder `up` starts for the host
//
// Flags after the subcommand; -h lists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluicenet/sluice/lab/controlplane"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sluice-lab up|down|status [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, log, os.Args[1], os.Args[2:]); err != nil {
		log.Error("sluice-lab "+os.Args[1], "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, cmd string, args []string) error {
	o := controlplane.DefaultOptions()
	o.Logger = log
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	if env := os.Getenv("SLUICE_LAB_BIN"); env != "" {
		o.BinDir = env
	}
	fs.StringVar(&o.BinDir, "bin", o.BinDir, "directory with etcd, kube-apiserver, kube-controller-manager (env SLUICE_LAB_BIN)")
	fs.StringVar(&o.StateDir, "state", o.StateDir, "state directory")
	fs.StringVar(&o.Namespace, "netns", o.Namespace, "control-plane network namespace")
	fs.StringVar(&o.FabricNamespace, "fabric-netns", o.FabricNamespace, "fabric network namespace")
	fs.TextVar(&o.FabricPrefix, "fabric", o.FabricPrefix, "fabric subnet")
	fs.TextVar(&o.APIServerAddr, "apiserver-addr", o.APIServerAddr, "control plane's fabric address")
	fs.IntVar(&o.APIServerPort, "apiserver-port", o.APIServerPort, "kube-apiserver secure port")
	fs.TextVar(&o.ClusterCIDR, "cluster-cidr", o.ClusterCIDR, "pod range for node IPAM")
	fs.TextVar(&o.ServiceCIDR, "service-cidr", o.ServiceCIDR, "Service ClusterIP range")
	fs.StringVar(&o.HostListen, "host-listen", o.HostListen, "loopback address of the host forwarder (empty: none)")
	fs.DurationVar(&o.ReadyTimeout, "timeout", o.ReadyTimeout, "how long to wait for readiness")
	listen := fs.String("listen", "", "forward: address to listen on")
	target := fs.String("target", "", "forward: ADDR:PORT to reach inside -netns")
	_ = fs.Parse(args)

	switch cmd {
	case "up":
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.ForwarderExe = exe
		st, err := controlplane.Up(ctx, o)
		if err != nil {
			return err
		}
		if st.Reused {
			fmt.Println("control plane already up")
		}
		fmt.Printf("api server %s (from lab namespaces: KUBECONFIG=%s)\n", st.APIServer, st.Kubeconfig)
		if st.HostKubeconfig != "" {
			fmt.Printf("export KUBECONFIG=%s   # host, via %s\n", st.HostKubeconfig, st.HostAPIServer)
		}
		return nil
	case "down":
		return controlplane.Down(ctx, o)
	case "status":
		st, err := controlplane.LoadState(o.StateDir)
		if errors.Is(err, os.ErrNotExist) {
			fmt.Println("control plane down")
			return nil
		}
		if err != nil {
			return err
		}
		for _, p := range st.Processes {
			fmt.Printf("%-24s pid %-7d alive %-5v rss %4d MiB  log %s\n", p.Name, p.PID, p.Alive(), p.RSS()>>20, p.Log)
		}
		fmt.Printf("api server %s  kubeconfig %s  host kubeconfig %s\n", st.APIServer, st.Kubeconfig, st.HostKubeconfig)
		return nil
	case "forward":
		if _, err := netip.ParseAddrPort(*target); err != nil {
			return fmt.Errorf("forward -target: %w", err)
		}
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return fmt.Errorf("forward: %w", err)
		}
		return controlplane.Forward(ctx, ln, o.Namespace, *target, log)
	}
	return fmt.Errorf("unknown subcommand %q (want up, down or status)", cmd)
}
