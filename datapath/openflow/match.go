package openflow

import (
	"fmt"
	"slices"

	"github.com/sluicenet/sluice/datapath/flow"
)

// MatchTypeOXM is OFPMT_OXM, the only ofp_match type OpenFlow 1.5 has.
const MatchTypeOXM = 1

// Ethernet types and IP protocols the encoder branches on.
const (
	ethTypeIPv4 = 0x0800
	ethTypeARP  = 0x0806
	ethTypeRARP = 0x8035
	ethTypeIPv6 = 0x86dd
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
	protoSCTP   = 132
)

var (
	idInPort    = OXMID{Class: ClassBasic, Field: 0}
	idPktType   = OXMID{Class: ClassBasic, Field: 44}
	idMetadata  = OXMID{Class: ClassBasic, Field: 2}
	idEthDst    = OXMID{Class: ClassBasic, Field: 3}
	idEthSrc    = OXMID{Class: ClassBasic, Field: 4}
	idEthType   = OXMID{Class: ClassBasic, Field: 5}
	idVLANVID   = OXMID{Class: ClassBasic, Field: 6}
	idVLANPCP   = OXMID{Class: ClassBasic, Field: 7}
	idIPDSCP    = OXMID{Class: ClassBasic, Field: 8}
	idIPECN     = OXMID{Class: ClassBasic, Field: 9}
	idIPProto   = OXMID{Class: ClassBasic, Field: 10}
	idIPv4Src   = OXMID{Class: ClassBasic, Field: 11}
	idIPv4Dst   = OXMID{Class: ClassBasic, Field: 12}
	idTCPSrc    = OXMID{Class: ClassBasic, Field: 13}
	idTCPDst    = OXMID{Class: ClassBasic, Field: 14}
	idUDPSrc    = OXMID{Class: ClassBasic, Field: 15}
	idUDPDst    = OXMID{Class: ClassBasic, Field: 16}
	idSCTPSrc   = OXMID{Class: ClassBasic, Field: 17}
	idSCTPDst   = OXMID{Class: ClassBasic, Field: 18}
	idICMPType  = OXMID{Class: ClassBasic, Field: 19}
	idICMPCode  = OXMID{Class: ClassBasic, Field: 20}
	idArpOp     = OXMID{Class: ClassBasic, Field: 21}
	idArpSpa    = OXMID{Class: ClassBasic, Field: 22}
	idArpTpa    = OXMID{Class: ClassBasic, Field: 23}
	idArpSha    = OXMID{Class: ClassBasic, Field: 24}
	idArpTha    = OXMID{Class: ClassBasic, Field: 25}
	idIPv6Src   = OXMID{Class: ClassBasic, Field: 26}
	idIPv6Dst   = OXMID{Class: ClassBasic, Field: 27}
	idIPv6Label = OXMID{Class: ClassBasic, Field: 28}
	idICMP6Type = OXMID{Class: ClassBasic, Field: 29}
	idICMP6Code = OXMID{Class: ClassBasic, Field: 30}
	idNdTarget  = OXMID{Class: ClassBasic, Field: 31}
	idNdSll     = OXMID{Class: ClassBasic, Field: 32}
	idNdTll     = OXMID{Class: ClassBasic, Field: 33}
	idTunID     = OXMID{Class: ClassBasic, Field: 38}
	idTCPFlags  = OXMID{Class: ClassBasic, Field: 42}
	idIPFrag    = OXMID{Class: ClassNXM1, Field: 26}
	idIPTTL     = OXMID{Class: ClassNXM1, Field: 29}
	idTunSrc    = OXMID{Class: ClassNXM1, Field: 31}
	idTunDst    = OXMID{Class: ClassNXM1, Field: 32}
	idPktMark   = OXMID{Class: ClassNXM1, Field: 33}
	idConjID    = OXMID{Class: ClassNXM1, Field: 37}
	idCtState   = OXMID{Class: ClassNXM1, Field: 105}
	idCtZone    = OXMID{Class: ClassNXM1, Field: 106}
	idCtMark    = OXMID{Class: ClassNXM1, Field: 107}
	idCtLabel   = OXMID{Class: ClassNXM1, Field: 108}
	idCtNwProto = OXMID{Class: ClassNXM1, Field: 119}
	idCtNwSrc   = OXMID{Class: ClassNXM1, Field: 120}
	idCtNwDst   = OXMID{Class: ClassNXM1, Field: 121}
	idCtTpSrc   = OXMID{Class: ClassNXM1, Field: 124}
	idCtTpDst   = OXMID{Class: ClassNXM1, Field: 125}
)

func mustDef(id OXMID) *oxmDef {
	d, _ := oxmByID.lookup(id)
	return d
}

