package forward

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/afxdp"
	"github.com/sluicenet/sluice/datapath/port"
	"github.com/sluicenet/sluice/datapath/port/porttest"
)

// rig is the in-memory counterpart of two pods on one node: wireA–portA and portB–wireB are
// pairs (the pods' veths), and the loop forwards portA⇄portB. Tests inject on the wires and
// collect on the wires.
type rig struct {
	umems        []*afxdp.UMEM
	wireA, portA *porttest.Port
	portB, wireB *porttest.Port
	loop         *Loop
}

type rigOptions struct {
	chunkA, chunkB uint32 // chunk size of A's and B's memory; equal sizes share one UMEM
	queueLen       int
	opts           Options
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	if o.chunkA == 0 {
		o.chunkA, o.chunkB = 2048, 2048
	}
	if o.queueLen == 0 {
		o.queueLen = 512
	}
	if o.opts == (Options{}) {
		o.opts = DefaultOptions()
	}
	mk := func(chunk uint32) *afxdp.UMEM {
		uo := afxdp.DefaultUMEMOptions()
		uo.NumChunks, uo.ChunkSize = 2048, chunk
		u, err := afxdp.NewUMEM(uo)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = u.Close() })
		return u
	}
	r := &rig{}
	ua := mk(o.chunkA)
	ub := ua
	r.umems = []*afxdp.UMEM{ua}
	if o.chunkB != o.chunkA {
		ub = mk(o.chunkB)
		r.umems = append(r.umems, ub)
	}
	r.wireA, r.portA = porttest.NewPair(porttest.Options{NameA: "wireA", NameB: "portA", MemoryA: ua, MemoryB: ua, QueueLen: o.queueLen})
	r.portB, r.wireB = porttest.NewPair(porttest.Options{NameA: "portB", NameB: "wireB", MemoryA: ub, MemoryB: ub, QueueLen: o.queueLen})
	var err error
	r.loop, err = New(slog.New(slog.NewTextHandler(io.Discard, nil)),
		[]Route{{From: r.portA, To: r.portB}, {From: r.portB, To: r.portA}}, o.opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// start runs the loop until the returned stop function is called (also at cleanup).
func (r *rig) start(t testing.TB) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := r.loop.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// checkBalanced closes every port and checks that every chunk is back in its UMEM.
func (r *rig) checkBalanced(t testing.TB) {
	t.Helper()
	for _, p := range []*porttest.Port{r.wireA, r.portA, r.portB, r.wireB} {
		_ = p.Close()
	}
	for i, u := range r.umems {
		if got, want := u.Available(), u.NumChunks(); got != want {
			t.Errorf("umem %d: %d of %d chunks free after stop: frames leaked", i, got, want)
		}
		if d := u.DoubleFrees() + u.BadFrees(); d != 0 {
			t.Errorf("umem %d: %d double or bad frees", i, d)
		}
	}
}

// frame returns a test frame of n bytes (n ≥ 18) tagged with seq.
func frame(n int, seq uint32) []byte {
	f := make([]byte, n)
	copy(f, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x88\xb5") // local MACs, experimental type
	binary.BigEndian.PutUint32(f[14:], seq)
	for i := 18; i < n; i++ {
		f[i] = byte(seq) + byte(i)
	}
	return f
}

// eventually polls cond until it holds or 5 s passed.
func eventually(cond func() bool) {
	deadline := time.Now().Add(5 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// collect gathers frames from p until want arrived or 5 s passed.
func collect(p *porttest.Port, want int) [][]byte {
	var got [][]byte
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		if err := p.Wait(10 * time.Millisecond); err != nil {
			break
		}
		got = p.Collect(got)
	}
	return got
}

func TestForwardBothDirections(t *testing.T) {
	r := newRig(t, rigOptions{queueLen: 4096})
	stop := r.start(t)
	const n = 2000
	for dir, c := range []struct {
		name     string
		in, out  *porttest.Port
		seqStart uint32
	}{
		{"A to B", r.wireA, r.wireB, 0},
		{"B to A", r.wireB, r.wireA, 1 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got [][]byte
			for i := range n {
				for !c.in.Send(frame(60+i%1700, c.seqStart+uint32(i))) {
					got = c.out.Collect(got) // queue full: let the far end drain
				}
			}
			got = append(got, collect(c.out, n-len(got))...)
			if len(got) != n {
				t.Fatalf("direction %d: got %d frames, want %d", dir, len(got), n)
			}
			for i, f := range got {
				if want := frame(60+i%1700, c.seqStart+uint32(i)); string(f) != string(want) {
					t.Fatalf("frame %d: content or order differs (len %d, want %d)", i, len(f), len(want))
				}
			}
		})
	}
	stop()
	st := r.loop.Stats()
	if st[0].Forwarded != n || st[1].Forwarded != n {
		t.Errorf("Forwarded: got %d and %d, want %d each", st[0].Forwarded, st[1].Forwarded, n)
	}
	if ps := r.portB.Stats(); ps.Copies != 0 {
		t.Errorf("ports on one UMEM copied %d frames, want 0", ps.Copies)
	}
	r.checkBalanced(t)
}

func TestForwardBadInput(t *testing.T) {
	tests := []struct {
		name  string
		rig   rigOptions
		run   func(t *testing.T, r *rig)
		check func(t *testing.T, r *rig)
	}{
		{
			name: "truncated frame",
			run: func(t *testing.T, r *rig) {
				r.wireA.Send(make([]byte, 10))
				r.wireA.Send(frame(60, 1))
				if got := collect(r.wireB, 1); len(got) != 1 {
					t.Fatalf("good frame after the runt: got %d frames", len(got))
				}
			},
			check: func(t *testing.T, r *rig) {
				if got := r.loop.Stats()[0].Drops[DropRunt]; got != 1 {
					t.Fatalf("runt drops: got %d, want 1", got)
				}
			},
		},
		{
			name: "frame longer than the destination's chunk",
			rig:  rigOptions{chunkA: 4096, chunkB: 2048},
			run: func(t *testing.T, r *rig) {
				r.wireA.Send(frame(3000, 1))
				r.wireA.Send(frame(1500, 2))
				got := collect(r.wireB, 1)
				if len(got) != 1 || len(got[0]) != 1500 {
					t.Fatalf("after the long frame: got %d frames", len(got))
				}
			},
			check: func(t *testing.T, r *rig) {
				ps := r.portB.Stats()
				if ps.Drops[port.DropTooLong] != 1 || ps.Copies != 1 {
					t.Fatalf("destination port: too-long drops %d (want 1), copies %d (want 1)", ps.Drops[port.DropTooLong], ps.Copies)
				}
			},
		},
		{
			name: "frame longer than a chunk arrives",
			run: func(t *testing.T, r *rig) {
				if r.portA.Inject(frame(1793, 1)) {
					t.Fatal("Inject of 1793 bytes into 2 KiB chunks succeeded")
				}
			},
			check: func(t *testing.T, r *rig) {
				if got := r.portA.Stats().Drops[port.DropTooLong]; got != 1 {
					t.Fatalf("too-long drops at the receiving port: got %d, want 1", got)
				}
			},
		},
		{
			name: "full TX ring",
			rig:  rigOptions{queueLen: 8},
			run: func(t *testing.T, r *rig) {
				// wireB does not read: portB's TX ring (wireB's queue) fills up.
				for i := range 64 {
					for !r.wireA.Send(frame(60, uint32(i))) {
						time.Sleep(time.Millisecond)
					}
				}
				eventually(func() bool { return r.portB.Stats().Drops[port.DropTXRingFull] >= 56 })
			},
			check: func(t *testing.T, r *rig) {
				ps := r.portB.Stats()
				if ps.Drops[port.DropTXRingFull] != 56 || ps.TXFrames != 8 {
					t.Fatalf("portB: ring-full drops %d (want 56), sent %d (want 8)", ps.Drops[port.DropTXRingFull], ps.TXFrames)
				}
			},
		},
		{
			name: "source netdev disappears",
			run: func(t *testing.T, r *rig) {
				r.wireA.Send(frame(60, 1))
				collect(r.wireB, 1)
				r.portA.SetDown()
				eventually(func() bool { return r.loop.Stats()[0].Drops[DropPortDown] > 0 })
				// The other route goes on, and drops towards the vanished port.
				r.wireB.Send(frame(60, 2))
				eventually(func() bool { return r.portA.Stats().Drops[port.DropDown] > 0 })
			},
			check: func(t *testing.T, r *rig) {
				if got := r.loop.Stats()[0].Drops[DropPortDown]; got != 1 {
					t.Fatalf("route A→B port-down count: got %d, want 1", got)
				}
				if got := r.portA.Stats().Drops[port.DropDown]; got != 1 {
					t.Fatalf("frames dropped towards the vanished port: got %d, want 1", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.rig)
			stop := r.start(t)
			tt.run(t, r)
			stop()
			tt.check(t, r)
			r.checkBalanced(t)
		})
	}
}

// TestForwardZeroAllocs forwards frames through one step of a route and checks that nothing is
// allocated per frame.
func TestForwardZeroAllocs(t *testing.T) {
	r := newRig(t, rigOptions{})
	w := r.loop.workers[0]
	data := frame(60, 7)
	var batch [64]port.Frame
	allocs := testing.AllocsPerRun(1000, func() {
		for range 32 {
			r.wireA.Send(data)
		}
		if n, err := w.step(); n != 32 || err != nil {
			panic(fmt.Sprintf("step moved %d frames: %v", n, err))
		}
		n, _ := r.wireB.Receive(batch[:])
		for i := range batch[:n] {
			batch[i].Free()
		}
	})
	if allocs != 0 {
		t.Fatalf("allocations per 32-frame batch: got %v, want 0", allocs)
	}
	r.checkBalanced(t)
}

// TestForwardIdleSleeps checks that an idle loop sleeps in Wait instead of spinning.
func TestForwardIdleSleeps(t *testing.T) {
	r := newRig(t, rigOptions{opts: Options{Batch: 64, BusyPolls: 16, IdleWait: 20 * time.Millisecond}})
	stop := r.start(t)
	eventually(func() bool { return r.loop.Stats()[0].Sleeps >= 3 })
	stop()
	st := r.loop.Stats()[0]
	if st.Sleeps < 3 {
		t.Fatalf("idle route slept %d times, want ≥ 3", st.Sleeps)
	}
	r.checkBalanced(t)
}

func TestNewRejectsBadOptions(t *testing.T) {
	p, q := porttest.NewPair(porttest.Options{QueueLen: 1})
	for _, o := range []Options{{Batch: 0, IdleWait: time.Second}, {Batch: 1}} {
		if _, err := New(slog.Default(), []Route{{From: p, To: q}}, o); err == nil {
			t.Errorf("New(%+v): got nil error", o)
		}
	}
	if _, err := New(slog.Default(), []Route{{From: p}}, DefaultOptions()); err == nil {
		t.Error("New with a nil port: got nil error")
	}
}
