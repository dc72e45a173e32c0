package packet

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

// Frames for tests are put together byte by byte here (and by gopacket in gopacket_test.go),
// not with Build, so the parser is checked against an independent construction.

const (
	macDst = 0x020000000002
	macSrc = 0x020000000001
)

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func macb(v uint64) []byte { return appendMAC(nil, v) }

func a4(s string) []byte { a := netip.MustParseAddr(s).As4(); return a[:] }

func a6(s string) []byte { a := netip.MustParseAddr(s).As16(); return a[:] }

func a4u(s string) uint64 { return uint64(binary.BigEndian.Uint32(a4(s))) }

func a6u(s string) [2]uint64 {
	b := a6(s)
	return [2]uint64{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}
}

// ethHdr returns the 14-byte header with the test MACs and type typ.
func ethHdr(typ uint16) []byte { return cat(macb(macDst), macb(macSrc), u16(typ)) }

// v4 returns an IPv4 header (with options opts) for an L4 part of l4len bytes; mod may
// change it before the checksum is computed.
func v4(proto uint8, l4len int, opts []byte, mod func(ip []byte)) []byte {
	ip := cat([]byte{0x45 + uint8(len(opts)/4), 0x28}, u16(uint16(20+len(opts)+l4len)),
		u16(0x1234), u16(0x4000), []byte{64, proto, 0, 0}, a4("192.0.2.1"), a4("198.51.100.2"), opts)
	if mod != nil {
		mod(ip)
	}
	IPv4(ip).SetChecksum()
	return ip
}

// v6 returns an IPv6 header for a payload (extension headers included) of plen bytes.
func v6(next uint8, plen int) []byte {
	return cat(u32(6<<28|0xb8<<20|0x12345), u16(uint16(plen)), []byte{next, 33},
		a6("2001:db8::1"), a6("2001:db8::2"))
}

func tcpHdr(sp, dp uint16, flags uint16) []byte {
	return cat(u16(sp), u16(dp), u32(1000), u32(2000), u16(5<<12|flags), u16(8192), u16(0), u16(0))
}

func udpHdr(sp, dp uint16, n int) []byte { return cat(u16(sp), u16(dp), u16(uint16(8+n)), u16(0)) }

// fields is an expected key: in_port and the listed fields, everything else zero.
type fields map[flow.Field]uint64

// fields128 lists expected 128-bit fields.
type fields128 map[flow.Field][2]uint64

func keyOf(inPort uint32, f fields, f128 fields128) flow.Key {
	var k flow.Key
	k.Set(flow.FieldInPort, uint64(inPort))
	for fl, v := range f {
		k.Set(fl, v)
	}
	for fl, v := range f128 {
		k.Set128(fl, v[0], v[1])
	}
	return k
}

// keyDiff describes how got differs from want, field by field ("" if equal).
func keyDiff(got, want *flow.Key) string {
	if *got == *want {
		return ""
	}
	var sb strings.Builder
	for f := flow.Field(0); f < flow.NumFields; f++ {
		gh, gl := got.Get128(f)
		wh, wl := want.Get128(f)
		if gh != wh || gl != wl {
			fmt.Fprintf(&sb, "%s: got %#x:%#x, want %#x:%#x; ", f, gh, gl, wh, wl)
		}
	}
	return sb.String()
}

// mustExtract extracts frame and fails the test on a drop reason.
func mustExtract(t *testing.T, frame []byte) (flow.Key, Info) {
	t.Helper()
	var k flow.Key
	var info Info
	if r := Extract(frame, 1, &k, &info); r != ReasonNone {
		t.Fatalf("Extract: got reason %v, want none", r)
	}
	return k, info
}