// oxmWriter appends TLVs for a match, in OVS's order.
type oxmWriter struct {
	b   []byte
	m   *flow.Match
	err error
}

// put appends field f under header id if the match cares about it: exactly when the mask covers
// the whole field on the wire, masked otherwise.
func (w *oxmWriter) put(id OXMID, f flow.Field) {
	d, _ := oxmByID.lookup(id)
	if d.size == 16 {
		vh, vl := w.m.Key.Get128(f)
		mh, ml := w.m.Mask.Get128(f)
		w.putRaw(d, vh, vl, mh, ml, mh == ^uint64(0) && ml == ^uint64(0))
		return
	}
	v, mask := w.m.Key.Get(f), w.m.Mask.Get(f)
	w.putRaw(d, 0, v, 0, mask, mask == f.Info().Mask64())
}

func (w *oxmWriter) putRaw(d *oxmDef, vh, vl, mh, ml uint64, exact bool) {
	if mh == 0 && ml == 0 {
		return
	}
	if exact {
		w.b = appendOXMHeader(w.b, d.id, false, d.size)
		w.b = appendUint(w.b, d.size, vh, vl)
		return
	}
	if !d.maskable {
		if w.err == nil {
			w.err = fmt.Errorf("%s cannot be matched with a mask: %w", d.f, ErrBadMatch)
		}
		return
	}
	w.b = appendOXMHeader(w.b, d.id, true, 2*d.size)
	w.b = appendUint(w.b, d.size, vh, vl)
	w.b = appendUint(w.b, d.size, mh, ml)
}

// putExact appends an exact-match TLV with value v when the match has any mask bits on f.
func (w *oxmWriter) putExact(id OXMID, f flow.Field, v uint64) {
	if w.m.Mask.Get(f) == 0 {
		return
	}
	d, _ := oxmByID.lookup(id)
	w.b = appendOXMHeader(w.b, d.id, false, d.size)
	w.b = appendUint(w.b, d.size, 0, v)
}

func (w *oxmWriter) exact(f flow.Field) (uint64, bool) {
	return w.m.Key.Get(f), w.m.Mask.Get(f) == f.Info().Mask64()
}

// AppendOXMs appends m as a list of OXM TLVs (no ofp_match header, no padding), with the
// headers and in the order OVS 3.1 uses for OpenFlow 1.5. Fields whose prerequisites are not
// in the match (tcp_dst without nw_proto=6, say) cannot be encoded and make it fail.
func AppendOXMs(b []byte, m *flow.Match) ([]byte, error) {
	w := &oxmWriter{b: b, m: m}
	w.put(idConjID, flow.FieldConjID)
	w.put(idInPort, flow.FieldInPort)
	w.put(idEthSrc, flow.FieldEthSrc)
	w.put(idEthDst, flow.FieldEthDst)
	w.put(idEthType, flow.FieldEthType)

	// 802.1Q: vlan_vid carries the CFI/present bit; vlan_pcp only with a VLAN present.
	if mask := m.Mask.Get(flow.FieldVLANVID); mask != 0 {
		w.putRaw(mustDef(idVLANVID), 0, m.Key.Get(flow.FieldVLANVID), 0, mask, mask == 0x1fff)
	}
	if m.Key.Get(flow.FieldVLANVID) != 0 && m.Mask.Get(flow.FieldVLANPCP) != 0 {
		w.putExact(idVLANPCP, flow.FieldVLANPCP, m.Key.Get(flow.FieldVLANPCP))
	}

	ethType, ethExact := w.exact(flow.FieldEthType)
	switch {
	case ethExact && (ethType == ethTypeIPv4 || ethType == ethTypeIPv6):
		w.putIP(ethType)
	case ethExact && (ethType == ethTypeARP || ethType == ethTypeRARP):
		w.putExact(idArpOp, flow.FieldArpOp, m.Key.Get(flow.FieldArpOp))
		w.put(idArpSpa, flow.FieldArpSpa)
		w.put(idArpTpa, flow.FieldArpTpa)
		w.put(idArpSha, flow.FieldArpSha)
		w.put(idArpTha, flow.FieldArpTha)
	}

	w.put(idTunID, flow.FieldTunID)
	w.put(idTunSrc, flow.FieldTunSrc)
	w.put(idTunDst, flow.FieldTunDst)
	for i := range 8 {
		w.put(OXMID{Class: ClassPacketRegs, Field: uint8(i)}, flow.FieldXReg0+flow.Field(i))
	}
	w.put(idPktMark, flow.FieldPktMark)
	w.put(idCtState, flow.FieldCtState)
	w.put(idCtZone, flow.FieldCtZone)
	w.put(idCtMark, flow.FieldCtMark)
	w.put(idCtLabel, flow.FieldCtLabel)
	w.put(idCtNwSrc, flow.FieldCtNwSrc)
	w.put(idCtNwDst, flow.FieldCtNwDst)
	if m.Key.Get(flow.FieldCtNwProto) != 0 {
		w.put(idCtNwProto, flow.FieldCtNwProto)
		w.put(idCtTpSrc, flow.FieldCtTpSrc)
		w.put(idCtTpDst, flow.FieldCtTpDst)
	}
	w.put(idMetadata, flow.FieldMetadata)
	if w.err != nil {
		return b, w.err
	}
	// Every field the match cares about must have made it onto the wire.
	var got flow.Match
	if err := decodeOXMs(&cursor{b: w.b[len(b):]}, &got); err != nil {
		return b, err
	}
	if got.Mask != m.Mask {
		return b, fmt.Errorf("fields %v lack their prerequisites: %w: %w", lostFields(&m.Mask, &got.Mask), ErrBadPrereq, ErrBadMatch)
	}
	if got.Key != m.Key {
		return b, fmt.Errorf("fields %v hold values their OpenFlow encoding cannot carry: %w", changedFields(&m.Key, &got.Key), ErrBadMatch)
	}
	return w.b, nil
}

