package cni

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sluicenet/sluice/cni/cniapi"
)

// Plugin-specific CNI error codes (the spec reserves 100 and up for plugins).
const (
	// CodeAgentRejected: the agent refused the request (bad argument, CHECK found a difference,
	// unknown attachment); the message is the agent's.
	CodeAgentRejected uint = 100
	// CodePoolExhausted: the agent has no free address in the node's pod CIDR.
	CodePoolExhausted uint = 101
	// CodeAgentFault: the agent failed internally, or answered something that is not a valid result.
	CodeAgentFault uint = 102
	// CodeCheckMismatch: CHECK's prevResult lacks the interface this plugin made (ifname inside
	// the sandbox), so the runtime's cached result and the attachment disagree.
	CodeCheckMismatch uint = 103
)

// Versions are the CNI spec versions the plugin speaks; GC and STATUS need 1.1.0.
var Versions = version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")

// About is what VERSION-less invocations print.
const About = "sluice-cni: Sluice's CNI plugin, a client of sluice-agent"

// Plugin runs CNI commands against the agent. The zero value is not usable; use New.
type Plugin struct {
	log    *slog.Logger
	stdout io.Writer
}

// New returns a Plugin that prints results to stdout and logs to log.
func New(log *slog.Logger, stdout io.Writer) *Plugin {
	return &Plugin{log: log, stdout: stdout}
}

// Funcs returns the skel callbacks for every CNI command.
func (p *Plugin) Funcs() skel.CNIFuncs {
	return skel.CNIFuncs{Add: p.Add, Del: p.Del, Check: p.Check, GC: p.GC, Status: p.Status}
}

// Main runs the plugin as the process's entry point, as skel does: reads the CNI environment and
// stdin, prints the result or error JSON, and exits non-zero on error.
func Main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	skel.PluginMainFuncs(New(log, os.Stdout).Funcs(), Versions, About)
}

// call is one command's parsed input and a connected client.
type call struct {
	cfg  *Config
	pod  PodArgs
	conn *grpc.ClientConn
	api  cniapi.CNIClient
}

// setup parses the configuration and arguments and makes (but does not yet dial) the client.
func setup(args *skel.CmdArgs) (*call, error) {
	cfg, err := ParseConfig(args.StdinData)
	if err != nil {
		return nil, asCNIError(err)
	}
	pod, err := ParseArgs(args.Args)
	if err != nil {
		return nil, asCNIError(err)
	}
	conn, err := grpc.NewClient("unix://"+cfg.AgentSocket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, types.NewError(types.ErrInvalidNetworkConfig, "agentSocket: "+err.Error(), "")
	}
	return &call{cfg: cfg, pod: pod, conn: conn, api: cniapi.NewCNIClient(conn)}, nil
}

// agentError turns a failed RPC into a CNI error: unreachable or silent agent → 11 naming the
// socket; the agent's own refusals → the plugin codes with its message passed through.
func (c *call) agentError(op string, err error) *types.Error {
	st, _ := status.FromError(err)
	details := fmt.Sprintf("%s: agent at %s answered %s", op, c.cfg.AgentSocket, st.Code())
	switch st.Code() {
	case codes.Unavailable:
		return types.NewError(types.ErrTryAgainLater,
			fmt.Sprintf("%s: agent at %s is unreachable: %s", op, c.cfg.AgentSocket, st.Message()), "is sluice-agent running on this node?")
	case codes.DeadlineExceeded, codes.Canceled:
		return types.NewError(types.ErrTryAgainLater,
			fmt.Sprintf("%s: agent at %s is unreachable: no answer within %s", op, c.cfg.AgentSocket, c.cfg.Timeout), "is sluice-agent running and healthy on this node?")
	case codes.ResourceExhausted:
		return types.NewError(CodePoolExhausted, st.Message(), details)
	case codes.InvalidArgument, codes.FailedPrecondition, codes.NotFound, codes.AlreadyExists:
		return types.NewError(CodeAgentRejected, st.Message(), details)
	default:
		return types.NewError(CodeAgentFault, st.Message(), details)
	}
}

func (c *call) attachment(args *skel.CmdArgs) *cniapi.Attachment {
	return &cniapi.Attachment{ContainerId: args.ContainerID, Ifname: args.IfName}
}

