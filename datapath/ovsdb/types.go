package ovsdb

import (
	"context"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
)

// DatapathType is the Bridge datapath_type value that hands a bridge to Sluice
// (`ovs-vsctl set bridge br0 datapath_type=sluice`).
const DatapathType = "sluice"

// OpenFlow port numbers with a fixed meaning (OpenFlow 1.5 §7.2.1, OVS's ofport column).
const (
	// OFPortLocal is the bridge's local port: its "internal" interface named like the bridge.
	OFPortLocal = 0xfffe
	// OFPortMax is the highest number an ofport_request may name (OFPP_MAX - 1).
	OFPortMax = 0xfeff
	// OFPortAutoMax is the highest number assigned automatically; like ovs-vswitchd, Sluice
	// keeps the upper half of the range for numbers that controllers request.
	OFPortAutoMax = 0x7fff
	// OFPortNone is what the ofport column holds for an interface that could not be attached.
	OFPortNone = -1
)

// Kind says how the datapath attaches an interface; it is derived from the type column.
type Kind int

// Interface kinds.
const (
	// KindNetdev is an existing kernel network device attached through AF_XDP: type "",
	// "system" or "afxdp".
	KindNetdev Kind = iota + 1
	// KindInternal is a port the datapath creates itself: the bridge's local port when it is
	// named like the bridge (OFPortLocal), another internal port otherwise. Type "internal".
	KindInternal
	// KindTunnel is a flow-based tunnel port whose remote end and key come from tun_dst and
	// tun_id metadata (options:remote_ip=flow, key=flow) or are fixed by the options. Types
	// "geneve" and "vxlan".
	KindTunnel
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindNetdev:
		return "netdev"
	case KindInternal:
		return "internal"
	case KindTunnel:
		return "tunnel"
	}
	return "unknown"
}

// kindOfType maps the Interface type column to a Kind; the types are the ones Sluice lists in
// Open_vSwitch iface_types.
var kindOfType = map[string]Kind{
	"":         KindNetdev,
	"system":   KindNetdev,
	"afxdp":    KindNetdev,
	"internal": KindInternal,
	"geneve":   KindTunnel,
	"vxlan":    KindTunnel,
}

// IfaceTypes returns the Interface types Sluice supports, the values it adds to the
// Open_vSwitch iface_types column. The empty type is the same as "system" and is not listed.
func IfaceTypes() []string { return []string{"afxdp", "geneve", "internal", "system", "vxlan"} }

// Bridge is the desired state of one Sluice bridge.
type Bridge struct {
	// UUID is the Bridge row's UUID.
	UUID string
	// Name is the bridge's name, also the name of its local port.
	Name string
	// FailMode is "secure", "standalone" or "" (the column is empty).
	FailMode string
	// Protocols lists the OpenFlow versions the bridge accepts ("OpenFlow15", …); empty means
	// the switch's default.
	Protocols []string
	// Controllers lists the targets of the bridge's Controller rows ("tcp:192.0.2.1:6653",
	// "punix:/path"; `ovs-vsctl set-controller`), sorted. The bridge's management socket is
	// not among them.
	Controllers []string
	// OtherConfig and ExternalIDs are the row's maps (other_config:datapath-id, hwaddr, …).
	OtherConfig map[string]string
	ExternalIDs map[string]string
}

// equal reports whether b and o describe the same bridge configuration.
func (b Bridge) equal(o Bridge) bool {
	return b.UUID == o.UUID && b.Name == o.Name && b.FailMode == o.FailMode &&
		slices.Equal(b.Protocols, o.Protocols) && slices.Equal(b.Controllers, o.Controllers) && maps.Equal(b.OtherConfig, o.OtherConfig) &&
		maps.Equal(b.ExternalIDs, o.ExternalIDs)
}

// DatapathID returns the OpenFlow datapath ID ovs-vswitchd would choose for b when its local
// port has MAC address localMAC: other_config:datapath-id when it is 16 hex digits or 0x and
// up to 16 hex digits (and not zero), else the MAC address in other_config:hwaddr, else
// localMAC, as a 48-bit number.
func (b Bridge) DatapathID(localMAC net.HardwareAddr) uint64 {
	if s := b.OtherConfig["datapath-id"]; len(s) == 16 || (len(s) > 2 && len(s) <= 18 && (s[:2] == "0x" || s[:2] == "0X")) {
		hex := s
		if len(s) != 16 {
			hex = s[2:]
		}
		if v, err := strconv.ParseUint(hex, 16, 64); err == nil && v != 0 {
			return v
		}
	}
	mac := localMAC
	if hw, err := net.ParseMAC(b.OtherConfig["hwaddr"]); err == nil && len(hw) == 6 {
		mac = hw
	}
	var id uint64
	for _, x := range mac {
		id = id<<8 | uint64(x)
	}
	return id
}

// BridgeStatus is what the datapath reports about a bridge it added.
type BridgeStatus struct {
	// DatapathID is the bridge's OpenFlow datapath ID, written to datapath_id as 16 hex
	// digits (Bridge.DatapathID computes it as ovs-vswitchd does); 0 leaves the column empty.
	DatapathID uint64
	// DatapathVersion is written to datapath_version ("" leaves it empty).
	DatapathVersion string
}

