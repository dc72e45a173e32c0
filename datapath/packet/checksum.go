package packet

import (
	"encoding/binary"
	"hash/crc32"
	"math/bits"
)

// The Internet checksum (RFC 1071) is the ones' complement of the ones' complement sum of the
// data taken as big-endian 16-bit words. Sums are kept unfolded in a uint64 (carries pile up
// in the high bits) and folded to 16 bits only at the end, which makes adding partial sums of
// different pieces (a pseudo-header, a header, a payload) a plain addition.

// Sum adds b, as big-endian 16-bit words (an odd last byte padded with zero), to the unfolded
// ones' complement sum acc and returns the new sum. Fold it with Fold.
func Sum(b []byte, acc uint64) uint64 {
	var carry uint64
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[0:]), 0)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[8:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[16:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[24:]), carry)
		acc += carry
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), 0)
		acc += carry
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b)), 0)
		acc += carry
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b)), 0)
		acc += carry
		b = b[2:]
	}
	if len(b) == 1 {
		acc, carry = bits.Add64(acc, uint64(b[0])<<8, 0)
		acc += carry
	}
	return acc
}

// Fold reduces an unfolded ones' complement sum to 16 bits (not complemented).
func Fold(acc uint64) uint16 {
	// 64-bit words were added, so fold 64 → 32 → 16 with end-around carries.
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 16) + (acc & 0xffff)
	acc = (acc >> 16) + (acc & 0xffff)
	acc = (acc >> 16) + (acc & 0xffff)
	return uint16(acc)
}

// Checksum returns the Internet checksum of b: the complement of its folded sum.
func Checksum(b []byte) uint16 { return ^Fold(Sum(b, 0)) }

// UpdateChecksum16 returns checksum hc after a 16-bit word of the covered data changed from
// old to new, by RFC 1624 equation 3: HC' = ~(~HC + ~m + m').
func UpdateChecksum16(hc, old, new uint16) uint16 {
	s := uint32(^hc) + uint32(^old) + uint32(new)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return ^uint16(s)
}

// UpdateChecksum32 returns checksum hc after a 32-bit word of the covered data (aligned on a
// 16-bit boundary, e.g. an IPv4 address) changed from old to new.
func UpdateChecksum32(hc uint16, old, new uint32) uint16 {
	s := uint64(^hc) + uint64(^uint16(old>>16)) + uint64(^uint16(old)) +
		uint64(new>>16) + uint64(new&0xffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return ^uint16(s)
}

// updateChecksumBytes returns checksum hc after the bytes old (16-bit aligned within the
// covered data, even length) became new. It is used for IPv6 addresses and MAC options.
func updateChecksumBytes(hc uint16, old, new []byte) uint16 {
	s := uint64(^hc)
	for i := 0; i+1 < len(old); i += 2 {
		s += uint64(^binary.BigEndian.Uint16(old[i:])) + uint64(binary.BigEndian.Uint16(new[i:]))
	}
	return ^Fold(s)
}

// pseudoSum is the unfolded sum of an IPv4 or IPv6 pseudo-header: the addresses, the protocol
// and the L4 length (the upper-layer packet length for IPv6; padding of the 32-bit fields with
// zeros does not change a ones' complement sum).
func pseudoSum(src, dst []byte, proto uint8, l4len int) uint64 {
	acc := Sum(src, 0)
	acc = Sum(dst, acc)
	return acc + uint64(proto) + uint64(l4len)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sctpChecksum computes the CRC32c of an SCTP packet (common header and chunks) with its
// checksum field taken as zero, as RFC 9260 appendix A specifies. The result is stored in the
// packet little-endian (the CRC's natural byte order), as the kernel and OVS do.
func sctpChecksum(sctp []byte) uint32 {
	var zero [4]byte
	c := crc32.Update(0, castagnoli, sctp[:8])
	c = crc32.Update(c, castagnoli, zero[:])
	return crc32.Update(c, castagnoli, sctp[12:])
}
