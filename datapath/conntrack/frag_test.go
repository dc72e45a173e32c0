package conntrack

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/packet"
)

// ipv4Datagram returns a whole IPv4 UDP packet with n payload bytes (a pattern).
func ipv4Datagram(id uint16, n int) []byte {
	p := make([]byte, 20+n)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(20+n))
	binary.BigEndian.PutUint16(p[4:], id)
	p[8] = 64
	p[9] = ProtoUDP
	copy(p[12:], cli.AsSlice())
	copy(p[16:], srv.AsSlice())
	binary.BigEndian.PutUint16(p[10:], packet.Checksum(p[:20]))
	for i := 20; i < len(p); i++ {
		p[i] = byte(i * 7)
	}
	return p
}

// fragment splits a datagram into fragments carrying at most size payload bytes
// (a multiple of 8).
func fragment(d []byte, size int) [][]byte {
	var out [][]byte
	payload := d[20:]
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		f := make([]byte, 20+end-off)
		copy(f, d[:20])
		copy(f[20:], payload[off:end])
		binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
		fo := uint16(off / 8)
		if end < len(payload) {
			fo |= ipFlagMF
		}
		binary.BigEndian.PutUint16(f[6:], fo)
		f[10], f[11] = 0, 0
		binary.BigEndian.PutUint16(f[10:], packet.Checksum(f[:20]))
		out = append(out, f)
	}
	return out
}

func newTestReassembler(mod func(*ReassemblyOptions)) (*Reassembler, *fakeClock) {
	clk := &fakeClock{}
	o := DefaultReassemblyOptions()
	o.Clock = clk.now
	if mod != nil {
		mod(&o)
	}
	return NewReassembler(o), clk
}

func TestReassembly(t *testing.T) {
	d := ipv4Datagram(0x1234, 3000)
	fr := fragment(d, 1232) // 3 fragments: 1232, 1232, 536
	orders := map[string][]int{"in order": {0, 1, 2}, "reversed": {2, 1, 0}, "last first": {2, 0, 1}, "middle first": {1, 2, 0}}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			r, _ := newTestReassembler(nil)
			var res FragResult
			for i, idx := range order {
				res = r.Add(0, fr[idx], nil)
				want := FragHeld
				if i == len(order)-1 {
					want = FragComplete
				}
				if res.Verdict != want {
					t.Fatalf("fragment %d: verdict %d, want %d", idx, res.Verdict, want)
				}
			}
			if !bytes.Equal(res.Packet, d) {
				t.Fatalf("reassembled packet differs from the original datagram")
			}
			if len(res.Fragments) != 3 || !bytes.Equal(res.Fragments[0], fr[0]) {
				t.Fatalf("fragments not returned in offset order")
			}
			if n, b := r.Pending(); n != 0 || b != 0 {
				t.Fatalf("pending %d datagrams, %d bytes after completion, want 0, 0", n, b)
			}
		})
	}
}

func TestReassemblyIntoBuffer(t *testing.T) {
	r, _ := newTestReassembler(nil)
	d := ipv4Datagram(1, 2000)
	buf := make([]byte, 3, 4096)
	var res FragResult
	for _, f := range fragment(d, 1232) {
		res = r.Add(0, f, buf)
	}
	if !bytes.Equal(res.Packet[3:], d) {
		t.Fatalf("reassembled packet appended to a non-empty buffer differs")
	}
}

func TestReassemblyOverlap(t *testing.T) {
	r, _ := newTestReassembler(nil)
	d := ipv4Datagram(7, 3000)
	fr := fragment(d, 1232)
	if v := r.Add(0, fr[0], nil).Verdict; v != FragHeld {
		t.Fatalf("first fragment: %d", v)
	}
	dup := fragment(d, 1232)[0]
	if v := r.Add(0, dup, nil).Verdict; v != FragInvalid {
		t.Fatalf("duplicate fragment: verdict %d, want FragInvalid", v)
	}
	// A fragment starting inside the first one.
	ov := make([]byte, len(fr[1]))
	copy(ov, fr[1])
	binary.BigEndian.PutUint16(ov[6:], ipFlagMF|uint16(1200/8))
	ov[10], ov[11] = 0, 0
	binary.BigEndian.PutUint16(ov[10:], packet.Checksum(ov[:20]))
	if v := r.Add(0, ov, nil).Verdict; v != FragInvalid {
		t.Fatalf("overlapping fragment: verdict %d, want FragInvalid", v)
	}
	if r.Counter(FragOverlap) != 2 {
		t.Errorf("overlap counter = %d, want 2", r.Counter(FragOverlap))
	}
	r.Add(0, fr[1], nil)
	if res := r.Add(0, fr[2], nil); res.Verdict != FragComplete || !bytes.Equal(res.Packet, d) {
		t.Fatalf("datagram not completed after the overlaps were refused")
	}
}

func TestReassemblyTimeout(t *testing.T) {
	r, clk := newTestReassembler(nil)
	fr := fragment(ipv4Datagram(9, 3000), 1232)
	r.Add(0, fr[0], nil)
	clk.advance(15 * time.Second)
	if v := r.Add(0, fr[1], nil).Verdict; v != FragHeld {
		t.Fatalf("fragment after timeout: verdict %d, want FragHeld (a new datagram)", v)
	}
	if r.Counter(FragExpired) != 1 {
		t.Fatalf("expired counter = %d, want 1", r.Counter(FragExpired))
	}
	if v := r.Add(0, fr[2], nil).Verdict; v != FragHeld {
		t.Fatalf("the expired first fragment must not complete the datagram: verdict %d", v)
	}
	clk.advance(16 * time.Second)
	r.Expire()
	if n, b := r.Pending(); n != 0 || b != 0 {
		t.Fatalf("pending %d, %d bytes after Expire, want 0, 0", n, b)
	}
}

