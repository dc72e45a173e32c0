package controlplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// ErrBinariesMissing is returned (wrapped, naming the file) when a Kubernetes binary is not in
// Options.BinDir; lab/build-kube.sh builds them.
var ErrBinariesMissing = errors.New("kubernetes binaries not built (run lab/build-kube.sh)")

// Binaries are the programs Up runs from Options.BinDir (kubectl is built alongside for users).
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager"}

// Options configures a control plane. DefaultOptions documents every value.
type Options struct {
	// BinDir holds etcd, kube-apiserver and kube-controller-manager.
	BinDir string
	// StateDir receives state.json, pki/, etcd data, kubeconfigs and logs/; Down removes it.
	StateDir string
	// Namespace is the control-plane network namespace.
	Namespace string
	// FabricNamespace is the namespace holding the fabric bridge.
	FabricNamespace string
	// Bridge is the fabric bridge's name inside FabricNamespace.
	Bridge string
	// FabricPrefix is the fabric subnet; APIServerAddr must lie in it.
	FabricPrefix netip.Prefix
	// APIServerAddr is the control plane's address on the fabric; kube-apiserver binds and
	// advertises it.
	APIServerAddr netip.Addr
	// APIServerPort is kube-apiserver's secure port.
	APIServerPort int
	// EtcdClientPort and EtcdPeerPort are etcd's ports on 127.0.0.1 inside Namespace.
	EtcdClientPort, EtcdPeerPort int
	// ServiceCIDR is the Service ClusterIP range; its first address is the kubernetes Service.
	ServiceCIDR netip.Prefix
	// ClusterCIDR is the pod range node IPAM carves node podCIDRs from.
	ClusterCIDR netip.Prefix
	// NodeCIDRMaskSize is the prefix length of each node's podCIDR.
	NodeCIDRMaskSize int
	// HostListen is the loopback address of the root-namespace forwarder to the API server;
	// empty or ForwarderExe empty: no forwarder.
	HostListen string
	// ForwarderExe is a program that runs Forward when started as
	// `ForwarderExe forward -netns NS -listen HostListen -target ADDR:PORT` (sluice-lab does).
	ForwarderExe string
	// ReadyTimeout bounds the wait for /readyz and for the controller manager's first work.
	ReadyTimeout time.Duration
	// Logger receives progress; nil discards.
	Logger *slog.Logger
}

// DefaultOptions returns the lab's defaults: binaries in /var/cache/sluice-lab/bin (where
// build-kube.sh puts them), state in /run/sluice-lab, namespaces sluice-cp and sluice-fabric
// with bridge "fabric", fabric 10.77.0.0/24 with the API server on 10.77.0.2:6443, etcd on
// 127.0.0.1:2379/2380 inside the control-plane namespace (no clash with the host: it is a
// different namespace), Services in 10.96.0.0/12, pods in 10.244.0.0/16 split into /24 per
// node, a host forwarder on 127.0.0.1:16443 when ForwarderExe is set, and 60 s to get ready.
func DefaultOptions() Options {
	return Options{
		BinDir:           "/var/cache/sluice-lab/bin",
		StateDir:         "/run/sluice-lab",
		Namespace:        "sluice-cp",
		FabricNamespace:  "sluice-fabric",
		Bridge:           "fabric",
		FabricPrefix:     netip.MustParsePrefix("10.77.0.0/24"),
		APIServerAddr:    netip.MustParseAddr("10.77.0.2"),
		APIServerPort:    6443,
		EtcdClientPort:   2379,
		EtcdPeerPort:     2380,
		ServiceCIDR:      netip.MustParsePrefix("10.96.0.0/12"),
		ClusterCIDR:      netip.MustParsePrefix("10.244.0.0/16"),
		NodeCIDRMaskSize: 24,
		HostListen:       "127.0.0.1:16443",
		ReadyTimeout:     60 * time.Second,
	}
}

func (o *Options) validate() error {
	if !o.FabricPrefix.Contains(o.APIServerAddr) {
		return fmt.Errorf("api server address %s outside fabric %s", o.APIServerAddr, o.FabricPrefix)
	}
	if o.Namespace == "" || o.FabricNamespace == "" || o.Bridge == "" || o.StateDir == "" {
		return errors.New("namespace, fabric namespace, bridge and state dir must be set")
	}
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(o.BinDir, b)); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(o.BinDir, b), ErrBinariesMissing)
		}
	}
	if o.Logger == nil {
		o.Logger = discard()
	}
	return nil
}

// firstServiceIP is the ClusterIP kube-apiserver gives the kubernetes Service.
func (o *Options) firstServiceIP() netip.Addr { return o.ServiceCIDR.Masked().Addr().Next() }

// apiServerHostPort is ADDR:PORT of kube-apiserver on the fabric.
func (o *Options) apiServerHostPort() string {
	return netip.AddrPortFrom(o.APIServerAddr, uint16(o.APIServerPort)).String()
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
