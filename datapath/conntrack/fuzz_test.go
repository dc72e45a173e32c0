package conntrack

import (
	"net/netip"
	"testing"
	"time"
)

// FuzzConntrack feeds random packet sequences through a small table: every 8 bytes are one
// operation (a packet through a ct action, a clock step, a sweep or a flush). It checks that
// nothing panics, that every verdict is well formed, and the index invariants
// (checkInvariants: size limit, both keys lead back, NAT bindings reverse).
func FuzzConntrack(f *testing.F) {
	f.Add([]byte{0, 0x04, 0x05, TCPSyn, 0, 0, 0, 0x02, 3, 0x01, 0x14, TCPSyn | TCPAck, 4, 0, 0, 0})
	f.Add([]byte{1, 0x14, 0x09, 0, 0, 0, 0, 0x0a, 3, 0x11, 0x06, 0, 0, 0, 0, 0x04, 0, 5, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0x24, 0, 0, 0, 0, 0, 0x0e, 3, 0x21, 0, 1, 0, 0, 0, 0x04, 3, 0x61, 0x01, 2, 0, 0, 0, 0x04})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		tbl, clk := newTestTable(t, func(o *Options) {
			o.MaxConns = 12
			o.Shards = 4
			o.Liberal = data[0]&1 != 0
		})
		v4 := [4]netip.Addr{cli, srv, natIP, vip}
		v6 := [4]netip.Addr{cli6, srv6, netip.MustParseAddr("2001:db8::3"), netip.MustParseAddr("2001:db8::4")}
		ports := [4]uint16{1, 80, 5000, 40000}
		protos := [6]uint8{ProtoTCP, ProtoUDP, ProtoICMP, ProtoSCTP, 47, ProtoTCP}
		icmpTypes := [4]uint8{icmpEchoRequest, icmpEchoReply, icmpDstUnreach, icmpTimeExceeded}
		var md Meta
		for len(data) >= 8 {
			op := data[:8]
			data = data[8:]
			switch op[0] & 15 {
			case 0:
				clk.advance(time.Duration(op[1]) * time.Second * time.Duration(1+op[2]&7*100))
				continue
			case 1:
				tbl.Sweep()
				continue
			case 2:
				tbl.Flush(Filter{Zone: uint16(op[1] & 1), HasZone: op[1]&2 != 0, Port: ports[op[2]&3] * uint16(op[3]&1),
					Proto: protos[op[4]%6] * (op[5] & 1)})
				continue
			}
			addrs := &v4
			if op[0]&0x80 != 0 {
				addrs = &v6
			}
			p := &Packet{
				Src: addrs[op[1]&3], Dst: addrs[op[1]>>2&3], Proto: protos[(op[1]>>4)%6],
				SrcPort: ports[op[2]&3], DstPort: ports[op[2]>>2&3],
				TCPFlags: op[3], TCPSeq: uint32(op[4]&3)*0x4000_0000 + uint32(op[4]>>2)*700,
				TCPAck: uint32(op[5]&3)*0x4000_0000 + uint32(op[5]>>2)*700, TCPWindow: uint16(op[6]) << 8,
				TCPWScale: int8(op[6]&7) - 1, TCPPayload: uint32(op[6]>>3&3) * 500, Len: 100,
				Fragment: op[6] == 0xff,
			}
			if p.Proto == ProtoICMP {
				if !p.Src.Is4() {
					p.Proto = ProtoICMPv6
				}
				p.ICMPType = icmpTypes[op[3]&3]
				if p.Proto == ProtoICMPv6 {
					p.ICMPType = [4]uint8{icmp6EchoRequest, icmp6EchoReply, icmp6DstUnreach, icmp6PacketTooBig}[op[3]&3]
				}
				p.ICMPID = ports[op[2]&3]
				if icmpIsError(p.Proto, p.ICMPType) {
					p.HasInner = op[3]&4 == 0
					p.Inner = Inner{Src: p.Dst, Dst: addrs[op[5]&3], Proto: protos[(op[5]>>2)%2],
						SrcPort: ports[op[5]>>4&3], DstPort: ports[op[5]>>6&3]}
				}
			}
			a := Action{Zone: uint16(op[7] & 1), Commit: op[7]&2 != 0, Force: op[7]&0x20 != 0}
			switch op[7] >> 2 & 3 {
			case 1:
				a.NAT.Kind = NATReverse
			case 2:
				a.NAT = NAT{Kind: NATSrc, MinAddr: addrs[2], MaxAddr: addrs[2]}
				if op[7]&0x10 != 0 {
					a.NAT.MinPort, a.NAT.MaxPort = 5000, 5002
				}
			case 3:
				a.NAT = NAT{Kind: NATDst, MinAddr: addrs[1], MaxAddr: addrs[1]}
				if op[7]&0x10 != 0 {
					a.NAT.MinPort, a.NAT.MaxPort = 8080, 8081
				}
			}
			if op[7]&0x40 != 0 {
				a.Mark, a.MarkMask = uint32(op[6]), 0xff
			}
			fresh := op[0]&0x40 == 0
			if fresh {
				md = Meta{} // a new packet; otherwise a second ct() on the same one
			}
			tbl.Process(p, &a, &md)
			if md.State&StateTracked == 0 || md.Zone != a.Zone {
				t.Fatalf("not tracked in zone %d: %v zone %d", a.Zone, md.State, md.Zone)
			}
			// A second ct() in the zone builds on the first one's bits, as in OVS (an
			// +inv packet seen again can pick up +new), so these hold for fresh packets.
			// An +inv packet of a NAT connection is still translated, as in OVS.
			if fresh && md.State&StateInvalid != 0 && md.State&^(StateSNAT|StateDNAT) != StateInvalid|StateTracked {
				t.Fatalf("invalid with other bits: %v", md.State)
			}
			if md.Rewrite.Set != 0 && md.State&(StateSNAT|StateDNAT) == 0 {
				t.Fatalf("rewrite %+v without +snat/+dnat (%v)", md.Rewrite, md.State)
			}
			if md.Drop != DropNone && md.State != StateNew|StateTracked {
				t.Fatalf("refused commit with state %v, want +new+trk", md.State)
			}
			if fresh && md.State&(StateNew|StateEstablished) == StateNew|StateEstablished {
				t.Fatalf("both new and established: %v", md.State)
			}
			checkInvariants(t, tbl)
		}
	})
}
