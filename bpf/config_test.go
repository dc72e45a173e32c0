package bpf

import (
	"errors"
	"net/netip"
	"testing"
)

func TestInterfaceConfigEncode(t *testing.T) {
	tests := []struct {
		name    string
		in      InterfaceConfig
		want    steerIfaceConfig
		wantErr bool
	}{
		{name: "all with zero queues means one", in: InterfaceConfig{Mode: ModeAll, SlotBase: 4},
			want: steerIfaceConfig{Mode: 1, SlotBase: 4, Queues: 1}},
		{name: "selective with NodePort range", in: InterfaceConfig{Mode: ModeSelective, SlotBase: 8, Queues: 4, NodePortMin: 30000, NodePortMax: 32767},
			want: steerIfaceConfig{Mode: 2, SlotBase: 8, Queues: 4, NodeportMin: 30000, NodeportMax: 32767}},
		{name: "single NodePort", in: InterfaceConfig{Mode: ModeSelective, NodePortMin: 80, NodePortMax: 80},
			want: steerIfaceConfig{Mode: 2, Queues: 1, NodeportMin: 80, NodeportMax: 80}},
		{name: "last slots of the map", in: InterfaceConfig{Mode: ModeAll, SlotBase: 14, Queues: 2},
			want: steerIfaceConfig{Mode: 1, SlotBase: 14, Queues: 2}},
		{name: "zero mode is rejected", in: InterfaceConfig{}, wantErr: true},
		{name: "unknown mode is rejected", in: InterfaceConfig{Mode: 3}, wantErr: true},
		{name: "slots beyond the socket map are rejected", in: InterfaceConfig{Mode: ModeAll, SlotBase: 15, Queues: 2}, wantErr: true},
		{name: "slot base overflow is rejected", in: InterfaceConfig{Mode: ModeAll, SlotBase: ^uint32(0), Queues: 2}, wantErr: true},
		{name: "reversed NodePort range is rejected", in: InterfaceConfig{Mode: ModeSelective, NodePortMin: 2, NodePortMax: 1}, wantErr: true},
		{name: "NodePort range in mode all is rejected", in: InterfaceConfig{Mode: ModeAll, NodePortMin: 1, NodePortMax: 2}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.encode(16)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("encode(%+v): got error %v, want ErrInvalidConfig", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("encode(%+v): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("encode(%+v): got %+v, want %+v", tt.in, got, tt.want)
			}
			back := decodeInterfaceConfig(got)
			if back.Mode != tt.in.Mode || back.SlotBase != tt.in.SlotBase || back.NodePortMin != tt.in.NodePortMin || back.NodePortMax != tt.in.NodePortMax {
				t.Fatalf("decode(encode(%+v)): got %+v", tt.in, back)
			}
		})
	}
}

func TestPrefixKey(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantLen  uint32
		wantAddr string // as a 16-byte address
		back     string // prefixFromKey result
	}{
		{name: "IPv4 host is IPv4-mapped with 128 bits", in: "192.0.2.1/32", wantLen: 128, wantAddr: "::ffff:192.0.2.1", back: "192.0.2.1/32"},
		{name: "IPv4 prefix gets 96 added", in: "10.244.0.0/16", wantLen: 112, wantAddr: "::ffff:10.244.0.0", back: "10.244.0.0/16"},
		{name: "IPv4 host bits are cleared", in: "10.244.3.4/16", wantLen: 112, wantAddr: "::ffff:10.244.0.0", back: "10.244.0.0/16"},
		{name: "IPv4 default route", in: "0.0.0.0/0", wantLen: 96, wantAddr: "::ffff:0.0.0.0", back: "0.0.0.0/0"},
		{name: "IPv6 prefix", in: "fd00:10:244::/48", wantLen: 48, wantAddr: "fd00:10:244::", back: "fd00:10:244::/48"},
		{name: "IPv6 host", in: "2001:db8::1/128", wantLen: 128, wantAddr: "2001:db8::1", back: "2001:db8::1/128"},
		{name: "IPv6 default route", in: "::/0", wantLen: 0, wantAddr: "::", back: "::/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := prefixKey(netip.MustParsePrefix(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if k.Prefixlen != tt.wantLen {
				t.Errorf("prefix length: got %d, want %d", k.Prefixlen, tt.wantLen)
			}
			if got, want := netip.AddrFrom16(k.Addr), netip.MustParseAddr(tt.wantAddr); got != want {
				t.Errorf("address: got %v, want %v", got, want)
			}
			if got := prefixFromKey(k).String(); got != tt.back {
				t.Errorf("prefixFromKey: got %s, want %s", got, tt.back)
			}
		})
	}
	t.Run("invalid prefix is rejected", func(t *testing.T) {
		if _, err := prefixKey(netip.Prefix{}); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("got %v, want ErrInvalidConfig", err)
		}
	})
}

func TestCountersAdd(t *testing.T) {
	var c Counters
	for i := range numCounters {
		c.add(i, []uint64{uint64(i + 1), 10, 100}) // three CPUs
	}
	c.add(numCounters, []uint64{1000}) // unknown index: ignored
	want := Counters{
		Redirected: 111, PassedKernelOwned: 112, PassedNotOwned: 113, PassedNoConfig: 114,
		PassedNoSocket: 115, PassedQueueRange: 116, PassedMalformed: 117,
	}
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if got, want := c.Passed(), uint64(112+113+114+115+116+117); got != want {
		t.Fatalf("Passed: got %d, want %d", got, want)
	}
}

func TestModeStrings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{ModeAll.String(), "all"}, {ModeSelective.String(), "selective"}, {Mode(9).String(), "Mode(9)"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
