package conntrack

import (
	"net/netip"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

func TestNATFromFlow(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.5")
	cases := []struct {
		name string
		in   *flow.NAT
		want NAT
	}{
		{"none", nil, NAT{}},
		{"bare", &flow.NAT{}, NAT{Kind: NATReverse}},
		{"dst one address and port", &flow.NAT{Dst: true, MinAddr: a, MinPort: 8080},
			NAT{Kind: NATDst, MinAddr: a, MaxAddr: a, MinPort: 8080, MaxPort: 8080}},
		{"src range persistent", &flow.NAT{Src: true, MinAddr: a, MaxAddr: a.Next(), MinPort: 1, MaxPort: 9, Persistent: true, Random: true},
			NAT{Kind: NATSrc, MinAddr: a, MaxAddr: a.Next(), MinPort: 1, MaxPort: 9, Persistent: true, Random: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := NATFromFlow(c.in)
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("converted NAT does not validate: %v", err)
			}
		})
	}
}

func TestStoreKey(t *testing.T) {
	tbl, _ := newTestTable(t, nil)
	run(t, tbl, udpPkt(cli, srv, 5000, 53), Action{Zone: 7, Commit: true, Mark: 0xabc, MarkMask: 0xfff, Label: Label{1, 2}, LabelMask: Label{^uint64(0), ^uint64(0)}})
	md := run(t, tbl, udpPkt(srv, cli, 53, 5000), Action{Zone: 7})
	var k flow.Key
	md.StoreKey(&k)
	checks := []struct {
		f    flow.Field
		want uint64
	}{
		{flow.FieldCtState, uint64(trk | est | rpl)},
		{flow.FieldCtZone, 7},
		{flow.FieldCtMark, 0xabc},
		{flow.FieldCtNwProto, uint64(ProtoUDP)},
		{flow.FieldCtNwSrc, 0xc0000201}, // 192.0.2.1
		{flow.FieldCtNwDst, 0xc6336401}, // 198.51.100.1
		{flow.FieldCtTpSrc, 5000},
		{flow.FieldCtTpDst, 53},
	}
	for _, c := range checks {
		if got := k.Get(c.f); got != c.want {
			t.Errorf("%v = %#x, want %#x", c.f, got, c.want)
		}
	}
	if hi, lo := k.Get128(flow.FieldCtLabel); hi != 1 || lo != 2 {
		t.Errorf("ct_label = %#x%016x, want 0x1%016x", hi, lo, 2)
	}
}
