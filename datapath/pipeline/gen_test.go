package pipeline

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"

	"github.com/sluicenet/sluice/datapath/conntrack"
	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/packet"
)

// flowsDir holds the flow sets (testdata/flows at the repository root).
const flowsDir = "../../testdata/flows"

// testPacket is one generated case: a frame, its input port and the ct states to assume at
// each recirculation.
type testPacket struct {
	name   string
	inPort uint32
	key    flow.Key
	frame  []byte
	ctNext []conntrack.State
}

// maskedValue is a value a flow set matches on, with its mask.
type maskedValue struct{ v, m uint64 }

// harvest collects, per field, the values a flow set's matches and set_fields use, so random
// packets hit the flows instead of missing them all.
func harvest(flows []*flow.Flow) map[flow.Field][]maskedValue {
	h := map[flow.Field][]maskedValue{}
	fields := []flow.Field{flow.FieldInPort, flow.FieldEthSrc, flow.FieldEthDst, flow.FieldNwSrc,
		flow.FieldNwDst, flow.FieldTpSrc, flow.FieldTpDst, flow.FieldNwTTL, flow.FieldNwTOS,
		flow.FieldVLANTCI, flow.FieldArpOp, flow.FieldArpSha, flow.FieldPktMark, flow.FieldTCPFlags}
	for _, f := range flows {
		for _, fd := range fields {
			if m := f.Match.Mask.Get(fd); m != 0 {
				h[fd] = append(h[fd], maskedValue{f.Match.Key.Get(fd), m})
			}
		}
		for _, a := range f.Instructions.Apply {
			if sf, ok := a.(*flow.SetField); ok && sf.Field.Width() <= 64 {
				switch sf.Field {
				case flow.FieldNwSrc, flow.FieldNwDst, flow.FieldEthDst, flow.FieldEthSrc:
					h[sf.Field] = append(h[sf.Field], maskedValue{sf.Value.Lo, sf.Mask.Lo})
				}
			}
		}
	}
	return h
}

// pick returns a value for field f: usually one the flows use (with the bits outside its mask
// random), otherwise random within width bits.
func pick(r *rand.Rand, h map[flow.Field][]maskedValue, f flow.Field, width uint, pHarvest float64) uint64 {
	all := uint64(1)<<width - 1
	if width >= 64 {
		all = ^uint64(0)
	}
	if vs := h[f]; len(vs) > 0 && r.Float64() < pHarvest {
		mv := vs[r.IntN(len(vs))]
		return (mv.v & mv.m) | (r.Uint64() & ^mv.m & all)
	}
	return r.Uint64() & all
}

var ctChoices = []conntrack.State{
	conntrack.StateTracked | conntrack.StateNew,
	conntrack.StateTracked | conntrack.StateEstablished,
	conntrack.StateTracked | conntrack.StateEstablished | conntrack.StateReply,
	conntrack.StateTracked | conntrack.StateRelated,
	conntrack.StateTracked | conntrack.StateInvalid,
	conntrack.StateTracked | conntrack.StateNew | conntrack.StateDNAT,
	conntrack.StateTracked | conntrack.StateEstablished | conntrack.StateSNAT,
}

