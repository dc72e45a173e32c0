package packet

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/sluicenet/sluice/datapath/flow"
)

// gopacket is an independent implementation of the same headers: frames it serializes must
// extract to the values it was given, and frames Build makes must decode in gopacket to the
// key's values with checksums gopacket accepts.

func hwAddr(v uint64) net.HardwareAddr { return net.HardwareAddr(macb(v)) }

func ip4Of(v uint32) net.IP { return net.IP(u32(v)) }

func ip6Of(hi, lo uint64) net.IP {
	return net.IP(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, hi), lo))
}

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("gopacket serialize: %v", err)
	}
	return buf.Bytes()
}

func TestExtractGopacketFrames(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 1500 {
		want := flow.Key{}
		want.Set(flow.FieldInPort, 1)
		dst, src := r.Uint64()&(1<<48-1), r.Uint64()&(1<<48-1)
		want.Set(flow.FieldEthDst, dst)
		want.Set(flow.FieldEthSrc, src)
		eth := &layers.Ethernet{DstMAC: hwAddr(dst), SrcMAC: hwAddr(src)}
		ls := []gopacket.SerializableLayer{eth}
		var typ layers.EthernetType
		var l3 gopacket.NetworkLayer
		var ip6 *layers.IPv6
		var ip4 *layers.IPv4
		switch r.IntN(3) {
		case 0:
			typ = layers.EthernetTypeARP
			op := uint16(1 + r.IntN(2))
			sha, tha, spa, tpa := r.Uint64()&(1<<48-1), r.Uint64()&(1<<48-1), r.Uint32(), r.Uint32()
			ls = append(ls, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
				HwAddressSize: 6, ProtAddressSize: 4, Operation: op, SourceHwAddress: hwAddr(sha),
				SourceProtAddress: ip4Of(spa), DstHwAddress: hwAddr(tha), DstProtAddress: ip4Of(tpa)})
			want.Set(flow.FieldArpOp, uint64(op))
			want.Set(flow.FieldArpSha, sha)
			want.Set(flow.FieldArpTha, tha)
			want.Set(flow.FieldArpSpa, uint64(spa))
			want.Set(flow.FieldArpTpa, uint64(tpa))
		case 1:
			typ = layers.EthernetTypeIPv4
			s, d := r.Uint32(), r.Uint32()
			ip4 = &layers.IPv4{Version: 4, TOS: uint8(r.Uint32()), TTL: uint8(r.Uint32()), Id: uint16(r.Uint32()),
				SrcIP: ip4Of(s), DstIP: ip4Of(d)}
			if r.IntN(2) == 0 {
				ip4.Flags = layers.IPv4DontFragment
			}
			want.Set(flow.FieldNwSrc, uint64(s))
			want.Set(flow.FieldNwDst, uint64(d))
			want.Set(flow.FieldNwTOS, uint64(ip4.TOS))
			want.Set(flow.FieldNwTTL, uint64(ip4.TTL))
			ls, l3 = append(ls, ip4), ip4
		default:
			typ = layers.EthernetTypeIPv6
			sh, sl, dh, dl := r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64()
			ip6 = &layers.IPv6{Version: 6, TrafficClass: uint8(r.Uint32()), FlowLabel: r.Uint32() & 0xfffff,
				HopLimit: uint8(r.Uint32()), SrcIP: ip6Of(sh, sl), DstIP: ip6Of(dh, dl)}
			want.Set128(flow.FieldIPv6Src, sh, sl)
			want.Set128(flow.FieldIPv6Dst, dh, dl)
			want.Set(flow.FieldNwTOS, uint64(ip6.TrafficClass))
			want.Set(flow.FieldNwTTL, uint64(ip6.HopLimit))
			want.Set(flow.FieldIPv6Label, uint64(ip6.FlowLabel))
			ls, l3 = append(ls, ip6), ip6
		}
		if r.IntN(3) == 0 {
			tci := uint16(r.Uint32())
			eth.EthernetType = layers.EthernetTypeDot1Q
			ls = append([]gopacket.SerializableLayer{eth, &layers.Dot1Q{Priority: uint8(tci >> 13),
				DropEligible: tci&0x1000 != 0, VLANIdentifier: tci & 0xfff, Type: typ}}, ls[1:]...)
			want.Set(flow.FieldVLANTCI, uint64(tci|VLANCFI))
		} else {
			eth.EthernetType = typ
		}
		want.Set(flow.FieldEthType, uint64(typ))
		if l3 != nil {
			var proto layers.IPProtocol
			sp, dp := uint16(r.Uint32()), uint16(r.Uint32())
			switch r.IntN(4) {
			case 0:
				proto = layers.IPProtocolTCP
				tcp := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: r.Uint32(),
					SYN: r.IntN(2) == 0, ACK: r.IntN(2) == 0, FIN: r.IntN(2) == 0, RST: r.IntN(2) == 0,
					PSH: r.IntN(2) == 0, URG: r.IntN(2) == 0, ECE: r.IntN(2) == 0, CWR: r.IntN(2) == 0,
					NS: r.IntN(2) == 0, Window: 1000}
				tcp.SetNetworkLayerForChecksum(l3)
				ls = append(ls, tcp)
				var fl uint64
				for j, b := range []bool{tcp.FIN, tcp.SYN, tcp.RST, tcp.PSH, tcp.ACK, tcp.URG, tcp.ECE, tcp.CWR, tcp.NS} {
					if b {
						fl |= 1 << j
					}
				}
				want.Set(flow.FieldTCPFlags, fl)
				want.Set(flow.FieldTpSrc, uint64(sp))
				want.Set(flow.FieldTpDst, uint64(dp))
			case 1:
				proto = layers.IPProtocolUDP
				udp := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
				udp.SetNetworkLayerForChecksum(l3)
				ls = append(ls, udp)
				want.Set(flow.FieldTpSrc, uint64(sp))
				want.Set(flow.FieldTpDst, uint64(dp))
			case 2:
				proto = layers.IPProtocolSCTP
				ls = append(ls, &layers.SCTP{SrcPort: layers.SCTPPort(sp), DstPort: layers.SCTPPort(dp)})
				want.Set(flow.FieldTpSrc, uint64(sp))
				want.Set(flow.FieldTpDst, uint64(dp))
			default:
				if ip4 != nil {
					proto = layers.IPProtocolICMPv4
					ty, code := uint8(r.Uint32()), uint8(r.Uint32())
					ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(ty, code), Id: 7, Seq: 9})
					want.Set(flow.FieldIcmpType, uint64(ty))
					want.Set(flow.FieldIcmpCode, uint64(code))
					break
				}
				proto = layers.IPProtocolICMPv6
				if r.IntN(2) == 0 {
					icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128+uint8(r.IntN(2)), 0)}
					icmp.SetNetworkLayerForChecksum(l3)
					ls = append(ls, icmp, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 2})
					want.Set(flow.FieldIcmpType, uint64(icmp.TypeCode.Type()))
					break
				}
				icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
				icmp.SetNetworkLayerForChecksum(l3)
				th, tl, sll := r.Uint64(), r.Uint64(), r.Uint64()&(1<<48-1)|1
				ls = append(ls, icmp, &layers.ICMPv6NeighborSolicitation{TargetAddress: ip6Of(th, tl),
					Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: macb(sll)}}})
				want.Set(flow.FieldIcmpType, ICMPv6NeighborSolicit)
				want.Set128(flow.FieldNdTarget, th, tl)
				want.Set(flow.FieldNdSll, sll)
				want.Set(flow.FieldTCPFlags, NDOptSourceLLAddr)
			}
			if ip4 != nil {
				ip4.Protocol = proto
			} else {
				ip6.NextHeader = proto
			}
			want.Set(flow.FieldNwProto, uint64(proto))
			ls = append(ls, gopacket.Payload(randPayload(r)))
		}
		frame := serialize(t, ls...)
		got, info := mustExtract(t, frame)
		if d := keyDiff(&got, &want); d != "" {
			t.Fatalf("case %d: %s; frame %x", i, d, frame)
		}
		if ipOK, l4OK := VerifyChecksums(frame, &info); !ipOK || !l4OK {
			t.Fatalf("case %d: gopacket's checksums rejected: ip %v l4 %v; frame %x", i, ipOK, l4OK, frame)
		}
	}
}