func lostFields(want, got *flow.Key) []flow.Field {
	var out []flow.Field
	for f := flow.Field(0); f < flow.NumFields; f++ {
		wh, wl := want.Get128(f)
		gh, gl := got.Get128(f)
		if wh&^gh != 0 || wl&^gl != 0 {
			out = append(out, f)
		}
	}
	return out
}

func changedFields(want, got *flow.Key) []flow.Field {
	var out []flow.Field
	for f := flow.Field(0); f < flow.NumFields; f++ {
		wh, wl := want.Get128(f)
		gh, gl := got.Get128(f)
		if wh != gh || wl != gl {
			out = append(out, f)
		}
	}
	return out
}

func (w *oxmWriter) putIP(ethType uint64) {
	m := w.m
	if ethType == ethTypeIPv4 {
		w.put(idIPv4Src, flow.FieldNwSrc)
		w.put(idIPv4Dst, flow.FieldNwDst)
	} else {
		w.put(idIPv6Src, flow.FieldIPv6Src)
		w.put(idIPv6Dst, flow.FieldIPv6Dst)
	}
	if fm := m.Mask.Get(flow.FieldNwFrag) & 3; fm != 0 {
		v := m.Key.Get(flow.FieldNwFrag) & 3
		w.putRaw(mustDef(idIPFrag), 0, v, 0, fm, fm == 3)
	}
	tos, tosMask := m.Key.Get(flow.FieldNwTOS), m.Mask.Get(flow.FieldNwTOS)
	if tosMask&0xfc != 0 {
		w.putExact(idIPDSCP, flow.FieldIPDSCP, tos>>2)
	}
	if tosMask&0x03 != 0 {
		w.putExact(idIPECN, flow.FieldNwECN, tos&3)
	}
	w.putExact(idIPTTL, flow.FieldNwTTL, m.Key.Get(flow.FieldNwTTL))
	w.put(idIPv6Label, flow.FieldIPv6Label)
	if m.Mask.Get(flow.FieldNwProto) == 0 {
		return
	}
	proto := m.Key.Get(flow.FieldNwProto)
	w.putExact(idIPProto, flow.FieldNwProto, proto)
	switch {
	case proto == protoTCP:
		w.put(idTCPSrc, flow.FieldTCPSrc)
		w.put(idTCPDst, flow.FieldTCPDst)
		w.put(idTCPFlags, flow.FieldTCPFlags)
	case proto == protoUDP:
		w.put(idUDPSrc, flow.FieldUDPSrc)
		w.put(idUDPDst, flow.FieldUDPDst)
	case proto == protoSCTP:
		w.put(idSCTPSrc, flow.FieldSCTPSrc)
		w.put(idSCTPDst, flow.FieldSCTPDst)
	case proto == protoICMP && ethType == ethTypeIPv4:
		w.putExact(idICMPType, flow.FieldIcmpType, m.Key.Get(flow.FieldIcmpType))
		w.putExact(idICMPCode, flow.FieldIcmpCode, m.Key.Get(flow.FieldIcmpCode))
	case proto == protoICMPv6 && ethType == ethTypeIPv6:
		typ := m.Key.Get(flow.FieldIcmpType)
		w.putExact(idICMP6Type, flow.FieldIcmpv6Type, typ)
		w.putExact(idICMP6Code, flow.FieldIcmpv6Code, m.Key.Get(flow.FieldIcmpCode))
		if typ == 135 || typ == 136 {
			w.put(idNdTarget, flow.FieldNdTarget)
			if typ == 135 {
				w.put(idNdSll, flow.FieldNdSll)
			} else {
				w.put(idNdTll, flow.FieldNdTll)
			}
		}
	}
}