func (c *call) podMsg() *cniapi.Pod {
	return &cniapi.Pod{Namespace: c.pod.Namespace, Name: c.pod.Name, InfraContainerId: c.pod.InfraContainerID, Uid: c.pod.UID}
}

// run parses the command's input, connects to the agent and calls fn with a context bounded by
// the configured timeout.
func run(args *skel.CmdArgs, fn func(ctx context.Context, c *call) error) error {
	c, err := setup(args)
	if err != nil {
		return err
	}
	defer c.conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	return fn(ctx, c)
}

// Add handles CNI ADD: the agent plumbs the pod and the plugin prints its answer as the result.
func (p *Plugin) Add(args *skel.CmdArgs) error {
	return run(args, func(ctx context.Context, c *call) error {
		if err := c.pod.requireForAdd(); err != nil {
			return asCNIError(err)
		}
		resp, err := c.api.Add(ctx, &cniapi.AddRequest{Network: c.cfg.Name, Attachment: c.attachment(args), Netns: args.Netns, Pod: c.podMsg()})
		if err != nil {
			p.log.Warn("cni add failed", "container", args.ContainerID, "pod", c.pod.Namespace+"/"+c.pod.Name, "err", err)
			return c.agentError("add", err)
		}
		res, err := Result(resp)
		if err != nil {
			return types.NewError(CodeAgentFault, fmt.Sprintf("add: agent at %s returned an invalid result: %v", c.cfg.AgentSocket, err), "")
		}
		out, err := res.GetAsVersion(c.cfg.CNIVersion)
		if err != nil {
			return types.NewError(types.ErrIncompatibleCNIVersion, fmt.Sprintf("add: convert result to %s: %v", c.cfg.CNIVersion, err), "")
		}
		return out.PrintTo(p.stdout)
	})
}

// Del handles CNI DEL; the agent treats an unknown attachment as already deleted.
func (p *Plugin) Del(args *skel.CmdArgs) error {
	return run(args, func(ctx context.Context, c *call) error {
		if _, err := c.api.Del(ctx, &cniapi.DelRequest{Network: c.cfg.Name, Attachment: c.attachment(args), Netns: args.Netns, Pod: c.podMsg()}); err != nil {
			p.log.Warn("cni del failed", "container", args.ContainerID, "err", err)
			return c.agentError("del", err)
		}
		return nil
	})
}

// Check handles CNI CHECK: the runtime's prevResult must hold the interface ADD reported, then
// the agent verifies the attachment is as it made it.
func (p *Plugin) Check(args *skel.CmdArgs) error {
	return run(args, func(ctx context.Context, c *call) error {
		if err := checkPrevResult(&c.cfg.PluginConf, args); err != nil {
			return err
		}
		if _, err := c.api.Check(ctx, &cniapi.CheckRequest{Network: c.cfg.Name, Attachment: c.attachment(args), Netns: args.Netns, Pod: c.podMsg()}); err != nil {
			return c.agentError("check", err)
		}
		return nil
	})
}

// GC handles CNI GC: the agent releases attachments of this network the runtime no longer lists.
func (p *Plugin) GC(args *skel.CmdArgs) error {
	return run(args, func(ctx context.Context, c *call) error {
		req := &cniapi.GCRequest{Network: c.cfg.Name}
		for _, a := range c.cfg.ValidAttachments {
			req.ValidAttachments = append(req.ValidAttachments, &cniapi.Attachment{ContainerId: a.ContainerID, Ifname: a.IfName})
		}
		resp, err := c.api.GC(ctx, req)
		if err != nil {
			return c.agentError("gc", err)
		}
		for _, a := range resp.GetReleased() {
			p.log.Info("cni gc released attachment", "container", a.GetContainerId(), "ifname", a.GetIfname())
		}
		return nil
	})
}

// Status handles CNI STATUS: code 50 when the agent is unreachable or says it is not ready.
func (p *Plugin) Status(args *skel.CmdArgs) error {
	return run(args, func(ctx context.Context, c *call) error {
		resp, err := c.api.Status(ctx, &cniapi.StatusRequest{Network: c.cfg.Name})
		if err != nil {
			e := c.agentError("status", err)
			if e.Code == types.ErrTryAgainLater {
				e.Code = types.ErrPluginNotAvailable
			}
			return e
		}
		if !resp.GetReady() {
			return types.NewError(types.ErrPluginNotAvailable, fmt.Sprintf("status: agent at %s is not ready: %s", c.cfg.AgentSocket, resp.GetReason()), "")
		}
		return nil
	})
}