func TestBuildDecodesInGopacket(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 1500 {
		k := randKey(r)
		if k.Get(flow.FieldNwFrag) != 0 {
			continue // gopacket does not decode L4 of fragments
		}
		frame := Build(&k, randPayload(r))
		p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
		typ := k.Get(flow.FieldEthType)
		proto := uint8(k.Get(flow.FieldNwProto))
		if el := p.ErrorLayer(); el != nil && (typ == EtherTypeIPv4 || typ == EtherTypeIPv6) &&
			(proto == ProtoTCP || proto == ProtoUDP) {
			t.Fatalf("case %d: gopacket: %v; frame %x", i, el.Error(), frame)
		}
		eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if eth == nil || mac48(eth.DstMAC) != k.Get(flow.FieldEthDst) || mac48(eth.SrcMAC) != k.Get(flow.FieldEthSrc) {
			t.Fatalf("case %d: ethernet %v", i, eth)
		}
		if q, ok := p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q); ok {
			tci := uint16(q.Priority)<<13 | q.VLANIdentifier | VLANCFI
			if q.DropEligible || uint64(tci) != k.Get(flow.FieldVLANTCI) {
				t.Errorf("case %d: dot1q %+v, key tci %#x", i, q, k.Get(flow.FieldVLANTCI))
			}
		}
		var nl gopacket.NetworkLayer
		if typ != EtherTypeIPv4 && typ != EtherTypeIPv6 {
			continue
		}
		if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
			nl = ip
			if ip.TOS != uint8(k.Get(flow.FieldNwTOS)) || ip.TTL != uint8(k.Get(flow.FieldNwTTL)) ||
				uint8(ip.Protocol) != uint8(k.Get(flow.FieldNwProto)) ||
				len(ip.SrcIP) != 4 || uint64(binary.BigEndian.Uint32(ip.SrcIP)) != k.Get(flow.FieldNwSrc) {
				t.Fatalf("case %d: ipv4 %+v; frame %x", i, ip, frame)
			}
			if err, res := ip.VerifyChecksum(); err != nil || !res.Valid {
				t.Errorf("case %d: gopacket rejects the IPv4 checksum: %v %+v", i, err, res)
			}
		}
		if ip, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
			nl = ip
			if ip.TrafficClass != uint8(k.Get(flow.FieldNwTOS)) || uint64(ip.FlowLabel) != k.Get(flow.FieldIPv6Label) ||
				ip.HopLimit != uint8(k.Get(flow.FieldNwTTL)) {
				t.Errorf("case %d: ipv6 %+v", i, ip)
			}
		}
		type verifier interface {
			VerifyChecksum() (error, gopacket.ChecksumVerificationResult)
		}
		for _, lt := range []gopacket.LayerType{layers.LayerTypeTCP, layers.LayerTypeUDP, layers.LayerTypeICMPv4, layers.LayerTypeICMPv6} {
			l := p.Layer(lt)
			if l == nil {
				continue
			}
			if c, ok := l.(interface {
				SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
			}); ok {
				c.SetNetworkLayerForChecksum(nl)
			}
			if err, res := l.(verifier).VerifyChecksum(); err != nil || !res.Valid {
				t.Errorf("case %d: gopacket rejects the %v checksum: %v %+v; frame %x", i, lt, err, res, frame)
			}
		}
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			if uint64(tcp.SrcPort) != k.Get(flow.FieldTpSrc) || uint64(tcp.DstPort) != k.Get(flow.FieldTpDst) {
				t.Errorf("case %d: tcp ports %d %d", i, tcp.SrcPort, tcp.DstPort)
			}
		}
	}
}