// AppendMatch appends m as an ofp_match (OFPMT_OXM), padded to 8 bytes.
func AppendMatch(b []byte, m *flow.Match) ([]byte, error) {
	start := len(b)
	b = append(b, 0, MatchTypeOXM, 0, 0)
	b, err := AppendOXMs(b, m)
	if err != nil {
		return b[:start], err
	}
	be.PutUint16(b[start+2:], uint16(len(b)-start))
	return appendPad8(b, start), nil
}

// oxmSeen remembers which headers a match carried, to refuse duplicates: a bit per field of the
// four non-experimenter classes, a list for experimenter ones.
type oxmSeen struct {
	bits [4][2]uint64
	exp  []OXMID
}

// add records id and reports whether it was there already.
func (s *oxmSeen) add(id OXMID) bool {
	var row int
	switch id.Class {
	case ClassNXM0:
		row = 0
	case ClassNXM1:
		row = 1
	case ClassBasic:
		row = 2
	case ClassPacketRegs:
		row = 3
	default:
		if slices.Contains(s.exp, id) {
			return true
		}
		if len(s.exp) >= 64 {
			return true // more experimenter fields than any match has: refuse as duplicate
		}
		s.exp = append(s.exp, id)
		return false
	}
	w, bit := &s.bits[row][id.Field>>6], uint64(1)<<(id.Field&63)
	dup := *w&bit != 0
	*w |= bit
	return dup
}

// decodeOXMs decodes a TLV list into m.
func decodeOXMs(c *cursor, m *flow.Match) error {
	var seen oxmSeen
	for c.len() > 0 && c.err == nil {
		id, hasMask, n := readOXMHeader(c)
		if c.err != nil {
			break
		}
		if seen.add(id) {
			return fmt.Errorf("%s twice: %w: %w", id.Name(), ErrDupField, ErrBadMatch)
		}
		if id == idPktType {
			// OXM_OF_PACKET_TYPE: only Ethernet (0,0), which every Sluice match implies.
			v := c.take(n)
			if n != 4 || hasMask || be.Uint32(v) != 0 {
				return fmt.Errorf("packet_type other than Ethernet: %w", ErrBadMatch)
			}
			continue
		}
		d, ok := oxmByID.lookup(id)
		if !ok {
			return fmt.Errorf("%s: %w", id.Name(), ErrBadField)
		}
		want := d.size
		if hasMask {
			want *= 2
		}
		if n != want {
			return fmt.Errorf("%s payload %d bytes, want %d: %w", d.name, n, want, ErrBadLength)
		}
		if hasMask && !d.maskable {
			return fmt.Errorf("%s cannot be masked: %w: %w", d.name, ErrBadMask, ErrBadMatch)
		}
		vh, vl := readUint(c, d.size)
		mh, ml := ^uint64(0), ^uint64(0)
		if hasMask {
			mh, ml = readUint(c, d.size)
		}
		if d.size == 16 {
			m.Set128(d.f, vh, vl, mh, ml)
			continue
		}
		if d.valMask != 0 {
			ml &= d.valMask
		}
		m.Set(d.f, vl, ml)
	}
	return c.err
}

// decodeMatch reads an ofp_match, padding included.
func decodeMatch(c *cursor, m *flow.Match) error {
	typ, n := c.u16(), int(c.u16())
	if c.err != nil {
		return c.err
	}
	if typ != MatchTypeOXM {
		return fmt.Errorf("ofp_match type %d: %w", typ, ErrBadMatch)
	}
	if n < 4 {
		return fmt.Errorf("ofp_match length %d: %w", n, ErrBadLength)
	}
	body := c.sub(n - 4)
	c.skip(pad8(n) - n)
	if c.err != nil {
		return fmt.Errorf("ofp_match: %w", c.err)
	}
	if err := decodeOXMs(body, m); err != nil {
		return fmt.Errorf("ofp_match: %w", err)
	}
	return nil
}

// MarshalMatch encodes m as an ofp_match.
func MarshalMatch(m *flow.Match) ([]byte, error) { return AppendMatch(nil, m) }

// UnmarshalMatch decodes an ofp_match at the start of b and returns the match and how many
// bytes (padding included) it took.
func UnmarshalMatch(b []byte) (flow.Match, int, error) {
	var m flow.Match
	c := &cursor{b: b}
	err := decodeMatch(c, &m)
	return m, len(b) - c.len(), err
}