// randomPacket builds a random frame biased towards the values in h.
func randomPacket(r *rand.Rand, h map[flow.Field][]maskedValue, nPorts int, i int) testPacket {
	var k flow.Key
	inPort := uint32(1 + r.IntN(nPorts))
	if vs := h[flow.FieldInPort]; len(vs) > 0 && r.IntN(4) > 0 {
		if p := uint32(vs[r.IntN(len(vs))].v); p >= 1 && int(p) <= nPorts {
			inPort = p
		}
	}
	k.Set(flow.FieldEthSrc, pick(r, h, flow.FieldEthSrc, 48, 0.6)&^(1<<40)) // unicast source
	k.Set(flow.FieldEthDst, pick(r, h, flow.FieldEthDst, 48, 0.6))
	if r.IntN(10) == 0 {
		k.Set(flow.FieldVLANTCI, 0x1000|uint64(r.IntN(8))<<13|uint64(1+r.IntN(100)))
	}
	kind := r.IntN(20)
	switch {
	case kind < 2: // ARP
		k.Set(flow.FieldEthType, flow.EthTypeARP)
		k.Set(flow.FieldArpOp, uint64(1+r.IntN(2)))
		k.Set(flow.FieldArpSpa, pick(r, h, flow.FieldNwSrc, 32, 0.8))
		k.Set(flow.FieldArpTpa, pick(r, h, flow.FieldNwDst, 32, 0.8))
		k.Set(flow.FieldArpSha, k.Get(flow.FieldEthSrc))
		if r.IntN(2) == 0 {
			k.Set(flow.FieldEthDst, 0xffffffffffff)
		}
	case kind < 4: // IPv6
		k.Set(flow.FieldEthType, flow.EthTypeIPv6)
		k.Set128(flow.FieldIPv6Src, 0xfd00000000000000, uint64(1+r.IntN(4)))
		k.Set128(flow.FieldIPv6Dst, 0xfd00000000000000, uint64(1+r.IntN(20)))
		k.Set(flow.FieldNwTTL, uint64(1+r.IntN(64)))
		if r.IntN(4) == 0 {
			k.Set(flow.FieldNwTOS, uint64(r.IntN(256)))
		}
		switch p := r.IntN(8); {
		case p < 4:
			k.Set(flow.FieldNwProto, flow.IPProtoTCP)
			k.Set(flow.FieldTpSrc, uint64(1024+r.IntN(1000)))
			k.Set(flow.FieldTpDst, pick(r, h, flow.FieldTpDst, 16, 0.7))
			k.Set(flow.FieldTCPFlags, 0x002)
		case p < 6:
			k.Set(flow.FieldNwProto, flow.IPProtoUDP)
			k.Set(flow.FieldTpSrc, uint64(1024+r.IntN(1000)))
			k.Set(flow.FieldTpDst, pick(r, h, flow.FieldTpDst, 16, 0.7))
		case p < 7:
			k.Set(flow.FieldNwProto, flow.IPProtoICMPv6)
			k.Set(flow.FieldIcmpType, 128)
		default: // neighbour solicitation
			k.Set(flow.FieldNwProto, flow.IPProtoICMPv6)
			k.Set(flow.FieldNwTTL, 255)
			k.Set(flow.FieldIcmpType, 135)
			k.Set128(flow.FieldNdTarget, 0xfd00000000000000, uint64(1+r.IntN(3)))
		}
	default: // IPv4
		k.Set(flow.FieldEthType, flow.EthTypeIPv4)
		k.Set(flow.FieldNwSrc, pick(r, h, flow.FieldNwSrc, 32, 0.8))
		k.Set(flow.FieldNwDst, pick(r, h, flow.FieldNwDst, 32, 0.8))
		ttl := uint64(2 + r.IntN(63))
		if r.IntN(12) == 0 {
			ttl = uint64(r.IntN(2))
		}
		k.Set(flow.FieldNwTTL, ttl)
		if r.IntN(5) == 0 {
			k.Set(flow.FieldNwTOS, uint64(r.IntN(256)))
		}
		switch p := r.IntN(10); {
		case p < 6:
			k.Set(flow.FieldNwProto, flow.IPProtoTCP)
			k.Set(flow.FieldTCPFlags, []uint64{0x002, 0x010, 0x012, 0x011, 0x004}[r.IntN(5)])
			k.Set(flow.FieldTpSrc, pick(r, h, flow.FieldTpSrc, 16, 0.3))
			k.Set(flow.FieldTpDst, pick(r, h, flow.FieldTpDst, 16, 0.8))
		case p < 9:
			k.Set(flow.FieldNwProto, flow.IPProtoUDP)
			k.Set(flow.FieldTpSrc, pick(r, h, flow.FieldTpSrc, 16, 0.3))
			k.Set(flow.FieldTpDst, pick(r, h, flow.FieldTpDst, 16, 0.8))
		default:
			k.Set(flow.FieldNwProto, flow.IPProtoICMP)
			k.Set(flow.FieldIcmpType, []uint64{8, 0, 3}[r.IntN(3)])
		}
	}
	var ct []conntrack.State
	for range 1 + r.IntN(4) {
		ct = append(ct, ctChoices[r.IntN(len(ctChoices))])
	}
	return testPacket{name: fmt.Sprintf("random-%03d", i), inPort: inPort, key: k,
		frame: packet.Build(&k, make([]byte, r.IntN(3)*8)), ctNext: ct}
}

