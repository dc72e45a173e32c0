package packet

import (
	"bytes"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

// checkInfo fails when an offset in info points outside frame or layers are out of order.
func checkInfo(t *testing.T, frame []byte, info *Info) {
	t.Helper()
	n := len(frame)
	if int(info.End) > n || int(info.L3) > int(info.End) && info.Flags&(FlagIPv4|FlagIPv6) != 0 ||
		int(info.L4) > int(info.End) || int(info.L7) > int(info.End) ||
		info.L7 != 0 && info.L7 < info.L4 || info.L4 != 0 && info.L4 < info.L3 ||
		info.NDTarget != 0 && int(info.NDTarget)+16 > int(info.End) ||
		info.NDSLL != 0 && int(info.NDSLL)+6 > int(info.End) ||
		info.NDTLL != 0 && int(info.NDTLL)+6 > int(info.End) ||
		info.VLAN != 0 && int(info.VLAN)+4 > n {
		t.Fatalf("info out of bounds for %d-byte frame: %+v", n, info)
	}
	if info.Flags&FlagL4 != 0 && info.L7 == 0 {
		t.Fatalf("FlagL4 without L7: %+v", info)
	}
}

// FuzzExtract checks that Extract never panics, keeps its offsets inside the frame, and that
// every key it produces for a well-formed frame survives Build → Extract unchanged.
func FuzzExtract(f *testing.F) {
	for _, fr := range benchFrames() {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var k flow.Key
		var info Info
		r := Extract(frame, 3, &k, &info)
		checkInfo(t, frame, &info)
		if r >= NumDropReasons {
			t.Fatalf("reason %d out of range", r)
		}
		if k.Get(flow.FieldInPort) != 3 {
			t.Fatalf("in_port lost")
		}
		if r != ReasonNone {
			return
		}
		built := Build(&k, nil)
		var k2 flow.Key
		var info2 Info
		if r2 := Extract(built, 3, &k2, &info2); r2 != ReasonNone {
			t.Fatalf("Extract(Build(key)): reason %v; built %x", r2, built)
		}
		if d := keyDiff(&k2, &k); d != "" {
			t.Fatalf("Extract(Build(key)) differs: %s; built %x", d, built)
		}
		// Completing checksums makes them verify, and does not move any field.
		c := bytes.Clone(frame)
		CompleteChecksums(c, &info)
		if ipOK, l4OK := VerifyChecksums(c, &info); !ipOK || !l4OK {
			t.Fatalf("after CompleteChecksums: ip %v l4 %v", ipOK, l4OK)
		}
		var k3 flow.Key
		Extract(c, 3, &k3, &info2)
		if d := keyDiff(&k3, &k); d != "" {
			t.Fatalf("CompleteChecksums changed the key: %s", d)
		}
	})
}

// FuzzRewrite checks that rewrites never panic, that a frame whose checksums were right keeps
// them right after any rewrite, and that a pushed VLAN tag pops off leaving the same bytes.
func FuzzRewrite(f *testing.F) {
	for _, fr := range benchFrames() {
		for _, fl := range []flow.Field{flow.FieldNwSrc, flow.FieldTpDst, flow.FieldIPv6Dst, flow.FieldNdTll, flow.FieldNwTTL} {
			f.Add(fr, uint8(fl), uint64(0x123456789abcdef))
		}
		f.Add(fr, uint8(flow.NumFields), uint64(0x1064)) // push/pop VLAN
		f.Add(fr, uint8(flow.NumFields+1), uint64(7))    // dec_ttl
		f.Add(fr, uint8(flow.NumFields+2), uint64(7))    // ICMP id
	}
	f.Fuzz(func(t *testing.T, frame []byte, field uint8, v uint64) {
		frame = bytes.Clone(frame) // the fuzzer's input must not be written to
		var k flow.Key
		var info Info
		if Extract(frame, 1, &k, &info) != ReasonNone {
			return
		}
		ipOK, l4OK := VerifyChecksums(frame, &info)
		fl := flow.Field(field)
		switch {
		case fl < flow.NumFields:
			if fl.Info().Bits == 128 {
				SetField128(frame, &info, fl, v, ^v)
			} else {
				SetField(frame, &info, fl, v)
			}
			if fl == flow.FieldIPv6Dst && info.Flags&FlagIPv6Route != 0 {
				l4OK = false // by design the L4 checksum keeps the final destination
			}
		case fl == flow.NumFields:
			buf := append(make([]byte, 4), frame...)
			s, ok := PushVLAN(buf, 4, &info, EtherTypeVLAN, uint16(v))
			if !ok {
				return
			}
			checkInfo(t, buf[s:], &info)
			s, ok = PopVLAN(buf, s, &info)
			if !ok || s != 4 || !bytes.Equal(buf[4:], frame) {
				t.Fatalf("push then pop: start %d ok %v, frame %x, want %x", s, ok, buf[4:], frame)
			}
		case fl == flow.NumFields+1:
			DecTTL(frame, &info)
		default:
			SetICMPID(frame, &info, uint16(v))
		}
		checkInfo(t, frame, &info)
		ip2, l42 := VerifyChecksums(frame, &info)
		if ipOK && !ip2 || l4OK && !l42 {
			t.Fatalf("checksums were ip %v l4 %v, after rewriting %v: ip %v l4 %v; frame %x",
				ipOK, l4OK, fl, ip2, l42, frame)
		}
	})
}
