package bridge

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/vishvananda/netlink"

	"github.com/sluicenet/sluice/bpf"
	"github.com/sluicenet/sluice/datapath/afxdp"
	"github.com/sluicenet/sluice/datapath/ofswitch"
	"github.com/sluicenet/sluice/datapath/ovsdb"
	"github.com/sluicenet/sluice/datapath/pipeline"
	"github.com/sluicenet/sluice/datapath/port"
)

var _ ovsdb.Datapath = (*Datapath)(nil)

// Datapath runs Sluice's bridges: it implements ovsdb.Datapath over AF_XDP sockets on one
// shared UMEM, the steering program and one ofswitch.Switch per bridge. Create it with New,
// drive it with an ovsdb.Client (or Run), release it with Close.
type Datapath struct {
	opts  Options
	log   *slog.Logger
	steer *bpf.Steering
	umem  *afxdp.UMEM
	ctx   context.Context
	stop  context.CancelFunc

	mu      sync.Mutex // serialises configuration changes; guards the maps below
	bridges map[string]*bridge
	ifaces  map[string]*netPort // attached netdevs by interface name
	tunnels map[string]*tunnelPort
	slots   []bool // XSKMAP slots in use

	drops [NumDropReasons]atomic.Uint64
}

// bridge is one Sluice bridge: its switch, its flow tables and the ports frames can leave by.
type bridge struct {
	name  string
	mac   net.HardwareAddr
	sw    *ofswitch.Switch
	pipe  *pipeline.Pipeline
	ports atomic.Pointer[map[uint32]*netPort] // by OpenFlow port; replaced, never changed
	// tunnels are the tunnel ports by OpenFlow port; replaced, never changed.
	tunnels atomic.Pointer[map[uint32]*tunnelPort]
}

// New loads the steering program (pinning its maps under opts.PinDir when set) and allocates
// the UMEM. It must run in the network namespace of the netdevs it will attach.
func New(opts Options) (*Datapath, error) {
	if opts.Batch <= 0 || opts.BusyPolls < 0 || opts.IdleWait <= 0 || opts.MaxSockets == 0 {
		return nil, fmt.Errorf("new datapath: options %+v: Batch, IdleWait and MaxSockets must be positive", opts)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.PinDir != "" {
		if err := bpf.EnsureBPFFS(opts.PinDir); err != nil {
			return nil, fmt.Errorf("new datapath: %w", err)
		}
	}
	steer, err := bpf.Load(bpf.Options{PinPath: opts.PinDir, MaxSockets: opts.MaxSockets, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("new datapath: %w", err)
	}
	umem, err := afxdp.NewUMEM(opts.UMEM)
	if err != nil {
		steer.Close()
		return nil, fmt.Errorf("new datapath: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Datapath{opts: opts, log: log, steer: steer, umem: umem, ctx: ctx, stop: stop,
		bridges: map[string]*bridge{}, ifaces: map[string]*netPort{}, tunnels: map[string]*tunnelPort{}, slots: make([]bool, opts.MaxSockets)}, nil
}

// Run runs sluice-datapath until ctx ends: it creates a Datapath, serves its counters at
// opts.MetricsAddr (see ListenMetrics), reconciles ovsdb-server's
// configuration at opts.OVSDB into it, and on the way out stops every port (leaving pinned XDP
// links attached, see the package comment) and closes the switches.
func Run(ctx context.Context, opts Options) error {
	d, err := New(opts)
	if err != nil {
		return err
	}
	defer d.Close()
	if opts.MetricsAddr != "" {
		l, err := ListenMetrics(opts.MetricsAddr)
		if err != nil {
			return fmt.Errorf("run datapath: %w", err)
		}
		mctx, stopMetrics := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); d.serveMetrics(mctx, l) }()
		defer func() { stopMetrics(); <-done }()
		d.log.Info("serving metrics", "addr", opts.MetricsAddr)
	}
	co := ovsdb.DefaultOptions()
	co.Endpoint = opts.OVSDB
	if opts.StatusInterval > 0 {
		co.StatusInterval = opts.StatusInterval
	}
	c, err := ovsdb.New(co, d, d.log)
	if err != nil {
		return err
	}
	if err := c.Run(ctx); err != nil && !(ctx.Err() != nil && errors.Is(err, context.Canceled)) {
		return err
	}
	return nil // stopped while still waiting for ovsdb-server: a clean shutdown too
}

// Close stops every port and switch and releases the sockets, the UMEM and the steering
// program's handles. Pinned links and maps stay (they hand the traffic to the kernel until a
// new process takes over); without pinning every XDP program is detached.
func (d *Datapath) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.ifaces {
		d.removePortLocked(p, d.opts.PinDir == "")
	}
	for _, b := range d.bridges {
		b.sw.Close()
	}
	clear(d.bridges)
	clear(d.tunnels)
	d.stop()
	drops := d.Drops()
	d.log.Info("datapath closed", "drops_"+DropNoPort.String(), drops[DropNoPort],
		"drops_"+DropNoMemory.String(), drops[DropNoMemory], "drops_"+DropTooLong.String(), drops[DropTooLong],
		"drops_"+DropTunnelEncap.String(), drops[DropTunnelEncap])
	err := errors.Join(d.umem.Close(), d.steer.Close())
	if err != nil {
		return fmt.Errorf("close datapath: %w", err)
	}
	return nil
}

