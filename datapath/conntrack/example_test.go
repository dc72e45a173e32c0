package conntrack_test

import (
	"fmt"
	"net/netip"

	"github.com/sluicenet/sluice/datapath/conntrack"
)

// A Service: ct(commit,nat(dst=10.0.0.5:8080)) on the client's packet, ct(nat) on the
// backend's reply.
func Example() {
	tbl := conntrack.New(conntrack.DefaultOptions())
	client := netip.MustParseAddr("10.0.1.7")
	vip := netip.MustParseAddr("10.96.0.1")
	backend := netip.MustParseAddr("10.0.0.5")

	dnat := conntrack.Action{Zone: 1, Commit: true, NAT: conntrack.NAT{
		Kind: conntrack.NATDst, MinAddr: backend, MaxAddr: backend, MinPort: 8080, MaxPort: 8080}}
	var md conntrack.Meta // one per packet, zero for a new packet
	tbl.Process(&conntrack.Packet{Src: client, Dst: vip, Proto: conntrack.ProtoUDP, SrcPort: 40000, DstPort: 80}, &dnat, &md)
	fmt.Println(md.State, md.Rewrite.Dst, md.Rewrite.DstPort)

	md = conntrack.Meta{}
	unnat := conntrack.Action{Zone: 1, NAT: conntrack.NAT{Kind: conntrack.NATReverse}}
	tbl.Process(&conntrack.Packet{Src: backend, Dst: client, Proto: conntrack.ProtoUDP, SrcPort: 8080, DstPort: 40000}, &unnat, &md)
	fmt.Println(md.State, md.Rewrite.Src, md.Rewrite.SrcPort, md.Orig.Dst)
	// Output:
	// +new+trk+dnat 10.0.0.5 8080
	// +est+rpl+trk+snat 10.96.0.1 80 10.96.0.1
}
