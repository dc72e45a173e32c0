package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Up brings the control plane up as the package comment describes and returns its state. When
// StateDir already records a running control plane, it starts nothing and returns that state
// with Reused set. A recorded control plane with a dead process is taken down first. On error,
// everything Up made is removed again.
func Up(ctx context.Context, o Options) (st *State, err error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	log := o.Logger
	if old, err := LoadState(o.StateDir); err == nil {
		if old.running() {
			log.Info("control plane already up", "state", o.StateDir, "apiserver", old.APIServer)
			old.Reused = true
			return old, nil
		}
		log.Warn("control plane recorded but not running: taking it down first", "state", o.StateDir)
		if err := Down(ctx, o); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, ns := range []string{o.FabricNamespace, o.Namespace} {
		if _, err := os.Stat(filepath.Join(netnsDir, ns)); err == nil {
			return nil, fmt.Errorf("netns %s exists but %s records no lab: remove it or run down", ns, o.StateDir)
		}
	}

	t0 := time.Now()
	st = &State{
		StateDir:        o.StateDir,
		BinDir:          o.BinDir,
		Namespace:       o.Namespace,
		FabricNamespace: o.FabricNamespace,
		Bridge:          o.Bridge,
		PKIDir:          filepath.Join(o.StateDir, "pki"),
		APIServer:       "https://" + o.apiServerHostPort(),
		Kubeconfig:      filepath.Join(o.StateDir, "admin.kubeconfig"),
	}
	logDir := filepath.Join(o.StateDir, "logs")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	if err := st.save(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			log.Warn("control plane up failed: removing what was made", "err", err)
			// A fresh context: ctx may be what ended.
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if derr := Down(dctx, o); derr != nil {
				err = errors.Join(err, fmt.Errorf("clean up: %w", derr))
			}
			st = nil
		}
	}()

	// Network: fabric namespace with its bridge, control-plane namespace attached to it.
	for _, ns := range []string{o.FabricNamespace, o.Namespace} {
		if err := createNamespace(ns); err != nil {
			return nil, err
		}
		st.Namespaces = append(st.Namespaces, ns)
		if err := st.save(); err != nil {
			return nil, err
		}
	}
	if err := createBridge(o.FabricNamespace, o.Bridge); err != nil {
		return nil, err
	}
	cpAddr := netip.PrefixFrom(o.APIServerAddr, o.FabricPrefix.Bits())
	if err := AttachToFabric(o.FabricNamespace, o.Bridge, "cp", o.Namespace, "eth0", cpAddr); err != nil {
		return nil, err
	}

	files, err := writePKI(o, st)
	if err != nil {
		return nil, err
	}
	log.Info("network and pki ready", "elapsed", time.Since(t0).Round(time.Millisecond))

	start := func(name string, args []string) (Process, error) {
		p, err := startProcess(o.Namespace, name, filepath.Join(o.BinDir, name), args, logDir)
		if err != nil {
			return p, err
		}
		st.Processes = append(st.Processes, p)
		return p, st.save()
	}
	if _, err := start("etcd", etcdArgs(o)); err != nil {
		return nil, err
	}
	if _, err := start("kube-apiserver", apiServerArgs(o, files)); err != nil {
		return nil, err
	}
	if _, err := start("kube-controller-manager", controllerManagerArgs(o, files)); err != nil {
		return nil, err
	}
	client, err := files.client(o.Namespace)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	defer cancel()
	if err := st.waitFor(rctx, client, st.APIServer+"/readyz", "ok"); err != nil {
		return nil, fmt.Errorf("wait for kube-apiserver /readyz: %w", err)
	}
	log.Info("kube-apiserver ready", "url", st.APIServer, "elapsed", time.Since(t0).Round(time.Millisecond))
	// The ServiceAccount controller creating default/default shows the controller manager works.
	if err := st.waitFor(rctx, client, st.APIServer+"/api/v1/namespaces/default/serviceaccounts/default", ""); err != nil {
		return nil, fmt.Errorf("wait for kube-controller-manager to create the default service account: %w", err)
	}
	log.Info("kube-controller-manager working", "elapsed", time.Since(t0).Round(time.Millisecond))

	if o.HostListen != "" && o.ForwarderExe != "" {
		p, err := startProcess("", "forwarder", o.ForwarderExe,
			[]string{"forward", "-netns", o.Namespace, "-listen", o.HostListen, "-target", o.apiServerHostPort()}, logDir)
		if err != nil {
			return nil, err
		}
		st.Processes = append(st.Processes, p)
		st.HostAPIServer = "https://" + o.HostListen
		st.HostKubeconfig = filepath.Join(o.StateDir, "host.kubeconfig")
		if err := WriteKubeconfig(st.HostKubeconfig, st.HostAPIServer, files.ca, files.adminCert, files.adminKey); err != nil {
			return nil, err
		}
		if err := st.save(); err != nil {
			return nil, err
		}
		hostClient := &http.Client{Transport: &http.Transport{TLSClientConfig: client.Transport.(*http.Transport).TLSClientConfig}}
		if err := st.waitFor(rctx, hostClient, st.HostAPIServer+"/readyz", "ok"); err != nil {
			return nil, fmt.Errorf("wait for the host forwarder on %s: %w", o.HostListen, err)
		}
	}
	log.Info("control plane up", "apiserver", st.APIServer, "host", st.HostAPIServer,
		"kubeconfig", st.Kubeconfig, "elapsed", time.Since(t0).Round(time.Millisecond))
	return st, nil
}