// Drops returns the runtime's own drop counters, by reason.
func (d *Datapath) Drops() [NumDropReasons]uint64 {
	var out [NumDropReasons]uint64
	for i := range out {
		out[i] = d.drops[i].Load()
	}
	return out
}

// SocketPath returns the management socket of bridge name.
func (d *Datapath) SocketPath(name string) string {
	return filepath.Join(d.opts.RunDir, name+".mgmt")
}

// bridgeMAC is the bridge's local MAC address: locally administered, from its name.
func bridgeMAC(name string) net.HardwareAddr {
	h := fnv.New32a()
	h.Write([]byte(name))
	s := h.Sum32()
	return net.HardwareAddr{0x02, 0x5c, byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}
}

// AddBridge starts the bridge's switch on its management socket with a fresh pipeline; for a
// bridge that exists it only reports the status again.
func (d *Datapath) AddBridge(_ context.Context, b ovsdb.Bridge) (ovsdb.BridgeStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if br, ok := d.bridges[b.Name]; ok {
		return ovsdb.BridgeStatus{DatapathID: b.DatapathID(br.mac), DatapathVersion: "sluice"}, nil
	}
	br := &bridge{name: b.Name, mac: bridgeMAC(b.Name), pipe: pipeline.New(pipeline.Options{Logger: d.log})}
	dpid := b.DatapathID(br.mac)
	br.sw = ofswitch.New(ofswitch.Options{Bridge: b.Name, Path: d.SocketPath(b.Name), DatapathID: dpid,
		Logger: d.log, Pipeline: br.pipe})
	br.ports.Store(&map[uint32]*netPort{})
	br.tunnels.Store(&map[uint32]*tunnelPort{})
	if err := br.sw.Listen(d.ctx); err != nil {
		return ovsdb.BridgeStatus{}, fmt.Errorf("add bridge %s: %w", b.Name, err)
	}
	d.bridges[b.Name] = br
	d.log.Info("bridge added", "bridge", b.Name, "socket", d.SocketPath(b.Name))
	return ovsdb.BridgeStatus{DatapathID: dpid, DatapathVersion: "sluice"}, nil
}

// DeleteBridge stops the bridge's switch and removes its socket.
func (d *Datapath) DeleteBridge(_ context.Context, b ovsdb.Bridge) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	br, ok := d.bridges[b.Name]
	if !ok {
		return nil
	}
	for _, p := range d.ifaces {
		if p.br == br {
			d.removePortLocked(p, true)
		}
	}
	for name, tp := range d.tunnels {
		if tp.br == br {
			delete(d.tunnels, name)
		}
	}
	delete(d.bridges, b.Name)
	br.sw.Close()
	d.log.Info("bridge deleted", "bridge", b.Name)
	return nil
}

// Attach adds iface to its bridge: a netdev through AF_XDP, an internal interface as a veth
// pair whose far end is attached like a netdev (see attachInternal), a geneve or vxlan
// interface as a tunnel port that drops what it is given (tunnelPort).
func (d *Datapath) Attach(_ context.Context, iface ovsdb.Interface) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	br, ok := d.bridges[iface.Bridge]
	if !ok {
		return fmt.Errorf("attach %s: bridge %s is not running", iface.Name, iface.Bridge)
	}
	switch iface.Kind {
	case ovsdb.KindNetdev:
		return d.attachNetdev(br, iface, iface.Name)
	case ovsdb.KindInternal:
		return d.attachInternal(br, iface)
	case ovsdb.KindTunnel:
		return d.attachTunnel(br, iface)
	}
	return fmt.Errorf("attach %s: %s interfaces are not supported by the sluice datapath yet", iface.Name, iface.Type)
}

