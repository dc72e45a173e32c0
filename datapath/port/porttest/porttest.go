// Package porttest provides an in-memory Port for tests: NewPair returns two ports joined like
// the ends of a veth pair, so what one transmits the other receives. Tests feed frames in with
// Send on the far end (a pod writing to its veth) or Inject on the near end (a frame arriving
// from the wire), and collect them with Collect.
//
// Each port's frames live in a port.Memory (usually an afxdp.UMEM, which needs no privilege
// until a socket registers it), so the fake exercises the real frame allocator, zero-copy hand
// over between ports on one memory and copies between memories. A port's receive queue has a
// fixed capacity that stands in for the TX ring of the sender: when it is full, Transmit drops
// with port.DropTXRingFull. SetDown models the netdev disappearing.
package porttest

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicenet/sluice/datapath/port"
)

// Options configures a pair.
type Options struct {
	// NameA and NameB name the two ends.
	NameA, NameB string
	// MemoryA and MemoryB hold each end's frames; they may be the same memory.
	MemoryA, MemoryB port.Memory
	// QueueLen is each end's receive queue capacity (the sender's TX ring).
	QueueLen int
}

// Port is one end of an in-memory pair.
type Port struct {
	name string
	mem  port.Memory
	peer *Port
	c    port.Counters

	mu   sync.Mutex
	q    []port.Frame // guarded by mu: ring buffer of received frames
	head int          // guarded by mu
	n    int          // guarded by mu

	down     atomic.Bool
	doorbell chan struct{} // rung when frames are queued or the port goes down
	timer    *time.Timer   // RX goroutine only: Wait's timeout
}

var _ port.Port = (*Port)(nil)

// NewPair returns two connected ports.
func NewPair(o Options) (*Port, *Port) {
	a := newPort(o.NameA, o.MemoryA, o.QueueLen)
	b := newPort(o.NameB, o.MemoryB, o.QueueLen)
	a.peer, b.peer = b, a
	return a, b
}

func newPort(name string, mem port.Memory, qlen int) *Port {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Port{name: name, mem: mem, q: make([]port.Frame, qlen), doorbell: make(chan struct{}, 1), timer: t}
}

// Name returns the port's name.
func (p *Port) Name() string { return p.name }

// Memory returns the memory the port's frames live in.
func (p *Port) Memory() port.Memory { return p.mem }

// MaxFrameLen returns the longest frame the port's memory holds.
func (p *Port) MaxFrameLen() int { return p.mem.MaxFrameLen() }

// Stats returns the port's counters.
func (p *Port) Stats() port.Stats { return p.c.Snapshot() }

// Receive moves queued frames into frames; the caller owns them.
func (p *Port) Receive(frames []port.Frame) (int, error) {
	if p.down.Load() {
		return 0, port.ErrDown
	}
	p.mu.Lock()
	k := min(len(frames), p.n)
	bytes := 0
	for i := range k {
		j := (p.head + i) % len(p.q)
		frames[i] = p.q[j]
		p.q[j] = port.Frame{}
		bytes += frames[i].Len()
	}
	p.head = (p.head + k) % len(p.q)
	p.n -= k
	p.mu.Unlock()
	if k > 0 {
		p.c.Received(k, bytes)
	}
	return k, nil
}

// Wait blocks until frames are queued or timeout passes.
func (p *Port) Wait(timeout time.Duration) error {
	if p.down.Load() {
		return port.ErrDown
	}
	p.mu.Lock()
	queued := p.n
	p.mu.Unlock()
	if queued > 0 {
		return nil
	}
	p.timer.Reset(timeout)
	select {
	case <-p.doorbell:
	case <-p.timer.C:
	}
	p.timer.Stop()
	if p.down.Load() {
		return port.ErrDown
	}
	return nil
}

