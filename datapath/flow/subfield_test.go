package flow

import (
	"net/netip"
	"testing"
)

func TestSubfieldReadWrite(t *testing.T) {
	tests := []struct {
		name string
		sf   Subfield
		v    Value
	}{
		{"reg0 low half", Subfield{FieldReg0, 0, 16}, Value{Lo: 0xbeef}},
		{"reg1 high bits", Subfield{FieldReg1, 16, 16}, Value{Lo: 0x1234}},
		{"one bit", Subfield{FieldReg4, 26, 1}, Value{Lo: 1}},
		{"xxreg0 across its two words", Subfield{FieldXXReg0, 60, 10}, Value{Lo: 0x3a5}},
		{"xxreg1 whole", FieldXXReg1.Full(), Value{Hi: 0x0102030405060708, Lo: 0x090a0b0c0d0e0f10}},
		{"ipv6_src low half", Subfield{FieldIPv6Src, 0, 64}, Value{Lo: 0xfeedfacecafebeef}},
		{"ct_label bits 32..63", Subfield{FieldCtLabel, 32, 32}, Value{Lo: 0x7}},
		{"eth_src", FieldEthSrc.Full(), Value{Lo: 0x0a580a0a0003}},
		{"ip_dscp", FieldIPDSCP.Full(), Value{Lo: 0x2e}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var k Key
			for i := range k.W {
				k.W[i] = 0x5555555555555555 // neighbours that must survive the write
			}
			before := k
			k.WriteSubfield(tt.sf, tt.v)
			if got := k.ReadSubfield(tt.sf); got != tt.v {
				t.Errorf("read back %#v, want %#v", got, tt.v)
			}
			// Writing the old bits back must restore the key exactly: nothing else changed.
			k.WriteSubfield(tt.sf, before.ReadSubfield(tt.sf))
			if k != before {
				t.Errorf("write touched bits outside %s", tt.sf)
			}
		})
	}
}

func TestActionsApply(t *testing.T) {
	f := MustParseFlow("ip,actions=load:0x1->NXM_NX_REG0[0..15],set_field:0xa0/0xf0->reg0,move:NXM_OF_IP_SRC[]->NXM_NX_REG1[],move:NXM_NX_REG0[0..7]->NXM_NX_XXREG3[100..107],set_field:10.0.0.9->ip_dst,set_field:LOCAL->in_port")
	var k Key
	k.Set(FieldReg0, 0xffff0000)
	k.Set(FieldNwSrc, ipv4Value(netip.MustParseAddr("192.0.2.7")))
	for _, a := range f.Instructions.Apply {
		switch a := a.(type) {
		case *SetField:
			a.Apply(&k)
		case *Move:
			a.Apply(&k)
		}
	}
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"reg0", k.Get(FieldReg0), 0xffff00a1},
		{"reg1", k.Get(FieldReg1), 0xc0000207},
		{"xxreg3[100..107]", k.ReadSubfield(Subfield{FieldXXReg3, 100, 8}).Lo, 0xa1},
		{"ip_dst", k.Get(FieldNwDst), 0x0a000009},
		{"in_port", k.Get(FieldInPort), uint64(PortLocal)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
}

func TestSubfieldAllocs(t *testing.T) {
	var k Key
	sf := &SetField{Field: FieldReg3, Value: Value{Lo: 5}, Mask: Value{Lo: 0xff}}
	mv := &Move{Src: FieldReg3.Full(), Dst: Subfield{FieldXXReg0, 40, 32}}
	if n := testing.AllocsPerRun(100, func() { sf.Apply(&k); mv.Apply(&k) }); n != 0 {
		t.Errorf("set_field and move allocate %v times per packet, want 0", n)
	}
}

func TestConjunctions(t *testing.T) {
	f := MustParseFlow("ip,actions=conjunction(1,1/2),conjunction(7,3/3)")
	want := []Conjunction{{1, 1, 2}, {7, 3, 3}}
	got := f.Conjunctions()
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Conjunctions() = %v, want %v", got, want)
	}
}