func TestReassemblyLimits(t *testing.T) {
	t.Run("datagrams", func(t *testing.T) {
		r, _ := newTestReassembler(func(o *ReassemblyOptions) { o.MaxDatagrams = 2 })
		for id := range uint16(2) {
			if v := r.Add(0, fragment(ipv4Datagram(id, 3000), 1232)[0], nil).Verdict; v != FragHeld {
				t.Fatalf("datagram %d: %d", id, v)
			}
		}
		if v := r.Add(0, fragment(ipv4Datagram(2, 3000), 1232)[0], nil).Verdict; v != FragNoRoom {
			t.Fatalf("third datagram: verdict %d, want FragNoRoom", v)
		}
		// Zones keep datagrams apart, but the limit is global.
		if v := r.Add(1, fragment(ipv4Datagram(0, 3000), 1232)[1], nil).Verdict; v != FragNoRoom {
			t.Fatalf("other zone: verdict %d, want FragNoRoom", v)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		r, _ := newTestReassembler(func(o *ReassemblyOptions) { o.MaxBytes = 3000 })
		fr := fragment(ipv4Datagram(1, 5000), 1232)
		r.Add(0, fr[0], nil)
		r.Add(0, fr[1], nil)
		if v := r.Add(0, fr[2], nil).Verdict; v != FragNoRoom {
			t.Fatalf("fragment beyond MaxBytes: verdict %d, want FragNoRoom", v)
		}
		if _, b := r.Pending(); b > 3000 {
			t.Fatalf("holding %d bytes, limit 3000", b)
		}
	})
	t.Run("fragments per datagram", func(t *testing.T) {
		r, _ := newTestReassembler(func(o *ReassemblyOptions) { o.MaxFragments = 2; o.MinFragment = 400 })
		fr := fragment(ipv4Datagram(1, 3000), 400)
		r.Add(0, fr[0], nil)
		r.Add(0, fr[1], nil)
		if v := r.Add(0, fr[2], nil).Verdict; v != FragNoRoom {
			t.Fatalf("third fragment with MaxFragments 2: verdict %d", v)
		}
	})
}

func TestReassemblyBadInput(t *testing.T) {
	d := ipv4Datagram(3, 3000)
	cases := []struct {
		name string
		pkt  func() []byte
		want FragVerdict
	}{
		{"not a fragment", func() []byte { return d }, FragNotFragment},
		{"too short", func() []byte { return d[:10] }, FragNotFragment},
		{"too small", func() []byte { return fragment(d, 200)[0] }, FragInvalid},
		{"bad checksum", func() []byte { f := fragment(d, 1232)[0]; f[10] ^= 1; return f }, FragInvalid},
		{"truncated", func() []byte { return fragment(d, 1232)[0][:600] }, FragInvalid},
		{"odd length", func() []byte {
			f := fragment(ipv4Datagram(3, 3000), 1232)[0][:20+1229]
			binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
			f[10], f[11] = 0, 0
			binary.BigEndian.PutUint16(f[10:], packet.Checksum(f[:20]))
			return f
		}, FragInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := newTestReassembler(nil)
			if v := r.Add(0, c.pkt(), nil).Verdict; v != c.want {
				t.Fatalf("verdict %d, want %d", v, c.want)
			}
		})
	}
}

// FuzzReassembler feeds arbitrary packets, and fragments of a real datagram with mutated
// headers, to a small reassembler: nothing may panic, the limits hold, and every reassembled
// packet has a correct header (checksum, total length, no fragment bits).
func FuzzReassembler(f *testing.F) {
	d := ipv4Datagram(5, 3000)
	for _, fr := range fragment(d, 1232) {
		f.Add(fr, uint8(0), uint16(0))
	}
	f.Add(d, uint8(1), uint16(0x2000))
	f.Fuzz(func(t *testing.T, pkt []byte, step uint8, fo uint16) {
		r, clk := newTestReassembler(func(o *ReassemblyOptions) {
			o.MaxDatagrams, o.MaxBytes, o.MaxFragments, o.MinFragment = 3, 8000, 4, 400
		})
		frs := fragment(ipv4Datagram(5, 3000), 1232)
		// Mutate one real fragment's offset field, fixing its checksum.
		m := bytes.Clone(frs[int(step)%len(frs)])
		binary.BigEndian.PutUint16(m[6:], fo)
		m[10], m[11] = 0, 0
		binary.BigEndian.PutUint16(m[10:], packet.Checksum(m[:20]))
		for i, p := range [][]byte{pkt, frs[0], m, pkt, frs[1], frs[2]} {
			if step&0x80 != 0 && i == 3 {
				clk.advance(16 * time.Second)
			}
			res := r.Add(uint16(step&1), p, nil)
			if n, b := r.Pending(); n > 3 || b > 8000 {
				t.Fatalf("holding %d datagrams, %d bytes: limits 3, 8000", n, b)
			}
			if res.Verdict != FragComplete {
				continue
			}
			h := res.Packet
			if len(h) < 20 || packet.Checksum(h[:int(h[0]&15)*4]) != 0 || int(binary.BigEndian.Uint16(h[2:])) != len(h) ||
				binary.BigEndian.Uint16(h[6:])&(ipFlagMF|ipOffsetMask) != 0 {
				t.Fatalf("reassembled packet has a bad header: % x", h[:min(len(h), 20)])
			}
		}
	})
}
