package flow

import (
	"fmt"
	"math/bits"
)

// Words is the number of 64-bit words in a Key.
const Words = 31

// Key is the packed form of every field a flow can match on: the packet's headers as parsed,
// its metadata (in_port, registers, tunnel, conntrack) and the pipeline's registers. A Mask has
// the same layout, with a 1 bit where the flow cares.
//
// The layout is fixed (see the fields table): a field never straddles two words except the
// 128-bit ones, which take two whole words (high half first). Fields that OVS stores in the
// same place share bits here too (arp_op is nw_proto, arp_spa is nw_src, icmp_type is tp_src, …),
// so a classifier that hashes masked words sees the same tuple OVS does.
type Key struct {
	W [Words]uint64
}

// Field names one match field.
type Field uint8

// The match fields. Their text names are OVS's (see FieldInfo).
const (
	FieldInPort Field = iota
	FieldPktMark
	FieldMetadata
	FieldReg0
	FieldReg1
	FieldReg2
	FieldReg3
	FieldReg4
	FieldReg5
	FieldReg6
	FieldReg7
	FieldReg8
	FieldReg9
	FieldReg10
	FieldReg11
	FieldReg12
	FieldReg13
	FieldReg14
	FieldReg15
	FieldXReg0
	FieldXReg1
	FieldXReg2
	FieldXReg3
	FieldXReg4
	FieldXReg5
	FieldXReg6
	FieldXReg7
	FieldXXReg0
	FieldXXReg1
	FieldXXReg2
	FieldXXReg3
	FieldTunID
	FieldTunSrc
	FieldTunDst
	FieldCtState
	FieldCtZone
	FieldCtNwProto
	FieldCtMark
	FieldConjID
	FieldCtLabel
	FieldCtNwSrc
	FieldCtNwDst
	FieldCtTpSrc
	FieldCtTpDst
	FieldEthType
	FieldVLANTCI
	FieldVLANVID // 12-bit VID plus the CFI/present bit (0x1000), as OpenFlow's vlan_vid
	FieldVLANPCP
	FieldEthSrc
	FieldNwProto
	FieldNwTOS // the whole ToS byte: DSCP<<2 | ECN
	FieldIPDSCP
	FieldNwECN
	FieldEthDst
	FieldNwTTL
	FieldNwFrag
	FieldNwSrc
	FieldNwDst
	FieldTpSrc
	FieldTpDst
	FieldTCPFlags
	FieldIPv6Src
	FieldIPv6Dst
	FieldIPv6Label
	FieldArpOp
	FieldArpSpa
	FieldArpTpa
	FieldArpSha
	FieldArpTha
	FieldIcmpType
	FieldIcmpCode
	FieldNdTarget
	FieldNdSll
	FieldNdTll
	// Protocol-specific views of tp_src/tp_dst and icmp_type/icmp_code: same bits, but OVS
	// names (and prerequisites) differ, and set_field/move print the specific name.
	FieldTCPSrc
	FieldTCPDst
	FieldUDPSrc
	FieldUDPDst
	FieldSCTPSrc
	FieldSCTPDst
	FieldIcmpv6Type
	FieldIcmpv6Code

	NumFields
)

// FieldInfo describes where a field lives in a Key and what it is called.
type FieldInfo struct {
	Name  string // ovs-ofctl name, e.g. "nw_src", "reg3", "ct_state"
	Word  int    // index of the word (the high one for 128-bit fields)
	Shift uint   // bit position of the field's least significant bit in Word
	Bits  uint   // width: 1..64, or 128 for fields that take Word and Word+1 whole
}

// Mask64 returns the field's value mask (all ones over Bits, or ^0 for 128-bit fields).
func (fi FieldInfo) Mask64() uint64 {
	if fi.Bits >= 64 {
		return ^uint64(0)
	}
	return 1<<fi.Bits - 1
}

