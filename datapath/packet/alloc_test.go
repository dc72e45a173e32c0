package packet

import (
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

// benchFrames are one frame of each common kind, for the allocation test and benchmarks.
func benchFrames() map[string][]byte {
	ports := fields{flow.FieldTpSrc: 40000, flow.FieldTpDst: 80, flow.FieldTCPFlags: TCPAck}
	tagged := baseKey(EtherTypeIPv4, ProtoUDP, ports, nil)
	tagged.Set(flow.FieldVLANTCI, 0x1064)
	return map[string][]byte{
		"ipv4_tcp":  Build(ptr(baseKey(EtherTypeIPv4, ProtoTCP, ports, nil)), make([]byte, 10)),
		"vlan_udp":  Build(&tagged, make([]byte, 10)),
		"ipv6_tcp":  Build(ptr(baseKey(EtherTypeIPv6, ProtoTCP, ports, nil)), make([]byte, 10)),
		"arp":       Build(ptr(baseKey(EtherTypeARP, 0, fields{flow.FieldArpOp: 1}, nil)), nil),
		"nd_advert": nsFrame(llOpt(NDOptTargetLLAddr, macSrc)),
	}
}

func TestZeroAllocs(t *testing.T) {
	var k flow.Key
	var info Info
	for name, frame := range benchFrames() {
		t.Run("Extract/"+name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, func() { Extract(frame, 1, &k, &info) }); n != 0 {
				t.Errorf("got %v allocations, want 0", n)
			}
		})
	}
	frame := benchFrames()["ipv4_tcp"]
	Extract(frame, 1, &k, &info)
	rewrites := map[string]func(){
		"SetField nw_src":  func() { SetField(frame, &info, flow.FieldNwSrc, 0x0a000001) },
		"SetField tp_dst":  func() { SetField(frame, &info, flow.FieldTpDst, 8080) },
		"SetField dl_dst":  func() { SetField(frame, &info, flow.FieldEthDst, 0x020000000009) },
		"SetField ip_dscp": func() { SetField(frame, &info, flow.FieldIPDSCP, 46) },
		"DecTTL":           func() { DecTTL(frame, &info) },
		"CompleteChecksums": func() {
			CompleteChecksums(frame, &info)
		},
		"VerifyChecksums": func() { VerifyChecksums(frame, &info) },
	}
	for name, fn := range rewrites {
		t.Run(name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, fn); n != 0 {
				t.Errorf("got %v allocations, want 0", n)
			}
		})
	}
	t.Run("SetField128 ipv6_dst", func(t *testing.T) {
		f6 := benchFrames()["ipv6_tcp"]
		var i6 Info
		Extract(f6, 1, &k, &i6)
		if n := testing.AllocsPerRun(100, func() { SetField128(f6, &i6, flow.FieldIPv6Dst, 1, 2) }); n != 0 {
			t.Errorf("got %v allocations, want 0", n)
		}
	})
	t.Run("PushVLAN PopVLAN", func(t *testing.T) {
		buf := append(make([]byte, 4), frame...)
		Extract(buf[4:], 1, &k, &info)
		if n := testing.AllocsPerRun(100, func() {
			s, _ := PushVLAN(buf, 4, &info, EtherTypeVLAN, 5)
			PopVLAN(buf, s, &info)
		}); n != 0 {
			t.Errorf("got %v allocations, want 0", n)
		}
	})
	t.Run("Encap Decap", func(t *testing.T) {
		tu := testTunnel(Geneve)
		tu.Options = make([]byte, 8)
		hl := tu.HeaderLen()
		buf := append(make([]byte, hl), frame...)
		var out Tunnel
		var oi Info
		if n := testing.AllocsPerRun(100, func() {
			s, _ := Encap(buf, hl, &tu)
			Extract(buf[s:], 1, &k, &oi)
			Decap(buf[s:], &oi, Geneve, &out)
		}); n != 0 {
			t.Errorf("got %v allocations, want 0", n)
		}
	})
	t.Run("DropCounters", func(t *testing.T) {
		var c DropCounters
		if n := testing.AllocsPerRun(100, func() { c.Inc(DropL4Truncated) }); n != 0 {
			t.Errorf("got %v allocations, want 0", n)
		}
	})
}
