package packet

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

func baseKey(typ uint64, proto uint8, more fields, more6 fields128) flow.Key {
	var f fields
	switch typ {
	case EtherTypeIPv4:
		f = v4l2(fields{flow.FieldNwProto: uint64(proto)})
	case EtherTypeIPv6:
		f = v6l2(fields{flow.FieldNwProto: uint64(proto)})
		more6 = with(ip6Addrs, more6)
	default:
		f = l2(typ)
	}
	return keyOf(1, with(f, more), more6)
}

// checkRewrite extracts frame and compares it with want, and checks every checksum.
func checkRewrite(t *testing.T, frame []byte, want *flow.Key) {
	t.Helper()
	got, info := mustExtract(t, frame)
	if d := keyDiff(&got, want); d != "" {
		t.Errorf("key after rewrite: %s", d)
	}
	if ipOK, l4OK := VerifyChecksums(frame, &info); !ipOK || !l4OK {
		t.Errorf("checksums after rewrite: ip %v, l4 %v", ipOK, l4OK)
	}
}

func TestSetField(t *testing.T) {
	ports := fields{flow.FieldTpSrc: 1000, flow.FieldTpDst: 2000}
	tcpKey := baseKey(EtherTypeIPv4, ProtoTCP, with(ports, fields{flow.FieldTCPFlags: TCPAck}), nil)
	udpKey := baseKey(EtherTypeIPv4, ProtoUDP, ports, nil)
	sctpKey := baseKey(EtherTypeIPv4, ProtoSCTP, ports, nil)
	icmpKey := baseKey(EtherTypeIPv4, ProtoICMP, fields{flow.FieldIcmpType: 8}, nil)
	tcp6Key := baseKey(EtherTypeIPv6, ProtoTCP, ports, nil)
	udp6Key := baseKey(EtherTypeIPv6, ProtoUDP, ports, nil)
	icmp6Key := baseKey(EtherTypeIPv6, ProtoICMPv6, fields{flow.FieldIcmpType: 128}, nil)
	ndKey := baseKey(EtherTypeIPv6, ProtoICMPv6, fields{flow.FieldIcmpType: 136, flow.FieldNdSll: macSrc,
		flow.FieldNdTll: macDst, flow.FieldTCPFlags: 1}, fields128{flow.FieldNdTarget: ndTarget()})
	naKey := baseKey(EtherTypeIPv6, ProtoICMPv6, fields{flow.FieldIcmpType: 136, flow.FieldNdTll: macDst,
		flow.FieldTCPFlags: 2}, fields128{flow.FieldNdTarget: ndTarget()})
	rarpKey := baseKey(EtherTypeRARP, 0, fields{flow.FieldArpOp: 3}, nil)
	arpKey := baseKey(EtherTypeARP, 0, fields{flow.FieldArpOp: 1, flow.FieldArpSpa: 1, flow.FieldArpTpa: 2,
		flow.FieldArpSha: 3, flow.FieldArpTha: 4}, nil)
	vlanKey := tcpKey
	vlanKey.Set(flow.FieldVLANTCI, 0x1064)
	laterKey := baseKey(EtherTypeIPv4, ProtoTCP, fields{flow.FieldNwFrag: FragAny | FragLater}, nil)
	firstKey := baseKey(EtherTypeIPv4, ProtoUDP, with(ports, fields{flow.FieldNwFrag: FragAny}), nil)

	cases := []struct {
		name   string
		key    flow.Key
		field  flow.Field
		value  uint64
		value6 [2]uint64 // for 128-bit fields
		fail   bool      // SetField must report false and change nothing
		want   fields    // expected key changes (default: field = value)
	}{
		{name: "eth_src", key: tcpKey, field: flow.FieldEthSrc, value: 0x0a0000000001},
		{name: "eth_dst", key: arpKey, field: flow.FieldEthDst, value: 0x0a0000000002},
		{name: "vlan_tci", key: vlanKey, field: flow.FieldVLANTCI, value: 0xb0c8},
		{name: "vlan_vid keeps pcp", key: baseKey(0x88cc, 0, fields{flow.FieldVLANTCI: 0xb064}, nil),
			field: flow.FieldVLANVID, value: 0x1fff, want: fields{flow.FieldVLANTCI: 0xbfff}},
		{name: "vlan_pcp", key: vlanKey, field: flow.FieldVLANPCP, value: 5},
		{name: "vlan on untagged", key: tcpKey, field: flow.FieldVLANVID, value: 0x1001, fail: true},
		{name: "ipv4 src tcp", key: tcpKey, field: flow.FieldNwSrc, value: a4u("203.0.113.9")},
		{name: "ipv4 dst udp", key: udpKey, field: flow.FieldNwDst, value: a4u("203.0.113.10")},
		{name: "ipv4 dst icmp", key: icmpKey, field: flow.FieldNwDst, value: a4u("203.0.113.10")},
		{name: "ipv4 src first fragment", key: firstKey, field: flow.FieldNwSrc, value: a4u("10.1.2.3")},
		{name: "ipv4 src later fragment", key: laterKey, field: flow.FieldNwSrc, value: a4u("10.1.2.3")},
		{name: "nw_tos", key: tcpKey, field: flow.FieldNwTOS, value: 0xb9},
		{name: "ip_dscp", key: tcpKey, field: flow.FieldIPDSCP, value: 46, want: fields{flow.FieldNwTOS: 46<<2 | 0}},
		{name: "nw_ecn", key: udpKey, field: flow.FieldNwECN, value: 3, want: fields{flow.FieldNwTOS: 0x2b}},
		{name: "ipv6 tclass", key: tcp6Key, field: flow.FieldNwTOS, value: 0x11},
		{name: "ipv6 dscp", key: udp6Key, field: flow.FieldIPDSCP, value: 10, want: fields{flow.FieldNwTOS: 10 << 2}},
		{name: "ipv4 ttl", key: udpKey, field: flow.FieldNwTTL, value: 3},
		{name: "ipv6 hop limit", key: icmp6Key, field: flow.FieldNwTTL, value: 255},
		{name: "tcp src", key: tcpKey, field: flow.FieldTpSrc, value: 443},
		{name: "tcp dst", key: vlanKey, field: flow.FieldTpDst, value: 8443},
		{name: "udp dst", key: udpKey, field: flow.FieldTpDst, value: 65535},
		{name: "udp6 src", key: udp6Key, field: flow.FieldTpSrc, value: 1},
		{name: "sctp src", key: sctpKey, field: flow.FieldTpSrc, value: 9},
		{name: "udp first fragment port", key: firstKey, field: flow.FieldTpDst, value: 7},
		{name: "tp on later fragment", key: laterKey, field: flow.FieldTpDst, value: 7, fail: true},
		{name: "icmp type", key: icmpKey, field: flow.FieldIcmpType, value: 0},
		{name: "icmp code via tp_dst", key: icmpKey, field: flow.FieldTpDst, value: 3},
		{name: "icmpv6 type", key: icmp6Key, field: flow.FieldIcmpType, value: 129},
		{name: "tcp_src by its own name", key: tcpKey, field: flow.FieldTCPSrc, value: 22, want: fields{flow.FieldTpSrc: 22}},
		{name: "udp_dst by its own name", key: udp6Key, field: flow.FieldUDPDst, value: 4789, want: fields{flow.FieldTpDst: 4789}},
		{name: "sctp_dst by its own name", key: sctpKey, field: flow.FieldSCTPDst, value: 7, want: fields{flow.FieldTpDst: 7}},
		{name: "icmpv6_code by its own name", key: icmp6Key, field: flow.FieldIcmpv6Code, value: 1, want: fields{flow.FieldTpDst: 1}},
		{name: "tcp_dst on udp", key: udpKey, field: flow.FieldTCPDst, value: 1, fail: true},
		{name: "icmpv6_type on icmp", key: icmpKey, field: flow.FieldIcmpv6Type, value: 1, fail: true},
		{name: "ipv6 label", key: tcp6Key, field: flow.FieldIPv6Label, value: 0xfedcb},
		{name: "ipv6 src tcp", key: tcp6Key, field: flow.FieldIPv6Src, value6: a6u("2001:db8:1::5")},
		{name: "ipv6 dst udp", key: udp6Key, field: flow.FieldIPv6Dst, value6: a6u("fe80::1")},
		{name: "ipv6 dst icmpv6", key: icmp6Key, field: flow.FieldIPv6Dst, value6: a6u("2001:db8:ffff::")},
		{name: "nd target", key: ndKey, field: flow.FieldNdTarget, value6: a6u("2001:db8::77")},
		{name: "nd sll", key: ndKey, field: flow.FieldNdSll, value: 0x0e0000000001},
		{name: "nd tll via arp_tha", key: naKey, field: flow.FieldArpTha, value: 0x0e0000000002},
		{name: "nd tll behind an sll option, as OVS", key: ndKey, field: flow.FieldNdTll, value: 1, fail: true},
		{name: "rarp fields, as OVS", key: rarpKey, field: flow.FieldArpSpa, value: 1, fail: true},
		{name: "arp op", key: arpKey, field: flow.FieldArpOp, value: 2},
		{name: "arp spa", key: arpKey, field: flow.FieldArpSpa, value: a4u("192.0.2.9")},
		{name: "arp tpa via nw_dst", key: arpKey, field: flow.FieldNwDst, value: a4u("192.0.2.8")},
		{name: "arp sha", key: arpKey, field: flow.FieldArpSha, value: 0x0e0000000003},
		{name: "arp tha", key: arpKey, field: flow.FieldArpTha, value: 0x0e0000000004},
		{name: "nw_proto of ipv4", key: tcpKey, field: flow.FieldNwProto, value: 17, fail: true},
		{name: "tp_src of arp", key: arpKey, field: flow.FieldTpSrc, value: 17, fail: true},
		{name: "nd_sll of echo", key: icmp6Key, field: flow.FieldNdSll, value: 1, fail: true},
		{name: "metadata field", key: tcpKey, field: flow.FieldReg0, value: 1, fail: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frame := Build(&tc.key, []byte("payload bytes"))
			before := bytes.Clone(frame)
			_, info := mustExtract(t, frame)
			var ok bool
			if tc.field.Info().Bits == 128 {
				ok = SetField128(frame, &info, tc.field, tc.value6[0], tc.value6[1])
			} else {
				ok = SetField(frame, &info, tc.field, tc.value)
			}
			if ok == tc.fail {
				t.Fatalf("SetField: got ok=%v, want %v", ok, !tc.fail)
			}
			if tc.fail {
				if !bytes.Equal(frame, before) {
					t.Errorf("failed SetField changed the frame")
				}
				return
			}
			want := tc.key
			switch {
			case tc.want != nil:
				for f, v := range tc.want {
					want.Set(f, v)
				}
			case tc.field.Info().Bits == 128:
				want.Set128(tc.field, tc.value6[0], tc.value6[1])
			default:
				want.Set(tc.field, tc.value)
			}
			checkRewrite(t, frame, &want)
		})
	}
}