// Transmit hands frames to the peer's receive queue (copying those from another memory into
// the peer's) and takes ownership of all of them.
func (p *Port) Transmit(frames []port.Frame) int {
	to := p.peer
	if p.down.Load() || to.down.Load() {
		for i := range frames {
			frames[i].Free()
		}
		p.c.Dropped(port.DropDown, len(frames))
		return 0
	}
	sent, bytes := 0, 0
	for i := range frames {
		f, ok := port.Adopt(frames[i], to.mem, &p.c)
		frames[i] = port.Frame{}
		if !ok {
			continue
		}
		if !to.enqueue(f) {
			f.Free()
			if to.down.Load() {
				p.c.Dropped(port.DropDown, 1)
			} else {
				p.c.Dropped(port.DropTXRingFull, 1)
			}
			continue
		}
		sent++
		bytes += f.Len()
	}
	if sent > 0 {
		p.c.Transmitted(sent, bytes)
	}
	return sent
}

// enqueue adds f to p's receive queue and rings the doorbell; it fails when the queue is full or
// the port down.
func (p *Port) enqueue(f port.Frame) bool {
	p.mu.Lock()
	if p.n == len(p.q) || p.down.Load() {
		p.mu.Unlock()
		return false
	}
	p.q[(p.head+p.n)%len(p.q)] = f
	p.n++
	p.mu.Unlock()
	select {
	case p.doorbell <- struct{}{}:
	default:
	}
	return true
}

// Inject puts a copy of data into p's receive queue as if it had arrived from the wire. Like
// the kernel, it drops (and counts as port.DropTooLong) a frame longer than a chunk, and it
// drops when the queue is full or the memory exhausted; it reports whether the frame was queued.
func (p *Port) Inject(data []byte) bool {
	f, ok := p.frameOf(data)
	if !ok {
		return false
	}
	if !p.enqueue(f) {
		f.Free()
		p.c.Dropped(port.DropTXRingFull, 1)
		return false
	}
	return true
}

// Send copies data into a frame of p's memory and transmits it to the peer, as the sender on
// this end of the pair would (a pod writing to its veth); it reports whether the peer queued it.
func (p *Port) Send(data []byte) bool {
	f, ok := p.frameOf(data)
	if !ok {
		return false
	}
	var one [1]port.Frame
	one[0] = f
	return p.Transmit(one[:]) == 1
}

// frameOf copies data into a new frame of p's memory, counting why when it cannot.
func (p *Port) frameOf(data []byte) (port.Frame, bool) {
	if len(data) > p.mem.MaxFrameLen() {
		p.c.Dropped(port.DropTooLong, 1)
		return port.Frame{}, false
	}
	f, ok := port.AllocFrame(p.mem)
	if !ok {
		p.c.Dropped(port.DropNoMemory, 1)
		return port.Frame{}, false
	}
	f.SetLen(len(data))
	copy(f.Data(), data)
	return f, true
}

// Collect receives everything queued on p, appends a copy of each frame's data to dst, frees
// the frames, and returns dst.
func (p *Port) Collect(dst [][]byte) [][]byte {
	p.drain(func(f *port.Frame) { dst = append(dst, append([]byte(nil), f.Data()...)) })
	return dst
}

// Discard receives and frees everything queued on p without copying, and returns how many
// frames it freed.
func (p *Port) Discard() int { return p.drain(nil) }

// drain receives everything queued on p, shows each frame to fn (if any), frees it, and returns
// how many frames there were.
func (p *Port) drain(fn func(*port.Frame)) int {
	var batch [16]port.Frame
	total := 0
	for {
		n, _ := p.Receive(batch[:])
		if n == 0 {
			return total
		}
		for i := range batch[:n] {
			if fn != nil {
				fn(&batch[i])
			}
			batch[i].Free()
		}
		total += n
	}
}

// Queued returns how many frames wait in p's receive queue.
func (p *Port) Queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// SetDown makes the port vanish like a deleted netdev: queued frames are freed, Receive and
// Wait return port.ErrDown, and frames transmitted to or from it are dropped.
func (p *Port) SetDown() {
	p.mu.Lock()
	p.down.Store(true) // under mu, so no enqueue slips in after the drain
	for ; p.n > 0; p.n-- {
		p.q[p.head].Free()
		p.head = (p.head + 1) % len(p.q)
	}
	p.mu.Unlock()
	select {
	case p.doorbell <- struct{}{}:
	default:
	}
}

// Close frees every queued frame and marks the port down.
func (p *Port) Close() error {
	p.SetDown()
	return nil
}
