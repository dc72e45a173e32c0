package packet

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/sluicenet/sluice/datapath/flow"
)

func testTunnel(kind TunnelKind) Tunnel {
	return Tunnel{
		Kind: kind, EthDst: [6]byte{2, 0, 0, 0, 0, 0xb}, EthSrc: [6]byte{2, 0, 0, 0, 0, 0xa},
		Src: [4]byte{192, 0, 2, 10}, Dst: [4]byte{192, 0, 2, 11}, TTL: 64, TOS: 0x10, DF: true, ID: 7,
		SrcPort: 49152, VNI: 0xabcdef,
	}
}

func TestEncapDecap(t *testing.T) {
	inner := Build(ptr(baseKey(EtherTypeIPv4, ProtoTCP, fields{flow.FieldTpSrc: 1, flow.FieldTpDst: 2}, nil)), []byte("inner"))
	geneveOpts := []byte{0x01, 0x02, 0x80, 0x01, 0xde, 0xad, 0xbe, 0xef} // class 0x0102, type 0x80, 4 bytes
	cases := []struct {
		name  string
		tun   Tunnel
		port  uint16
		check func(t *testing.T, p gopacket.Packet)
	}{
		{name: "geneve with options", tun: func() Tunnel {
			tu := testTunnel(Geneve)
			tu.Options, tu.Critical = geneveOpts, true
			return tu
		}(), port: GenevePort, check: func(t *testing.T, p gopacket.Packet) {
			g, ok := p.Layer(layers.LayerTypeGeneve).(*layers.Geneve)
			if !ok {
				t.Fatalf("gopacket finds no Geneve layer")
			}
			if g.VNI != 0xabcdef || g.Protocol != layers.EthernetTypeTransparentEthernetBridging ||
				len(g.Options) != 1 || g.Options[0].Class != 0x0102 || g.Options[0].Type != 0x80 || !g.CriticalOption {
				t.Errorf("gopacket geneve: %+v", g)
			}
		}},
		{name: "geneve without options", tun: testTunnel(Geneve), port: GenevePort},
		{name: "vxlan with udp checksum", tun: func() Tunnel {
			tu := testTunnel(VXLAN)
			tu.UDPChecksum = true
			return tu
		}(), port: VXLANPort, check: func(t *testing.T, p gopacket.Packet) {
			v, ok := p.Layer(layers.LayerTypeVXLAN).(*layers.VXLAN)
			if !ok || v.VNI != 0xabcdef || !v.ValidIDFlag {
				t.Errorf("gopacket vxlan: %+v", v)
			}
			u := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			u.SetNetworkLayerForChecksum(p.NetworkLayer())
			if err, res := u.VerifyChecksum(); err != nil || !res.Valid {
				t.Errorf("gopacket rejects the outer UDP checksum: %v %+v", err, res)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hl := tc.tun.HeaderLen()
			buf := append(make([]byte, hl+2), inner...)
			start, ok := Encap(buf, hl+2, &tc.tun)
			if !ok || start != 2 {
				t.Fatalf("Encap: got %d %v, want 2 true", start, ok)
			}
			outer := buf[start:]
			k, info := mustExtract(t, outer)
			if k.Get(flow.FieldNwProto) != ProtoUDP || k.Get(flow.FieldTpDst) != uint64(tc.port) ||
				k.Get(flow.FieldTpSrc) != 49152 || k.Get(flow.FieldNwTTL) != 64 || k.Get(flow.FieldNwTOS) != 0x10 {
				t.Errorf("outer key: %s", keyDiff(&k, &flow.Key{}))
			}
			if ipOK, l4OK := VerifyChecksums(outer, &info); !ipOK || !l4OK {
				t.Errorf("outer checksums: ip %v udp %v", ipOK, l4OK)
			}
			p := gopacket.NewPacket(outer, layers.LayerTypeEthernet, gopacket.Default)
			if ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ip.Flags != layers.IPv4DontFragment {
				t.Errorf("outer DF: flags %v", ip.Flags)
			}
			if tc.check != nil {
				tc.check(t, p)
			}
			var got Tunnel
			off, ok := Decap(outer, &info, tc.tun.Kind, &got)
			if !ok {
				t.Fatalf("Decap: false")
			}
			if !bytes.Equal(outer[off:info.End], inner) {
				t.Errorf("inner frame: got %x, want %x", outer[off:info.End], inner)
			}
			want := tc.tun
			want.DstPort = tc.port
			if !bytes.Equal(got.Options, want.Options) {
				t.Errorf("options: got %x, want %x", got.Options, want.Options)
			}
			got.Options, want.Options = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("tunnel: got %+v, want %+v", got, want)
			}
			ik, _ := mustExtract(t, outer[off:info.End])
			got.SetKey(&ik)
			if ik.Get(flow.FieldTunID) != 0xabcdef || ik.Get(flow.FieldTunSrc) != a4u("192.0.2.10") ||
				ik.Get(flow.FieldTunDst) != a4u("192.0.2.11") || ik.Get(flow.FieldTpDst) != 2 {
				t.Errorf("inner key with tunnel metadata: tun_id %#x tun_src %#x tun_dst %#x tp_dst %d",
					ik.Get(flow.FieldTunID), ik.Get(flow.FieldTunSrc), ik.Get(flow.FieldTunDst), ik.Get(flow.FieldTpDst))
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestEncapRefuses(t *testing.T) {
	inner := make([]byte, 60)
	tu := testTunnel(Geneve)
	if _, ok := Encap(append(make([]byte, 49), inner...), 49, &tu); ok {
		t.Errorf("Encap with 49 bytes of headroom: got true")
	}
	tu.Options = []byte{1, 2, 3}
	if _, ok := Encap(append(make([]byte, 64), inner...), 64, &tu); ok {
		t.Errorf("Encap with 3 bytes of options: got true")
	}
	tu = testTunnel(0)
	if _, ok := Encap(append(make([]byte, 64), inner...), 64, &tu); ok {
		t.Errorf("Encap with no kind: got true")
	}
}

func TestDecapRefuses(t *testing.T) {
	inner := make([]byte, 60)
	mk := func(kind TunnelKind, mod func(h []byte)) ([]byte, Info) {
		tu := testTunnel(kind)
		buf := append(make([]byte, 50), inner...)
		start, _ := Encap(buf, 50, &tu)
		mod(buf[start+42:])
		_, info := mustExtract(t, buf[start:])
		return buf[start:], info
	}
	cases := []struct {
		name string
		kind TunnelKind
		mod  func(h []byte)
	}{
		{"geneve version 1", Geneve, func(h []byte) { h[0] |= 0x40 }},
		{"geneve options beyond packet", Geneve, func(h []byte) { h[0] = 0x3f }},
		{"geneve carrying ipv4", Geneve, func(h []byte) { put16(h[2:], 0x800) }},
		{"vxlan without I flag", VXLAN, func(h []byte) { h[0] = 0 }},
		{"unknown kind", 9, func(h []byte) {}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frame, info := mk(tc.kind&3, tc.mod)
			var tu Tunnel
			if _, ok := Decap(frame, &info, tc.kind, &tu); ok {
				t.Errorf("Decap: got true")
			}
		})
	}
	t.Run("not udp", func(t *testing.T) {
		frame := Build(ptr(baseKey(EtherTypeIPv4, ProtoTCP, nil, nil)), make([]byte, 20))
		_, info := mustExtract(t, frame)
		var tu Tunnel
		if _, ok := Decap(frame, &info, Geneve, &tu); ok {
			t.Errorf("Decap of TCP: got true")
		}
	})
}