func TestSetFieldUDPZeroChecksumStaysZero(t *testing.T) {
	k := baseKey(EtherTypeIPv4, ProtoUDP, fields{flow.FieldTpSrc: 1, flow.FieldTpDst: 2}, nil)
	frame := Build(&k, nil)
	_, info := mustExtract(t, frame)
	put16(frame[info.L4+6:], 0)
	SetField(frame, &info, flow.FieldNwSrc, a4u("10.0.0.1"))
	SetField(frame, &info, flow.FieldTpDst, 99)
	if got := be16(frame[info.L4+6:]); got != 0 {
		t.Errorf("udp checksum: got %#x, want 0", got)
	}
	if ipOK, _ := VerifyChecksums(frame, &info); !ipOK {
		t.Errorf("ip checksum wrong")
	}
}

func TestSCTPPortRewriteKeepsError(t *testing.T) {
	k := baseKey(EtherTypeIPv4, ProtoSCTP, fields{flow.FieldTpSrc: 1, flow.FieldTpDst: 2}, nil)
	frame := Build(&k, []byte("chunk data here!"))
	_, info := mustExtract(t, frame)
	frame[info.L4+8] ^= 0x5a // damage the CRC
	SetField(frame, &info, flow.FieldTpSrc, 5000)
	s := frame[info.L4:info.End]
	if got, want := binary.LittleEndian.Uint32(s[8:])^sctpChecksum(s), uint32(0x5a); got != want {
		t.Errorf("CRC error after rewrite: got %#x, want %#x (carried over)", got, want)
	}
}

