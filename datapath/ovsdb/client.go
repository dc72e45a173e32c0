package ovsdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-logr/logr"
	"github.com/ovn-org/libovsdb/cache"
	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/sluicenet/sluice/datapath/ovsdb/vswitch"
)

// Options configures a Client.
type Options struct {
	// Endpoint is ovsdb-server's address in OVSDB connection syntax ("unix:/path", "tcp:ip:port").
	Endpoint string
	// DatapathType is the Bridge datapath_type that marks Sluice's bridges.
	DatapathType string
	// StatusInterval is how often link state and counters are refreshed and failed
	// attachments retried, unless the Open_vSwitch row's other_config:stats-update-interval
	// (milliseconds, at least 5000 as in ovs-vswitchd) says otherwise.
	StatusInterval time.Duration
	// Timeout bounds one connection attempt and one transaction.
	Timeout time.Duration
	// ReconnectInterval is the longest wait between two connection attempts.
	ReconnectInterval time.Duration
}

// DefaultOptions returns the options sluice-datapath uses: Debian's ovsdb-server socket,
// DatapathType, ovs-vswitchd's 5 s status interval, a 10 s timeout and reconnect attempts at
// most 4 s apart.
func DefaultOptions() Options {
	return Options{
		Endpoint:          "unix:/var/run/openvswitch/db.sock",
		DatapathType:      DatapathType,
		StatusInterval:    5 * time.Second,
		Timeout:           10 * time.Second,
		ReconnectInterval: 4 * time.Second,
	}
}

// minStatsUpdateInterval is ovs-vswitchd's floor for other_config:stats-update-interval.
const minStatsUpdateInterval = 5 * time.Second

// PortState is the Client's view of one interface of a Sluice bridge.
type PortState struct {
	// Interface is the interface as last attached or attempted; its OFPort is the number
	// assigned even when the attachment failed (the database then says -1).
	Interface
	// Attached is true when the Datapath accepted the interface.
	Attached bool
	// Err is why the interface is not attached (nil when Attached).
	Err error
}

// Client is sluice-datapath's connection to ovsdb-server: it monitors the configuration,
// reconciles it into a Datapath and writes the status back. Create it with New and start it
// with Run.
type Client struct {
	opts Options
	dp   Datapath
	log  *slog.Logger

	poke   chan struct{} // a database event arrived
	resync chan struct{} // Resync was called
	state  atomic.Pointer[[]PortState]

	// Owned by the Run goroutine.
	db         client.Client
	bridges    map[string]*bridgeState
	ports      map[string]*port // by interface name
	remembered map[string]int   // interface name → last OpenFlow port number, per process
	// incompleteSince is when snapshots started referencing missing rows (zero: they do not).
	incompleteSince time.Time
}

type bridgeState struct {
	Bridge
	added  bool         // the datapath has the bridge (possibly with an older configuration)
	synced bool         // the last AddBridge, with this configuration, succeeded
	err    error        // the last AddBridge's error
	status BridgeStatus // what AddBridge returned last
}

type port struct {
	iface    Interface // as attached, or as last attempted
	attached bool
	err      error // why not attached
	status   Status
	newStats bool // counters not yet written
}

// New returns a Client that will reconcile the database at opts.Endpoint into dp, logging to
// log (nil: nowhere).
func New(opts Options, dp Datapath, log *slog.Logger) (*Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Endpoint == "" || opts.DatapathType == "" {
		return nil, errors.New("new ovsdb client: endpoint and datapath type must be set")
	}
	if opts.StatusInterval <= 0 || opts.Timeout <= 0 || opts.ReconnectInterval <= 0 {
		return nil, errors.New("new ovsdb client: intervals and timeout must be positive")
	}
	c := &Client{
		opts:       opts,
		dp:         dp,
		log:        log,
		poke:       make(chan struct{}, 1),
		resync:     make(chan struct{}, 1),
		bridges:    map[string]*bridgeState{},
		ports:      map[string]*port{},
		remembered: map[string]int{},
	}
	c.state.Store(&[]PortState{})
	return c, nil
}

