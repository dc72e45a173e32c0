package cni_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"google.golang.org/grpc/codes"

	"github.com/sluicenet/sluice/cni"
	"github.com/sluicenet/sluice/cni/agenttest"
)

// binDir holds the sluice-cni binary built once for all runtime tests.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-cni-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "sluice-cni"), "github.com/sluicenet/sluice/cmd/sluice-cni").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build sluice-cni: %v\n%s", err, out)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runtime is a libcni client set up the way containerd sets up its own.
type runtime struct {
	cni  *libcni.CNIConfig
	list *libcni.NetworkConfigList
}

// newRuntime parses a conflist whose first plugin is sluice with the extra keys in sluiceKeys
// (raw JSON members, may be empty), followed by more plugins (raw JSON objects).
func newRuntime(t *testing.T, cniVersion, sluiceKeys string, more ...string) *runtime {
	t.Helper()
	if sluiceKeys != "" {
		sluiceKeys = ", " + sluiceKeys
	}
	plugins := append([]string{`{"type": "sluice-cni"` + sluiceKeys + `}`}, more...)
	conf := fmt.Sprintf(`{"cniVersion": %q, "name": "sluice", "plugins": [%s]}`, cniVersion, strings.Join(plugins, ", "))
	list, err := libcni.ConfListFromBytes([]byte(conf))
	if err != nil {
		t.Fatalf("parse conflist %s: %v", conf, err)
	}
	return &runtime{cni: libcni.NewCNIConfigWithCacheDir([]string{binDir}, t.TempDir(), nil), list: list}
}

func podConf(container, pod string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID: container,
		NetNS:       "/var/run/netns/cni-" + container,
		IfName:      "eth0",
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", "default"},
			{"K8S_POD_NAME", pod},
			{"K8S_POD_INFRA_CONTAINER_ID", container},
		},
	}
}

func socketKey(path string) string { return fmt.Sprintf(`"agentSocket": %q`, path) }

// cniError asserts err is a CNI error result with code want whose message contains every part.
func cniError(t *testing.T, err error, want uint, parts ...string) {
	t.Helper()
	var ce *types.Error
	if !errors.As(err, &ce) {
		t.Fatalf("got error %v (%T), want a CNI error result with code %d", err, err, want)
	}
	if ce.Code != want {
		t.Errorf("got code %d (%q), want %d", ce.Code, ce.Msg, want)
	}
	for _, p := range parts {
		if !strings.Contains(ce.Msg, p) {
			t.Errorf("got message %q, want it to contain %q", ce.Msg, p)
		}
	}
}