func TestDecTTL(t *testing.T) {
	cases := []struct {
		name        string
		key         flow.Key
		ttl         uint64
		wantTTL     uint64
		wantExpired bool
		wantOK      bool
	}{
		{"ipv4", baseKey(EtherTypeIPv4, ProtoUDP, nil, nil), 64, 63, false, true},
		{"ipv4 ttl 1", baseKey(EtherTypeIPv4, ProtoUDP, nil, nil), 1, 1, true, true},
		{"ipv4 ttl 0", baseKey(EtherTypeIPv4, ProtoUDP, nil, nil), 0, 0, true, true},
		{"ipv6", baseKey(EtherTypeIPv6, ProtoUDP, nil, nil), 2, 1, false, true},
		{"arp", baseKey(EtherTypeARP, 1, nil, nil), 0, 0, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.key
			if tc.wantOK {
				k.Set(flow.FieldNwTTL, tc.ttl)
			}
			frame := Build(&k, nil)
			_, info := mustExtract(t, frame)
			expired, ok := DecTTL(frame, &info)
			if expired != tc.wantExpired || ok != tc.wantOK {
				t.Fatalf("got expired=%v ok=%v, want %v %v", expired, ok, tc.wantExpired, tc.wantOK)
			}
			if tc.wantOK {
				k.Set(flow.FieldNwTTL, tc.wantTTL)
			}
			checkRewrite(t, frame, &k)
		})
	}
}