// Resync asks the Client to retry failed attachments now, for example because the kernel
// reported a new network device. It does not block.
func (c *Client) Resync() {
	select {
	case c.resync <- struct{}{}:
	default:
	}
}

// Ports returns the Client's view of the interfaces of Sluice's bridges after its last
// reconcile, sorted by name. It is safe to call from any goroutine.
func (c *Client) Ports() []PortState { return slices.Clone(*c.state.Load()) }

// Run connects to ovsdb-server (retrying until it answers), monitors the configuration and
// reconciles it until ctx is done; call it once. It returns nil when ctx ends after the
// monitor is set up, and an error when ctx ends before ovsdb-server answered or the monitor
// cannot be set up. It leaves the Datapath's bridges and ports as they are when
// it returns, so that a restarted process can take them over with the same OpenFlow ports.
func (c *Client) Run(ctx context.Context) error {
	db, err := c.connect(ctx)
	if err != nil {
		return err
	}
	c.db = db
	defer db.Close()
	db.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc:    func(string, model.Model) { c.pokeReconcile() },
		UpdateFunc: func(string, model.Model, model.Model) { c.pokeReconcile() },
		DeleteFunc: func(string, model.Model) { c.pokeReconcile() },
	})
	if err := c.monitor(ctx); err != nil {
		return err
	}
	c.log.Info("monitoring ovsdb", "endpoint", c.opts.Endpoint, "datapath_type", c.opts.DatapathType)
	c.pokeReconcile()
	timer := time.NewTimer(c.opts.StatusInterval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.poke:
			c.reconcile(ctx, false, false)
		case <-c.resync:
			c.reconcile(ctx, true, false)
		case <-timer.C:
			interval := c.reconcile(ctx, true, true)
			timer.Reset(interval)
		}
	}
}

