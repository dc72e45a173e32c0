package flow

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// pick returns a when c holds, else b.
func pick[T any](c bool, a, b T) T {
	if c {
		return a
	}
	return b
}

// ones returns a Value with the low n bits set.
func ones(n uint16) Value {
	switch {
	case n >= 128:
		return Value{^uint64(0), ^uint64(0)}
	case n > 64:
		return Value{1<<(n-64) - 1, ^uint64(0)}
	case n == 64:
		return Value{0, ^uint64(0)}
	default:
		return Value{0, 1<<n - 1}
	}
}

func (v Value) and(m Value) Value    { return Value{v.Hi & m.Hi, v.Lo & m.Lo} }
func (v Value) andNot(m Value) Value { return Value{v.Hi &^ m.Hi, v.Lo &^ m.Lo} }
func (v Value) isZero() bool         { return v.Hi == 0 && v.Lo == 0 }

// shl shifts v left by n bits (n < 128).
func (v Value) shl(n uint16) Value {
	switch {
	case n == 0:
		return v
	case n >= 64:
		return Value{v.Lo << (n - 64), 0}
	default:
		return Value{v.Hi<<n | v.Lo>>(64-n), v.Lo << n}
	}
}

// shr shifts v right by n bits (n < 128).
func (v Value) shr(n uint16) Value {
	switch {
	case n == 0:
		return v
	case n >= 64:
		return Value{0, v.Hi >> (n - 64)}
	default:
		return Value{v.Hi >> n, v.Lo>>n | v.Hi<<(64-n)}
	}
}

// bitLen is the number of significant bits in v.
func (v Value) bitLen() int {
	if v.Hi != 0 {
		return 64 + bits.Len64(v.Hi)
	}
	return bits.Len64(v.Lo)
}

// hex prints v as OVS's ds_put_hex does: 0x followed by the significant digits, "0" for zero.
func (v Value) hex() string {
	switch {
	case v.Hi != 0:
		return fmt.Sprintf("0x%x%016x", v.Hi, v.Lo)
	case v.Lo != 0:
		return fmt.Sprintf("%#x", v.Lo)
	default:
		return "0"
	}
}

// parseInt parses a decimal or 0x-hexadecimal number of up to 128 bits.
func parseInt(s string) (Value, error) {
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		if h == "" || len(strings.TrimLeft(h, "0")) > 32 {
			return Value{}, fmt.Errorf("%q: not a hexadecimal number of at most 128 bits", s)
		}
		var v Value
		for _, c := range h {
			var d uint64
			switch {
			case c >= '0' && c <= '9':
				d = uint64(c - '0')
			case c >= 'a' && c <= 'f':
				d = uint64(c-'a') + 10
			default:
				return Value{}, fmt.Errorf("%q: not a hexadecimal number", s)
			}
			v = v.shl(4)
			v.Lo |= d
		}
		return v, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return Value{}, fmt.Errorf("%q: not a number", s)
	}
	return Value{Lo: n}, nil
}

// parseUintBits parses a number that must fit in n bits.
func parseUintBits(s string, n uint16) (uint64, error) {
	v, err := parseInt(s)
	if err != nil {
		return 0, err
	}
	if v.bitLen() > int(n) {
		return 0, fmt.Errorf("%s: value does not fit in %d bits", s, n)
	}
	return v.Lo, nil
}

// Reserved port names, as ovs-ofctl prints and parses them.
var portNames = []struct {
	name string
	port uint32
}{
	{"IN_PORT", PortInPort},
	{"TABLE", PortTable},
	{"NORMAL", PortNormal},
	{"FLOOD", PortFlood},
	{"ALL", PortAll},
	{"CONTROLLER", PortController},
	{"LOCAL", PortLocal},
	{"NONE", PortAny},
	{"ANY", PortAny},
	{"UNSET", PortUnset},
}

// parsePort parses a port number or reserved name. OpenFlow 1.0 numbers of reserved ports
// (0xfff8…0xffff) are mapped to their OpenFlow 1.1+ values.
func parsePort(s string) (uint32, error) {
	for _, p := range portNames {
		if strings.EqualFold(s, p.name) {
			return p.port, nil
		}
	}
	v, err := parseInt(s)
	if err != nil || v.Hi != 0 || v.Lo > 0xffffffff {
		return 0, fmt.Errorf("%s: not a valid port number or name", s)
	}
	n := uint32(v.Lo)
	switch {
	case n < 0xff00:
		return n, nil
	case n >= 0xfff7 && n <= 0xffff:
		return 0xffff0000 | n, nil
	case n >= PortUnset:
		return n, nil
	}
	return 0, fmt.Errorf("port %d is outside the supported range 0 through 0xfeff or 0xfff7 through 0xffff", n)
}

