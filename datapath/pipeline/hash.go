package pipeline

import (
	"encoding/binary"
	"math/bits"

	"github.com/sluicenet/sluice/datapath/flow"
)

// Select groups with selection_method=hash choose a bucket exactly as ovs-vswitchd does
// (ofproto-dpif-xlate.c, pick_hash_fields_select_group and group_best_live_bucket), so the same
// packet takes the same bucket on both switches: a basis is hashed from the group's
// selection_method_param and the masked values of its fields (in OVS's field order, skipping
// fields whose prerequisites the packet lacks), and each bucket scores
// (hash_int(bucket_id, basis) & 0xffff) × weight; the last bucket with the highest score wins.
// The hash functions are OVS's portable ones (lib/hash.h without SSE 4.2), which Debian's
// generic x86-64 build uses.

func hashRot(x uint32, k int) uint32 { return bits.RotateLeft32(x, k) }

func mhashAdd(hash, data uint32) uint32 {
	if data != 0 {
		data *= 0xcc9e2d51
		data = hashRot(data, 15)
		data *= 0x1b873593
		hash ^= data
	}
	hash = hashRot(hash, 13)
	return hash*5 + 0xe6546b64
}

func mhashFinish(hash uint32) uint32 {
	hash ^= hash >> 16
	hash *= 0x85ebca6b
	hash ^= hash >> 13
	hash *= 0xc2b2ae35
	hash ^= hash >> 16
	return hash
}

func hashFinish(hash, final uint32) uint32 { return mhashFinish(hash ^ final) }

func hashAdd64(hash uint32, v uint64) uint32 {
	return mhashAdd(mhashAdd(hash, uint32(v)), uint32(v>>32))
}

// hashUint64 is OVS's hash_uint64.
func hashUint64(v uint64) uint32 { return hashFinish(hashAdd64(0, v), 8) }

// hashInt is OVS's hash_int.
func hashInt(x, basis uint32) uint32 { return hashFinish(mhashAdd(mhashAdd(x, 0), basis), 8) }

// hashBytes is OVS's hash_bytes: 32-bit words read in host (little-endian) order.
func hashBytes(b []byte, basis uint32) uint32 {
	hash := basis
	n := len(b)
	i := 0
	for ; n-i >= 4; i += 4 {
		hash = mhashAdd(hash, binary.LittleEndian.Uint32(b[i:]))
	}
	if i < n {
		var tmp [4]byte
		copy(tmp[:], b[i:])
		hash = mhashAdd(hash, binary.LittleEndian.Uint32(tmp[:]))
	}
	return hashFinish(hash, uint32(n))
}

// mffOrder is the order of OVS's meta-flow field IDs (enum mf_field_id) for the fields Sluice
// has: a hash over fields(...) visits them in this order, whatever order the group named them in.
var mffOrder = func() [flow.NumFields]int {
	order := []flow.Field{
		flow.FieldConjID, flow.FieldTunID, flow.FieldTunSrc, flow.FieldTunDst, flow.FieldMetadata,
		flow.FieldInPort, flow.FieldPktMark, flow.FieldCtState, flow.FieldCtZone, flow.FieldCtMark,
		flow.FieldCtLabel, flow.FieldCtNwProto, flow.FieldCtNwSrc, flow.FieldCtNwDst,
		flow.FieldCtTpSrc, flow.FieldCtTpDst,
		flow.FieldReg0, flow.FieldReg1, flow.FieldReg2, flow.FieldReg3, flow.FieldReg4, flow.FieldReg5,
		flow.FieldReg6, flow.FieldReg7, flow.FieldReg8, flow.FieldReg9, flow.FieldReg10, flow.FieldReg11,
		flow.FieldReg12, flow.FieldReg13, flow.FieldReg14, flow.FieldReg15,
		flow.FieldXReg0, flow.FieldXReg1, flow.FieldXReg2, flow.FieldXReg3, flow.FieldXReg4,
		flow.FieldXReg5, flow.FieldXReg6, flow.FieldXReg7,
		flow.FieldXXReg0, flow.FieldXXReg1, flow.FieldXXReg2, flow.FieldXXReg3,
		flow.FieldEthSrc, flow.FieldEthDst, flow.FieldEthType, flow.FieldVLANTCI, flow.FieldVLANVID,
		flow.FieldVLANPCP,
		flow.FieldNwSrc, flow.FieldNwDst, flow.FieldIPv6Src, flow.FieldIPv6Dst, flow.FieldIPv6Label,
		flow.FieldNwProto, flow.FieldIPDSCP, flow.FieldNwECN, flow.FieldNwTTL, flow.FieldNwFrag,
		flow.FieldArpOp, flow.FieldArpSpa, flow.FieldArpTpa, flow.FieldArpSha, flow.FieldArpTha,
		flow.FieldTpSrc, flow.FieldTCPSrc, flow.FieldTpDst, flow.FieldTCPDst, flow.FieldTCPFlags,
		flow.FieldUDPSrc, flow.FieldUDPDst, flow.FieldSCTPSrc, flow.FieldSCTPDst,
		flow.FieldIcmpType, flow.FieldIcmpCode, flow.FieldIcmpv6Type, flow.FieldIcmpv6Code,
		flow.FieldNdTarget, flow.FieldNdSll, flow.FieldNdTll,
	}
	var rank [flow.NumFields]int
	for i := range rank {
		rank[i] = len(order) + i
	}
	for i, f := range order {
		rank[f] = i
	}
	return rank
}()