func (c *Client) pokeReconcile() {
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

// connect dials ovsdb-server until it answers or ctx is done. libovsdb then reconnects by
// itself; its backoff never gives up (it panics when it does).
func (c *Client) connect(ctx context.Context) (client.Client, error) {
	dbModel, err := model.NewClientDBModel(vswitch.OpenvSwitchTable, map[string]model.Model{
		vswitch.OpenvSwitchTable: &vswitch.OpenvSwitch{},
		vswitch.BridgeTable:      &vswitch.Bridge{},
		vswitch.PortTable:        &vswitch.Port{},
		vswitch.InterfaceTable:   &vswitch.Interface{},
		vswitch.ControllerTable:  &vswitch.Controller{},
	})
	if err != nil {
		return nil, fmt.Errorf("ovsdb model: %w", err)
	}
	lg := logr.FromSlogHandler(quietHandler{c.log.With("component", "libovsdb").Handler()})
	reconnect := backoff.NewExponentialBackOff()
	reconnect.InitialInterval = 100 * time.Millisecond
	reconnect.MaxInterval = c.opts.ReconnectInterval
	reconnect.MaxElapsedTime = 0
	db, err := client.NewOVSDBClient(dbModel,
		client.WithEndpoint(c.opts.Endpoint),
		client.WithReconnect(c.opts.Timeout, reconnect),
		client.WithLogger(&lg))
	if err != nil {
		return nil, fmt.Errorf("ovsdb client for %s: %w", c.opts.Endpoint, err)
	}
	wait := backoff.NewExponentialBackOff()
	wait.InitialInterval = 100 * time.Millisecond
	wait.MaxInterval = c.opts.ReconnectInterval
	wait.MaxElapsedTime = 0
	for logged := false; ; {
		cctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		err := db.Connect(cctx)
		cancel()
		if err == nil {
			return db, nil
		}
		if !logged {
			c.log.Warn("ovsdb-server not reachable, retrying", "endpoint", c.opts.Endpoint, "error", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to ovsdb-server %s: %w", c.opts.Endpoint, ctx.Err())
		case <-time.After(wait.NextBackOff()):
		}
	}
}

// monitor subscribes to the columns the Client reads, and to the status columns it writes so
// that it can compare them with what it wants. Statistics are written blindly and not
// monitored, so the periodic counter writes do not come back as updates.
func (c *Client) monitor(ctx context.Context) error {
	var (
		r vswitch.OpenvSwitch
		b vswitch.Bridge
		p vswitch.Port
		i vswitch.Interface
		k vswitch.Controller
	)
	m := c.db.NewMonitor(
		client.WithTable(&r, &r.NextCfg, &r.CurCfg, &r.Bridges, &r.DatapathTypes, &r.IfaceTypes,
			&r.DbVersion, &r.OtherConfig),
		client.WithTable(&b, &b.Name, &b.DatapathType, &b.Ports, &b.FailMode, &b.Protocols,
			&b.OtherConfig, &b.ExternalIDs, &b.DatapathID, &b.DatapathVersion, &b.Controller),
		client.WithTable(&k, &k.Target),
		client.WithTable(&p, &p.Name, &p.Interfaces),
		client.WithTable(&i, &i.Name, &i.Type, &i.Options, &i.OtherConfig, &i.ExternalIDs,
			&i.OfportRequest, &i.MTURequest, &i.Ofport, &i.Error, &i.AdminState, &i.LinkState,
			&i.MACInUse, &i.Ifindex, &i.MTU),
	)
	cctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	if _, err := c.db.Monitor(cctx, m); err != nil {
		return fmt.Errorf("monitor ovsdb %s: %w", c.opts.Endpoint, err)
	}
	return nil
}

// takeSnapshot reads the cache in an order that makes the snapshot at least as new as the
// configuration its next_cfg names. libovsdb applies one update notification (one committed
// transaction, for example ovs-vsctl's change together with its next_cfg increment) under the
// cache's write lock, table by table, and RowsShallow does not take that lock, so a read can
// see half of an update. The root row is therefore read first, and every further table is
// fetched with TableCache.Table, which takes the read lock and so waits until an update in
// progress (possibly the one that brought this next_cfg) has been applied completely. Later
// updates may be seen in part; buildDesired notices references to rows that are not there yet,
// and their own events trigger another reconcile.
func (c *Client) takeSnapshot() snapshot {
	s := snapshot{
		bridges: map[string]*vswitch.Bridge{},
		ports:   map[string]*vswitch.Port{},
		ifaces:  map[string]*vswitch.Interface{},
		ctrls:   map[string]*vswitch.Controller{},
	}
	tc := c.db.Cache()
	if tc == nil {
		return s // no root row: nothing is done
	}
	if t := tc.Table(vswitch.OpenvSwitchTable); t != nil {
		for _, m := range t.RowsShallow() {
			if r, ok := m.(*vswitch.OpenvSwitch); ok && (s.root == nil || r.UUID < s.root.UUID) {
				s.root = r
			}
		}
	}
	collect(tc, vswitch.BridgeTable, s.bridges)
	collect(tc, vswitch.PortTable, s.ports)
	collect(tc, vswitch.InterfaceTable, s.ifaces)
	collect(tc, vswitch.ControllerTable, s.ctrls)
	return s
}

func collect[T any](tc *cache.TableCache, table string, into map[string]*T) {
	t := tc.Table(table)
	if t == nil {
		return
	}
	for u, m := range t.RowsShallow() {
		if r, ok := m.(*T); ok {
			into[u] = r
		}
	}
}

// statusInterval is the status interval the database asks for.
func (c *Client) statusInterval(root *vswitch.OpenvSwitch) time.Duration {
	if root == nil {
		return c.opts.StatusInterval
	}
	v, ok := root.OtherConfig["stats-update-interval"]
	if !ok {
		return c.opts.StatusInterval
	}
	ms, err := strconv.Atoi(v)
	if err != nil {
		return c.opts.StatusInterval
	}
	return max(time.Duration(ms)*time.Millisecond, minStatsUpdateInterval)
}

// reconcile brings the Datapath and the database's status columns in line with a fresh
// snapshot. retry retries failed attachments; tick also refreshes every port's status and
// counters. It returns the status interval to use next.
func (c *Client) reconcile(ctx context.Context, retry, tick bool) time.Duration {
	s := c.takeSnapshot()
	d := buildDesired(s, c.opts.DatapathType)
	if s.root == nil || !d.complete {
		// Either nobody initialised the database, or the snapshot is half of an update (also
		// while libovsdb refills its cache after a reconnect): acting on it could detach
		// healthy ports. The rest of the update pokes another reconcile.
		c.log.Debug("skipping reconcile of an incomplete snapshot", "root", s.root != nil)
		if s.root != nil {
			c.healCache()
		}
		return c.statusInterval(s.root)
	}
	c.incompleteSince = time.Time{}
	c.assign(d)
	c.apply(ctx, d, retry)
	if tick {
		c.refreshStatus(ctx)
	}
	c.publish(d)
	c.writeStatus(ctx, s, d)
	c.acknowledge(ctx, s)
	return c.statusInterval(s.root)
}

// healCache reconnects when the cache has referenced missing rows for longer than a
// timeout: a real ovsdb-server never leaves it so, but a server that sent a torn monitor
// reply would otherwise stall reconciliation for good. The reconnect refills the cache.
func (c *Client) healCache() {
	switch {
	case c.incompleteSince.IsZero():
		c.incompleteSince = time.Now()
	case time.Since(c.incompleteSince) > c.opts.Timeout:
		c.log.Warn("ovsdb cache references missing rows, reconnecting to refill it")
		c.incompleteSince = time.Time{}
		c.db.Disconnect()
	}
}

// assign gives every interface of d its OpenFlow port number.
func (c *Client) assign(d desired) {
	for _, b := range d.bridges {
		held := map[string]int{}
		for name, p := range c.ports {
			if p.attached && p.iface.Bridge == b.Name {
				held[name] = p.iface.OFPort
			}
		}
		assignOFPorts(b, held, c.remembered)
	}
}

// apply runs the Datapath calls that take it from its current state to d.
func (c *Client) apply(ctx context.Context, d desired, retry bool) {
	want := map[string]*desiredIface{}
	for _, b := range d.bridges {
		for _, di := range b.ifaces {
			want[di.Name] = di
		}
	}
	// Bridges that are gone lose their ports first. Bridges are known by name, like
	// interfaces: a bridge re-created under the same name (or a database re-created after a
	// node restart) is an update, not a new bridge.
	gone := map[string]bool{}
	for name := range c.bridges {
		if d.bridges[name] == nil {
			gone[name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.ports)) {
		p := c.ports[name]
		di := want[name]
		switch {
		case di == nil || gone[p.iface.Bridge]:
			c.detach(ctx, p)
			delete(c.ports, name)
			if di == nil {
				delete(c.remembered, name) // the row is gone; pod churn must not grow the map
			}
		case p.attached && (di.err != nil || !p.iface.sameAttachment(di.Interface)):
			c.detach(ctx, p)
		case p.attached:
			p.iface = di.Interface // external IDs may have changed
		}
	}
	for _, name := range slices.Sorted(maps.Keys(gone)) {
		bs := c.bridges[name]
		delete(c.bridges, name)
		if !bs.added {
			continue
		}
		if err := c.dp.DeleteBridge(ctx, bs.Bridge); err != nil {
			c.log.Warn("delete bridge", "bridge", name, "error", err)
		}
		c.log.Info("bridge removed", "bridge", name)
	}
	for _, name := range slices.Sorted(maps.Keys(d.bridges)) {
		nb := d.bridges[name]
		bs := c.bridges[name]
		if bs != nil && bs.Bridge.equal(nb.Bridge) && (bs.synced || !retry) {
			continue
		}
		if bs == nil {
			bs = &bridgeState{}
			c.bridges[name] = bs
		}
		bs.Bridge = nb.Bridge
		st, err := c.dp.AddBridge(ctx, nb.Bridge)
		if err != nil {
			// A failed update leaves the bridge as it was (still added); retried on the next
			// tick or Resync.
			bs.synced, bs.err = false, fmt.Errorf("add bridge %s: %w", name, err)
			c.log.Warn("add bridge", "bridge", name, "error", err)
			continue
		}
		if !bs.added {
			c.log.Info("bridge added", "bridge", name)
		}
		bs.added, bs.synced, bs.err, bs.status = true, true, nil, st
	}
	for _, b := range d.bridges {
		bs := c.bridges[b.Name]
		for _, di := range b.ifaces {
			c.attach(ctx, bs, di, retry)
		}
	}
}

// attach attaches di unless it already is, or it failed before with the same configuration
// and this is not a retry.
func (c *Client) attach(ctx context.Context, bs *bridgeState, di *desiredIface, retry bool) {
	p := c.ports[di.Name]
	if p != nil && p.attached {
		return
	}
	if p != nil && !retry && p.iface.sameAttachment(di.Interface) && p.iface.UUID == di.UUID {
		return // failed before; retried on the next tick or Resync
	}
	if p == nil {
		p = &port{}
		c.ports[di.Name] = p
	}
	p.iface = di.Interface
	switch {
	case di.err != nil:
		p.err = di.err
		return
	case !bs.added:
		p.err = bs.err
		return
	}
	if err := c.dp.Attach(ctx, di.Interface); err != nil {
		werr := fmt.Errorf("attach %s to bridge %s: %w", di.Name, di.Bridge, err)
		level := slog.LevelWarn
		if p.err != nil && p.err.Error() == werr.Error() {
			level = slog.LevelDebug // the same failure again on a retry: said already
		}
		p.err = werr
		c.log.Log(ctx, level, "attach interface", "interface", di.Name, "bridge", di.Bridge, "ofport", di.OFPort, "error", err)
		return
	}
	p.attached, p.err = true, nil
	c.remembered[di.Name] = di.OFPort
	c.log.Info("interface attached", "interface", di.Name, "bridge", di.Bridge, "kind", di.Kind, "ofport", di.OFPort)
	c.refreshPort(ctx, p)
}

func (c *Client) detach(ctx context.Context, p *port) {
	if !p.attached {
		return
	}
	p.attached = false
	p.status, p.newStats = Status{}, true // clears the counters column
	if err := c.dp.Detach(ctx, p.iface); err != nil {
		c.log.Warn("detach interface", "interface", p.iface.Name, "bridge", p.iface.Bridge, "error", err)
		return
	}
	c.log.Info("interface detached", "interface", p.iface.Name, "bridge", p.iface.Bridge, "ofport", p.iface.OFPort)
}

// refreshStatus asks the Datapath for the status of every attached port.
func (c *Client) refreshStatus(ctx context.Context) {
	for _, p := range c.ports {
		if p.attached {
			c.refreshPort(ctx, p)
		}
	}
}

func (c *Client) refreshPort(ctx context.Context, p *port) {
	st, err := c.dp.Status(ctx, p.iface)
	if err != nil {
		c.log.Warn("interface stopped working", "interface", p.iface.Name, "bridge", p.iface.Bridge, "error", err)
		c.detach(ctx, p)
		p.err = fmt.Errorf("%s on bridge %s stopped working: %w", p.iface.Name, p.iface.Bridge, err)
		return
	}
	p.status, p.newStats = st, true
}

// publish stores the view Ports returns.
func (c *Client) publish(d desired) {
	var out []PortState
	for _, b := range d.bridges {
		for _, di := range b.ifaces {
			if p := c.ports[di.Name]; p != nil {
				out = append(out, PortState{Interface: p.iface, Attached: p.attached, Err: p.err})
			}
		}
	}
	slices.SortFunc(out, func(a, b PortState) int { return strings.Compare(a.Name, b.Name) })
	c.state.Store(&out)
}

// writeStatus writes the Interface status columns that differ from what the Client wants,
// the counters that are new, and the Open_vSwitch columns that describe Sluice.
func (c *Client) writeStatus(ctx context.Context, s snapshot, d desired) {
	var ops []ovsdb.Operation
	var written []*port
	for _, b := range d.bridges {
		if bs, row := c.bridges[b.Name], s.bridges[b.UUID]; bs != nil && bs.added && row != nil {
			o, err := bridgeStatusOps(c.db, row, bs.status)
			if err != nil {
				c.log.Error("build bridge status update", "bridge", b.Name, "error", err)
			}
			ops = append(ops, o...)
		}
		for _, di := range b.ifaces {
			p, row := c.ports[di.Name], s.ifaces[di.UUID]
			if p == nil || row == nil {
				continue
			}
			o, err := interfaceStatusOps(c.db, row, p)
			if err != nil {
				c.log.Error("build interface status update", "interface", di.Name, "error", err)
				continue
			}
			ops = append(ops, o...)
			if p.newStats {
				written = append(written, p)
			}
		}
	}
	o, err := rootOps(c.db, s.root, c.opts.DatapathType, c.db.Schema().Version)
	if err != nil {
		c.log.Error("build open_vswitch update", "error", err)
	}
	ops = append(ops, o...)
	if len(ops) == 0 {
		return
	}
	if err := c.transact(ctx, ops); err != nil {
		c.log.Warn("write interface status", "error", err)
		return
	}
	for _, p := range written {
		p.newStats = false
	}
}

// acknowledge sets cur_cfg to the snapshot's next_cfg once the snapshot has been applied:
// ovs-vsctl takes cur_cfg catching up as the sign that its change is in effect, and then
// checks that each interface it added has an ofport. It runs after writeStatus, so the ofport
// is in the database before cur_cfg says so.
func (c *Client) acknowledge(ctx context.Context, s snapshot) {
	if s.root.CurCfg >= s.root.NextCfg {
		return
	}
	ops, err := ackOps(c.db, s.root)
	if err != nil {
		c.log.Error("build cur_cfg update", "error", err)
		return
	}
	if err := c.transact(ctx, ops); err != nil {
		c.log.Warn("acknowledge configuration", "next_cfg", s.root.NextCfg, "error", err)
		return
	}
	c.log.Debug("configuration applied", "cur_cfg", s.root.NextCfg)
}

func (c *Client) transact(ctx context.Context, ops []ovsdb.Operation) error {
	if err := ctx.Err(); err != nil {
		// Shutting down: a request sent now would be abandoned in flight.
		return fmt.Errorf("transact: %w", err)
	}
	tctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	res, err := c.db.Transact(tctx, ops...)
	if err != nil {
		return fmt.Errorf("transact: %w", err)
	}
	if _, err := ovsdb.CheckOperationResults(res, ops); err != nil {
		return fmt.Errorf("transact: %w", err)
	}
	return nil
}

// quietHandler passes on libovsdb's warnings and errors only: at debug level it logs every
// operation of every transaction.
type quietHandler struct{ slog.Handler }

// Enabled drops libovsdb's records below Info.
func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo && h.Handler.Enabled(ctx, l)
}

// WithAttrs keeps the filter on derived handlers.
func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(as)}
}

// WithGroup keeps the filter on derived handlers.
func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name)}
}