// tcp4 builds a TCP/IPv4 packet for hand-picked cases.
func tcp4(name string, inPort uint32, src, dst string, sport, dport uint16, mac uint64, ct ...conntrack.State) testPacket {
	var k flow.Key
	k.Set(flow.FieldEthType, flow.EthTypeIPv4)
	k.Set(flow.FieldEthSrc, mac)
	k.Set(flow.FieldEthDst, 0x0e0000000001)
	s, d := mustAddr(src).As4(), mustAddr(dst).As4()
	k.Set(flow.FieldNwSrc, uint64(s[0])<<24|uint64(s[1])<<16|uint64(s[2])<<8|uint64(s[3]))
	k.Set(flow.FieldNwDst, uint64(d[0])<<24|uint64(d[1])<<16|uint64(d[2])<<8|uint64(d[3]))
	k.Set(flow.FieldNwTTL, 64)
	k.Set(flow.FieldNwProto, flow.IPProtoTCP)
	k.Set(flow.FieldTpSrc, uint64(sport))
	k.Set(flow.FieldTpDst, uint64(dport))
	k.Set(flow.FieldTCPFlags, 0x002)
	return testPacket{name: name, inPort: inPort, key: k, frame: packet.Build(&k, nil), ctNext: ct}
}

// udp4 is tcp4 for UDP.
func udp4(name string, inPort uint32, src, dst string, sport, dport uint16, mac uint64, ct ...conntrack.State) testPacket {
	p := tcp4(name, inPort, src, dst, sport, dport, mac, ct...)
	p.key.Set(flow.FieldNwProto, flow.IPProtoUDP)
	p.key.Set(flow.FieldTCPFlags, 0)
	p.frame = packet.Build(&p.key, nil)
	return p
}

// withMACs sets a packet's Ethernet addresses and rebuilds its frame.
func withMACs(p testPacket, src, dst uint64) testPacket {
	p.key.Set(flow.FieldEthSrc, src)
	p.key.Set(flow.FieldEthDst, dst)
	p.frame = packet.Build(&p.key, nil)
	return p
}

// ip6 builds an IPv6 packet for hand-picked cases: proto TCP/UDP with ports, or ICMPv6 with
// tpSrc as the type (135 gets nd_target = dst).
func ip6(name string, inPort uint32, src, dst uint64, proto uint8, tpSrc, tpDst uint16, hlim uint8) testPacket {
	var k flow.Key
	k.Set(flow.FieldEthType, flow.EthTypeIPv6)
	k.Set(flow.FieldEthSrc, 0x020000000001)
	k.Set(flow.FieldEthDst, 0x020000000002)
	k.Set128(flow.FieldIPv6Src, 0xfd00000000000000, src)
	k.Set128(flow.FieldIPv6Dst, 0xfd00000000000000, dst)
	k.Set(flow.FieldNwTTL, uint64(hlim))
	k.Set(flow.FieldNwProto, uint64(proto))
	k.Set(flow.FieldTpSrc, uint64(tpSrc))
	k.Set(flow.FieldTpDst, uint64(tpDst))
	if proto == flow.IPProtoTCP {
		k.Set(flow.FieldTCPFlags, 0x002)
	}
	if proto == flow.IPProtoICMPv6 && tpSrc == 135 {
		k.Set128(flow.FieldNdTarget, 0xfd00000000000000, dst)
	}
	return testPacket{name: name, inPort: inPort, key: k, frame: packet.Build(&k, nil)}
}

// tcpSegFrom gives a TCP packet other flags and sequence numbers.
func tcpSegFrom(p testPacket, flags uint64, seq, ack uint32) testPacket {
	p.key.Set(flow.FieldTCPFlags, flags)
	p.frame = packet.Build(&p.key, nil)
	if p.key.Get(flow.FieldNwProto) == flow.IPProtoTCP {
		setTCPSeq(p.frame, seq, ack)
	}
	return p
}

func setTCPSeq(frame []byte, seq, ack uint32) {
	var k flow.Key
	var info packet.Info
	packet.Extract(frame, 0, &k, &info)
	binary.BigEndian.PutUint32(frame[info.L4+4:], seq)
	binary.BigEndian.PutUint32(frame[info.L4+8:], ack)
	packet.CompleteChecksums(frame, &info)
}