// Detach removes an attached interface (and the veth pair of an internal one); it succeeds
// when the netdev is already gone.
func (d *Datapath) Detach(_ context.Context, iface ovsdb.Interface) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if tp, ok := d.tunnels[iface.Name]; ok {
		d.removeTunnelLocked(tp)
		return nil
	}
	if p, ok := d.ifaces[iface.Name]; ok {
		d.removePortLocked(p, true)
	}
	return nil
}

// Status reports an interface's link state, addresses and counters, and tells the switch about
// state changes. A netdev that vanished or changed its ifindex is an error.
func (d *Datapath) Status(_ context.Context, iface ovsdb.Interface) (ovsdb.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if tp, ok := d.tunnels[iface.Name]; ok {
		ps := tp.Stats()
		return ovsdb.Status{AdminUp: true, LinkUp: true, Counters: ovsdb.Counters{TxDropped: ps.TxDropped}}, nil
	}
	p, ok := d.ifaces[iface.Name]
	if !ok {
		return ovsdb.Status{}, fmt.Errorf("status of %s: not attached", iface.Name)
	}
	l, err := netlink.LinkByName(iface.Name)
	if err != nil || l.Attrs().Index != p.hostIndex() {
		return ovsdb.Status{}, fmt.Errorf("network device %s vanished or was renamed", iface.Name)
	}
	a := l.Attrs()
	st := ovsdb.Status{AdminUp: a.Flags&net.FlagUp != 0, LinkUp: linkUp(a), MAC: a.HardwareAddr,
		Ifindex: a.Index, MTU: a.MTU, Counters: counters(p.xdp.Stats())}
	_ = p.br.sw.SetPortState(p.ofport, !st.AdminUp, !st.LinkUp)
	return st, nil
}

func linkUp(a *netlink.LinkAttrs) bool {
	return a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown && a.Flags&net.FlagUp != 0
}

func counters(s port.Stats) ovsdb.Counters {
	var txDrops uint64
	for _, n := range s.Drops {
		txDrops += n
	}
	return ovsdb.Counters{RxPackets: s.RXFrames, RxBytes: s.RXBytes, TxPackets: s.TXFrames,
		TxBytes: s.TXBytes, TxDropped: txDrops}
}

// attachNetdev opens queue 0 of netdev dev (iface's own, or the far end of an internal
// interface's pair) on the shared UMEM, registers the socket in a free XSKMAP slot, attaches
// (or takes over the pinned) XDP link, adds the switch port under iface's name and starts the
// port's goroutine. On failure it undoes what it did.
func (d *Datapath) attachNetdev(br *bridge, iface ovsdb.Interface, dev string) (err error) {
	if _, ok := d.ifaces[iface.Name]; ok {
		return fmt.Errorf("attach %s: already attached", iface.Name)
	}
	l, err := netlink.LinkByName(dev)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return fmt.Errorf("could not open network device %s (No such device)", dev)
		}
		return fmt.Errorf("attach %s: %w", iface.Name, err)
	}
	a := l.Attrs()
	slot := -1
	for i, used := range d.slots {
		if !used {
			slot = i
			break
		}
	}
	if slot < 0 {
		return fmt.Errorf("attach %s: all %d XSKMAP slots in use", iface.Name, len(d.slots))
	}
	p := &netPort{d: d, br: br, iface: iface, ofport: switchPort(iface.OFPort), dev: dev, ifindex: a.Index, slot: uint32(slot)}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	if err := d.steer.SetInterface(a.Index, bpf.InterfaceConfig{Mode: bpf.ModeAll, SlotBase: p.slot, Queues: 1}); err != nil {
		return fmt.Errorf("attach %s: %w", iface.Name, err)
	}
	undo = append(undo, func() { _ = d.steer.RemoveInterface(a.Index) })
	sock, err := afxdp.NewSocket(d.umem, a.Index, 0, d.opts.Socket)
	if err != nil {
		return fmt.Errorf("attach %s: %w", iface.Name, err)
	}
	p.xdp = port.NewXDP(dev+"/q0", sock, d.opts.Batch)
	undo = append(undo, func() { _ = p.xdp.Close() })
	if err := d.steer.SetSocket(p.slot, sock.FD()); err != nil {
		return fmt.Errorf("attach %s: %w", iface.Name, err)
	}
	undo = append(undo, func() { _ = d.steer.DeleteSocket(p.slot) })
	if p.att, err = d.attachXDP(dev, a.Index); err != nil {
		return err
	}
	undo = append(undo, func() { _ = p.att.Detach() })
	if dev != iface.Name { // the switch port shows the host's end of the pair
		if a, err = hostAttrs(p); err != nil {
			return err
		}
	}
	var mac [6]byte
	copy(mac[:], a.HardwareAddr)
	desc := ofswitch.PortDesc{OFPort: p.ofport, Name: iface.Name, MAC: mac,
		AdminDown: a.Flags&net.FlagUp == 0, LinkDown: !linkUp(a)}
	if err := br.sw.AddPort(desc, p); err != nil {
		return fmt.Errorf("attach %s: %w", iface.Name, err)
	}
	d.slots[slot] = true
	d.ifaces[iface.Name] = p
	publish(&br.ports, p.ofport, p)
	p.start(d.ctx)
	d.log.Info("interface attached", "interface", iface.Name, "bridge", br.name, "ofport", p.ofport,
		"slot", p.slot, "xdp", p.att.Mode, "zero_copy", sock.ZeroCopy())
	return nil
}

