package flow

import "testing"

func TestFieldLayoutNoOverlapWithinWord(t *testing.T) {
	// Fields that are not aliases or views of each other must not share bits.
	views := map[Field]bool{
		FieldXReg0: true, FieldXReg1: true, FieldXReg2: true, FieldXReg3: true,
		FieldXReg4: true, FieldXReg5: true, FieldXReg6: true, FieldXReg7: true,
		FieldXXReg0: true, FieldXXReg1: true, FieldXXReg2: true, FieldXXReg3: true,
		FieldVLANVID: true, FieldVLANPCP: true, FieldIPDSCP: true, FieldNwECN: true,
		FieldArpOp: true, FieldArpSpa: true, FieldArpTpa: true, FieldIcmpType: true,
		FieldIcmpCode: true, FieldNdSll: true, FieldNdTll: true,
		FieldTCPSrc: true, FieldTCPDst: true, FieldUDPSrc: true, FieldUDPDst: true,
		FieldSCTPSrc: true, FieldSCTPDst: true, FieldIcmpv6Type: true, FieldIcmpv6Code: true,
	}
	var used Key
	for f := Field(0); f < NumFields; f++ {
		fi := f.Info()
		if fi.Word < 0 || fi.Word >= Words || (fi.Bits == 128 && fi.Word+1 >= Words) {
			t.Fatalf("%s: word %d out of range", f, fi.Word)
		}
		if fi.Bits != 128 && fi.Shift+fi.Bits > 64 {
			t.Fatalf("%s: shift %d + bits %d crosses a word", f, fi.Shift, fi.Bits)
		}
		if views[f] {
			continue
		}
		var k Key
		k.Set128(f, ^uint64(0), ^uint64(0))
		if fi.Bits != 128 {
			k.Set(f, ^uint64(0))
		}
		for i := range k.W {
			if k.W[i]&used.W[i] != 0 {
				t.Fatalf("%s overlaps another field in word %d", f, i)
			}
			used.W[i] |= k.W[i]
		}
	}
}

func TestGetSetRoundTrip(t *testing.T) {
	for f := Field(0); f < NumFields; f++ {
		var k Key
		fi := f.Info()
		v := uint64(0xa5a5a5a5a5a5a5a5) & fi.Mask64()
		k.Set(f, v)
		if got := k.Get(f); got != v {
			t.Errorf("%s: got %#x, want %#x", f, got, v)
		}
		if fi.Bits == 128 {
			k.Set128(f, 1, 2)
			if hi, lo := k.Get128(f); hi != 1 || lo != 2 {
				t.Errorf("%s: Get128 = %#x,%#x", f, hi, lo)
			}
		}
	}
}

func TestRegisterViews(t *testing.T) {
	var k Key
	k.Set(FieldReg0, 0x11111111)
	k.Set(FieldReg1, 0x22222222)
	if got := k.Get(FieldXReg0); got != 0x1111111122222222 {
		t.Fatalf("xreg0 = %#x, want reg0:reg1", got)
	}
	k.Set(FieldReg2, 0x33333333)
	k.Set(FieldReg3, 0x44444444)
	hi, lo := k.Get128(FieldXXReg0)
	if hi != 0x1111111122222222 || lo != 0x3333333344444444 {
		t.Fatalf("xxreg0 = %#x:%#x", hi, lo)
	}
}

func TestSubfieldBits(t *testing.T) {
	var k Key
	k.SetBits(FieldReg4, 16, 8, 0xab)
	if got := k.Get(FieldReg4); got != 0xab0000 {
		t.Fatalf("reg4 = %#x, want 0xab0000", got)
	}
	if got := k.GetBits(FieldReg4, 16, 8); got != 0xab {
		t.Fatalf("reg4[16..23] = %#x", got)
	}
	if k.Get(FieldReg5) != 0 {
		t.Fatal("write to reg4 leaked into reg5")
	}
	// A 128-bit subfield that straddles the two halves.
	k.SetBits(FieldCtLabel, 60, 8, 0xff)
	hi, lo := k.Get128(FieldCtLabel)
	if hi != 0xf || lo != 0xf000000000000000 {
		t.Fatalf("ct_label = %#x:%#x", hi, lo)
	}
	if got := k.GetBits(FieldCtLabel, 60, 8); got != 0xff {
		t.Fatalf("ct_label[60..67] = %#x", got)
	}
}

func TestMatch(t *testing.T) {
	var m Match
	m.Set(FieldEthType, 0x0800, 0xffff)
	m.Set(FieldNwDst, 0x0a000000, 0xff000000) // 10.0.0.0/8
	var k Key
	k.Set(FieldEthType, 0x0800)
	k.Set(FieldNwDst, 0x0a010203)
	k.Set(FieldTpDst, 80)
	if !m.Matches(&k) {
		t.Fatal("10.1.2.3 should match 10.0.0.0/8")
	}
	k.Set(FieldNwDst, 0x0b010203)
	if m.Matches(&k) {
		t.Fatal("11.1.2.3 should not match 10.0.0.0/8")
	}
}
