package flow

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestParseModel checks the values the parser produces for the forms the executor and codec
// rely on.
func TestParseModel(t *testing.T) {
	mustParse := func(t *testing.T, s string) *Flow {
		t.Helper()
		f, err := ParseFlow(s)
		if err != nil {
			t.Fatalf("ParseFlow(%q): %v", s, err)
		}
		return f
	}
	t.Run("defaults", func(t *testing.T) {
		f := mustParse(t, "actions=drop")
		if f.Priority != DefaultPriority || f.Table != 0 || len(f.Instructions.Apply) != 0 {
			t.Errorf("got table %d priority %d apply %v, want 0, %d, none", f.Table, f.Priority, f.Instructions.Apply, DefaultPriority)
		}
	})
	t.Run("load is a masked set_field", func(t *testing.T) {
		f := mustParse(t, "actions=load:0x1->NXM_NX_REG0[0..15],load:1->reg0[3]")
		want := []Action{
			&SetField{Field: FieldReg0, Value: Value{Lo: 1}, Mask: Value{Lo: 0xffff}},
			&SetField{Field: FieldReg0, Value: Value{Lo: 8}, Mask: Value{Lo: 8}},
		}
		if !reflect.DeepEqual(f.Instructions.Apply, want) {
			t.Errorf("got %v, want %v", f.Instructions.Apply, want)
		}
	})
	t.Run("match values and masks", func(t *testing.T) {
		f := mustParse(t, "tcp,nw_src=10.0.0.0/8,tp_dst=0x50/0xfff0,reg0=0x5/0xf,ct_state=+new-est+trk,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=drop")
		m := &f.Match
		checks := []struct {
			f         Field
			val, mask uint64
		}{
			{FieldEthType, 0x0800, 0xffff},
			{FieldNwProto, 6, 0xff},
			{FieldNwSrc, 0x0a000000, 0xff000000},
			{FieldTpDst, 0x50, 0xfff0},
			{FieldReg0, 5, 0xf},
			{FieldCtState, CtNew | CtTrk, CtNew | CtEst | CtTrk},
			{FieldEthDst, 0x010000000000, 0x010000000000},
		}
		for _, c := range checks {
			if v, mk := m.Key.Get(c.f), m.Mask.Get(c.f); v != c.val || mk != c.mask {
				t.Errorf("%s: got %#x/%#x, want %#x/%#x", c.f, v, mk, c.val, c.mask)
			}
		}
	})
	t.Run("xreg and xxreg views land on the 32-bit registers", func(t *testing.T) {
		f := mustParse(t, "xreg0=0x100000002,xxreg1=0x3,actions=drop")
		if got := f.Match.Key.Get(FieldReg0); got != 1 {
			t.Errorf("reg0 = %#x, want 1", got)
		}
		if got := f.Match.Key.Get(FieldReg1); got != 2 {
			t.Errorf("reg1 = %#x, want 2", got)
		}
		if got, mk := f.Match.Key.Get(FieldReg7), f.Match.Mask.Get(FieldReg7); got != 3 || mk != 0xffffffff {
			t.Errorf("reg7 = %#x/%#x, want 0x3/0xffffffff", got, mk)
		}
	})
	t.Run("ct with nat and exec", func(t *testing.T) {
		f := mustParse(t, "ip,actions=ct(commit,zone=NXM_NX_REG0[0..15],table=20,nat(dst=10.0.0.1-10.0.0.5:80-90,random),exec(set_field:0x1->ct_mark,load:0x5->NXM_NX_CT_LABEL[0..31]))")
		want := &CT{
			Commit:  true,
			ZoneSrc: Subfield{Field: FieldReg0, Ofs: 0, Bits: 16},
			Table:   20,
			NAT: &NAT{Dst: true, MinAddr: netip.MustParseAddr("10.0.0.1"), MaxAddr: netip.MustParseAddr("10.0.0.5"),
				MinPort: 80, MaxPort: 90, Random: true},
			Exec: []Action{
				&SetField{Field: FieldCtMark, Value: Value{Lo: 1}, Mask: Value{Lo: 0xffffffff}},
				&SetField{Field: FieldCtLabel, Value: Value{Lo: 5}, Mask: Value{Lo: 0xffffffff}},
			},
		}
		if !reflect.DeepEqual(f.Instructions.Apply, []Action{want}) {
			t.Errorf("got %#v, want %#v", f.Instructions.Apply[0], want)
		}
	})
	t.Run("instructions", func(t *testing.T) {
		f := mustParse(t, "table=1,actions=meter:3,output:1,clear_actions,write_actions(group:2),write_metadata:0x1/0xff,goto_table:5")
		ins := f.Instructions
		if !reflect.DeepEqual(ins.Apply, []Action{&Meter{MeterID: 3}, &Output{Port: 1}}) || !ins.ClearActions ||
			!reflect.DeepEqual(ins.Write, []Action{&Group{GroupID: 2}}) || !ins.HasWriteMetadata ||
			ins.WriteMetadata != 1 || ins.WriteMetadataMask != 0xff || !ins.HasGotoTable || ins.GotoTable != 5 {
			t.Errorf("got %+v", ins)
		}
	})
	t.Run("timeouts beyond 16 bits", func(t *testing.T) {
		f := mustParse(t, "idle_timeout=100000,hard_timeout=4000000000,ip,actions=learn(table=2,hard_timeout=86400,idle_timeout=70000,eth_type=0x800,NXM_OF_IP_SRC[])")
		l := f.Instructions.Apply[0].(*Learn)
		if f.IdleTimeout != 100000 || f.HardTimeout != 4000000000 || l.HardTimeout != 86400 || l.IdleTimeout != 70000 {
			t.Errorf("got flow %d/%d learn %d/%d, want 100000/4000000000 and 70000/86400", f.IdleTimeout, f.HardTimeout, l.IdleTimeout, l.HardTimeout)
		}
		if s := f.String(); !strings.Contains(s, "hard_timeout=4000000000") || !strings.Contains(s, "hard_timeout=86400") {
			t.Errorf("String() = %q lost a long timeout", s)
		}
	})
	t.Run("mod_tp_dst takes the match's protocol", func(t *testing.T) {
		f := mustParse(t, "udp,actions=mod_tp_dst:53")
		if sf := f.Instructions.Apply[0].(*SetField); sf.Field != FieldUDPDst {
			t.Errorf("field = %s, want udp_dst", sf.Field.OVSName())
		}
	})
	t.Run("controller forms", func(t *testing.T) {
		f := mustParse(t, "actions=controller,CONTROLLER:100,controller(reason=no_match,userdata=01.02,max_len=100)")
		want := []Action{
			&Output{Port: PortController, MaxLen: 65535},
			&Output{Port: PortController, MaxLen: 100},
			&Controller{MaxLen: 100, Reason: ReasonNoMatch, UserData: []byte{1, 2}},
		}
		if !reflect.DeepEqual(f.Instructions.Apply, want) {
			t.Errorf("got %v, want %v", f.Instructions.Apply, want)
		}
	})
}

