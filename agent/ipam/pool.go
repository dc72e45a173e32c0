package ipam

import (
	"fmt"
	"math"
	"net/netip"
)

// Gateway returns the gateway address of cidr: the first address after the network address. The
// agent gives it to the node's gateway interface; the allocator never hands it out.
func Gateway(cidr netip.Prefix) netip.Addr {
	return cidr.Masked().Addr().Next()
}

// pool is one pod CIDR with its usable range [first, last]: the network address and the gateway
// are reserved in both families, the broadcast address too in IPv4.
type pool struct {
	cidr        netip.Prefix
	first, last netip.Addr
	size        uint64 // usable addresses, saturated at math.MaxUint64
}

func newPool(cidr netip.Prefix) (pool, error) {
	if !cidr.IsValid() {
		return pool{}, fmt.Errorf("pod cidr %v: invalid", cidr)
	}
	if cidr.Masked() != cidr {
		return pool{}, fmt.Errorf("pod cidr %v: host bits set (want %v)", cidr, cidr.Masked())
	}
	if cidr.Addr().Is4In6() || cidr.Addr().Zone() != "" {
		return pool{}, fmt.Errorf("pod cidr %v: mapped or zoned address", cidr)
	}
	hostBits := cidr.Addr().BitLen() - cidr.Bits()
	reserved := uint64(2) // network, gateway
	if cidr.Addr().Is4() {
		reserved++ // broadcast
	}
	var total uint64 = math.MaxUint64
	if hostBits < 64 {
		total = uint64(1) << hostBits
	}
	p := pool{cidr: cidr}
	if total <= reserved {
		return p, nil // size 0: every request is exhausted
	}
	p.size = total - reserved
	p.first = Gateway(cidr).Next()
	p.last = lastAddr(cidr)
	if cidr.Addr().Is4() {
		p.last = p.last.Prev()
	}
	return p, nil
}

// lastAddr returns the highest address in cidr.
func lastAddr(cidr netip.Prefix) netip.Addr {
	b := cidr.Masked().Addr().AsSlice()
	for i := cidr.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// usable reports whether ip is in p's allocatable range.
func (p pool) usable(ip netip.Addr) bool {
	return p.size > 0 && p.cidr.Contains(ip) && ip.Compare(p.first) >= 0 && ip.Compare(p.last) <= 0
}

// next returns the usable address after ip in p, wrapping from last to first.
func (p pool) next(ip netip.Addr) netip.Addr {
	if !p.usable(ip) || ip == p.last {
		return p.first
	}
	return ip.Next()
}