// checkPrevResult verifies CHECK's prevResult (when the runtime sends one) names interface
// args.IfName in sandbox args.Netns, as this plugin's ADD result did.
func checkPrevResult(conf *types.PluginConf, args *skel.CmdArgs) error {
	if conf.RawPrevResult == nil {
		return nil
	}
	if err := version.ParsePrevResult(conf); err != nil {
		return types.NewError(types.ErrDecodingFailure, "prevResult: "+err.Error(), "")
	}
	prev, err := current.NewResultFromResult(conf.PrevResult)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, "prevResult: "+err.Error(), "")
	}
	for _, in := range prev.Interfaces {
		if in.Name == args.IfName && in.Sandbox == args.Netns {
			return nil
		}
	}
	return types.NewError(CodeCheckMismatch,
		fmt.Sprintf("check: prevResult has no interface %s in sandbox %s", args.IfName, args.Netns), "")
}

// asCNIError gives a parse error its CNI code; anything else is an internal error.
func asCNIError(err error) *types.Error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return types.NewError(ce.Code, ce.Error(), "")
	}
	return types.NewError(types.ErrInternal, err.Error(), "")
}

// Result converts the agent's AddResponse into a CNI 1.1.0 result, rejecting anything a runtime
// could not use (an address that is not CIDR, an IP naming a missing interface, ...); the error
// names the offending element.
func Result(r *cniapi.AddResponse) (*current.Result, error) {
	res := &current.Result{CNIVersion: current.ImplementedSpecVersion}
	for i, in := range r.GetInterfaces() {
		if in.GetName() == "" {
			return nil, fmt.Errorf("interfaces[%d].name: empty", i)
		}
		if in.GetMac() != "" {
			if _, err := net.ParseMAC(in.GetMac()); err != nil {
				return nil, fmt.Errorf("interfaces[%d].mac: %w", i, err)
			}
		}
		res.Interfaces = append(res.Interfaces, &current.Interface{Name: in.GetName(), Mac: in.GetMac(), Mtu: int(in.GetMtu()), Sandbox: in.GetSandbox()})
	}
	if len(r.GetIps()) == 0 {
		return nil, errors.New("ips: none")
	}
	for i, ip := range r.GetIps() {
		addr, ipnet, err := net.ParseCIDR(ip.GetAddress())
		if err != nil {
			return nil, fmt.Errorf("ips[%d].address: %w", i, err)
		}
		ipnet.IP = addr
		cfg := &current.IPConfig{Address: *ipnet}
		if g := ip.GetGateway(); g != "" {
			if cfg.Gateway = net.ParseIP(g); cfg.Gateway == nil {
				return nil, fmt.Errorf("ips[%d].gateway: %q is not an IP address", i, g)
			}
		}
		idx := int(ip.GetInterface())
		if idx < 0 || idx >= len(res.Interfaces) {
			return nil, fmt.Errorf("ips[%d].interface: index %d, have %d interfaces", i, idx, len(res.Interfaces))
		}
		cfg.Interface = current.Int(idx)
		res.IPs = append(res.IPs, cfg)
	}
	for i, rt := range r.GetRoutes() {
		_, dst, err := net.ParseCIDR(rt.GetDst())
		if err != nil {
			return nil, fmt.Errorf("routes[%d].dst: %w", i, err)
		}
		route := &types.Route{Dst: *dst}
		if g := rt.GetGw(); g != "" {
			if route.GW = net.ParseIP(g); route.GW == nil {
				return nil, fmt.Errorf("routes[%d].gw: %q is not an IP address", i, g)
			}
		}
		res.Routes = append(res.Routes, route)
	}
	if d := r.GetDns(); d != nil {
		res.DNS = types.DNS{Nameservers: d.GetNameservers(), Domain: d.GetDomain(), Search: d.GetSearch(), Options: d.GetOptions()}
	}
	return res, nil
}