// formatPort prints a port as ovs-ofctl does: a reserved name or a decimal number.
func formatPort(p uint32) string {
	for _, n := range portNames {
		if n.port == p {
			return n.name
		}
	}
	return strconv.FormatUint(uint64(p), 10)
}

var ctStateNames = []string{"new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"}

// The ct_state bits (OVS's CS_* values).
const (
	CtNew   = 0x01
	CtEst   = 0x02
	CtRel   = 0x04
	CtRpl   = 0x08
	CtInv   = 0x10
	CtTrk   = 0x20
	CtSNAT  = 0x40
	CtDNAT  = 0x80
	ctAll   = 0xff
	tcpAll  = 0x0fff
	fragAny = 0x01 // nw_frag: the packet is a fragment
	// fragLater: the packet is a fragment other than the first.
	fragLater = 0x02
)

var tcpFlagNames = []string{"fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns", "[200]", "[400]", "[800]"}

// parseFlags parses "+a-b", "a|b" or "0xV/0xM" forms over the named bits.
func parseFlags(s, what string, names []string, all uint64) (v, m uint64, err error) {
	if s == "" {
		return 0, 0, fmt.Errorf("%s: empty value", what)
	}
	if s[0] == '+' || s[0] == '-' {
		for s != "" {
			set := s[0] == '+'
			if s[0] != '+' && s[0] != '-' {
				return 0, 0, fmt.Errorf("%s: %s flags must be preceded by '+' (set) or '-' (not set)", s, what)
			}
			s = s[1:]
			end := strings.IndexAny(s, "+-")
			if end < 0 {
				end = len(s)
			}
			name := s[:end]
			s = s[end:]
			bit, err := flagBit(name, what, names)
			if err != nil {
				return 0, 0, err
			}
			if m&(1<<bit) != 0 {
				return 0, 0, fmt.Errorf("%s: each %s flag can be specified only once", name, what)
			}
			m |= 1 << bit
			if set {
				v |= 1 << bit
			}
		}
		return v, m, nil
	}
	if s[0] >= '0' && s[0] <= '9' {
		vs, ms, masked := strings.Cut(s, "/")
		vv, err := parseInt(vs)
		if err != nil {
			return 0, 0, err
		}
		mm := Value{Lo: all}
		if masked {
			if mm, err = parseInt(ms); err != nil {
				return 0, 0, err
			}
		}
		if vv.Hi != 0 || mm.Hi != 0 || vv.Lo&^all != 0 || mm.Lo&^all != 0 {
			return 0, 0, fmt.Errorf("%s: %s value has unknown bits", s, what)
		}
		return vv.Lo & mm.Lo, mm.Lo, nil
	}
	for _, name := range strings.Split(s, "|") {
		bit, err := flagBit(name, what, names)
		if err != nil {
			return 0, 0, err
		}
		v |= 1 << bit
	}
	return v, all, nil
}

// flagBit returns the bit number of a named flag.
func flagBit(name, what string, names []string) (int, error) {
	for i, n := range names {
		if n == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%s: unknown %s flag", name, what)
}

// formatFlags prints flags as OVS's format_flags_masked does.
func formatFlags(v, m, all uint64, names []string) string {
	var b strings.Builder
	if m == all {
		if v == 0 {
			return "0"
		}
		for i, n := range names {
			if v&(1<<i) != 0 {
				if b.Len() > 0 {
					b.WriteByte('|')
				}
				b.WriteString(n)
			}
		}
		return b.String()
	}
	if m == 0 {
		return "0/0"
	}
	for i, n := range names {
		if m&(1<<i) != 0 {
			if v&(1<<i) != 0 {
				b.WriteByte('+')
			} else {
				b.WriteByte('-')
			}
			b.WriteString(n)
		}
	}
	return b.String()
}

var fragNames = []struct {
	name string
	v, m uint64
}{
	{"no", 0, fragAny},
	{"yes", fragAny, fragAny},
	{"first", fragAny, fragAny | fragLater},
	{"later", fragAny | fragLater, fragAny | fragLater},
	{"not_later", 0, fragLater},
}

func ipv4Value(a netip.Addr) uint64 {
	b := a.As4()
	return uint64(binary.BigEndian.Uint32(b[:]))
}

func ipv6Value(a netip.Addr) Value {
	b := a.As16()
	return Value{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func valueIPv4(v uint64) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(v))
	return netip.AddrFrom4(b)
}

func valueIPv6(v Value) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], v.Hi)
	binary.BigEndian.PutUint64(b[8:], v.Lo)
	return netip.AddrFrom16(b)
}