// checkResult asserts res is a spec-valid 1.x result for a pod in netns with the fake agent's
// addressing, both as the parsed value and as the JSON a runtime would read.
func checkResult(t *testing.T, res types.Result, netns string) *current.Result {
	t.Helper()
	r, err := current.NewResultFromResult(res)
	if err != nil {
		t.Fatalf("convert result: %v", err)
	}
	if len(r.Interfaces) != 1 || r.Interfaces[0].Name != "eth0" || r.Interfaces[0].Sandbox != netns {
		t.Errorf("got interfaces %+v, want one eth0 with sandbox %s", r.Interfaces, netns)
	} else if _, err := net.ParseMAC(r.Interfaces[0].Mac); err != nil {
		t.Errorf("got mac %q: %v", r.Interfaces[0].Mac, err)
	}
	if len(r.IPs) != 1 {
		t.Fatalf("got %d ips, want 1", len(r.IPs))
	}
	ip := r.IPs[0]
	_, pool, _ := net.ParseCIDR("10.244.1.0/24")
	if !pool.Contains(ip.Address.IP) || ip.Address.String() == pool.String() {
		t.Errorf("got address %s, want a host address in %s", ip.Address.String(), pool)
	}
	if ip.Interface == nil || *ip.Interface != 0 {
		t.Errorf("got ips[0].interface %v, want 0", ip.Interface)
	}
	if ip.Gateway.String() != agenttest.Gateway {
		t.Errorf("got gateway %v, want %s", ip.Gateway, agenttest.Gateway)
	}
	if len(r.Routes) != 1 || r.Routes[0].Dst.String() != "0.0.0.0/0" || r.Routes[0].GW.String() != agenttest.Gateway {
		t.Errorf("got routes %v, want default via %s", r.Routes, agenttest.Gateway)
	}
	if !slices.Equal(r.DNS.Nameservers, []string{agenttest.Nameserver}) || len(r.DNS.Search) == 0 {
		t.Errorf("got dns %+v, want nameserver %s and a search list", r.DNS, agenttest.Nameserver)
	}
	// The JSON a runtime reads: the spec's key names and shapes.
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("marshal result: %v", err)
	}
	var raw struct {
		CNIVersion string `json:"cniVersion"`
		Interfaces []map[string]any
		IPs        []map[string]any `json:"ips"`
		Routes     []map[string]any
		DNS        map[string]any `json:"dns"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("decode result JSON %s: %v", b, err)
	}
	if raw.CNIVersion == "" || raw.Interfaces[0]["sandbox"] != netns || raw.IPs[0]["address"] == nil || raw.IPs[0]["interface"] == nil ||
		raw.Routes[0]["dst"] == nil || raw.DNS["nameservers"] == nil {
		t.Errorf("got result JSON %s, want cniVersion, interfaces[].sandbox, ips[].address/interface, routes[].dst, dns.nameservers", b)
	}
	return r
}

func TestRuntimeLifecycle(t *testing.T) {
	agent := agenttest.Start(t)
	rt := newRuntime(t, "1.1.0", socketKey(agent.Socket)+`, "timeout": "5s"`)
	ctx := t.Context()
	a, b := podConf("c0ffee01", "pod-a"), podConf("c0ffee02", "pod-b")

	t.Run("version reports spec 1.1.0", func(t *testing.T) {
		info, err := rt.cni.GetVersionInfo(ctx, "sluice-cni")
		if err != nil {
			t.Fatalf("VERSION: %v", err)
		}
		if !slices.Contains(info.SupportedVersions(), "1.1.0") {
			t.Errorf("got supported versions %v, want 1.1.0 among them", info.SupportedVersions())
		}
	})
	t.Run("status ready", func(t *testing.T) {
		if err := rt.cni.GetStatusNetworkList(ctx, rt.list); err != nil {
			t.Errorf("STATUS: got %v, want success", err)
		}
	})
	t.Run("add returns a spec-valid result and passes the pod identity", func(t *testing.T) {
		res, err := rt.cni.AddNetworkList(ctx, rt.list, a)
		if err != nil {
			t.Fatalf("ADD: %v", err)
		}
		checkResult(t, res, a.NetNS)
		p := agent.Pod("sluice", a.ContainerID, "eth0")
		if p.GetNamespace() != "default" || p.GetName() != "pod-a" || p.GetInfraContainerId() != a.ContainerID {
			t.Errorf("got pod %v at the agent, want default/pod-a with infra container %s", p, a.ContainerID)
		}
	})
	t.Run("second pod gets a different address", func(t *testing.T) {
		ra, err := rt.cni.AddNetworkList(ctx, rt.list, a)
		if err != nil {
			t.Fatalf("repeat ADD: %v", err)
		}
		rb, err := rt.cni.AddNetworkList(ctx, rt.list, b)
		if err != nil {
			t.Fatalf("ADD b: %v", err)
		}
		ipa, ipb := checkResult(t, ra, a.NetNS).IPs[0].Address.IP, checkResult(t, rb, b.NetNS).IPs[0].Address.IP
		if ipa.Equal(ipb) {
			t.Errorf("got %s for both pods, want different addresses", ipa)
		}
	})
	t.Run("check after add succeeds", func(t *testing.T) {
		if err := rt.cni.CheckNetworkList(ctx, rt.list, a); err != nil {
			t.Errorf("CHECK: got %v, want success", err)
		}
	})
	t.Run("gc releases attachments the runtime no longer lists", func(t *testing.T) {
		err := rt.cni.GCNetworkList(ctx, rt.list, &libcni.GCArgs{ValidAttachments: []types.GCAttachment{{ContainerID: a.ContainerID, IfName: "eth0"}}})
		if err != nil {
			t.Fatalf("GC: %v", err)
		}
		if got, want := agent.Attachments(), []string{"sluice/" + a.ContainerID + "/eth0"}; !slices.Equal(got, want) {
			t.Errorf("got attachments %v after GC, want %v", got, want)
		}
	})
	t.Run("del removes the attachment and is idempotent", func(t *testing.T) {
		for i := range 2 {
			if err := rt.cni.DelNetworkList(ctx, rt.list, a); err != nil {
				t.Fatalf("DEL %d: %v", i+1, err)
			}
		}
		if got := agent.Attachments(); len(got) != 0 {
			t.Errorf("got attachments %v after DEL, want none", got)
		}
	})
	t.Run("check after del reports the agent's message", func(t *testing.T) {
		// libcni needs a cached result for CHECK: ADD again, then remove the attachment behind
		// the runtime's back with a GC that lists nothing as valid.
		if _, err := rt.cni.AddNetworkList(ctx, rt.list, a); err != nil {
			t.Fatalf("ADD: %v", err)
		}
		if err := rt.cni.GCNetworkList(ctx, rt.list, &libcni.GCArgs{}); err != nil {
			t.Fatalf("GC: %v", err)
		}
		cniError(t, rt.cni.CheckNetworkList(ctx, rt.list, a), cni.CodeAgentRejected, "no attachment "+a.ContainerID)
	})
	t.Run("status not ready is code 50 with the agent's reason", func(t *testing.T) {
		agent.SetReady(false, "switch not connected")
		t.Cleanup(func() { agent.SetReady(true, "") })
		cniError(t, rt.cni.GetStatusNetworkList(ctx, rt.list), types.ErrPluginNotAvailable, "not ready", "switch not connected")
	})
}

func TestRuntimeOlderSpecVersion(t *testing.T) {
	agent := agenttest.Start(t)
	rt := newRuntime(t, "0.4.0", socketKey(agent.Socket))
	pod := podConf("0dd0dd01", "old")
	res, err := rt.cni.AddNetworkList(t.Context(), rt.list, pod)
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	if got := res.Version(); got != "0.4.0" {
		t.Errorf("got result version %s, want 0.4.0 as configured", got)
	}
	checkResult(t, res, pod.NetNS)
}

func TestRuntimeFaults(t *testing.T) {
	ctx := t.Context()
	t.Run("add with the agent down is try-again-later naming the socket", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "absent.sock")
		rt := newRuntime(t, "1.1.0", socketKey(sock)+`, "timeout": "3s"`)
		_, err := rt.cni.AddNetworkList(ctx, rt.list, podConf("dead0001", "p"))
		cniError(t, err, types.ErrTryAgainLater, "agent at "+sock+" is unreachable")
	})
	t.Run("add with a silent agent is try-again-later after the timeout", func(t *testing.T) {
		dir, err := os.MkdirTemp("", "sluice-silent")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		sock := filepath.Join(dir, "cni.sock")
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		t.Cleanup(func() { l.Close() })
		go func() { // accept and never answer
			var held []net.Conn
			for {
				c, err := l.Accept()
				if err != nil {
					for _, c := range held {
						c.Close()
					}
					return
				}
				held = append(held, c)
			}
		}()
		rt := newRuntime(t, "1.1.0", socketKey(sock)+`, "timeout": "1s"`)
		_, err = rt.cni.AddNetworkList(ctx, rt.list, podConf("dead0002", "p"))
		cniError(t, err, types.ErrTryAgainLater, "agent at "+sock+" is unreachable", "no answer within 1s")
	})
	t.Run("missing agentSocket defaults to the agent's well-known socket", func(t *testing.T) {
		if _, err := os.Stat(cni.DefaultAgentSocket); err == nil {
			t.Skipf("%s exists on this machine: an agent is running, cannot prove the default by its absence", cni.DefaultAgentSocket)
		}
		rt := newRuntime(t, "1.1.0", `"timeout": "3s"`)
		_, err := rt.cni.AddNetworkList(ctx, rt.list, podConf("dead0003", "p"))
		cniError(t, err, types.ErrTryAgainLater, "agent at "+cni.DefaultAgentSocket+" is unreachable")
	})
	t.Run("pool exhausted passes the agent's message through", func(t *testing.T) {
		agent := agenttest.Start(t)
		agent.FailWith(codes.ResourceExhausted, "IP pool 10.244.1.0/24 exhausted")
		rt := newRuntime(t, "1.1.0", socketKey(agent.Socket))
		_, err := rt.cni.AddNetworkList(ctx, rt.list, podConf("full0001", "p"))
		cniError(t, err, cni.CodePoolExhausted, "IP pool 10.244.1.0/24 exhausted")
	})
	t.Run("agent internal error passes through as 102", func(t *testing.T) {
		agent := agenttest.Start(t)
		agent.FailWith(codes.Internal, "ovsdb transaction failed: timeout")
		rt := newRuntime(t, "1.1.0", socketKey(agent.Socket))
		_, err := rt.cni.AddNetworkList(ctx, rt.list, podConf("bad00001", "p"))
		cniError(t, err, cni.CodeAgentFault, "ovsdb transaction failed: timeout")
	})
	t.Run("del with the agent down is try-again-later", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "absent.sock")
		rt := newRuntime(t, "1.1.0", socketKey(sock))
		cniError(t, rt.cni.DelNetworkList(ctx, rt.list, podConf("dead0004", "p")), types.ErrTryAgainLater, "unreachable")
	})
	t.Run("status with the agent down is code 50", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "absent.sock")
		rt := newRuntime(t, "1.1.0", socketKey(sock))
		cniError(t, rt.cni.GetStatusNetworkList(ctx, rt.list), types.ErrPluginNotAvailable, "agent at "+sock+" is unreachable")
	})

	agent := agenttest.Start(t)
	for _, tc := range []struct {
		name  string
		keys  string
		args  [][2]string
		code  uint
		parts []string
	}{
		{"agentSocket of the wrong type names the key", `"agentSocket": 5`, nil, types.ErrDecodingFailure, []string{"agentSocket", "string"}},
		{"relative agentSocket names the key", `"agentSocket": "cni.sock"`, nil, types.ErrInvalidNetworkConfig, []string{"agentSocket", "absolute"}},
		{"unparsable timeout names the key", socketKey(agent.Socket) + `, "timeout": "soon"`, nil, types.ErrInvalidNetworkConfig, []string{"timeout", `"soon"`}},
		{"timeout of the wrong type names the key", socketKey(agent.Socket) + `, "timeout": 10`, nil, types.ErrDecodingFailure, []string{"timeout"}},
		{"missing pod name names the CNI_ARGS key", socketKey(agent.Socket), [][2]string{{"K8S_POD_NAMESPACE", "default"}}, types.ErrInvalidEnvironmentVariables, []string{"K8S_POD_NAME", "missing"}},
		{"missing pod namespace names the CNI_ARGS key", socketKey(agent.Socket), [][2]string{{"K8S_POD_NAME", "p"}}, types.ErrInvalidEnvironmentVariables, []string{"K8S_POD_NAMESPACE", "missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newRuntime(t, "1.1.0", tc.keys)
			pod := podConf("cafe0001", "p")
			if tc.args != nil {
				pod.Args = tc.args
			}
			_, err := rt.cni.AddNetworkList(ctx, rt.list, pod)
			cniError(t, err, tc.code, tc.parts...)
		})
	}
	if got := agent.Attachments(); len(got) != 0 {
		t.Errorf("got attachments %v after rejected ADDs, want none", got)
	}
}

// TestRuntimeChainPortmapBandwidth runs the reference portmap and bandwidth plugins after sluice:
// each must receive sluice's result as prevResult and hand it on unchanged (no port mappings or
// limits are requested, so they touch no firewall or qdisc). Only ADD runs: portmap's DEL would
// clean rules in the host's tables.
func TestRuntimeChainPortmapBandwidth(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the reference portmap and bandwidth plugins (needs the Go module proxy); skipped in -short")
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "install", "github.com/containernetworking/plugins/plugins/meta/portmap@v1.9.1",
		"github.com/containernetworking/plugins/plugins/meta/bandwidth@v1.9.1")
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build the reference portmap and bandwidth plugins v1.9.1 here (module proxy unreachable?): %v\n%s", err, b)
	}
	if err := os.Symlink(filepath.Join(binDir, "sluice-cni"), filepath.Join(dir, "sluice-cni")); err != nil {
		t.Fatal(err)
	}
	agent := agenttest.Start(t)
	rt := newRuntime(t, "1.1.0", socketKey(agent.Socket), `{"type": "portmap", "backend": "nftables", "capabilities": {"portMappings": true}}`,
		`{"type": "bandwidth", "capabilities": {"bandwidth": true}}`)
	rt.cni = libcni.NewCNIConfigWithCacheDir([]string{dir}, t.TempDir(), nil)
	pod := podConf("c4a1ed01", "chained")
	res, err := rt.cni.AddNetworkList(t.Context(), rt.list, pod)
	if err != nil {
		t.Fatalf("ADD through sluice-cni, portmap and bandwidth: %v", err)
	}
	r := checkResult(t, res, pod.NetNS)
	want := "sluice/" + pod.ContainerID + "/eth0"
	if got := agent.Attachments(); !slices.Equal(got, []string{want}) {
		t.Errorf("got attachments %v, want %v", got, want)
	}
	if got := r.IPs[0].Address.String(); !strings.HasPrefix(got, "10.244.1.") {
		t.Errorf("got %s from the chain, want sluice's address passed through", got)
	}
}

// BenchmarkRuntimeAddDel measures one pod's ADD plus DEL as a runtime sees it: two execs of
// sluice-cni through libcni, each one gRPC call to the (fake, instant) agent. It is the plugin's
// share of pod creation latency.
func BenchmarkRuntimeAddDel(b *testing.B) {
	agent := agenttest.Start(b)
	conf := fmt.Sprintf(`{"cniVersion": "1.1.0", "name": "sluice", "plugins": [{"type": "sluice-cni", %s}]}`, socketKey(agent.Socket))
	list, err := libcni.ConfListFromBytes([]byte(conf))
	if err != nil {
		b.Fatal(err)
	}
	rt := libcni.NewCNIConfigWithCacheDir([]string{binDir}, b.TempDir(), nil)
	pod := podConf("bench0001", "bench")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rt.AddNetworkList(b.Context(), list, pod); err != nil {
			b.Fatalf("ADD: %v", err)
		}
		if err := rt.DelNetworkList(b.Context(), list, pod); err != nil {
			b.Fatalf("DEL: %v", err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pods/s")
}