// attachXDP takes over the pinned link of the interface if there is one for this ifindex, or
// attaches the steering program and pins the link when pinning is on.
func (d *Datapath) attachXDP(name string, ifindex int) (*bpf.Attachment, error) {
	if d.opts.PinDir == "" {
		return d.steer.Attach(ifindex, bpf.AttachAuto)
	}
	path := filepath.Join(d.opts.PinDir, "link-"+name)
	if _, err := os.Stat(path); err == nil {
		att, err := d.steer.LoadPinnedAttachment(path)
		if err == nil && att.Ifindex == ifindex {
			d.log.Info("took over pinned xdp link", "interface", name, "pin", path)
			return att, nil
		}
		// A pin of an interface that is gone (or was recreated): drop it and start afresh.
		if err == nil {
			_ = att.Detach()
		} else {
			_ = os.Remove(path)
		}
	}
	att, err := d.steer.Attach(ifindex, bpf.AttachAuto)
	if err != nil {
		return nil, err
	}
	if err := att.Pin(path); err != nil {
		_ = att.Detach()
		return nil, err
	}
	return att, nil
}

// removePortLocked stops the port's goroutine and removes it from its switch, the XSKMAP and
// the interface table. detach also detaches XDP and removes the link's pin; otherwise a pinned
// link stays attached (shutdown).
func (d *Datapath) removePortLocked(p *netPort, detach bool) {
	p.stopAndWait()
	publish(&p.br.ports, p.ofport, nil)
	_ = p.br.sw.RemovePort(p.ofport)
	_ = d.steer.DeleteSocket(p.slot)
	if err := p.xdp.Close(); err != nil {
		d.log.Warn("close socket", "interface", p.iface.Name, "error", err)
	}
	if detach {
		_ = d.steer.RemoveInterface(p.ifindex)
		if err := p.att.Detach(); err != nil {
			d.log.Debug("detach xdp", "interface", p.iface.Name, "error", err)
		}
	} else if err := p.att.Close(); err != nil {
		d.log.Warn("close xdp link", "interface", p.iface.Name, "error", err)
	}
	d.slots[p.slot] = false
	delete(d.ifaces, p.iface.Name)
	if p.dev != p.iface.Name {
		d.deletePair(p)
	}
	d.log.Info("interface detached", "interface", p.iface.Name, "xdp_detached", detach)
}

// publish replaces the copy-on-write map at ptr with one where ofport maps to v (nil: removed);
// the port goroutines read it without locks.
func publish[T any](ptr *atomic.Pointer[map[uint32]*T], ofport uint32, v *T) {
	m := maps.Clone(*ptr.Load())
	if v == nil {
		delete(m, ofport)
	} else {
		m[ofport] = v
	}
	ptr.Store(&m)
}