func parseMAC(s string) (uint64, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return 0, fmt.Errorf("%s: invalid Ethernet address", s)
	}
	var v uint64
	for _, p := range parts {
		if len(p) == 0 || len(p) > 2 {
			return 0, fmt.Errorf("%s: invalid Ethernet address", s)
		}
		n, err := strconv.ParseUint(p, 16, 8)
		if err != nil {
			return 0, fmt.Errorf("%s: invalid Ethernet address", s)
		}
		v = v<<8 | n
	}
	return v, nil
}

func formatMAC(v uint64) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x",
		byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// parseValue parses a field value with an optional /mask in the field's own syntax. A missing
// mask is all ones over the field's width; "*" is a zero mask.
func parseValue(f Field, s string) (v, m Value, err error) {
	sp := &specs[f]
	full := ones(sp.bits)
	if s == "*" {
		return Value{}, Value{}, nil
	}
	switch sp.kind {
	case kindHex, kindDec:
		vs, ms, masked := strings.Cut(s, "/")
		if v, err = parseInt(vs); err != nil {
			return v, m, fmt.Errorf("%s: %w", f.OVSName(), err)
		}
		m = full
		if masked {
			if m, err = parseInt(ms); err != nil {
				return v, m, fmt.Errorf("%s mask: %w", f.OVSName(), err)
			}
		}
		if v.bitLen() > int(sp.bits) || m.bitLen() > int(sp.bits) {
			return v, m, fmt.Errorf("%s: value %s does not fit in the field's %d bits", f.OVSName(), s, sp.bits)
		}
	case kindPort:
		p, err := parsePort(s)
		if err != nil {
			return v, m, err
		}
		return Value{Lo: uint64(p)}, Value{Lo: 0xffffffff}, nil
	case kindIPv4:
		vs, ms, masked := strings.Cut(s, "/")
		a, err := netip.ParseAddr(vs)
		if err != nil || !a.Is4() {
			return v, m, fmt.Errorf("%s: invalid IPv4 address", vs)
		}
		v, m = Value{Lo: ipv4Value(a)}, Value{Lo: 0xffffffff}
		if masked {
			if n, err := strconv.Atoi(ms); err == nil {
				if n < 0 || n > 32 {
					return v, m, fmt.Errorf("%s: IPv4 network prefix bits not between 0 and 32, inclusive", s)
				}
				m = Value{Lo: (0xffffffff << (32 - n)) & 0xffffffff}
			} else if ma, err := netip.ParseAddr(ms); err == nil && ma.Is4() {
				m = Value{Lo: ipv4Value(ma)}
			} else {
				return v, m, fmt.Errorf("%s: invalid IPv4 mask", s)
			}
		}
	case kindIPv6:
		vs, ms, masked := strings.Cut(s, "/")
		a, err := netip.ParseAddr(vs)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return v, m, fmt.Errorf("%s: invalid IPv6 address", vs)
		}
		v, m = ipv6Value(a), full
		if masked {
			if n, err := strconv.Atoi(ms); err == nil {
				if n < 0 || n > 128 {
					return v, m, fmt.Errorf("%s: IPv6 network prefix bits not between 0 and 128, inclusive", s)
				}
				m = ones(uint16(n)).shl(uint16(128 - n))
				if n == 0 {
					m = Value{}
				}
			} else if ma, err := netip.ParseAddr(ms); err == nil && ma.Is6() {
				m = ipv6Value(ma)
			} else {
				return v, m, fmt.Errorf("%s: invalid IPv6 mask", s)
			}
		}
	case kindMAC:
		vs, ms, masked := strings.Cut(s, "/")
		a, err := parseMAC(vs)
		if err != nil {
			return v, m, err
		}
		v, m = Value{Lo: a}, full
		if masked {
			mm, err := parseMAC(ms)
			if err != nil {
				return v, m, err
			}
			m = Value{Lo: mm}
		}
	case kindCtState:
		vv, mm, err := parseFlags(s, "ct_state", ctStateNames, ctAll)
		if err != nil {
			return v, m, err
		}
		v, m = Value{Lo: vv}, Value{Lo: mm}
	case kindTCPFlags:
		vv, mm, err := parseFlags(s, "tcp_flags", tcpFlagNames, tcpAll)
		if err != nil {
			return v, m, err
		}
		v, m = Value{Lo: vv}, Value{Lo: mm}
	case kindFrag:
		for _, fn := range fragNames {
			if strings.EqualFold(s, fn.name) {
				return Value{Lo: fn.v}, Value{Lo: fn.m}, nil
			}
		}
		return v, m, fmt.Errorf("%s: unknown fragment type (valid types are \"no\", \"yes\", \"first\", \"later\", \"not_later\")", s)
	}
	return v.and(m), m, nil
}