// prereqOK reports whether the packet has the protocol field f belongs to (mf_are_prereqs_ok).
func prereqOK(k *flow.Key, f flow.Field) bool {
	et := k.Get(flow.FieldEthType)
	ip4, ip6 := et == flow.EthTypeIPv4, et == flow.EthTypeIPv6
	proto := k.Get(flow.FieldNwProto)
	switch f {
	case flow.FieldNwSrc, flow.FieldNwDst:
		return ip4
	case flow.FieldIPv6Src, flow.FieldIPv6Dst, flow.FieldIPv6Label:
		return ip6
	case flow.FieldNwProto, flow.FieldIPDSCP, flow.FieldNwECN, flow.FieldNwTTL, flow.FieldNwFrag, flow.FieldNwTOS:
		return ip4 || ip6
	case flow.FieldArpOp, flow.FieldArpSpa, flow.FieldArpTpa, flow.FieldArpSha, flow.FieldArpTha:
		return et == flow.EthTypeARP || et == flow.EthTypeRARP
	case flow.FieldTpSrc, flow.FieldTpDst, flow.FieldTCPSrc, flow.FieldTCPDst, flow.FieldTCPFlags:
		return (ip4 || ip6) && proto == flow.IPProtoTCP
	case flow.FieldUDPSrc, flow.FieldUDPDst:
		return (ip4 || ip6) && proto == flow.IPProtoUDP
	case flow.FieldSCTPSrc, flow.FieldSCTPDst:
		return (ip4 || ip6) && proto == flow.IPProtoSCTP
	case flow.FieldIcmpType, flow.FieldIcmpCode:
		return ip4 && proto == flow.IPProtoICMP
	case flow.FieldIcmpv6Type, flow.FieldIcmpv6Code:
		return ip6 && proto == flow.IPProtoICMPv6
	case flow.FieldVLANVID, flow.FieldVLANPCP:
		return true
	}
	return true
}

// fieldBytes writes a value of field f (hi:lo) in network byte order, as OVS's mf_get_value,
// and returns the bytes used: the field's width rounded up to whole bytes.
func fieldBytes(f flow.Field, hi, lo uint64, buf *[16]byte) []byte {
	n := (int(f.Width()) + 7) / 8
	binary.BigEndian.PutUint64(buf[0:], hi)
	binary.BigEndian.PutUint64(buf[8:], lo)
	return buf[16-n:]
}

func keyValue(k *flow.Key, f flow.Field) (hi, lo uint64) {
	if f.Width() > 64 {
		return k.Get128(f)
	}
	return 0, k.Get(f)
}

// selectHashBasis computes the basis of a selection_method=hash group for key k.
func selectHashBasis(g *flow.GroupEntry, k *flow.Key) uint32 {
	basis := hashUint64(g.SelectionParam)
	fs := g.Fields
	// Visit in OVS's field-ID order; the group's list is short, so sort a copy of indexes.
	var idx [32]int
	n := 0
	for i := range fs {
		if n < len(idx) {
			idx[n] = i
			n++
		}
	}
	for i := 1; i < n; i++ {
		for j := i; j > 0 && mffOrder[fs[idx[j]].Field] < mffOrder[fs[idx[j-1]].Field]; j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
	var vb, mb [16]byte
	for _, i := range idx[:n] {
		hf := fs[i]
		if !prereqOK(k, hf.Field) {
			continue
		}
		hi, lo := keyValue(k, hf.Field)
		v := fieldBytes(hf.Field, hi, lo, &vb)
		if hf.Mask != (flow.Value{}) {
			m := fieldBytes(hf.Field, hf.Mask.Hi, hf.Mask.Lo, &mb)
			for j := range v {
				v[j] &= m[j]
			}
		}
		basis = hashBytes(v, basis)
	}
	return basis
}

// bestBucket returns the index of the bucket OVS's group_best_live_bucket picks for basis: the
// highest score, the later bucket on a tie (OVS compares with >=), -1 for a group without
// buckets.
func bestBucket(g *flow.GroupEntry, basis uint32) int {
	best, bestScore := -1, uint32(0)
	for i := range g.Buckets {
		b := &g.Buckets[i]
		score := (hashInt(b.ID, basis) & 0xffff) * uint32(b.Weight)
		if score >= bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// bucketScore is a bucket's score for the trace.
func bucketScore(b *flow.Bucket, basis uint32) uint32 {
	return (hashInt(b.ID, basis) & 0xffff) * uint32(b.Weight)
}

// defaultBasis is the basis for select groups without selection_method=hash (OVS uses the
// datapath's dp_hash there, which no trace can reproduce): a symmetric hash of the addresses,
// protocol and ports, so both directions of a connection take the same bucket.
func defaultBasis(k *flow.Key) uint32 {
	a := k.Get(flow.FieldNwSrc) ^ k.Get(flow.FieldNwDst)
	sh, sl := k.Get128(flow.FieldIPv6Src)
	dh, dl := k.Get128(flow.FieldIPv6Dst)
	p := k.Get(flow.FieldTpSrc) ^ k.Get(flow.FieldTpDst)
	h := hashAdd64(0, a)
	h = hashAdd64(h, sh^dh)
	h = hashAdd64(h, sl^dl)
	h = hashAdd64(h, k.Get(flow.FieldNwProto)<<16|p)
	return hashFinish(h, 4)
}