func TestSetICMPID(t *testing.T) {
	for _, k := range []flow.Key{
		baseKey(EtherTypeIPv4, ProtoICMP, fields{flow.FieldIcmpType: 8}, nil),
		baseKey(EtherTypeIPv6, ProtoICMPv6, fields{flow.FieldIcmpType: 128}, nil),
	} {
		frame := Build(&k, []byte("ping"))
		_, info := mustExtract(t, frame)
		if !SetICMPID(frame, &info, 0xbeef) {
			t.Fatalf("SetICMPID: got false")
		}
		if got := ICMP(frame[info.L4:]).ID(); got != 0xbeef {
			t.Errorf("id: got %#x, want 0xbeef", got)
		}
		checkRewrite(t, frame, &k)
	}
	k := baseKey(EtherTypeIPv4, ProtoTCP, nil, nil)
	frame := Build(&k, nil)
	_, info := mustExtract(t, frame)
	if SetICMPID(frame, &info, 1) {
		t.Errorf("SetICMPID on TCP: got true")
	}
}

func TestPushPopVLAN(t *testing.T) {
	k := baseKey(EtherTypeIPv4, ProtoTCP, fields{flow.FieldTpSrc: 1, flow.FieldTpDst: 2}, nil)
	frame := Build(&k, []byte("x"))
	buf := append(make([]byte, 8), frame...)
	_, info := mustExtract(t, buf[8:])

	start, ok := PushVLAN(buf, 8, &info, EtherTypeVLAN, 0x2064)
	if !ok || start != 4 {
		t.Fatalf("PushVLAN: got %d %v, want 4 true", start, ok)
	}
	want := k
	want.Set(flow.FieldVLANTCI, 0x3064)
	got, gotInfo := mustExtract(t, buf[start:])
	if d := keyDiff(&got, &want); d != "" {
		t.Errorf("after push: %s", d)
	}
	if info != gotInfo {
		t.Errorf("info after push: got %+v, want %+v (as Extract)", info, gotInfo)
	}
	// The offsets Push left must serve rewrites.
	if !SetField(buf[start:], &info, flow.FieldTpDst, 3) {
		t.Fatalf("SetField after push: false")
	}
	want.Set(flow.FieldTpDst, 3)
	checkRewrite(t, buf[start:], &want)

	start, ok = PushVLAN(buf, start, &info, EtherTypeQinQ, 5)
	if !ok || start != 0 {
		t.Fatalf("second PushVLAN: got %d %v", start, ok)
	}
	if _, ok := PushVLAN(buf, start, &info, EtherTypeVLAN, 1); ok {
		t.Errorf("PushVLAN without headroom: got true")
	}
	if start, ok = PopVLAN(buf, start, &info); !ok || start != 4 || info.VLAN != 12 {
		t.Fatalf("PopVLAN outer: got %d %v vlan %d", start, ok, info.VLAN)
	}
	if start, ok = PopVLAN(buf, start, &info); !ok || start != 8 {
		t.Fatalf("PopVLAN: got %d %v", start, ok)
	}
	want.Set(flow.FieldVLANTCI, 0)
	checkRewrite(t, buf[start:], &want)
	_, fresh := mustExtract(t, buf[start:])
	if info != fresh {
		t.Errorf("info after pop: got %+v, want %+v", info, fresh)
	}
	if _, ok := PopVLAN(buf, start, &info); ok {
		t.Errorf("PopVLAN untagged: got true")
	}
}

