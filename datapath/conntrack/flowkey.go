package conntrack

import (
	"encoding/binary"

	"github.com/sluicenet/sluice/datapath/flow"
)

// NATFromFlow converts a parsed ct(nat(...)) into the tracker's form; nil means the ct
// action has no nat. A single address (MaxAddr unset) becomes a one-address range.
func NATFromFlow(n *flow.NAT) NAT {
	if n == nil {
		return NAT{}
	}
	out := NAT{Kind: NATReverse, MinAddr: n.MinAddr, MaxAddr: n.MaxAddr, MinPort: n.MinPort, MaxPort: n.MaxPort,
		Persistent: n.Persistent, Random: n.Random}
	switch {
	case n.Src:
		out.Kind = NATSrc
	case n.Dst:
		out.Kind = NATDst
	}
	if out.MinAddr.IsValid() && !out.MaxAddr.IsValid() {
		out.MaxAddr = out.MinAddr
	}
	if out.MinPort != 0 && out.MaxPort == 0 {
		out.MaxPort = out.MinPort
	}
	return out
}

// StoreKey writes md's conntrack fields into a flow key, as OVS's recirculated packet sees
// them: ct_state, ct_zone, ct_mark, ct_label, and the original tuple (ct_nw_proto,
// ct_tp_src/dst, and ct_nw_src/dst for IPv4; the key has no IPv6 tuple fields).
func (md *Meta) StoreKey(k *flow.Key) {
	k.Set(flow.FieldCtState, uint64(md.State))
	k.Set(flow.FieldCtZone, uint64(md.Zone))
	k.Set(flow.FieldCtMark, uint64(md.Mark))
	k.Set128(flow.FieldCtLabel, md.Label.Hi, md.Label.Lo)
	k.Set(flow.FieldCtNwProto, uint64(md.Orig.Proto))
	k.Set(flow.FieldCtTpSrc, uint64(md.Orig.SrcPort))
	k.Set(flow.FieldCtTpDst, uint64(md.Orig.DstPort))
	var src, dst uint64
	if md.Orig.Src.Is4() {
		s, d := md.Orig.Src.As4(), md.Orig.Dst.As4()
		src, dst = uint64(binary.BigEndian.Uint32(s[:])), uint64(binary.BigEndian.Uint32(d[:]))
	}
	k.Set(flow.FieldCtNwSrc, src)
	k.Set(flow.FieldCtNwDst, dst)
}
