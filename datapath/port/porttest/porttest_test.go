package porttest_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/afxdp"
	"github.com/sluicenet/sluice/datapath/port"
	"github.com/sluicenet/sluice/datapath/port/porttest"
)

func newUMEM(t testing.TB, chunks uint32) *afxdp.UMEM {
	t.Helper()
	o := afxdp.DefaultUMEMOptions()
	o.NumChunks = chunks
	u, err := afxdp.NewUMEM(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u
}

func TestPair(t *testing.T) {
	u := newUMEM(t, 64)
	a, b := porttest.NewPair(porttest.Options{NameA: "a", NameB: "b", MemoryA: u, MemoryB: u, QueueLen: 8})
	t.Run("inject and receive", func(t *testing.T) {
		if !a.Inject([]byte("hello")) {
			t.Fatal("Inject failed")
		}
		got := a.Collect(nil)
		if len(got) != 1 || string(got[0]) != "hello" {
			t.Fatalf("Collect: got %q", got)
		}
	})
	t.Run("transmit reaches the peer", func(t *testing.T) {
		for i := range 3 {
			a.Inject(fmt.Appendf(nil, "f%d", i))
		}
		var frames [4]port.Frame
		n, err := a.Receive(frames[:])
		if err != nil || n != 3 {
			t.Fatalf("Receive: got %d %v, want 3", n, err)
		}
		if sent := a.Transmit(frames[:n]); sent != 3 {
			t.Fatalf("Transmit: got %d, want 3", sent)
		}
		got := b.Collect(nil)
		if len(got) != 3 || string(got[2]) != "f2" {
			t.Fatalf("peer collected %q", got)
		}
	})
	t.Run("full queue drops and counts", func(t *testing.T) {
		frames := make([]port.Frame, 10)
		for i := range frames {
			frames[i], _ = port.AllocFrame(u)
			frames[i].SetLen(60)
		}
		if sent := a.Transmit(frames); sent != 8 {
			t.Fatalf("Transmit 10 into a queue of 8: got %d", sent)
		}
		if got := a.Stats().Drops[port.DropTXRingFull]; got != 2 {
			t.Fatalf("tx ring full drops: got %d, want 2", got)
		}
		if got := b.Discard(); got != 8 {
			t.Fatalf("Discard: got %d, want 8", got)
		}
	})
	t.Run("too long injection is counted", func(t *testing.T) {
		if a.Inject(make([]byte, 1793)) {
			t.Fatal("Inject of 1793 bytes into 2 KiB chunks succeeded")
		}
		if got := a.Stats().Drops[port.DropTooLong]; got != 1 {
			t.Fatalf("too long drops: got %d, want 1", got)
		}
	})
	t.Run("wait wakes on arrival and times out", func(t *testing.T) {
		start := time.Now()
		if err := b.Wait(10 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		go func() { time.Sleep(5 * time.Millisecond); b.Inject([]byte("x")) }()
		if err := b.Wait(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		if b.Queued() != 1 || time.Since(start) > 5*time.Second {
			t.Fatalf("Wait returned with %d queued after %v", b.Queued(), time.Since(start))
		}
		b.Discard()
	})
	t.Run("down port", func(t *testing.T) {
		b.Inject([]byte("lost"))
		b.SetDown()
		if _, err := b.Receive(make([]port.Frame, 1)); !errors.Is(err, port.ErrDown) {
			t.Fatalf("Receive on a down port: got %v, want ErrDown", err)
		}
		if err := b.Wait(time.Second); !errors.Is(err, port.ErrDown) {
			t.Fatalf("Wait on a down port: got %v, want ErrDown", err)
		}
		f, _ := port.AllocFrame(u)
		if a.Transmit([]port.Frame{f}) != 0 || a.Stats().Drops[port.DropDown] != 1 {
			t.Fatalf("Transmit towards a down port: drops %v", a.Stats().Drops)
		}
	})
	if got := u.Available(); got != 64 {
		t.Fatalf("chunks back in the UMEM: got %d, want 64 (leak)", got)
	}
}

func TestPairCopiesBetweenMemories(t *testing.T) {
	ua, ub := newUMEM(t, 8), newUMEM(t, 8)
	a, b := porttest.NewPair(porttest.Options{MemoryA: ua, MemoryB: ub, QueueLen: 8})
	a.Inject([]byte("cross"))
	var f [1]port.Frame
	if n, _ := a.Receive(f[:]); n != 1 {
		t.Fatal("nothing received")
	}
	a.Transmit(f[:])
	if got := a.Stats().Copies; got != 1 {
		t.Fatalf("Copies: got %d, want 1", got)
	}
	if got := b.Collect(nil); len(got) != 1 || string(got[0]) != "cross" {
		t.Fatalf("peer got %q", got)
	}
	if ua.Available() != 8 || ub.Available() != 8 {
		t.Fatalf("chunks back: %d/8 and %d/8", ua.Available(), ub.Available())
	}
}
