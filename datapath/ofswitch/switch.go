package ofswitch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/openflow"
	"github.com/sluicenet/sluice/datapath/pipeline"
)

// DefaultSocketDir is where the management sockets live unless Options.Path says otherwise.
const DefaultSocketDir = "/var/run/sluice"

// Options configures a Switch.
type Options struct {
	// Bridge is the bridge's name; it names the default socket and the LOCAL port.
	Bridge string
	// Path is the unix socket to listen on; "" means DefaultSocketDir/<Bridge>.mgmt.
	Path string
	// DatapathID is reported in FEATURES_REPLY; 0 derives one from the bridge name.
	DatapathID uint64
	// Logger receives connection and error events; nil discards them. Nothing is logged per
	// packet.
	Logger *slog.Logger
	// Pipeline holds the flow tables; nil makes one with pipeline.DefaultOptions() and this
	// Clock and Logger. A pipeline passed in should use the same Clock, since timeouts compare
	// the pipeline's times with the switch's.
	Pipeline *pipeline.Pipeline
	// PacketInRate is how many PACKET_IN messages per second the switch sends to controllers
	// (all connections together); more are dropped and counted. 0 means 1000.
	PacketInRate int
	// PacketInBurst is the token bucket's depth; 0 means PacketInRate.
	PacketInBurst int
	// SendQueue is how many messages may wait for a slow controller before asynchronous ones
	// (packet-in) are dropped; 0 means 1024.
	SendQueue int
	// ExpireInterval is how often idle and hard timeouts are checked; 0 means one second
	// (as often as ovs-vswitchd checks).
	ExpireInterval time.Duration
	// Clock returns the time; nil uses time.Now.
	Clock func() time.Time
}

// DefaultOptions returns the options for bridge "br0": its socket in DefaultSocketDir, a fresh
// pipeline, 1000 packet-ins per second, a 1024-message send queue, a one-second expiry sweep.
func DefaultOptions() Options {
	return Options{Bridge: "br0", PacketInRate: 1000, SendQueue: 1024, ExpireInterval: time.Second}
}

// PortDesc describes one switch port as controllers see it (ofp_port).
type PortDesc struct {
	OFPort    uint32
	Name      string
	MAC       [6]byte
	AdminDown bool   // OFPPC_PORT_DOWN
	LinkDown  bool   // OFPPS_LINK_DOWN
	CurrSpeed uint32 // kb/s; 0 leaves the Ethernet speed unreported
}

// PortStats are a port's counters (port stats).
type PortStats struct {
	RxPackets, TxPackets, RxBytes, TxBytes   uint64
	RxDropped, TxDropped, RxErrors, TxErrors uint64
}

// Port is the datapath's side of one port: its counters and a way to send a frame out of it.
type Port interface {
	// Stats returns the port's counters.
	Stats() PortStats
	// Transmit sends one frame out of the port (PACKET_OUT). It must not keep frame.
	Transmit(frame []byte) error
}

// Ports is how the datapath tells the switch which ports exist. Every change is announced to
// the controllers with PORT_STATUS.
type Ports interface {
	// AddPort adds a port (or replaces the one with the same OpenFlow number).
	AddPort(d PortDesc, p Port) error
	// RemovePort removes a port.
	RemovePort(ofport uint32) error
	// SetPortState changes a port's administrative and link state.
	SetPortState(ofport uint32, adminDown, linkDown bool) error
}

var _ Ports = (*Switch)(nil)

// ErrNoPort is returned for an OpenFlow port number the switch does not have.
var ErrNoPort = errors.New("no such port")

type portEntry struct {
	desc  PortDesc
	io    Port
	added time.Time
}

// Counters are the switch's own event counters.
type Counters struct {
	PacketInsSent        uint64
	PacketInsRateLimited uint64
	PacketInsQueueFull   uint64
	ErrorsSent           uint64
	Connections          uint64
}

// Switch is an OpenFlow 1.5 switch over a pipeline. It is safe for concurrent use.
type Switch struct {
	opts Options
	log  *slog.Logger
	pipe *pipeline.Pipeline
	dpid uint64

	// mu serialises every change (flow, group, meter and port mods from all connections) and
	// guards the maps below.
	mu      sync.Mutex
	ports   map[uint32]*portEntry
	groups  map[uint32]time.Time // groups and when they were added
	meters  map[uint32]*meterEntry
	conns   map[*conn]struct{}
	roleGen uint64
	genSet  bool

	ln     net.Listener
	wg     sync.WaitGroup
	cancel context.CancelFunc

	pinMu     sync.Mutex
	pinTokens float64
	pinLast   time.Time

	pinSent, pinRate, pinQueue, errsSent, nConns atomic.Uint64
}

type meterEntry struct {
	e     *flow.MeterEntry
	added time.Time
}

