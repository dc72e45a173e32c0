// Package agenttest is an in-process fake of sluice-agent's CNI gRPC server for tests: it serves
// cniapi.CNIServer on a unix socket, hands out addresses from 10.244.1.0/24 in order, remembers
// attachments so DEL, CHECK and GC behave like the real agent's contract (idempotent DEL, CHECK
// fails for an unknown attachment, GC releases what the runtime no longer lists), and can be told
// to fail the next calls with a given gRPC status (e.g. RESOURCE_EXHAUSTED for a full pool).
package agenttest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicenet/sluice/cni/cniapi"
)

// Fixed parts of every result the fake returns.
const (
	Gateway    = "10.244.1.1"
	Nameserver = "10.96.0.10"
	MTU        = 1450
)

// Agent is a running fake agent.
type Agent struct {
	cniapi.UnimplementedCNIServer

	// Socket is the unix socket path it listens on.
	Socket string

	mu       sync.Mutex
	next     int
	attached map[key]*cniapi.AddResponse
	pods     map[key]*cniapi.Pod
	fail     error
	ready    bool
	reason   string
	calls    []string
}

type key struct{ network, container, ifname string }

var _ cniapi.CNIServer = (*Agent)(nil)

// Start serves a fake agent on a fresh socket until the test ends.
func Start(t testing.TB) *Agent {
	t.Helper()
	// Short directory: unix socket paths are limited to 108 bytes, t.TempDir can be longer.
	dir, err := os.MkdirTemp("", "sluice-agent")
	if err != nil {
		t.Fatalf("make socket dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	a := &Agent{Socket: filepath.Join(dir, "cni.sock"), next: 2, attached: map[key]*cniapi.AddResponse{}, pods: map[key]*cniapi.Pod{}, ready: true}
	l, err := net.Listen("unix", a.Socket)
	if err != nil {
		t.Fatalf("listen on %s: %v", a.Socket, err)
	}
	s := grpc.NewServer()
	cniapi.RegisterCNIServer(s, a)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(l) }()
	t.Cleanup(func() { s.Stop(); <-done })
	return a
}

// FailWith makes every following call fail with a gRPC status of code and msg; code OK clears it.
func (a *Agent) FailWith(code codes.Code, msg string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fail = nil
	if code != codes.OK {
		a.fail = status.Error(code, msg)
	}
}

// SetReady sets what Status answers.
func (a *Agent) SetReady(ready bool, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ready, a.reason = ready, reason
}

// Attachments returns the live attachments as "network/container/ifname", sorted.
func (a *Agent) Attachments() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for k := range a.attached {
		out = append(out, k.network+"/"+k.container+"/"+k.ifname)
	}
	slices.Sort(out)
	return out
}

// Pod returns the pod identity the Add of an attachment carried, or nil.
func (a *Agent) Pod(network, container, ifname string) *cniapi.Pod {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pods[key{network, container, ifname}]
}

// Calls returns the RPC names served so far, in order.
func (a *Agent) Calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

func (a *Agent) enterLocked(name string) error {
	a.calls = append(a.calls, name)
	return a.fail
}

// Add allocates the next address and returns a pod interface in the request's netns.
func (a *Agent) Add(_ context.Context, r *cniapi.AddRequest) (*cniapi.AddResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.enterLocked("Add"); err != nil {
		return nil, err
	}
	if r.GetPod().GetNamespace() == "" || r.GetPod().GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "pod namespace and name are required")
	}
	k := key{r.GetNetwork(), r.GetAttachment().GetContainerId(), r.GetAttachment().GetIfname()}
	if resp, ok := a.attached[k]; ok {
		return resp, nil
	}
	if a.next > 254 {
		return nil, status.Error(codes.ResourceExhausted, "IP pool 10.244.1.0/24 exhausted")
	}
	n := a.next
	a.next++
	resp := &cniapi.AddResponse{
		Interfaces: []*cniapi.Interface{{Name: k.ifname, Mac: fmt.Sprintf("02:00:0a:f4:01:%02x", n), Mtu: MTU, Sandbox: r.GetNetns()}},
		Ips:        []*cniapi.IPConfig{{Address: fmt.Sprintf("10.244.1.%d/24", n), Gateway: Gateway, Interface: 0}},
		Routes:     []*cniapi.Route{{Dst: "0.0.0.0/0", Gw: Gateway}},
		Dns:        &cniapi.DNS{Nameservers: []string{Nameserver}, Search: []string{r.GetPod().GetNamespace() + ".svc.cluster.local", "svc.cluster.local"}, Options: []string{"ndots:5"}},
	}
	a.attached[k] = resp
	a.pods[k] = r.GetPod()
	return resp, nil
}

// Del forgets an attachment; an unknown one is not an error.
func (a *Agent) Del(_ context.Context, r *cniapi.DelRequest) (*cniapi.DelResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.enterLocked("Del"); err != nil {
		return nil, err
	}
	k := key{r.GetNetwork(), r.GetAttachment().GetContainerId(), r.GetAttachment().GetIfname()}
	delete(a.attached, k)
	delete(a.pods, k)
	return &cniapi.DelResponse{}, nil
}

// Check fails with FAILED_PRECONDITION for an attachment Add did not make.
func (a *Agent) Check(_ context.Context, r *cniapi.CheckRequest) (*cniapi.CheckResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.enterLocked("Check"); err != nil {
		return nil, err
	}
	k := key{r.GetNetwork(), r.GetAttachment().GetContainerId(), r.GetAttachment().GetIfname()}
	if _, ok := a.attached[k]; !ok {
		return nil, status.Errorf(codes.FailedPrecondition, "no attachment %s/%s on network %s", k.container, k.ifname, k.network)
	}
	return &cniapi.CheckResponse{}, nil
}

// GC releases the network's attachments not listed as valid.
func (a *Agent) GC(_ context.Context, r *cniapi.GCRequest) (*cniapi.GCResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.enterLocked("GC"); err != nil {
		return nil, err
	}
	valid := map[key]bool{}
	for _, v := range r.GetValidAttachments() {
		valid[key{r.GetNetwork(), v.GetContainerId(), v.GetIfname()}] = true
	}
	resp := &cniapi.GCResponse{}
	for k := range a.attached {
		if k.network == r.GetNetwork() && !valid[k] {
			delete(a.attached, k)
			delete(a.pods, k)
			resp.Released = append(resp.Released, &cniapi.Attachment{ContainerId: k.container, Ifname: k.ifname})
		}
	}
	return resp, nil
}

// Status answers what SetReady set (ready by default).
func (a *Agent) Status(context.Context, *cniapi.StatusRequest) (*cniapi.StatusResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.enterLocked("Status"); err != nil {
		return nil, err
	}
	return &cniapi.StatusResponse{Ready: a.ready, Reason: a.reason}, nil
}