// Interface is the desired state of one interface of a Sluice bridge, as the Datapath receives
// it in Attach.
type Interface struct {
	// UUID is the Interface row's UUID.
	UUID string
	// Name is the interface's name: the kernel netdev's name for KindNetdev.
	Name string
	// Bridge and Port name the bridge and port the interface belongs to.
	Bridge string
	Port   string
	// Type is the row's type column as written; Kind is what it means to Sluice.
	Type string
	Kind Kind
	// OFPort is the OpenFlow port number this package assigned (see the package doc).
	OFPort int
	// MTURequest is mtu_request, 0 when unset.
	MTURequest int
	// Tunnel is the parsed tunnel configuration for KindTunnel, nil otherwise.
	Tunnel *Tunnel
	// Options, OtherConfig and ExternalIDs are the row's maps. External IDs do not take part
	// in deciding whether an attachment must be redone.
	Options     map[string]string
	OtherConfig map[string]string
	ExternalIDs map[string]string
}

// sameAttachment reports whether an attachment made for i still fits o: everything but the
// external IDs and the port's name must match.
func (i Interface) sameAttachment(o Interface) bool {
	return i.Name == o.Name && i.Bridge == o.Bridge && i.Type == o.Type && i.OFPort == o.OFPort &&
		i.MTURequest == o.MTURequest && maps.Equal(i.Options, o.Options) &&
		maps.Equal(i.OtherConfig, o.OtherConfig)
}

// Tunnel is the configuration of a tunnel port, from the Interface options.
type Tunnel struct {
	// RemoteFlow is true for options:remote_ip=flow (the remote comes from tun_dst); RemoteIP is
	// the fixed remote otherwise.
	RemoteFlow bool
	RemoteIP   netip.Addr
	// LocalIP is options:local_ip, invalid when unset (the route to the remote decides).
	LocalIP netip.Addr
	// KeyFlow is true for options:key=flow (the VNI comes from tun_id); Key is the fixed VNI
	// otherwise (0 when the option is unset, as in OVS).
	KeyFlow bool
	Key     uint32
	// DstPort is options:dst_port, 0 for the protocol's default (6081 Geneve, 4789 VXLAN).
	DstPort uint16
}

// Status is what the datapath reports about an attached interface; it becomes the Interface
// row's status columns.
type Status struct {
	// AdminUp and LinkUp become admin_state and link_state ("up"/"down").
	AdminUp bool
	LinkUp  bool
	// MAC becomes mac_in_use; nil leaves the column empty.
	MAC net.HardwareAddr
	// Ifindex becomes ifindex (0 for ports without a kernel device, as in OVS).
	Ifindex int
	// MTU becomes mtu; 0 leaves the column empty.
	MTU int
	// Counters becomes the statistics column.
	Counters Counters
}

// Counters are an interface's packet counters, written to the statistics column under
// ovs-vswitchd's key names (rx_packets, tx_bytes, …).
type Counters struct {
	// RxPackets through TxErrors are rx_packets through tx_errors of the statistics column.
	RxPackets, TxPackets uint64
	RxBytes, TxBytes     uint64
	RxDropped, TxDropped uint64
	RxErrors, TxErrors   uint64
}

// statistics returns c as the statistics column's map.
func (c Counters) statistics() map[string]int {
	return map[string]int{
		"rx_packets": int(c.RxPackets), "tx_packets": int(c.TxPackets),
		"rx_bytes": int(c.RxBytes), "tx_bytes": int(c.TxBytes),
		"rx_dropped": int(c.RxDropped), "tx_dropped": int(c.TxDropped),
		"rx_errors": int(c.RxErrors), "tx_errors": int(c.TxErrors),
	}
}

// Datapath is what the forwarding plane implements for this package. The Client calls it from
// one goroutine only, in this order for one reconcile: DeleteBridge and Detach for what is gone
// or changed, AddBridge for new or changed bridges, Attach for new or changed interfaces, Status
// for every attached interface (after Attach, and on every status tick).
type Datapath interface {
	// AddBridge creates bridge b or updates its configuration; it is called again with the
	// new configuration when the row changes. The status it returns is written to the row.
	AddBridge(ctx context.Context, b Bridge) (BridgeStatus, error)
	// DeleteBridge removes a bridge whose interfaces have all been detached.
	DeleteBridge(ctx context.Context, b Bridge) error
	// Attach makes iface a port of its bridge with the OpenFlow port number iface.OFPort. Its
	// error becomes the Interface row's error column, so it should say what is wrong in words
	// an operator understands ("no network device named veth9").
	Attach(ctx context.Context, iface Interface) error
	// Detach removes an attached interface (the value Attach received). It must succeed
	// even when the kernel device is already gone.
	Detach(ctx context.Context, iface Interface) error
	// Status reports an attached interface's state and counters. An error means the port
	// no longer works (its netdev vanished or was renamed): the Client detaches it, writes the
	// error, and retries the attachment later.
	Status(ctx context.Context, iface Interface) (Status, error)
}
