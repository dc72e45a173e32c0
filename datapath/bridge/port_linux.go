package bridge

import (
	"context"
	"errors"
	"runtime"

	"github.com/sluicenet/sluice/bpf"

	"github.com/sluicenet/sluice/datapath/ofswitch"
	"github.com/sluicenet/sluice/datapath/ovsdb"
	"github.com/sluicenet/sluice/datapath/pipeline"
	"github.com/sluicenet/sluice/datapath/port"
)

// netPort is one attached netdev: its AF_XDP port, steering slot, XDP link and RX goroutine.
// It is also the switch's ofswitch.Port for PACKET_OUT and port stats.
type netPort struct {
	d       *Datapath
	br      *bridge
	iface   ovsdb.Interface
	ofport  uint32
	dev     string // the netdev the socket is bound to: iface.Name, or an internal pair's far end
	ifindex int    // of dev
	host    int    // ifindex of an internal interface's host-visible device; 0 for netdevs
	slot    uint32
	xdp     *port.XDP
	att     *bpf.Attachment

	cancel context.CancelFunc
	done   chan struct{}
}

var _ ofswitch.Port = (*netPort)(nil)

// Stats returns the port's counters for OpenFlow port stats.
func (p *netPort) Stats() ofswitch.PortStats {
	s := counters(p.xdp.Stats())
	return ofswitch.PortStats{RxPackets: s.RxPackets, TxPackets: s.TxPackets, RxBytes: s.RxBytes,
		TxBytes: s.TxBytes, TxDropped: s.TxDropped}
}

var (
	errNoMemory = errors.New("no free umem chunk")
	errTooLong  = errors.New("frame longer than a umem chunk")
	errTXFull   = errors.New("tx ring full or port down")
)

// Transmit sends a copy of frame (PACKET_OUT).
func (p *netPort) Transmit(frame []byte) error {
	f, ok := port.AllocFrame(p.d.umem)
	if !ok {
		return errNoMemory
	}
	if !f.SetLen(len(frame)) {
		f.Free()
		return errTooLong
	}
	copy(f.Data(), frame)
	if p.xdp.Transmit([]port.Frame{f}) != 1 {
		return errTXFull
	}
	return nil
}

func (p *netPort) start(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	p.cancel, p.done = cancel, make(chan struct{})
	go p.run(ctx)
}

func (p *netPort) stopAndWait() {
	p.cancel()
	<-p.done
}

// txBatch collects the frames for one destination during one receive batch.
type txBatch struct {
	dst    *netPort
	frames []port.Frame
}

// rxLoop is the state of one port's RX goroutine.
type rxLoop struct {
	p      *netPort
	runner *pipeline.Runner
	res    pipeline.Result
	frames []port.Frame
	pend   []txBatch
	npend  int
}

// run receives until ctx ends or the netdev disappears, on a thread of its own.
func (p *netPort) run(ctx context.Context) {
	defer close(p.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	l := &rxLoop{p: p, runner: p.br.pipe.NewRunner(), frames: make([]port.Frame, p.d.opts.Batch)}
	done := ctx.Done()
	idle := 0
	for {
		select {
		case <-done:
			return
		default:
		}
		n, err := p.xdp.Receive(l.frames)
		if n > 0 {
			idle = 0
			l.handle(n)
		} else if err == nil {
			if idle++; idle >= p.d.opts.BusyPolls {
				err = p.xdp.Wait(p.d.opts.IdleWait)
			}
		}
		if errors.Is(err, port.ErrDown) {
			p.d.log.Warn("netdev gone, port stopped receiving", "interface", p.iface.Name)
			<-done
			return
		}
		if err != nil {
			p.d.log.Error("receive", "interface", p.iface.Name, "error", err)
			<-done
			return
		}
	}
}

// handle runs n received frames through the pipeline and transmits the outputs.
func (l *rxLoop) handle(n int) {
	ports, tunnels := *l.p.br.ports.Load(), *l.p.br.tunnels.Load()
	for i := range n {
		f := &l.frames[i]
		l.runner.Process(f.Data(), l.p.ofport, &l.res)
		if len(l.res.PacketIns) > 0 {
			l.p.br.sw.SendPacketIns(l.p.ofport, l.res.PacketIns)
		}
		for j := range l.res.Outputs {
			o := &l.res.Outputs[j]
			dst := ports[o.Port]
			if dst == nil {
				if t := tunnels[o.Port]; t != nil {
					t.drop()
				} else {
					l.p.d.drops[DropNoPort].Add(1)
				}
				continue
			}
			out, ok := l.copyOut(f, o.Frame)
			if ok {
				l.queue(dst, out)
			}
		}
		f.Free() // no-op when the chunk went out with the first output
	}
	clear(l.frames[:n])
	l.flush()
}

// copyOut puts data into a UMEM frame: the received chunk itself when it is still free to
// use and large enough, else a new chunk.
func (l *rxLoop) copyOut(f *port.Frame, data []byte) (port.Frame, bool) {
	if f.Len() > 0 && f.SetLen(len(data)) {
		copy(f.Data(), data)
		out := *f
		*f = port.Frame{}
		return out, true
	}
	out, ok := port.AllocFrame(l.p.d.umem)
	if !ok {
		l.p.d.drops[DropNoMemory].Add(1)
		return out, false
	}
	if !out.SetLen(len(data)) {
		out.Free()
		l.p.d.drops[DropTooLong].Add(1)
		return out, false
	}
	copy(out.Data(), data)
	return out, true
}

func (l *rxLoop) queue(dst *netPort, f port.Frame) {
	for i := range l.pend[:l.npend] {
		b := &l.pend[i]
		if b.dst == dst {
			if len(b.frames) == cap(b.frames) {
				l.send(b)
			}
			b.frames = append(b.frames, f)
			return
		}
	}
	if l.npend == len(l.pend) {
		l.pend = append(l.pend, txBatch{frames: make([]port.Frame, 0, l.p.d.opts.Batch)})
	}
	b := &l.pend[l.npend]
	l.npend++
	b.dst = dst
	b.frames = append(b.frames, f)
}

func (l *rxLoop) send(b *txBatch) {
	b.dst.xdp.Transmit(b.frames)
	clear(b.frames)
	b.frames = b.frames[:0]
}

func (l *rxLoop) flush() {
	for i := range l.pend[:l.npend] {
		l.send(&l.pend[i])
		l.pend[i].dst = nil
	}
	l.npend = 0
}
