package ovsdb

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicenet/sluice/datapath/ovsdb/vswitch"
)

// snapshot is one read of the monitored tables, rows by UUID.
type snapshot struct {
	root    *vswitch.OpenvSwitch // nil until someone (ovs-vsctl init) inserts the row
	bridges map[string]*vswitch.Bridge
	ports   map[string]*vswitch.Port
	ifaces  map[string]*vswitch.Interface
	ctrls   map[string]*vswitch.Controller
}

// desired is the state a snapshot asks for: Sluice's bridges by name.
type desired struct {
	bridges map[string]*desiredBridge
	// complete is false when a row that another row references was not in the snapshot:
	// the cache was read in the middle of applying an update, and the snapshot must not be
	// acknowledged through cur_cfg.
	complete bool
}

type desiredBridge struct {
	Bridge
	ifaces []*desiredIface // sorted by name
}

// desiredIface is an interface before its OpenFlow port is assigned.
type desiredIface struct {
	Interface
	request  int   // valid ofport_request, else 0
	previous int   // valid ofport column, else 0
	err      error // why the interface cannot be attached at all; nil: try
}

// buildDesired derives the desired state from s: every bridge whose datapath_type is dpType,
// with the interfaces of its ports.
func buildDesired(s snapshot, dpType string) desired {
	d := desired{bridges: map[string]*desiredBridge{}, complete: true}
	if s.root != nil {
		for _, u := range s.root.Bridges {
			if s.bridges[u] == nil {
				d.complete = false
			}
		}
	}
	for _, br := range s.bridges {
		if br.DatapathType != dpType {
			continue
		}
		db := &desiredBridge{Bridge: Bridge{
			UUID:        br.UUID,
			Name:        br.Name,
			FailMode:    deref(br.FailMode),
			Protocols:   slices.Sorted(slices.Values(br.Protocols)),
			OtherConfig: maps.Clone(br.OtherConfig),
			ExternalIDs: maps.Clone(br.ExternalIDs),
		}}
		for _, cu := range br.Controller {
			ctrl := s.ctrls[cu]
			if ctrl == nil {
				d.complete = false
				continue
			}
			db.Controllers = append(db.Controllers, ctrl.Target)
		}
		slices.Sort(db.Controllers)
		for _, pu := range br.Ports {
			p := s.ports[pu]
			if p == nil {
				d.complete = false
				continue
			}
			for _, iu := range p.Interfaces {
				row := s.ifaces[iu]
				if row == nil {
					d.complete = false
					continue
				}
				db.ifaces = append(db.ifaces, newDesiredIface(br.Name, p.Name, row))
			}
		}
		slices.SortFunc(db.ifaces, func(a, b *desiredIface) int { return strings.Compare(a.Name, b.Name) })
		d.bridges[br.Name] = db
	}
	return d
}

func newDesiredIface(bridge, port string, row *vswitch.Interface) *desiredIface {
	di := &desiredIface{Interface: Interface{
		UUID:        row.UUID,
		Name:        row.Name,
		Bridge:      bridge,
		Port:        port,
		Type:        row.Type,
		MTURequest:  deref(row.MTURequest),
		Options:     maps.Clone(row.Options),
		OtherConfig: maps.Clone(row.OtherConfig),
		ExternalIDs: maps.Clone(row.ExternalIDs),
	}}
	if r := deref(row.OfportRequest); validOFPort(r) {
		di.request = r
	}
	if p := deref(row.Ofport); validOFPort(p) {
		di.previous = p
	}
	kind, ok := kindOfType[row.Type]
	if !ok {
		di.err = fmt.Errorf("unsupported interface type %q (the sluice datapath supports system, afxdp, internal, geneve and vxlan)", row.Type)
		return di
	}
	di.Kind = kind
	if kind == KindTunnel {
		t, err := parseTunnel(row.Type, row.Options)
		if err != nil {
			di.err = err
			return di
		}
		di.Tunnel = t
	}
	return di
}

// validOFPort reports whether p may be requested or kept: 1..OFPortMax.
func validOFPort(p int) bool { return p >= 1 && p <= OFPortMax }

// parseTunnel reads a geneve or vxlan interface's options.
func parseTunnel(typ string, opts map[string]string) (*Tunnel, error) {
	t := &Tunnel{}
	switch r, ok := opts["remote_ip"]; {
	case !ok:
		return nil, fmt.Errorf("%s tunnel needs options:remote_ip (\"flow\" or an IP address)", typ)
	case r == "flow":
		t.RemoteFlow = true
	default:
		a, err := netip.ParseAddr(r)
		if err != nil {
			return nil, fmt.Errorf("%s tunnel: options:remote_ip %q is neither \"flow\" nor an IP address", typ, r)
		}
		t.RemoteIP = a
	}
	if l, ok := opts["local_ip"]; ok && l != "flow" {
		a, err := netip.ParseAddr(l)
		if err != nil {
			return nil, fmt.Errorf("%s tunnel: options:local_ip %q is not an IP address", typ, l)
		}
		t.LocalIP = a
	}
	if _, ok := opts["in_key"]; ok {
		return nil, errors.New(typ + " tunnel: options:in_key and out_key are not supported, set options:key")
	}
	if _, ok := opts["out_key"]; ok {
		return nil, errors.New(typ + " tunnel: options:in_key and out_key are not supported, set options:key")
	}
	switch k, ok := opts["key"]; {
	case !ok:
	case k == "flow":
		t.KeyFlow = true
	default:
		v, err := strconv.ParseUint(k, 0, 24)
		if err != nil {
			return nil, fmt.Errorf("%s tunnel: options:key %q is neither \"flow\" nor a 24-bit VNI", typ, k)
		}
		t.Key = uint32(v)
	}
	if p, ok := opts["dst_port"]; ok {
		v, err := strconv.ParseUint(p, 10, 16)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("%s tunnel: options:dst_port %q is not a UDP port", typ, p)
		}
		t.DstPort = uint16(v)
	}
	return t, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