// Down stops every process the state in o.StateDir records (by PID, newest first), deletes the
// lab's namespaces (with the bridge and veths in them) and removes the state directory. Without
// a state file it still deletes the namespaces named in o, so a crashed Up can be cleaned.
// Nothing there is not an error.
func Down(ctx context.Context, o Options) error {
	if o.StateDir == "" || o.StateDir == "/" {
		return fmt.Errorf("refuse to remove state dir %q", o.StateDir)
	}
	log := o.Logger
	if log == nil {
		log = discard()
	}
	st, err := LoadState(o.StateDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		st = &State{Namespaces: []string{o.FabricNamespace, o.Namespace}}
	case err != nil:
		return err
	}
	var errs []error
	for i := len(st.Processes) - 1; i >= 0; i-- {
		p := st.Processes[i]
		if err := p.stop(ctx, 10*time.Second); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("stopped", "name", p.Name, "pid", p.PID)
	}
	for i := len(st.Namespaces) - 1; i >= 0; i-- {
		deleted, err := deleteNamespace(st.Namespaces[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if deleted {
			log.Info("deleted netns", "name", st.Namespaces[i])
		}
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(o.StateDir); err != nil {
			errs = append(errs, fmt.Errorf("remove state dir: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("control plane down: %w", err)
	}
	return nil
}

// running reports whether every recorded process is alive.
func (st *State) running() bool {
	if len(st.Processes) == 0 {
		return false
	}
	for _, p := range st.Processes {
		if !p.Alive() {
			return false
		}
	}
	return true
}

// waitFor polls url until it answers 200 (and, if want is set, a body equal to it). It fails at
// once, with the end of its log, if a started process died.
func (st *State) waitFor(ctx context.Context, c *http.Client, url, want string) error {
	var last error
	for {
		for _, p := range st.Processes {
			if !p.Alive() {
				return fmt.Errorf("%s (pid %d) exited; end of %s:\n%s", p.Name, p.PID, p.Log, p.logTail(2048))
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && (want == "" || strings.TrimSpace(string(body)) == want) {
				return nil
			}
			err = fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// pkiFiles are the paths writePKI produced.
type pkiFiles struct {
	ca, caKey           string
	apiCert, apiKey     string
	adminCert, adminKey string
	saKey, saPub        string
	kcmKubeconfig       string
}

// writePKI issues the CA, the apiserver serving certificate (fabric address, loopback, first
// Service IP, the kubernetes Service names), the admin (system:masters) and controller-manager
// client certificates and service-account keys, and writes the admin and controller-manager
// kubeconfigs.
func writePKI(o Options, st *State) (pkiFiles, error) {
	var f pkiFiles
	p, err := NewPKI(st.PKIDir)
	if err != nil {
		return f, err
	}
	f.ca, f.caKey = p.CACert(), filepath.Join(p.Dir, "ca.key")
	ips := []net.IP{o.APIServerAddr.AsSlice(), net.IPv4(127, 0, 0, 1), o.firstServiceIP().AsSlice()}
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if f.apiCert, f.apiKey, err = p.ServingCert("apiserver", ips, dns); err != nil {
		return f, err
	}
	if f.adminCert, f.adminKey, err = p.ClientCert("admin", "sluice-lab-admin", "system:masters"); err != nil {
		return f, err
	}
	kcmCert, kcmKey, err := p.ClientCert("kube-controller-manager", "system:kube-controller-manager")
	if err != nil {
		return f, err
	}
	if f.saKey, f.saPub, err = p.ServiceAccountKeys(); err != nil {
		return f, err
	}
	if err := WriteKubeconfig(st.Kubeconfig, st.APIServer, f.ca, f.adminCert, f.adminKey); err != nil {
		return f, err
	}
	f.kcmKubeconfig = filepath.Join(o.StateDir, "kube-controller-manager.kubeconfig")
	if err := WriteKubeconfig(f.kcmKubeconfig, st.APIServer, f.ca, kcmCert, kcmKey); err != nil {
		return f, err
	}
	return f, nil
}

// client is an admin HTTPS client whose connections are dialled inside namespace ns.
func (f pkiFiles) client(ns string) (*http.Client, error) {
	caPEM, err := os.ReadFile(f.ca)
	if err != nil {
		return nil, fmt.Errorf("read ca: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(f.adminCert, f.adminKey)
	if err != nil {
		return nil, fmt.Errorf("load admin certificate: %w", err)
	}
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return DialInNamespace(ctx, ns, network, addr)
			},
		},
	}, nil
}

func etcdArgs(o Options) []string {
	client := "http://127.0.0.1:" + strconv.Itoa(o.EtcdClientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(o.EtcdPeerPort)
	return []string{
		"--name=sluice-lab",
		"--data-dir=" + filepath.Join(o.StateDir, "etcd"),
		"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=sluice-lab=" + peer,
		"--logger=zap", "--log-level=warn",
		"--unsafe-no-fsync", // a lab's etcd may lose its last writes on a host crash; it is rebuilt anyway
	}
}

func apiServerArgs(o Options, f pkiFiles) []string {
	return []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(o.EtcdClientPort),
		"--bind-address=" + o.APIServerAddr.String(),
		"--advertise-address=" + o.APIServerAddr.String(),
		"--secure-port=" + strconv.Itoa(o.APIServerPort),
		"--tls-cert-file=" + f.apiCert, "--tls-private-key-file=" + f.apiKey,
		"--client-ca-file=" + f.ca,
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + f.saPub,
		"--service-account-signing-key-file=" + f.saKey,
		"--service-cluster-ip-range=" + o.ServiceCIDR.String(),
		"--allow-privileged=true",
		"--profiling=false",
	}
}

func controllerManagerArgs(o Options, f pkiFiles) []string {
	return []string{
		"--kubeconfig=" + f.kcmKubeconfig,
		// No kubelets post node status yet: node lifecycle would taint every node unreachable.
		"--controllers=*,-node-lifecycle-controller",
		"--allocate-node-cidrs",
		"--cluster-cidr=" + o.ClusterCIDR.String(),
		"--node-cidr-mask-size=" + strconv.Itoa(o.NodeCIDRMaskSize),
		"--service-cluster-ip-range=" + o.ServiceCIDR.String(),
		"--use-service-account-credentials=true", // each controller acts as its own service account, as in kubeadm clusters
		"--service-account-private-key-file=" + f.saKey,
		"--root-ca-file=" + f.ca,
		"--cluster-signing-cert-file=" + f.ca, "--cluster-signing-key-file=" + f.caKey,
		"--leader-elect=false",
		"--secure-port=0",
	}
}
