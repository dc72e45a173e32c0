package bridge

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/sluicenet/sluice/datapath/ofswitch"
	"github.com/sluicenet/sluice/datapath/ovsdb"
)

// tunnelPort is a flow-based geneve or vxlan port. It is registered with the switch so that
// controllers see it (dump-ports-desc) and flows may output to it, but encapsulation is not
// implemented yet: every frame sent to it is counted as a transmit drop of the port and as the
// datapath drop DropTunnelEncap.
type tunnelPort struct {
	d       *Datapath
	br      *bridge
	name    string
	ofport  uint32
	tunnel  ovsdb.Tunnel
	dropped atomic.Uint64
}

var _ ofswitch.Port = (*tunnelPort)(nil)

var errTunnelEncap = errors.New("tunnel encapsulation not implemented")

// drop counts one frame sent to the port.
func (t *tunnelPort) drop() {
	t.dropped.Add(1)
	t.d.drops[DropTunnelEncap].Add(1)
}

// Stats returns the port's counters: nothing sent, everything dropped.
func (t *tunnelPort) Stats() ofswitch.PortStats {
	return ofswitch.PortStats{TxDropped: t.dropped.Load()}
}

// Transmit drops the frame (PACKET_OUT) and says why.
func (t *tunnelPort) Transmit([]byte) error {
	t.drop()
	return errTunnelEncap
}

// attachTunnel registers a tunnel interface as a switch port that drops what it is given.
func (d *Datapath) attachTunnel(br *bridge, iface ovsdb.Interface) error {
	if _, ok := d.tunnels[iface.Name]; ok {
		return fmt.Errorf("attach %s: already attached", iface.Name)
	}
	t := &tunnelPort{d: d, br: br, name: iface.Name, ofport: uint32(iface.OFPort)}
	if iface.Tunnel != nil {
		t.tunnel = *iface.Tunnel
	}
	if err := br.sw.AddPort(ofswitch.PortDesc{OFPort: t.ofport, Name: iface.Name}, t); err != nil {
		return fmt.Errorf("attach %s: %w", iface.Name, err)
	}
	d.tunnels[iface.Name] = t
	publish(&br.tunnels, t.ofport, t)
	d.log.Warn("tunnel port attached; encapsulation not implemented, frames sent to it are dropped",
		"interface", iface.Name, "type", iface.Type, "bridge", br.name, "ofport", t.ofport,
		"remote_flow", t.tunnel.RemoteFlow, "key_flow", t.tunnel.KeyFlow)
	return nil
}

// removeTunnelLocked removes a tunnel port from its switch and the tables.
func (d *Datapath) removeTunnelLocked(t *tunnelPort) {
	publish(&t.br.tunnels, t.ofport, nil)
	_ = t.br.sw.RemovePort(t.ofport)
	delete(d.tunnels, t.name)
	d.log.Info("tunnel port detached", "interface", t.name, "bridge", t.br.name)
}
