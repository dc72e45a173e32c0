package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sluicenet/sluice/internal/testutil"
)

// labBinDir is where the test looks for the kube binaries: $SLUICE_LAB_BIN or the default that
// lab/build-kube.sh fills.
func labBinDir() string {
	if d := os.Getenv("SLUICE_LAB_BIN"); d != "" {
		return d
	}
	return DefaultOptions().BinDir
}

func TestPrivilegedControlPlane(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := DefaultOptions()
	o.BinDir = labBinDir()
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(o.BinDir, b)); err != nil {
			t.Skipf("kubernetes binaries not built: %s missing (run lab/build-kube.sh, or set SLUICE_LAB_BIN)", filepath.Join(o.BinDir, b))
		}
	}
	o.StateDir = filepath.Join(t.TempDir(), "lab")
	o.Namespace = testutil.UniqueName("slcp")
	o.FabricNamespace = testutil.UniqueName("slfab")
	o.APIServerPort = 20000 + rand.IntN(20000)
	o.EtcdClientPort = o.APIServerPort + 1
	o.EtcdPeerPort = o.APIServerPort + 2
	o.HostListen = "" // the test runs its own in-process forwarder below
	o.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	ctx := t.Context()

	st, err := Up(ctx, o)
	t.Cleanup(func() {
		if err := Down(context.Background(), o); err != nil {
			t.Errorf("cleanup down: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("up: %v", err)
	}

	// Reach the API server from the root namespace the way the host forwarder does.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fctx, stopForward := context.WithCancel(ctx)
	forwardDone := make(chan error, 1)
	go func() { forwardDone <- Forward(fctx, ln, o.Namespace, o.apiServerHostPort(), o.Logger) }()
	t.Cleanup(func() {
		stopForward()
		if err := <-forwardDone; err != nil {
			t.Errorf("forward: %v", err)
		}
	})
	pki := filepath.Join(o.StateDir, "pki")
	cs, err := kubernetes.NewForConfig(&rest.Config{
		Host: "https://" + ln.Addr().String(),
		TLSClientConfig: rest.TLSClientConfig{
			CAFile:   filepath.Join(pki, "ca.crt"),
			CertFile: filepath.Join(pki, "admin.crt"),
			KeyFile:  filepath.Join(pki, "admin.key"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("server reports a release version", func(t *testing.T) {
		v, err := cs.Discovery().ServerVersion()
		if err != nil {
			t.Fatalf("server version: %v", err)
		}
		if v.Major != "1" || v.GitVersion == "" || v.GitVersion[0] != 'v' || v.GitTreeState != "clean" {
			t.Fatalf("got version %+v, want a v1.x release built with version ldflags", v)
		}
	})

	t.Run("second up reports already up", func(t *testing.T) {
		again, err := Up(ctx, o)
		if err != nil {
			t.Fatalf("second up: %v", err)
		}
		if !again.Reused || len(again.Processes) != len(st.Processes) || again.Processes[0].PID != st.Processes[0].PID {
			t.Fatalf("second up: got reused=%v processes %v, want reused with %v", again.Reused, again.Processes, st.Processes)
		}
	})

	t.Run("node gets a podCIDR from node IPAM", func(t *testing.T) {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "lab-node-1"}}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create node: %v", err)
		}
		var cidr string
		eventually(t, 30*time.Second, func() (bool, error) {
			n, err := cs.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			cidr = n.Spec.PodCIDR
			return cidr != "", nil
		})
		p, err := netip.ParsePrefix(cidr)
		if err != nil || p.Bits() != o.NodeCIDRMaskSize || !o.ClusterCIDR.Contains(p.Addr()) {
			t.Fatalf("got podCIDR %q, want a /%d inside %s", cidr, o.NodeCIDRMaskSize, o.ClusterCIDR)
		}
	})

	ns := "lab-test"
	t.Run("namespace gets its default service account", func(t *testing.T) {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create namespace: %v", err)
		}
		eventually(t, 30*time.Second, func() (bool, error) {
			_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return err == nil, err
		})
	})

	t.Run("pod bound to the node is admitted", func(t *testing.T) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{
				NodeName:   "lab-node-1",
				Containers: []corev1.Container{{Name: "web", Image: "sluice.test/none"}},
			},
		}
		got, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create pod: %v", err)
		}
		if got.Spec.ServiceAccountName != "default" || got.Spec.NodeName != "lab-node-1" {
			t.Fatalf("got pod serviceAccount %q node %q, want default on lab-node-1", got.Spec.ServiceAccountName, got.Spec.NodeName)
		}
	})

	t.Run("service gets a ClusterIP", func(t *testing.T) {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "web"},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80}},
			},
		}
		got, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create service: %v", err)
		}
		ip, err := netip.ParseAddr(got.Spec.ClusterIP)
		if err != nil || !o.ServiceCIDR.Contains(ip) {
			t.Fatalf("got ClusterIP %q, want an address in %s", got.Spec.ClusterIP, o.ServiceCIDR)
		}
	})

	t.Run("ready pod gets into the service's EndpointSlice", func(t *testing.T) {
		// Play kubelet: report the pod running and ready with an IP from the node's podCIDR.
		pod, err := cs.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pod.Status.Phase = corev1.PodRunning
		pod.Status.PodIP = "10.244.0.5"
		pod.Status.PodIPs = []corev1.PodIP{{IP: "10.244.0.5"}}
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update pod status: %v", err)
		}
		eventually(t, 30*time.Second, func() (bool, error) {
			return sliceHas(ctx, cs, ns, "web", "10.244.0.5")
		})
	})

	t.Run("kubernetes service endpoints are the fabric address", func(t *testing.T) {
		// With a non-loopback advertise address the default lease reconciler works, so the
		// kubernetes Service points at the API server on the fabric.
		eventually(t, 30*time.Second, func() (bool, error) {
			return sliceHas(ctx, cs, "default", "kubernetes", o.APIServerAddr.String())
		})
	})

	t.Run("api server reachable from another namespace on the fabric", func(t *testing.T) {
		node := testutil.NewNetNS(t, "slnode")
		addr := netip.PrefixFrom(o.APIServerAddr.Next(), o.FabricPrefix.Bits())
		if err := AttachToFabric(o.FabricNamespace, o.Bridge, "n1", node.Name, "eth0", addr); err != nil {
			t.Fatalf("attach: %v", err)
		}
		c, err := DialInNamespace(ctx, node.Name, "tcp", o.apiServerHostPort())
		if err != nil {
			t.Fatalf("dial %s from %s: %v", o.apiServerHostPort(), node.Name, err)
		}
		c.Close()
	})

	t.Run("down removes everything", func(t *testing.T) {
		stopForward()
		if err := Down(ctx, o); err != nil {
			t.Fatalf("down: %v", err)
		}
		for _, p := range st.Processes {
			if p.Alive() {
				t.Errorf("%s (pid %d) still running", p.Name, p.PID)
			}
		}
		for _, n := range []string{o.Namespace, o.FabricNamespace} {
			if _, err := os.Stat(filepath.Join(netnsDir, n)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("netns %s: got stat err %v, want not exist", n, err)
			}
		}
		if _, err := os.Stat(o.StateDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("state dir %s: got stat err %v, want not exist", o.StateDir, err)
		}
		if err := Down(ctx, o); err != nil {
			t.Errorf("second down: got %v, want nil", err)
		}
	})
}

// sliceHas reports whether an EndpointSlice of service ns/svc lists addr.
func sliceHas(ctx context.Context, cs kubernetes.Interface, ns, svc, addr string) (bool, error) {
	l, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		return false, err
	}
	for _, s := range l.Items {
		for _, e := range s.Endpoints {
			if slices.Contains(e.Addresses, addr) {
				return true, nil
			}
		}
	}
	return false, nil
}

// eventually polls cond every 100 ms until it reports true, fails on its error or after d.
func eventually(t *testing.T, d time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(fmt.Sprintf("condition not met within %v", d))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