var fields = [NumFields]FieldInfo{
	FieldInPort:    {"in_port", 0, 32, 32},
	FieldPktMark:   {"pkt_mark", 0, 0, 32},
	FieldMetadata:  {"metadata", 1, 0, 64},
	FieldReg0:      {"reg0", 2, 32, 32},
	FieldReg1:      {"reg1", 2, 0, 32},
	FieldReg2:      {"reg2", 3, 32, 32},
	FieldReg3:      {"reg3", 3, 0, 32},
	FieldReg4:      {"reg4", 4, 32, 32},
	FieldReg5:      {"reg5", 4, 0, 32},
	FieldReg6:      {"reg6", 5, 32, 32},
	FieldReg7:      {"reg7", 5, 0, 32},
	FieldReg8:      {"reg8", 6, 32, 32},
	FieldReg9:      {"reg9", 6, 0, 32},
	FieldReg10:     {"reg10", 7, 32, 32},
	FieldReg11:     {"reg11", 7, 0, 32},
	FieldReg12:     {"reg12", 8, 32, 32},
	FieldReg13:     {"reg13", 8, 0, 32},
	FieldReg14:     {"reg14", 9, 32, 32},
	FieldReg15:     {"reg15", 9, 0, 32},
	FieldXReg0:     {"xreg0", 2, 0, 64},
	FieldXReg1:     {"xreg1", 3, 0, 64},
	FieldXReg2:     {"xreg2", 4, 0, 64},
	FieldXReg3:     {"xreg3", 5, 0, 64},
	FieldXReg4:     {"xreg4", 6, 0, 64},
	FieldXReg5:     {"xreg5", 7, 0, 64},
	FieldXReg6:     {"xreg6", 8, 0, 64},
	FieldXReg7:     {"xreg7", 9, 0, 64},
	FieldXXReg0:    {"xxreg0", 2, 0, 128},
	FieldXXReg1:    {"xxreg1", 4, 0, 128},
	FieldXXReg2:    {"xxreg2", 6, 0, 128},
	FieldXXReg3:    {"xxreg3", 8, 0, 128},
	FieldTunID:     {"tun_id", 10, 0, 64},
	FieldTunSrc:    {"tun_src", 11, 32, 32},
	FieldTunDst:    {"tun_dst", 11, 0, 32},
	FieldCtState:   {"ct_state", 12, 32, 32},
	FieldCtZone:    {"ct_zone", 12, 16, 16},
	FieldCtNwProto: {"ct_nw_proto", 12, 8, 8},
	FieldCtMark:    {"ct_mark", 13, 32, 32},
	FieldConjID:    {"conj_id", 13, 0, 32},
	FieldCtLabel:   {"ct_label", 14, 0, 128},
	FieldCtNwSrc:   {"ct_nw_src", 16, 32, 32},
	FieldCtNwDst:   {"ct_nw_dst", 16, 0, 32},
	FieldCtTpSrc:   {"ct_tp_src", 17, 48, 16},
	FieldCtTpDst:   {"ct_tp_dst", 17, 32, 16},
	FieldEthType:   {"dl_type", 17, 16, 16},
	FieldVLANTCI:   {"vlan_tci", 17, 0, 16},
	FieldVLANVID:   {"vlan_vid", 17, 0, 13},
	FieldVLANPCP:   {"vlan_pcp", 17, 13, 3},
	FieldEthSrc:    {"dl_src", 18, 16, 48},
	FieldNwProto:   {"nw_proto", 18, 8, 8},
	FieldNwTOS:     {"nw_tos", 18, 0, 8},
	FieldIPDSCP:    {"ip_dscp", 18, 2, 6},
	FieldNwECN:     {"nw_ecn", 18, 0, 2},
	FieldEthDst:    {"dl_dst", 19, 16, 48},
	FieldNwTTL:     {"nw_ttl", 19, 8, 8},
	FieldNwFrag:    {"nw_frag", 19, 0, 8},
	FieldNwSrc:     {"nw_src", 20, 32, 32},
	FieldNwDst:     {"nw_dst", 20, 0, 32},
	FieldTpSrc:     {"tp_src", 21, 48, 16},
	FieldTpDst:     {"tp_dst", 21, 32, 16},
	FieldTCPFlags:  {"tcp_flags", 21, 16, 12},
	FieldIPv6Src:   {"ipv6_src", 22, 0, 128},
	FieldIPv6Dst:   {"ipv6_dst", 24, 0, 128},
	FieldIPv6Label: {"ipv6_label", 26, 0, 20},
	FieldArpOp:     {"arp_op", 18, 8, 8},
	FieldArpSpa:    {"arp_spa", 20, 32, 32},
	FieldArpTpa:    {"arp_tpa", 20, 0, 32},
	FieldArpSha:    {"arp_sha", 27, 0, 48},
	FieldArpTha:    {"arp_tha", 30, 0, 48},
	FieldIcmpType:  {"icmp_type", 21, 48, 16},
	FieldIcmpCode:  {"icmp_code", 21, 32, 16},
	FieldNdTarget:  {"nd_target", 28, 0, 128},
	FieldNdSll:     {"nd_sll", 27, 0, 48},
	FieldNdTll:     {"nd_tll", 30, 0, 48},

	FieldTCPSrc:     {"tcp_src", 21, 48, 16},
	FieldTCPDst:     {"tcp_dst", 21, 32, 16},
	FieldUDPSrc:     {"udp_src", 21, 48, 16},
	FieldUDPDst:     {"udp_dst", 21, 32, 16},
	FieldSCTPSrc:    {"sctp_src", 21, 48, 16},
	FieldSCTPDst:    {"sctp_dst", 21, 32, 16},
	FieldIcmpv6Type: {"icmpv6_type", 21, 48, 16},
	FieldIcmpv6Code: {"icmpv6_code", 21, 32, 16},
}

// Info returns the field's layout and name.
func (f Field) Info() FieldInfo { return fields[f] }

