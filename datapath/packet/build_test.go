package packet

import (
	"math/rand/v2"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

// randKey returns a key of the kind Extract produces for a well-formed frame: only fields
// that the frame's headers carry are set, with OVS's conventions (CFI bit, nw_frag, ND option
// type in tcp_flags).
func randKey(r *rand.Rand) flow.Key {
	var k flow.Key
	k.Set(flow.FieldInPort, 1)
	k.Set(flow.FieldEthDst, r.Uint64())
	k.Set(flow.FieldEthSrc, r.Uint64())
	if r.IntN(3) == 0 {
		k.Set(flow.FieldVLANTCI, r.Uint64()|VLANCFI)
	}
	frag := func() uint64 {
		return []uint64{0, 0, 0, FragAny, FragAny | FragLater}[r.IntN(5)]
	}
	switch r.IntN(10) {
	case 0:
		k.Set(flow.FieldEthType, EtherTypeARP+uint64(r.IntN(2))*(EtherTypeRARP-EtherTypeARP))
		k.Set(flow.FieldArpOp, uint64(r.IntN(256)))
		k.Set(flow.FieldArpSpa, r.Uint64())
		k.Set(flow.FieldArpTpa, r.Uint64())
		k.Set(flow.FieldArpSha, r.Uint64())
		k.Set(flow.FieldArpTha, r.Uint64())
	case 1:
		k.Set(flow.FieldEthType, []uint64{0x88cc, EtherTypeNone, 0x8847}[r.IntN(3)])
	case 2, 3, 4, 5:
		k.Set(flow.FieldEthType, EtherTypeIPv4)
		k.Set(flow.FieldNwSrc, r.Uint64())
		k.Set(flow.FieldNwDst, r.Uint64())
		k.Set(flow.FieldNwTOS, r.Uint64())
		k.Set(flow.FieldNwTTL, r.Uint64())
		f := frag()
		k.Set(flow.FieldNwFrag, f)
		proto := []uint8{ProtoTCP, ProtoUDP, ProtoSCTP, ProtoICMP, ProtoIGMP, 47}[r.IntN(6)]
		k.Set(flow.FieldNwProto, uint64(proto))
		if f&FragLater == 0 {
			randL4(r, &k, proto)
		}
	default:
		k.Set(flow.FieldEthType, EtherTypeIPv6)
		k.Set128(flow.FieldIPv6Src, r.Uint64(), r.Uint64())
		k.Set128(flow.FieldIPv6Dst, r.Uint64(), r.Uint64())
		k.Set(flow.FieldNwTOS, r.Uint64())
		k.Set(flow.FieldNwTTL, r.Uint64())
		k.Set(flow.FieldIPv6Label, r.Uint64())
		f := frag()
		k.Set(flow.FieldNwFrag, f)
		if f&FragLater != 0 {
			k.Set(flow.FieldNwProto, ProtoFragment)
			break
		}
		proto := []uint8{ProtoTCP, ProtoUDP, ProtoSCTP, ProtoICMPv6, ProtoICMPv6, ProtoICMP, 47}[r.IntN(7)]
		k.Set(flow.FieldNwProto, uint64(proto))
		randL4(r, &k, proto)
	}
	return k
}

func randL4(r *rand.Rand, k *flow.Key, proto uint8) {
	switch proto {
	case ProtoTCP:
		k.Set(flow.FieldTCPFlags, r.Uint64())
		fallthrough
	case ProtoUDP, ProtoSCTP:
		k.Set(flow.FieldTpSrc, r.Uint64())
		k.Set(flow.FieldTpDst, r.Uint64())
	case ProtoICMP, ProtoIGMP:
		k.Set(flow.FieldIcmpType, uint64(r.IntN(256)))
		k.Set(flow.FieldIcmpCode, uint64(r.IntN(256)))
	case ProtoICMPv6:
		if r.IntN(2) == 0 {
			k.Set(flow.FieldIcmpType, uint64(r.IntN(256)))
			k.Set(flow.FieldIcmpCode, uint64(r.IntN(256)))
			if c := k.Get(flow.FieldIcmpCode); c == 0 && (k.Get(flow.FieldIcmpType) == 135 || k.Get(flow.FieldIcmpType) == 136) {
				k.Set(flow.FieldIcmpCode, 1)
			}
			return
		}
		k.Set(flow.FieldIcmpType, uint64(ICMPv6NeighborSolicit+r.IntN(2)))
		k.Set128(flow.FieldNdTarget, r.Uint64(), r.Uint64())
		var sll, tll uint64
		if r.IntN(3) > 0 {
			sll = r.Uint64()&(1<<48-1) | 1
		}
		if r.IntN(3) > 0 {
			tll = r.Uint64()&(1<<48-1) | 1
		}
		k.Set(flow.FieldNdSll, sll)
		k.Set(flow.FieldNdTll, tll)
		switch {
		case sll != 0 && tll != 0:
			k.Set(flow.FieldTCPFlags, uint64(1+r.IntN(2)))
		case sll != 0:
			k.Set(flow.FieldTCPFlags, NDOptSourceLLAddr)
		case tll != 0:
			k.Set(flow.FieldTCPFlags, NDOptTargetLLAddr)
		}
	}
}

func randPayload(r *rand.Rand) []byte {
	p := make([]byte, r.IntN(64))
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

func TestBuildExtractRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		k := randKey(r)
		frame := Build(&k, randPayload(r))
		var got flow.Key
		var info Info
		if reason := Extract(frame, 1, &got, &info); reason != ReasonNone {
			t.Fatalf("case %d: Extract(Build(key)) reason %v; frame %x", i, reason, frame)
		}
		if d := keyDiff(&got, &k); d != "" {
			t.Fatalf("case %d: Extract(Build(key)) differs: %s; frame %x", i, d, frame)
		}
		if info.Frag == 0 {
			if ipOK, l4OK := VerifyChecksums(frame, &info); !ipOK || !l4OK {
				t.Fatalf("case %d: checksums ip %v l4 %v; frame %x", i, ipOK, l4OK, frame)
			}
		}
	}
}

func TestBuildKnownFrame(t *testing.T) {
	// ping 192.0.2.1 -> 198.51.100.2, id 0, seq 0, built by hand above the payload.
	k := keyOf(1, v4l2(fields{flow.FieldNwProto: ProtoICMP, flow.FieldIcmpType: 8}), nil)
	got := Build(&k, nil)
	want := cat(ethHdr(0x800), v4(ProtoICMP, 8, nil, func(ip []byte) { put16(ip[4:], 0); put16(ip[6:], 0) }),
		[]byte{8, 0, 0xf7, 0xff, 0, 0, 0, 0})
	if string(got) != string(want) {
		t.Errorf("got  %x\nwant %x", got, want)
	}
}
