package bpf

import (
	"errors"
	"fmt"
	"net/netip"
)

// Mode says which frames of an interface the steering program sends to the datapath.
type Mode uint32

const (
	// ModeAll sends everything to the datapath except frames for kernel-owned addresses: pod
	// and gateway ports.
	ModeAll Mode = 1
	// ModeSelective sends only what the datapath owns (owned prefixes, tunnel ports, the
	// interface's NodePort range) and passes the rest to the kernel: the uplink.
	ModeSelective Mode = 2
)

// String returns "all" or "selective".
func (m Mode) String() string {
	switch m {
	case ModeAll:
		return "all"
	case ModeSelective:
		return "selective"
	}
	return fmt.Sprintf("Mode(%d)", uint32(m))
}

// ErrInvalidConfig is wrapped by every error about a configuration value the program cannot
// use.
var ErrInvalidConfig = errors.New("invalid steering configuration")

// InterfaceConfig is the steering configuration of one interface.
type InterfaceConfig struct {
	// Mode is ModeAll or ModeSelective.
	Mode Mode
	// SlotBase is the XSKMAP slot of RX queue 0; queue q uses SlotBase+q.
	SlotBase uint32
	// Queues is the number of RX queues that have a slot (SlotBase .. SlotBase+Queues-1); frames
	// on a higher queue go to the kernel. Zero means 1.
	Queues uint32
	// NodePortMin and NodePortMax bound the TCP/UDP/SCTP destination ports a selective interface
	// sends to the datapath (inclusive). Both zero: no NodePort range. Must be zero in ModeAll.
	NodePortMin, NodePortMax uint16
}

// encode validates c against an XSKMAP of maxSlots entries and returns the map value.
func (c InterfaceConfig) encode(maxSlots uint32) (steerIfaceConfig, error) {
	var v steerIfaceConfig
	if c.Mode != ModeAll && c.Mode != ModeSelective {
		return v, fmt.Errorf("%w: mode %v", ErrInvalidConfig, c.Mode)
	}
	queues := c.Queues
	if queues == 0 {
		queues = 1
	}
	if uint64(c.SlotBase)+uint64(queues) > uint64(maxSlots) {
		return v, fmt.Errorf("%w: slots %d..%d beyond the %d-entry socket map", ErrInvalidConfig,
			c.SlotBase, uint64(c.SlotBase)+uint64(queues)-1, maxSlots)
	}
	if c.NodePortMin > c.NodePortMax {
		return v, fmt.Errorf("%w: NodePort range %d-%d is reversed", ErrInvalidConfig, c.NodePortMin, c.NodePortMax)
	}
	if c.NodePortMax == 0 && c.NodePortMin != 0 {
		return v, fmt.Errorf("%w: NodePort range %d-0", ErrInvalidConfig, c.NodePortMin)
	}
	if c.Mode == ModeAll && c.NodePortMax != 0 {
		return v, fmt.Errorf("%w: a NodePort range needs mode selective (mode all takes every port)", ErrInvalidConfig)
	}
	v.Mode = uint32(c.Mode)
	v.SlotBase = c.SlotBase
	v.Queues = queues
	v.NodeportMin = c.NodePortMin
	v.NodeportMax = c.NodePortMax
	return v, nil
}

// decodeInterfaceConfig is the inverse of encode.
func decodeInterfaceConfig(v steerIfaceConfig) InterfaceConfig {
	return InterfaceConfig{
		Mode:        Mode(v.Mode),
		SlotBase:    v.SlotBase,
		Queues:      v.Queues,
		NodePortMin: v.NodeportMin,
		NodePortMax: v.NodeportMax,
	}
}

// prefixKey returns the LPM trie key of p: the 16-byte address (IPv4 as IPv4-mapped IPv6, its
// length plus 96) with the host bits cleared.
func prefixKey(p netip.Prefix) (steerPrefixKey, error) {
	var k steerPrefixKey
	if !p.IsValid() {
		return k, fmt.Errorf("%w: prefix %v", ErrInvalidConfig, p)
	}
	p = p.Masked()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	k.Prefixlen = uint32(bits)
	k.Addr = p.Addr().As16()
	return k, nil
}

// prefixFromKey is the inverse of prefixKey; IPv4-mapped keys of at least 96 bits become IPv4
// prefixes.
func prefixFromKey(k steerPrefixKey) netip.Prefix {
	a := netip.AddrFrom16(k.Addr)
	bits := int(k.Prefixlen)
	if a.Is4In6() && bits >= 96 {
		return netip.PrefixFrom(a.Unmap(), bits-96)
	}
	return netip.PrefixFrom(a, bits)
}