// formatValue prints a field value (and its mask unless it is all ones or mask is nil) as
// OVS's mf_format does for set_field and learn.
func formatValue(f Field, v Value, mask *Value) string {
	sp := &specs[f]
	if mask != nil && *mask == ones(f.valueWidth()) {
		mask = nil
	}
	if mask != nil && mask.isZero() {
		return "ANY"
	}
	var s string
	switch sp.kind {
	case kindHex:
		s = v.hex()
	case kindDec:
		s = strconv.FormatUint(v.Lo, 10)
	case kindPort:
		if mask == nil {
			return formatPort(uint32(v.Lo))
		}
		s = strconv.FormatUint(v.Lo, 10)
	case kindIPv4:
		m := uint64(0xffffffff)
		if mask != nil {
			m = mask.Lo
		}
		return formatIPv4Masked(v.Lo, m)
	case kindIPv6:
		m := ones(128)
		if mask != nil {
			m = *mask
		}
		return formatIPv6Masked(v, m)
	case kindMAC:
		s = formatMAC(v.Lo)
		if mask != nil {
			return s + "/" + formatMAC(mask.Lo)
		}
		return s
	case kindCtState:
		m := uint64(ctAll)
		if mask != nil {
			m = mask.Lo
		}
		return formatFlags(v.Lo, m, ctAll, ctStateNames)
	case kindTCPFlags:
		m := uint64(tcpAll)
		if mask != nil {
			m = mask.Lo
		}
		return formatFlags(v.Lo, m, tcpAll, tcpFlagNames)
	case kindFrag:
		if mask == nil {
			switch v.Lo {
			case 0:
				return "no"
			case fragAny:
				return "first"
			case fragAny | fragLater:
				return "later"
			}
		}
		s = strconv.FormatUint(v.Lo, 10)
	}
	if mask != nil {
		s += "/" + mask.hex()
	}
	return s
}

func formatIPv4Masked(v, m uint64) string {
	s := valueIPv4(v).String()
	if m == 0xffffffff {
		return s
	}
	if n := bits.OnesCount32(uint32(m)); uint32(m) == ^uint32(0)<<(32-n) || m == 0 {
		return fmt.Sprintf("%s/%d", s, n)
	}
	return s + "/" + valueIPv4(m).String()
}

// formatIPv6 prints an address as glibc's inet_ntop (which OVS uses) does: like Go, except
// that an address whose first 96 bits are zero and whose 7th word is not prints as ::a.b.c.d.
func formatIPv6(v Value) string {
	if v.Hi == 0 && v.Lo>>32 == 0 && (v.Lo>>16)&0xffff != 0 {
		return "::" + valueIPv4(v.Lo).String()
	}
	return valueIPv6(v).String()
}

func formatIPv6Masked(v, m Value) string {
	s := formatIPv6(v)
	if m == ones(128) {
		return s
	}
	n := bits.OnesCount64(m.Hi) + bits.OnesCount64(m.Lo)
	if n == 0 || m == ones(uint16(n)).shl(uint16(128-n)) {
		return fmt.Sprintf("%s/%d", s, n)
	}
	return s + "/" + formatIPv6(m)
}
