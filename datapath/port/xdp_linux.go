package port

import (
	"errors"
	"sync"
	"time"

	"github.com/sluicenet/sluice/datapath/afxdp"
)

var _ Memory = (*afxdp.UMEM)(nil)

// XDP is a Port on one AF_XDP socket (one netdev queue).
type XDP struct {
	name string
	sock *afxdp.Socket
	umem *afxdp.UMEM
	c    Counters

	rxDescs []afxdp.Desc // receive side only

	txMu    sync.Mutex
	txDescs []afxdp.Desc // guarded by txMu
	txAddrs []uint64     // guarded by txMu: chunks of frames the TX ring had no room for
	closed  bool         // guarded by txMu
}

var _ Port = (*XDP)(nil)

// NewXDP wraps a bound socket as a Port that moves up to batch frames per call. The port owns
// the socket from now on and closes it in Close.
func NewXDP(name string, s *afxdp.Socket, batch int) *XDP {
	return &XDP{
		name: name, sock: s, umem: s.UMEM(),
		rxDescs: make([]afxdp.Desc, batch),
		txDescs: make([]afxdp.Desc, batch),
		txAddrs: make([]uint64, 0, batch),
	}
}

// Name returns the port's name.
func (p *XDP) Name() string { return p.name }

// Socket returns the port's AF_XDP socket, e.g. to register it in an XSKMAP.
func (p *XDP) Socket() *afxdp.Socket { return p.sock }

// MaxFrameLen returns the longest frame a UMEM chunk holds.
func (p *XDP) MaxFrameLen() int { return p.umem.MaxFrameLen() }

// Stats returns the port's counters.
func (p *XDP) Stats() Stats { return p.c.Snapshot() }

// Receive refills the fill ring and returns up to len(frames) received frames. RX goroutine.
func (p *XDP) Receive(frames []Frame) (int, error) {
	if p.sock.Down() {
		return 0, ErrDown
	}
	p.sock.Refill()
	n := p.sock.Receive(p.rxDescs[:min(len(frames), len(p.rxDescs))])
	if n == 0 && p.sock.NeedsRXWakeup() {
		p.sock.WakeRX() // zero-copy drivers stop when the fill ring ran dry, until woken
	}
	bytes := 0
	for i, d := range p.rxDescs[:n] {
		frames[i] = NewFrame(p.umem, d.Addr, int(d.Len))
		bytes += int(d.Len)
	}
	if n > 0 {
		p.c.Received(n, bytes)
	}
	return n, nil
}

// Wait polls the socket until frames arrive or timeout passes; while idle it also returns the
// chunks of sent frames, which would otherwise wait for the next Transmit. RX goroutine.
func (p *XDP) Wait(timeout time.Duration) error {
	if p.txMu.TryLock() {
		if !p.closed {
			p.sock.Complete()
		}
		p.txMu.Unlock()
	}
	if _, err := p.sock.Wait(timeout); err != nil {
		if errors.Is(err, afxdp.ErrLinkDown) {
			return ErrDown
		}
		return err
	}
	return nil
}

// Transmit queues frames on the TX ring, copying those from another memory into the UMEM, and
// kicks the kernel. It takes ownership of all frames; safe for concurrent use.
func (p *XDP) Transmit(frames []Frame) int {
	p.txMu.Lock()
	defer p.txMu.Unlock()
	if p.closed || p.sock.Down() {
		for i := range frames {
			frames[i].Free()
		}
		p.c.Dropped(DropDown, len(frames))
		return 0
	}
	sent := 0
	for len(frames) > 0 {
		chunk := frames[:min(len(frames), len(p.txDescs))]
		frames = frames[len(chunk):]
		k, bytes := 0, 0
		for i := range chunk {
			f, ok := Adopt(chunk[i], p.umem, &p.c)
			chunk[i] = Frame{}
			if !ok {
				continue
			}
			p.txDescs[k] = afxdp.Desc{Addr: f.Addr(), Len: uint32(f.Len())}
			bytes += f.Len()
			k++
		}
		q := p.sock.Transmit(p.txDescs[:k])
		if q < k {
			// A full ring means overload: give the chunks back under one allocator lock.
			p.txAddrs = p.txAddrs[:0]
			for _, d := range p.txDescs[q:k] {
				p.txAddrs = append(p.txAddrs, d.Addr)
				bytes -= int(d.Len)
			}
			p.umem.FreeBatch(p.txAddrs)
			p.c.Dropped(DropTXRingFull, k-q)
		}
		p.c.Transmitted(q, bytes)
		sent += q
		// Other kick errors leave the frames queued: the next Transmit kicks again, and in copy
		// mode the poll(2) in Wait also drives transmission.
		if err := p.sock.Kick(); err != nil && errors.Is(err, afxdp.ErrLinkDown) {
			// What is queued stays in the ring until Close takes it back.
			for i := range frames {
				frames[i].Free()
			}
			p.c.Dropped(DropDown, len(frames))
			return sent
		}
	}
	return sent
}

// Close closes the socket; every frame in its rings returns to the UMEM. The RX goroutine must
// have stopped.
func (p *XDP) Close() error {
	p.txMu.Lock()
	defer p.txMu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	return p.sock.Close()
}
