package ovsdbtest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net"
	"sync"

	"github.com/sluicenet/sluice/datapath/ovsdb"
)

// ErrNoDevice is what Datapath.Attach wraps for an interface marked missing.
var ErrNoDevice = errors.New("no such network device")

// Datapath is an in-memory ovsdb.Datapath. Netdev interfaces exist unless SetMissing says
// otherwise; it reports every misuse (attaching twice, two ports with one OpenFlow number,
// detaching what is not attached, attaching to an unknown bridge) through Violations.
type Datapath struct {
	mu         sync.Mutex
	bridges    map[string]ovsdb.Bridge
	ports      map[string]ovsdb.Interface
	missing    map[string]bool
	broken     map[string]error
	bridgeErr  map[string]error
	counters   map[string]ovsdb.Counters
	calls      []string
	violations []string
}

var _ ovsdb.Datapath = (*Datapath)(nil)

// NewDatapath returns an empty Datapath.
func NewDatapath() *Datapath {
	return &Datapath{
		bridges:   map[string]ovsdb.Bridge{},
		ports:     map[string]ovsdb.Interface{},
		missing:   map[string]bool{},
		broken:    map[string]error{},
		bridgeErr: map[string]error{},
		counters:  map[string]ovsdb.Counters{},
	}
}

// SetMissing makes Attach of the netdev interface name fail (missing) or succeed again.
func (d *Datapath) SetMissing(name string, missing bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.missing[name] = missing
}

// SetBroken makes Status of the attached interface name fail with err (nil: work again).
func (d *Datapath) SetBroken(name string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.broken[name] = err
}

// SetBridgeError makes AddBridge of the bridge name fail with err (nil: succeed again).
func (d *Datapath) SetBridgeError(name string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.bridgeErr[name] = err
}

// SetCounters sets the counters Status reports for name.
func (d *Datapath) SetCounters(name string, c ovsdb.Counters) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.counters[name] = c
}

// Bridges returns the bridges added and not deleted, by name.
func (d *Datapath) Bridges() map[string]ovsdb.Bridge {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.bridges)
}

// Ports returns the attached interfaces by name.
func (d *Datapath) Ports() map[string]ovsdb.Interface {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.ports)
}

// Calls returns the calls made so far, one line each ("attach br0/veth0 ofport=7", …).
func (d *Datapath) Calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.calls...)
}

// Violations returns every misuse seen so far.
func (d *Datapath) Violations() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.violations...)
}

func (d *Datapath) violate(format string, args ...any) {
	d.violations = append(d.violations, fmt.Sprintf(format, args...))
}

// AddBridge implements ovsdb.Datapath: the datapath ID follows ovs-vswitchd's rules with
// MAC(b.Name) as the local port's address, the version is DatapathVersion.
func (d *Datapath) AddBridge(_ context.Context, b ovsdb.Bridge) (ovsdb.BridgeStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "add-bridge "+b.Name)
	if err := d.bridgeErr[b.Name]; err != nil {
		return ovsdb.BridgeStatus{}, err
	}
	d.bridges[b.Name] = b
	return ovsdb.BridgeStatus{DatapathID: b.DatapathID(MAC(b.Name)), DatapathVersion: DatapathVersion}, nil
}

// DatapathVersion is the datapath_version Datapath reports.
const DatapathVersion = "ovsdbtest"

// DeleteBridge implements ovsdb.Datapath.
func (d *Datapath) DeleteBridge(_ context.Context, b ovsdb.Bridge) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "delete-bridge "+b.Name)
	if _, ok := d.bridges[b.Name]; !ok {
		d.violate("delete unknown bridge %s", b.Name)
	}
	for _, p := range d.ports {
		if p.Bridge == b.Name {
			d.violate("delete bridge %s with port %s attached", b.Name, p.Name)
		}
	}
	delete(d.bridges, b.Name)
	return nil
}

// Attach implements ovsdb.Datapath.
func (d *Datapath) Attach(_ context.Context, iface ovsdb.Interface) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, fmt.Sprintf("attach %s/%s ofport=%d", iface.Bridge, iface.Name, iface.OFPort))
	if _, ok := d.bridges[iface.Bridge]; !ok {
		d.violate("attach %s to unknown bridge %s", iface.Name, iface.Bridge)
	}
	if _, ok := d.ports[iface.Name]; ok {
		d.violate("attach %s twice", iface.Name)
	}
	for _, p := range d.ports {
		if p.Bridge == iface.Bridge && p.OFPort == iface.OFPort {
			d.violate("attach %s with ofport %d held by %s", iface.Name, iface.OFPort, p.Name)
		}
	}
	if iface.Kind == ovsdb.KindNetdev && d.missing[iface.Name] {
		return fmt.Errorf("look up %s: %w", iface.Name, ErrNoDevice)
	}
	d.ports[iface.Name] = iface
	return nil
}

// Detach implements ovsdb.Datapath.
func (d *Datapath) Detach(_ context.Context, iface ovsdb.Interface) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, fmt.Sprintf("detach %s/%s", iface.Bridge, iface.Name))
	if _, ok := d.ports[iface.Name]; !ok {
		d.violate("detach %s, which is not attached", iface.Name)
	}
	delete(d.ports, iface.Name)
	return nil
}

// Status implements ovsdb.Datapath: every port is up, with a MAC derived from its name and
// ifindex 1000+ofport.
func (d *Datapath) Status(_ context.Context, iface ovsdb.Interface) (ovsdb.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.ports[iface.Name]; !ok {
		d.violate("status of %s, which is not attached", iface.Name)
	}
	if err := d.broken[iface.Name]; err != nil {
		return ovsdb.Status{}, err
	}
	return ovsdb.Status{
		AdminUp:  true,
		LinkUp:   true,
		MAC:      MAC(iface.Name),
		Ifindex:  1000 + iface.OFPort,
		MTU:      1500,
		Counters: d.counters[iface.Name],
	}, nil
}

// MAC returns the locally administered MAC address Datapath reports for name.
func MAC(name string) net.HardwareAddr {
	h := fnv.New32a()
	h.Write([]byte(name))
	s := h.Sum32()
	return net.HardwareAddr{0x02, 0x00, byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}
}
