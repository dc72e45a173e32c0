package port_test

import (
	"bytes"
	"testing"

	"github.com/sluicenet/sluice/datapath/afxdp"
	"github.com/sluicenet/sluice/datapath/port"
)

func newUMEM(t testing.TB, chunks, chunkSize uint32) *afxdp.UMEM {
	t.Helper()
	o := afxdp.DefaultUMEMOptions()
	o.NumChunks, o.ChunkSize = chunks, chunkSize
	u, err := afxdp.NewUMEM(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u
}

func TestFrameResize(t *testing.T) {
	u := newUMEM(t, 4, 2048)
	tests := []struct {
		name              string
		op                func(f *port.Frame) bool
		ok                bool
		wantLen, wantHead int
	}{
		{"set length", func(f *port.Frame) bool { return f.SetLen(100) }, true, 100, 256},
		{"grow to chunk end", func(f *port.Frame) bool { return f.SetLen(1792) }, true, 1792, 256},
		{"grow past chunk end", func(f *port.Frame) bool { return f.SetLen(1793) }, false, 60, 256},
		{"negative length", func(f *port.Frame) bool { return f.SetLen(-1) }, false, 60, 256},
		{"push an outer header", func(f *port.Frame) bool { return f.Push(50) }, true, 110, 206},
		{"push all headroom", func(f *port.Frame) bool { return f.Push(256) }, true, 316, 0},
		{"push past headroom", func(f *port.Frame) bool { return f.Push(257) }, false, 60, 256},
		{"pull a header", func(f *port.Frame) bool { return f.Pull(14) }, true, 46, 270},
		{"pull past the end", func(f *port.Frame) bool { return f.Pull(61) }, false, 60, 256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok := port.AllocFrame(u)
			if !ok {
				t.Fatal("AllocFrame failed")
			}
			defer f.Free()
			f.SetLen(60)
			copy(f.Data(), bytes.Repeat([]byte{0xab}, 60))
			if got := tt.op(&f); got != tt.ok {
				t.Fatalf("ok: got %v, want %v", got, tt.ok)
			}
			if f.Len() != tt.wantLen || f.Headroom() != tt.wantHead {
				t.Fatalf("len/headroom: got %d/%d, want %d/%d", f.Len(), f.Headroom(), tt.wantLen, tt.wantHead)
			}
			if f.Headroom()+f.Len()+f.Tailroom() != 2048 {
				t.Fatalf("headroom+len+tailroom = %d, want the chunk size 2048", f.Headroom()+f.Len()+f.Tailroom())
			}
			if f.Addr()-u.ChunkBase(f.Addr()) != uint64(f.Headroom()) {
				t.Fatalf("Addr %#x does not sit at the headroom %d", f.Addr(), f.Headroom())
			}
		})
	}
	if got := u.Available(); got != 4 {
		t.Fatalf("chunks back: got %d, want 4", got)
	}
}

func TestAdopt(t *testing.T) {
	big := newUMEM(t, 8, 4096)
	small := newUMEM(t, 1, 2048)
	payload := bytes.Repeat([]byte("sluice"), 100)
	newFrame := func(t *testing.T, n int) port.Frame {
		f, ok := port.AllocFrame(big)
		if !ok {
			t.Fatal("AllocFrame failed")
		}
		f.SetLen(n)
		copy(f.Data(), payload)
		return f
	}
	var c port.Counters
	t.Run("same memory moves without copying", func(t *testing.T) {
		f := newFrame(t, 600)
		g, ok := port.Adopt(f, big, &c)
		if !ok || g.Addr() != f.Addr() {
			t.Fatalf("Adopt: got %#x %v, want the same frame %#x", g.Addr(), ok, f.Addr())
		}
		g.Free()
	})
	t.Run("other memory copies", func(t *testing.T) {
		f := newFrame(t, 600)
		g, ok := port.Adopt(f, small, &c)
		if !ok || g.Memory() != port.Memory(small) || !bytes.Equal(g.Data(), payload) {
			t.Fatalf("Adopt: ok %v, memory %v, data equal %v", ok, g.Memory() == port.Memory(small), bytes.Equal(g.Data(), payload))
		}
		if c.Snapshot().Copies != 1 {
			t.Fatalf("Copies: got %d, want 1", c.Snapshot().Copies)
		}
		t.Run("no free chunk", func(t *testing.T) {
			if _, ok := port.Adopt(newFrame(t, 100), small, &c); ok {
				t.Fatal("Adopt into an exhausted memory succeeded")
			}
			if got := c.Snapshot().Drops[port.DropNoMemory]; got != 1 {
				t.Fatalf("no-memory drops: got %d, want 1", got)
			}
		})
		g.Free()
	})
	t.Run("longer than the other memory's chunk", func(t *testing.T) {
		if _, ok := port.Adopt(newFrame(t, 3000), small, &c); ok {
			t.Fatal("Adopt of a 3000-byte frame into 2 KiB chunks succeeded")
		}
		if got := c.Snapshot().Drops[port.DropTooLong]; got != 1 {
			t.Fatalf("too-long drops: got %d, want 1", got)
		}
	})
	if big.Available() != 8 || small.Available() != 1 {
		t.Fatalf("chunks back: big %d/8, small %d/1", big.Available(), small.Available())
	}
}