// String returns the field's ovs-ofctl name.
func (f Field) String() string {
	if f >= NumFields {
		return fmt.Sprintf("field(%d)", uint8(f))
	}
	return fields[f].Name
}

var fieldByName = func() map[string]Field {
	m := make(map[string]Field, NumFields+8)
	for f := Field(0); f < NumFields; f++ {
		m[fields[f].Name] = f
	}
	// Aliases ovs-ofctl accepts.
	m["eth_type"] = FieldEthType
	m["eth_src"] = FieldEthSrc
	m["eth_dst"] = FieldEthDst
	m["ip_proto"] = FieldNwProto
	m["ip_src"] = FieldNwSrc
	m["ip_dst"] = FieldNwDst
	m["tun_ipv4_src"] = FieldTunSrc
	m["tun_ipv4_dst"] = FieldTunDst
	m["ipv6_src"] = FieldIPv6Src
	m["ipv6_dst"] = FieldIPv6Dst
	return m
}()

// FieldByName looks a field up by its ovs-ofctl name or one of its aliases.
func FieldByName(name string) (Field, bool) {
	f, ok := fieldByName[name]
	return f, ok
}

// Get returns a field of up to 64 bits. For a 128-bit field it returns the low half.
func (k *Key) Get(f Field) uint64 {
	fi := &fields[f]
	if fi.Bits == 128 {
		return k.W[fi.Word+1]
	}
	return (k.W[fi.Word] >> fi.Shift) & fi.Mask64()
}

// Set stores v (truncated to the field's width) into a field of up to 64 bits. For a 128-bit
// field it sets the low half and clears the high half.
func (k *Key) Set(f Field, v uint64) {
	fi := &fields[f]
	if fi.Bits == 128 {
		k.W[fi.Word], k.W[fi.Word+1] = 0, v
		return
	}
	m := fi.Mask64() << fi.Shift
	k.W[fi.Word] = k.W[fi.Word]&^m | (v<<fi.Shift)&m
}

// Get128 returns a 128-bit field as high and low halves.
func (k *Key) Get128(f Field) (hi, lo uint64) {
	fi := &fields[f]
	if fi.Bits != 128 {
		return 0, k.Get(f)
	}
	return k.W[fi.Word], k.W[fi.Word+1]
}

// Set128 stores a 128-bit field from its high and low halves.
func (k *Key) Set128(f Field, hi, lo uint64) {
	fi := &fields[f]
	if fi.Bits != 128 {
		k.Set(f, lo)
		return
	}
	k.W[fi.Word], k.W[fi.Word+1] = hi, lo
}

// SetBits stores the low n bits of v at bit offset ofs of a field (OpenFlow's field[ofs..ofs+n-1]
// subfield), leaving the other bits of the field alone. 128-bit fields are addressed as one
// 128-bit number; n is at most 64.
func (k *Key) SetBits(f Field, ofs, n uint, v uint64) {
	fi := &fields[f]
	m := uint64(1)<<n - 1
	if n >= 64 {
		m = ^uint64(0)
	}
	if fi.Bits == 128 {
		// Split across the two words: bits 0..63 are the low word.
		lo, hi := &k.W[fi.Word+1], &k.W[fi.Word]
		if ofs < 64 {
			*lo = *lo&^(m<<ofs) | (v&m)<<ofs
			if ofs+n > 64 {
				sh := 64 - ofs
				*hi = *hi&^(m>>sh) | (v&m)>>sh
			}
		} else {
			o := ofs - 64
			*hi = *hi&^(m<<o) | (v&m)<<o
		}
		return
	}
	w := &k.W[fi.Word]
	sh := fi.Shift + ofs
	*w = *w&^(m<<sh) | (v&m)<<sh
}

// GetBits returns n bits at offset ofs of a field (see SetBits).
func (k *Key) GetBits(f Field, ofs, n uint) uint64 {
	fi := &fields[f]
	m := uint64(1)<<n - 1
	if n >= 64 {
		m = ^uint64(0)
	}
	if fi.Bits == 128 {
		lo, hi := k.W[fi.Word+1], k.W[fi.Word]
		if ofs >= 64 {
			return (hi >> (ofs - 64)) & m
		}
		v := lo >> ofs
		if ofs > 0 {
			v |= hi << (64 - ofs)
		}
		return v & m
	}
	return (k.W[fi.Word] >> (fi.Shift + ofs)) & m
}

// And sets k to k & m, word by word.
func (k *Key) And(m *Key) {
	for i := range k.W {
		k.W[i] &= m.W[i]
	}
}

// IsZero reports whether every word is zero.
func (k *Key) IsZero() bool {
	for _, w := range k.W {
		if w != 0 {
			return false
		}
	}
	return true
}

// OnesCount returns the number of set bits (for a Mask: how specific it is).
func (k *Key) OnesCount() int {
	n := 0
	for _, w := range k.W {
		n += bits.OnesCount64(w)
	}
	return n
}