// New returns a switch that is not yet listening (see Listen and Serve).
func New(opts Options) *Switch {
	def := DefaultOptions()
	if opts.Bridge == "" {
		opts.Bridge = def.Bridge
	}
	if opts.Path == "" {
		opts.Path = filepath.Join(DefaultSocketDir, opts.Bridge+".mgmt")
	}
	if opts.PacketInRate <= 0 {
		opts.PacketInRate = def.PacketInRate
	}
	if opts.PacketInBurst <= 0 {
		opts.PacketInBurst = opts.PacketInRate
	}
	if opts.SendQueue <= 0 {
		opts.SendQueue = def.SendQueue
	}
	if opts.ExpireInterval <= 0 {
		opts.ExpireInterval = def.ExpireInterval
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	s := &Switch{opts: opts, log: opts.Logger, pipe: opts.Pipeline,
		ports:  map[uint32]*portEntry{},
		groups: map[uint32]time.Time{}, meters: map[uint32]*meterEntry{}, conns: map[*conn]struct{}{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.pipe == nil {
		po := pipeline.DefaultOptions()
		po.Clock = opts.Clock
		po.Logger = opts.Logger
		s.pipe = pipeline.New(po)
	}
	s.dpid = opts.DatapathID
	if s.dpid == 0 {
		var h uint64 = 14695981039346656037
		for _, c := range []byte(opts.Bridge) {
			h = (h ^ uint64(c)) * 1099511628211
		}
		s.dpid = h & 0x0000ffffffffffff
	}
	s.pinTokens = float64(opts.PacketInBurst)
	s.pinLast = opts.Clock()
	s.ports[flow.PortLocal] = &portEntry{desc: PortDesc{OFPort: flow.PortLocal, Name: opts.Bridge}, added: opts.Clock()}
	s.syncPortsLocked()
	return s
}

// Pipeline returns the switch's flow tables, for the datapath's packet goroutines.
func (s *Switch) Pipeline() *pipeline.Pipeline { return s.pipe }

// Path returns the unix socket path the switch listens on.
func (s *Switch) Path() string { return s.opts.Path }

// Counters returns the switch's event counters.
func (s *Switch) Counters() Counters {
	return Counters{PacketInsSent: s.pinSent.Load(), PacketInsRateLimited: s.pinRate.Load(),
		PacketInsQueueFull: s.pinQueue.Load(), ErrorsSent: s.errsSent.Load(), Connections: s.nConns.Load()}
}

// Listen creates the management socket (replacing a stale one) and starts accepting
// controllers and sweeping timeouts until ctx ends or Close is called.
func (s *Switch) Listen(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(s.opts.Path), 0o755); err != nil {
		return fmt.Errorf("listen on %s: %w", s.opts.Path, err)
	}
	if fi, err := os.Lstat(s.opts.Path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(s.opts.Path)
	}
	ln, err := net.Listen("unix", s.opts.Path)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.opts.Path, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	s.ln, s.cancel = ln, cancel
	s.wg.Add(3)
	go func() {
		defer s.wg.Done()
		<-ctx.Done()
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
	}()
	go func() {
		defer s.wg.Done()
		s.acceptLoop(ln)
	}()
	go func() {
		defer s.wg.Done()
		s.expireLoop(ctx)
	}()
	s.log.Info("openflow switch listening", "bridge", s.opts.Bridge, "path", s.opts.Path)
	return nil
}

// Close stops accepting, closes every connection, waits for the switch's goroutines and
// removes the socket.
func (s *Switch) Close() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	os.Remove(s.opts.Path)
	return nil
}

func (s *Switch) acceptLoop(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		s.nConns.Add(1)
		c := newConn(s, nc)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.run()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// ServeConn runs the OpenFlow protocol on an already connected stream (tests, or a datapath
// that accepts connections itself) until it closes.
func (s *Switch) ServeConn(nc net.Conn) {
	s.nConns.Add(1)
	c := newConn(s, nc)
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	c.run()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// AddPort adds or replaces a port and announces it with PORT_STATUS (reason add, or modify
// for a replacement).
func (s *Switch) AddPort(d PortDesc, p Port) error {
	if d.OFPort == 0 || d.OFPort > flow.PortMax && d.OFPort != flow.PortLocal {
		return fmt.Errorf("add port %q: ofport %d: %w", d.Name, d.OFPort, ErrNoPort)
	}
	s.mu.Lock()
	reason := uint8(openflow.PortAdded)
	if _, ok := s.ports[d.OFPort]; ok {
		reason = openflow.PortModified
	}
	s.ports[d.OFPort] = &portEntry{desc: d, io: p, added: s.opts.Clock()}
	s.syncPortsLocked()
	s.mu.Unlock()
	s.broadcastPortStatus(reason, d)
	return nil
}

// RemovePort removes a port and announces it with PORT_STATUS (reason delete).
func (s *Switch) RemovePort(ofport uint32) error {
	s.mu.Lock()
	pe, ok := s.ports[ofport]
	if ok {
		delete(s.ports, ofport)
		s.syncPortsLocked()
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("remove port %d: %w", ofport, ErrNoPort)
	}
	s.broadcastPortStatus(openflow.PortDeleted, pe.desc)
	return nil
}

// SetPortState changes a port's state and announces it with PORT_STATUS (reason modify) when
// it changed.
func (s *Switch) SetPortState(ofport uint32, adminDown, linkDown bool) error {
	s.mu.Lock()
	pe, ok := s.ports[ofport]
	changed := ok && (pe.desc.AdminDown != adminDown || pe.desc.LinkDown != linkDown)
	var d PortDesc
	if changed {
		np := *pe
		np.desc.AdminDown, np.desc.LinkDown = adminDown, linkDown
		s.ports[ofport] = &np
		d = np.desc
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("set state of port %d: %w", ofport, ErrNoPort)
	}
	if changed {
		s.broadcastPortStatus(openflow.PortModified, d)
	}
	return nil
}

// syncPortsLocked tells the pipeline which ports exist.
func (s *Switch) syncPortsLocked() {
	s.pipe.SetPorts(slices.Sorted(maps.Keys(s.ports)))
}

func (s *Switch) port(ofport uint32) *portEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ports[ofport]
}

func wirePort(d PortDesc) openflow.Port {
	p := openflow.Port{PortNo: d.OFPort, HWAddr: d.MAC, Name: d.Name}
	if d.AdminDown {
		p.Config |= openflow.PortConfigDown
	}
	if d.LinkDown {
		p.State |= openflow.PortStateLinkDown
	} else {
		p.State |= openflow.PortStateLive
	}
	if d.CurrSpeed != 0 {
		p.Ethernet = &openflow.PortEthernet{CurrSpeed: d.CurrSpeed, MaxSpeed: d.CurrSpeed}
	} else {
		p.Ethernet = &openflow.PortEthernet{}
	}
	return p
}

func (s *Switch) broadcastPortStatus(reason uint8, d PortDesc) {
	m := &openflow.PortStatus{Reason: reason, Port: wirePort(d)}
	for _, c := range s.connList() {
		c.sendAsync(m, false)
	}
}

func (s *Switch) connList() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.conns))
}

