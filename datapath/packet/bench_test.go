package packet

import (
	"strconv"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

func reportPPS(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "pkts/s")
	}
}

func BenchmarkExtract(b *testing.B) {
	frames := benchFrames()
	for _, name := range []string{"ipv4_tcp", "vlan_udp", "ipv6_tcp", "arp", "nd_advert"} {
		frame := frames[name]
		b.Run(name, func(b *testing.B) {
			var k flow.Key
			var info Info
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				Extract(frame, 1, &k, &info)
			}
			reportPPS(b)
		})
	}
}

func BenchmarkSetField(b *testing.B) {
	frame := benchFrames()["ipv4_tcp"]
	var k flow.Key
	var info Info
	Extract(frame, 1, &k, &info)
	for _, c := range []struct {
		name string
		f    flow.Field
	}{{"nw_dst", flow.FieldNwDst}, {"tp_dst", flow.FieldTpDst}, {"dl_dst", flow.FieldEthDst}, {"nw_ttl", flow.FieldNwTTL}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			v := uint64(1)
			for b.Loop() {
				SetField(frame, &info, c.f, v)
				v++
			}
			reportPPS(b)
		})
	}
}

func BenchmarkCompleteChecksums(b *testing.B) {
	for _, size := range []int{64, 1500} {
		k := baseKey(EtherTypeIPv4, ProtoTCP, nil, nil)
		frame := Build(&k, make([]byte, size-54))
		var info Info
		Extract(frame, 1, &k, &info)
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				CompleteChecksums(frame, &info)
			}
			reportPPS(b)
		})
	}
}

func BenchmarkEncapDecap(b *testing.B) {
	frame := benchFrames()["ipv4_tcp"]
	tu := testTunnel(Geneve)
	hl := tu.HeaderLen()
	buf := append(make([]byte, hl), frame...)
	var k flow.Key
	var info Info
	var out Tunnel
	b.ReportAllocs()
	for b.Loop() {
		s, _ := Encap(buf, hl, &tu)
		Extract(buf[s:], 1, &k, &info)
		Decap(buf[s:], &info, Geneve, &out)
	}
	reportPPS(b)
}