// TestDumpLine checks that a dump-flows line with statistics parses and prints back.
func TestDumpLine(t *testing.T) {
	line := "cookie=0x5, duration=12.345s, table=3, n_packets=10, n_bytes=1200, idle_timeout=60, send_flow_rem idle_age=2, priority=100,ip,nw_src=10.0.0.1 actions=output:2"
	f, err := ParseFlow(line)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Packets: 10, Bytes: 1200, Duration: 12345 * time.Millisecond, IdleAge: 2, HardAge: -1, Valid: true}
	if f.Stats != want {
		t.Errorf("Stats = %+v, want %+v", f.Stats, want)
	}
	if got := f.DumpString(); got != line {
		t.Errorf("DumpString() = %q, want %q", got, line)
	}
	if got, want := f.String(), "cookie=0x5, table=3, idle_timeout=60, send_flow_rem priority=100,ip,nw_src=10.0.0.1 actions=output:2"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestFlowFilter checks del-flows style filters with a cookie mask.
func TestFlowFilter(t *testing.T) {
	f, err := ParseFlowFilter("table=2,cookie=0x15/-1,ip")
	if err != nil {
		t.Fatal(err)
	}
	if f.Cookie != 0x15 || f.CookieMask != ^uint64(0) || f.Table != 2 || f.Match.ethType() != EthTypeIPv4 {
		t.Errorf("got cookie %#x/%#x table %d dl_type %#x", f.Cookie, f.CookieMask, f.Table, f.Match.ethType())
	}
	if _, err := ParseFlowFilter("ip,actions=drop"); err == nil {
		t.Error("a filter with actions was accepted")
	}
}

// TestGroupRejects checks malformed groups.
func TestGroupRejects(t *testing.T) {
	tests := []struct{ group, want string }{
		{"type=all,bucket=actions=output:1", "must specify a group_id"},
		{"group_id=1,bucket=actions=output:1", "must specify a type"},
		{"group_id=1,type=all,selection_method=hash,bucket=actions=output:1", "only valid for select groups"},
		{"group_id=1,type=indirect,bucket=actions=output:1,bucket=actions=output:2", "exactly one bucket"},
		{"group_id=1,type=select,bucket=actions=output:0", "output to port 0"},
		{"group_id=1,type=bogus", "unknown group type"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := ParseGroup(tt.group)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseGroup(%q) error = %v, want %q", tt.group, err, tt.want)
			}
		})
	}
}

// TestMeterText checks meter parsing and printing.
func TestMeterText(t *testing.T) {
	m, err := ParseMeter("meter=2,pktps,burst,stats,band=type=drop,rate=100,burst_size=20")
	if err != nil {
		t.Fatal(err)
	}
	want := &MeterEntry{ID: 2, Flags: MeterPktps | MeterBurst | MeterStats, Bands: []MeterBand{{Type: BandDrop, Rate: 100, BurstSize: 20}}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %+v, want %+v", m, want)
	}
	if got := m.String(); got != "meter=2,pktps,burst,stats,band=type=drop,rate=100,burst_size=20" {
		t.Errorf("String() = %q", got)
	}
	if _, err := ParseMeter("meter=1,kbps,pktps,band=type=drop,rate=1"); err == nil {
		t.Error("kbps and pktps together were accepted")
	}
}