// TestRandomRewrites applies random rewrites to random frames and checks after each that the
// incrementally updated checksums equal a from-scratch computation and the frame extracts to
// the expected key.
func TestRandomRewrites(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		k := randKey(r)
		frame := Build(&k, randPayload(r))
		_, info := mustExtract(t, frame)
		for range 4 {
			f, v, v6, ok := randRewrite(r, &k)
			if !ok {
				break
			}
			var did bool
			if f.Info().Bits == 128 {
				did = SetField128(frame, &info, f, v6[0], v6[1])
				k.Set128(f, v6[0], v6[1])
			} else {
				did = SetField(frame, &info, f, v)
				k.Set(f, v)
			}
			if !did {
				t.Fatalf("case %d: SetField(%s, %#x) false on %x", i, f, v, frame)
			}
			full := bytes.Clone(frame)
			if info.Frag == 0 {
				CompleteChecksums(full, &info)
			} else if info.Flags&FlagIPv4 != 0 {
				IPv4(full[info.L3:]).SetChecksum()
			}
			if !sameUpToZero(frame, full) {
				t.Fatalf("case %d: after %s=%#x incremental %x, full %x", i, f, v, frame, full)
			}
			got, _ := mustExtract(t, frame)
			if d := keyDiff(&got, &k); d != "" {
				t.Fatalf("case %d: after %s=%#x: %s", i, f, v, d)
			}
		}
	}
}

// sameUpToZero compares frames, allowing a 16-bit checksum of 0x0000 where the other has
// 0xffff: both are the same ones' complement zero.
func sameUpToZero(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] == b[i] {
			continue
		}
		if i+1 < len(a) && (a[i] == 0 && a[i+1] == 0 && b[i] == 0xff && b[i+1] == 0xff ||
			a[i] == 0xff && a[i+1] == 0xff && b[i] == 0 && b[i+1] == 0) {
			i++
			continue
		}
		return false
	}
	return true
}

// randRewrite picks a field SetField can write on a frame with key k and a valid value.
func randRewrite(r *rand.Rand, k *flow.Key) (flow.Field, uint64, [2]uint64, bool) {
	var cand []flow.Field
	cand = append(cand, flow.FieldEthSrc, flow.FieldEthDst)
	if k.Get(flow.FieldVLANTCI) != 0 {
		cand = append(cand, flow.FieldVLANTCI, flow.FieldVLANVID, flow.FieldVLANPCP)
	}
	typ := k.Get(flow.FieldEthType)
	proto := uint8(k.Get(flow.FieldNwProto))
	l4 := k.Get(flow.FieldNwFrag)&FragLater == 0
	switch typ {
	case EtherTypeARP: // not RARP: OVS leaves those frames alone, and so does SetField
		cand = append(cand, flow.FieldArpOp, flow.FieldArpSpa, flow.FieldArpTpa, flow.FieldArpSha, flow.FieldArpTha)
	case EtherTypeIPv4, EtherTypeIPv6:
		cand = append(cand, flow.FieldNwTOS, flow.FieldIPDSCP, flow.FieldNwECN, flow.FieldNwTTL)
		if typ == EtherTypeIPv4 {
			cand = append(cand, flow.FieldNwSrc, flow.FieldNwDst)
		} else {
			cand = append(cand, flow.FieldIPv6Src, flow.FieldIPv6Dst, flow.FieldIPv6Label)
		}
		if l4 {
			switch proto {
			case ProtoTCP, ProtoUDP, ProtoSCTP, ProtoICMP, ProtoICMPv6:
				cand = append(cand, flow.FieldTpSrc, flow.FieldTpDst)
			}
			if proto == ProtoICMPv6 && k.Get(flow.FieldIcmpCode) == 0 {
				if t := k.Get(flow.FieldIcmpType); t == 135 || t == 136 {
					cand = cand[:len(cand)-2] // keep it an ND packet
					cand = append(cand, flow.FieldNdTarget)
					// Only the first link-layer option is rewritable (as OVS).
					switch k.Get(flow.FieldTCPFlags) {
					case NDOptSourceLLAddr:
						cand = append(cand, flow.FieldNdSll)
					case NDOptTargetLLAddr:
						cand = append(cand, flow.FieldNdTll)
					}
				}
			}
		}
	}
	f := cand[r.IntN(len(cand))]
	v := r.Uint64() & f.Info().Mask64()
	switch f {
	case flow.FieldVLANTCI, flow.FieldVLANVID:
		v |= VLANCFI
	case flow.FieldTpSrc, flow.FieldTpDst:
		if proto == ProtoICMP || proto == ProtoICMPv6 {
			v &= 0xff
			// Stay clear of turning an echo into ND or an ND packet into something else.
			if proto == ProtoICMPv6 && f == flow.FieldTpDst && v == 0 {
				v = 1
			}
			if proto == ProtoICMPv6 && f == flow.FieldTpSrc && (v == 135 || v == 136) {
				v = 137
			}
		}
	case flow.FieldNdSll, flow.FieldNdTll:
		v |= 1 // a zero address reads back as "no option"
	}
	return f, v, [2]uint64{r.Uint64(), r.Uint64()}, true
}
