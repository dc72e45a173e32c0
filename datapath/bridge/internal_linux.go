package bridge

import (
	"fmt"
	"hash/fnv"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/ovsdb"
)

// peerName is the name of the far end of internal interface name's veth pair on bridge br:
// "sl" and 8 hex digits of a hash of both, short enough for IFNAMSIZ.
func peerName(br, name string) string {
	h := fnv.New32a()
	h.Write([]byte(br + "/" + name))
	return fmt.Sprintf("sl%08x", h.Sum32())
}

// switchPort is the OpenFlow port number of OVSDB ofport n (65534 is LOCAL).
func switchPort(n int) uint32 {
	if n == ovsdb.OFPortLocal {
		return flow.PortLocal
	}
	return uint32(n)
}

// attachInternal gives internal interface iface a kernel device as OVS does: a veth pair whose
// end named like the interface stays with the host (up; the bridge's own one gets the
// bridge's MAC) and whose far end the datapath attaches like a netdev, under iface's ofport.
// A leftover pair of the same names (a crashed run) is replaced.
func (d *Datapath) attachInternal(br *bridge, iface ovsdb.Interface) (err error) {
	if _, ok := d.ifaces[iface.Name]; ok {
		return fmt.Errorf("attach %s: already attached", iface.Name)
	}
	peer := peerName(br.name, iface.Name)
	if old, err := netlink.LinkByName(iface.Name); err == nil {
		if _, err := netlink.LinkByName(peer); err != nil || old.Type() != "veth" {
			return fmt.Errorf("attach %s: a network device of that name exists and is not sluice's", iface.Name)
		}
		_ = netlink.LinkDel(old)
	}
	la := netlink.NewLinkAttrs()
	la.Name = iface.Name
	if iface.OFPort == ovsdb.OFPortLocal {
		la.HardwareAddr = br.mac
	}
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: peer}); err != nil {
		return fmt.Errorf("attach %s: create veth pair with %s: %w", iface.Name, peer, err)
	}
	defer func() {
		if err != nil {
			_ = netlink.LinkDel(&netlink.Veth{LinkAttrs: la})
		}
	}()
	// Frames of the host leave through AF_XDP with whatever checksum the sender left, so the
	// host's end must not defer checksums to the (absent) hardware.
	if err := txChecksumOff(iface.Name); err != nil {
		return fmt.Errorf("attach %s: %w", iface.Name, err)
	}
	for _, n := range []string{peer, iface.Name} {
		l, err := netlink.LinkByName(n)
		if err != nil {
			return fmt.Errorf("attach %s: %w", iface.Name, err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("attach %s: set %s up: %w", iface.Name, n, err)
		}
	}
	return d.attachNetdev(br, iface, peer)
}

// hostAttrs looks up the host-visible device of internal port p and records its ifindex.
func hostAttrs(p *netPort) (*netlink.LinkAttrs, error) {
	l, err := netlink.LinkByName(p.iface.Name)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", p.iface.Name, err)
	}
	p.host = l.Attrs().Index
	return l.Attrs(), nil
}

// hostIndex is the ifindex of the device named like p's interface.
func (p *netPort) hostIndex() int {
	if p.host != 0 {
		return p.host
	}
	return p.ifindex
}

// deletePair deletes internal port p's veth pair (both ends go with either).
func (d *Datapath) deletePair(p *netPort) {
	l, err := netlink.LinkByIndex(p.ifindex)
	if err == nil {
		err = netlink.LinkDel(l)
	}
	if err != nil { // usually: already gone
		d.log.Debug("delete veth pair", "interface", p.iface.Name, "error", err)
	}
}

// txChecksumOff turns TX checksum offload of netdev name off (ethtool -K name tx off).
func txChecksumOff(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("turn off tx checksum offload of %s: %w", name, err)
	}
	defer unix.Close(fd)
	val := struct{ cmd, data uint32 }{cmd: unix.ETHTOOL_STXCSUM}
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte
	}
	copy(ifr.name[:], name)
	ifr.data = unsafe.Pointer(&val)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
		return fmt.Errorf("turn off tx checksum offload of %s: %w", name, errno)
	}
	return nil
}
