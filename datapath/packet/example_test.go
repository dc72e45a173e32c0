package packet_test

import (
	"fmt"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/packet"
)

// A packet's way through the datapath: extract its key, rewrite it as the matched flow's
// actions say, and check the checksums came out right.
func Example() {
	var k flow.Key
	k.Set(flow.FieldEthType, packet.EtherTypeIPv4)
	k.Set(flow.FieldNwProto, packet.ProtoTCP)
	k.Set(flow.FieldNwSrc, 0xc0000201) // 192.0.2.1
	k.Set(flow.FieldNwDst, 0xc6336402) // 198.51.100.2
	k.Set(flow.FieldNwTTL, 64)
	k.Set(flow.FieldTpDst, 80)
	frame := packet.Build(&k, []byte("GET / HTTP/1.0\r\n\r\n"))

	var key flow.Key
	var info packet.Info
	var drops packet.DropCounters
	if r := packet.Extract(frame, 3, &key, &info); r != packet.ReasonNone {
		drops.Inc(r)
		return
	}
	fmt.Println("in_port", key.Get(flow.FieldInPort), "tp_dst", key.Get(flow.FieldTpDst))

	// DNAT to 10.0.0.7:8080, then dec_ttl.
	packet.SetField(frame, &info, flow.FieldNwDst, 0x0a000007)
	packet.SetField(frame, &info, flow.FieldTpDst, 8080)
	if expired, _ := packet.DecTTL(frame, &info); expired {
		return
	}
	ipOK, l4OK := packet.VerifyChecksums(frame, &info)
	fmt.Println(packet.IPv4(frame[info.L3:]).Dst(), packet.TCP(frame[info.L4:]).DstPort(),
		packet.IPv4(frame[info.L3:]).TTL(), ipOK, l4OK)
	// Output:
	// in_port 3 tp_dst 80
	// 10.0.0.7 8080 63 true true
}
