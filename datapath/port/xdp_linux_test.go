package port_test

import (
	"testing"

	"github.com/sluicenet/sluice/datapath/afxdp"
	"github.com/sluicenet/sluice/datapath/port"
	"github.com/sluicenet/sluice/internal/testutil"
)

// TestPrivilegedXDPTransmitRingFull transmits more frames in one call than the TX ring holds,
// through a real socket (transmission needs no XDP program), and checks the excess is dropped,
// counted, and every chunk returns to the UMEM, including frames copied in from another memory.
func TestPrivilegedXDPTransmitRingFull(t *testing.T) {
	testutil.RequirePrivileged(t)
	ns := testutil.NewNetNS(t, "pxt")
	a, _ := testutil.VethPair(t, testutil.UniqueName("pxa"), ns, testutil.UniqueName("pxb"), ns)
	u := newUMEM(t, 256, 2048)
	other := newUMEM(t, 64, 2048)
	opts := afxdp.DefaultSocketOptions()
	opts.FillSize, opts.CompletionSize, opts.TXSize, opts.RXSize = 32, 64, 16, 32
	var p *port.XDP
	err := ns.Do(func() error {
		s, err := afxdp.NewSocket(u, a.Index, 0, opts)
		if err != nil {
			return err
		}
		p = port.NewXDP(a.Name, s, 64)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	frames := make([]port.Frame, 64)
	for i := range frames {
		mem := port.Memory(u)
		if i%2 == 1 {
			mem = other // every other frame needs a copy
		}
		f, ok := port.AllocFrame(mem)
		if !ok {
			t.Fatal("AllocFrame failed")
		}
		f.SetLen(60)
		copy(f.Data(), a.MAC) // to the socket's own MAC; nobody needs to receive it
		frames[i] = f
	}
	sent := p.Transmit(frames)
	st := p.Stats()
	if sent != 16 || st.Drops[port.DropTXRingFull] != 48 || st.TXFrames != 16 || st.Copies != 32 {
		t.Fatalf("Transmit of 64 into a 16-entry ring: sent %d, ring-full drops %d, stats %+v; want 16, 48", sent, st.Drops[port.DropTXRingFull], st)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]*afxdp.UMEM{"socket's": u, "other": other} {
		if got, want := m.Available(), m.NumChunks(); got != want {
			t.Errorf("%s UMEM: %d of %d chunks free after Close", name, got, want)
		}
	}
}