// expireLoop removes flows whose timeouts passed and reports them with FLOW_REMOVED.
func (s *Switch) expireLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.ExpireInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Expire()
		}
	}
}

// Expire runs one timeout sweep now (the switch runs one every ExpireInterval).
func (s *Switch) Expire() {
	s.mu.Lock()
	now := s.opts.Clock()
	var rem []removed
	for _, x := range s.pipe.Expire(now) {
		reason := uint8(openflow.RemovedIdleTimeout)
		if x.Reason == pipeline.ExpireHard {
			reason = openflow.RemovedHardTimeout
		}
		p, b := x.Stats()
		rem = append(rem, removed{f: x.Flow, reason: reason, added: x.Added(), packets: p, bytes: b})
	}
	s.mu.Unlock()
	s.sendRemoved(rem, nil)
}

// portMod implements OFPT_PORT_MOD: only OFPPC_PORT_DOWN can be changed (the datapath does
// not implement no_recv, no_fwd or no_packet_in; asking for them is refused, not ignored).
func (s *Switch) portMod(m *openflow.PortMod) *openflow.Error {
	if m.Mask&^openflow.PortConfigDown != 0 {
		return &openflow.Error{ErrType: openflow.ErrTypePortModFailed, Code: 2} // OFPPMFC_BAD_CONFIG
	}
	s.mu.Lock()
	pe, ok := s.ports[m.PortNo]
	if !ok {
		s.mu.Unlock()
		return &openflow.Error{ErrType: openflow.ErrTypePortModFailed, Code: 0} // OFPPMFC_BAD_PORT
	}
	if pe.desc.MAC != m.HWAddr {
		s.mu.Unlock()
		return &openflow.Error{ErrType: openflow.ErrTypePortModFailed, Code: 1} // OFPPMFC_BAD_HW_ADDR
	}
	down := pe.desc.AdminDown
	if m.Mask&openflow.PortConfigDown != 0 {
		down = m.Config&openflow.PortConfigDown != 0
	}
	linkDown := pe.desc.LinkDown
	s.mu.Unlock()
	if err := s.SetPortState(m.PortNo, down, linkDown); err != nil {
		return &openflow.Error{ErrType: openflow.ErrTypePortModFailed, Code: 0}
	}
	return nil
}
