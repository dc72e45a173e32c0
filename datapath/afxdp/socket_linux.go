package afxdp

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Mode selects how the kernel moves frames between the driver and the UMEM.
type Mode int

const (
	// ModeDefault lets the kernel use zero-copy where the driver supports it, else copy mode.
	ModeDefault Mode = iota
	// ModeCopy forces copy mode (XDP_COPY), which every driver with XDP supports.
	ModeCopy
	// ModeZeroCopy requires zero-copy (XDP_ZEROCOPY); binding fails on drivers without it.
	ModeZeroCopy
)

// String returns "default", "copy" or "zero-copy".
func (m Mode) String() string {
	switch m {
	case ModeCopy:
		return "copy"
	case ModeZeroCopy:
		return "zero-copy"
	default:
		return "default"
	}
}

// SocketOptions configures a Socket.
type SocketOptions struct {
	// FillSize, CompletionSize, RXSize and TXSize are the ring lengths (powers of two).
	FillSize, CompletionSize, RXSize, TXSize uint32
	// Mode selects copy or zero-copy. Only the socket that registers the UMEM binds with it;
	// sockets sharing the UMEM inherit the mode (the kernel refuses the flag on them).
	Mode Mode
	// NeedWakeup binds with XDP_USE_NEED_WAKEUP, so the kernel tells us when a syscall is needed
	// instead of us making one every time. Inherited by sharing sockets like Mode.
	NeedWakeup bool
	// Batch is how many chunks Refill and Complete move per allocator lock.
	Batch int
}

// DefaultSocketOptions returns 1024-entry rings (two sockets keep at most 2048 of a default
// UMEM's 4096 chunks in their fill rings, leaving the rest for frames in flight), the kernel's
// choice of copy or zero-copy, need_wakeup on, and batches of 64.
func DefaultSocketOptions() SocketOptions {
	return SocketOptions{
		FillSize: 1024, CompletionSize: 1024, RXSize: 1024, TXSize: 1024,
		Mode: ModeDefault, NeedWakeup: true, Batch: 64,
	}
}

func (o SocketOptions) validate() error {
	for _, s := range []struct {
		name string
		v    uint32
	}{{"FillSize", o.FillSize}, {"CompletionSize", o.CompletionSize}, {"RXSize", o.RXSize}, {"TXSize", o.TXSize}} {
		if bits.OnesCount32(s.v) != 1 {
			return fmt.Errorf("socket options: %s %d is not a power of two", s.name, s.v)
		}
	}
	if o.Batch <= 0 {
		return fmt.Errorf("socket options: Batch %d is not positive", o.Batch)
	}
	return nil
}

// Statistics are the kernel's per-socket counters (XDP_STATISTICS).
type Statistics struct {
	RXDropped        uint64 // frames dropped for lack of room, e.g. longer than a chunk
	RXInvalidDescs   uint64 // invalid descriptors on the fill ring
	TXInvalidDescs   uint64 // invalid descriptors on the TX ring
	RXRingFull       uint64 // frames dropped because the RX ring was full
	RXFillRingEmpty  uint64 // times the fill ring was empty when a frame arrived
	TXRingEmptyDescs uint64 // times the kernel found the TX ring empty
	RXOutOfRange     uint64 // RX descriptors outside the UMEM that we discarded (counted by us)
}

// Socket is one AF_XDP socket bound to one (netdev, queue), with its four rings. See the package
// comment for which goroutine may call what and who owns a frame after each call.
type Socket struct {
	fd         int
	umem       *UMEM
	ifindex    int
	queueID    int
	shared     bool // bound with XDP_SHARED_UMEM
	needWakeup bool
	zeroCopy   bool

	fill FillQueue
	rx   RXQueue
	tx   TXQueue
	comp CompletionQueue
	maps [4][]byte

	// Receive side only.
	inFill    chunkSet // chunks the kernel holds through the fill/RX rings
	fillBatch []uint64
	pollfd    [1]unix.PollFd
	rxInvalid atomic.Uint64

	// Transmit side only.
	inTX      chunkSet // chunks the kernel holds through the TX/completion rings
	compBatch []uint64

	down   atomic.Bool
	closed bool
}

// NewSocket creates an AF_XDP socket on (ifindex, queueID) using u: the first socket of u
// registers it, further ones share it with a socket of u that is still open and bound. It fills the fill ring before returning. An XDP program
// must redirect into the socket (an XSKMAP entry) for frames to arrive.
func NewSocket(u *UMEM, ifindex, queueID int, opts SocketOptions) (_ *Socket, err error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, socketError(err)
	}
	s := &Socket{fd: fd, umem: u, ifindex: ifindex, queueID: queueID}
	defer func() {
		if err != nil {
			s.release()
		}
	}()

	// Registration and the choice of the socket to share with must not interleave with another
	// NewSocket or a Close on the same UMEM.
	u.lifeMu.Lock()
	defer u.lifeMu.Unlock()
	if u.closed {
		return nil, errors.New("create AF_XDP socket: umem closed")
	}
	// Share with a socket that is still bound: the kernel refuses an unbound one (EBADF), and a
	// socket whose netdev vanished is unbound. With none left, register the memory afresh.
	var owner *Socket
	for _, o := range u.users {
		if !o.down.Load() {
			owner = o
			break
		}
	}
	if owner == nil {
		if err := s.registerLocked(); err != nil {
			return nil, err
		}
	}
	if err := s.setupRings(opts); err != nil {
		return nil, err
	}
	sa := &unix.SockaddrXDP{Ifindex: uint32(ifindex), QueueID: uint32(queueID)}
	if owner != nil {
		// Exactly XDP_SHARED_UMEM: copy mode and need_wakeup come from the owner's binding.
		sa.Flags = unix.XDP_SHARED_UMEM
		sa.SharedUmemFD = uint32(owner.fd)
		s.shared = true
		s.needWakeup = owner.needWakeup
	} else {
		switch opts.Mode {
		case ModeCopy:
			sa.Flags |= unix.XDP_COPY
		case ModeZeroCopy:
			sa.Flags |= unix.XDP_ZEROCOPY
		}
		if opts.NeedWakeup {
			sa.Flags |= unix.XDP_USE_NEED_WAKEUP
		}
		s.needWakeup = opts.NeedWakeup
	}
	if err := unix.Bind(fd, sa); err != nil {
		switch {
		case opts.Mode == ModeZeroCopy && owner == nil && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)):
			return nil, &UnsupportedError{Feature: fmt.Sprintf("zero-copy AF_XDP on ifindex %d", ifindex), Err: err}
		case errors.Is(err, unix.EBUSY):
			return nil, fmt.Errorf("bind AF_XDP socket to ifindex %d queue %d (another socket, e.g. an OVS afxdp port, holds it): %w", ifindex, queueID, err)
		}
		return nil, fmt.Errorf("bind AF_XDP socket to ifindex %d queue %d: %w", ifindex, queueID, err)
	}
	var xo uint32
	if err := getsockopt(fd, unix.XDP_OPTIONS, unsafe.Pointer(&xo), unsafe.Sizeof(xo)); err == nil {
		s.zeroCopy = xo&unix.XDP_OPTIONS_ZEROCOPY != 0
	}

	s.inFill = newChunkSet(u.opts.NumChunks)
	s.inTX = newChunkSet(u.opts.NumChunks)
	s.fillBatch = make([]uint64, opts.Batch)
	s.compBatch = make([]uint64, opts.Batch)
	s.pollfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	u.users = append(u.users, s)
	for s.Refill() > 0 {
	}
	return s, nil
}

// socketError classifies a failed socket(AF_XDP) call.
func socketError(err error) error {
	switch {
	case errors.Is(err, unix.EAFNOSUPPORT):
		return &UnsupportedError{Feature: "AF_XDP sockets (CONFIG_XDP_SOCKETS, Linux 4.18)", Err: err}
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return &PermissionError{Op: "create AF_XDP socket", Need: "CAP_NET_RAW", Err: err}
	}
	return fmt.Errorf("create AF_XDP socket: %w", err)
}

// registerError classifies a failed XDP_UMEM_REG.
func registerError(err error, size int) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.ENOBUFS), errors.Is(err, unix.ENOMEM):
		return &PermissionError{Op: "register umem", Err: err,
			Need: fmt.Sprintf("CAP_IPC_LOCK or a memlock limit (ulimit -l) of at least %d KiB", size/1024)}
	}
	return fmt.Errorf("register umem: %w", err)
}

func (s *Socket) registerLocked() error {
	o := s.umem.opts
	reg := unix.XDPUmemReg{
		Addr:     uint64(uintptr(unsafe.Pointer(&s.umem.mem[0]))),
		Len:      uint64(len(s.umem.mem)),
		Size:     o.ChunkSize,
		Headroom: o.Headroom - PacketHeadroom,
	}
	if err := setsockopt(s.fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		return registerError(err, len(s.umem.mem))
	}
	return nil
}

func (s *Socket) setupRings(o SocketOptions) error {
	for _, r := range []struct {
		opt  int
		size uint32
	}{
		{unix.XDP_UMEM_FILL_RING, o.FillSize}, {unix.XDP_UMEM_COMPLETION_RING, o.CompletionSize},
		{unix.XDP_RX_RING, o.RXSize}, {unix.XDP_TX_RING, o.TXSize},
	} {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, r.opt, int(r.size)); err != nil {
			return fmt.Errorf("size AF_XDP ring %d to %d: %w", r.opt, r.size, err)
		}
	}
	var off unix.XDPMmapOffsets
	if err := getsockopt(s.fd, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off)); err != nil {
		return fmt.Errorf("read AF_XDP ring offsets: %w", err)
	}
	descSize := uint64(unsafe.Sizeof(Desc{}))
	specs := []struct {
		pgoff int64
		off   unix.XDPRingOffset
		size  uint32
		entry uint64
	}{
		{unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, o.FillSize, 8},
		{unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, o.CompletionSize, 8},
		{unix.XDP_PGOFF_RX_RING, off.Rx, o.RXSize, descSize},
		{unix.XDP_PGOFF_TX_RING, off.Tx, o.TXSize, descSize},
	}
	var mems [4]ringMem
	for i, sp := range specs {
		m, err := unix.Mmap(s.fd, sp.pgoff, int(sp.off.Desc+uint64(sp.size)*sp.entry),
			unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return fmt.Errorf("map AF_XDP ring at page offset %#x: %w", sp.pgoff, err)
		}
		s.maps[i] = m
		mems[i] = ringMem{mem: m, producer: sp.off.Producer, consumer: sp.off.Consumer, desc: sp.off.Desc, flags: sp.off.Flags}
	}
	return s.layRings(mems, o)
}

// layRings sets up the four rings over their memory: fill, completion, RX, TX.
func (s *Socket) layRings(m [4]ringMem, o SocketOptions) error {
	var err error
	if s.fill.ring, err = newRing[uint64](m[0], o.FillSize); err != nil {
		return err
	}
	if s.comp.ring, err = newRing[uint64](m[1], o.CompletionSize); err != nil {
		return err
	}
	if s.rx.ring, err = newRing[Desc](m[2], o.RXSize); err != nil {
		return err
	}
	s.tx.ring, err = newRing[Desc](m[3], o.TXSize)
	return err
}

// FD returns the socket's file descriptor, the value to store in an XSKMAP.
func (s *Socket) FD() int { return s.fd }

// UMEM returns the UMEM the socket uses.
func (s *Socket) UMEM() *UMEM { return s.umem }

// Ifindex returns the netdev the socket is bound to.
func (s *Socket) Ifindex() int { return s.ifindex }

// QueueID returns the netdev queue the socket is bound to.
func (s *Socket) QueueID() int { return s.queueID }

// ZeroCopy reports whether the kernel bound the socket in zero-copy mode.
func (s *Socket) ZeroCopy() bool { return s.zeroCopy }

// Shared reports whether the socket shares a UMEM another socket registered.
func (s *Socket) Shared() bool { return s.shared }

// Down reports whether the socket saw its netdev disappear.
func (s *Socket) Down() bool { return s.down.Load() }

// Refill moves up to one batch of free chunks from the UMEM into the fill ring and returns how
// many; it does nothing while the fill ring has less than a batch of room, so calling it on
// every receive costs one subtraction. Receive side.
func (s *Socket) Refill() int {
	want := min(uint32(len(s.fillBatch)), s.fill.size)
	free := s.fill.prodFree(want)
	if free < want {
		return 0
	}
	n := s.umem.AllocBatch(s.fillBatch[:min(free, uint32(len(s.fillBatch)))])
	for _, a := range s.fillBatch[:n] {
		s.inFill.add(a >> s.umem.shift)
	}
	s.fill.Produce(s.fillBatch[:n])
	return n
}

// Receive copies up to len(descs) received frames into descs and returns how many. The caller
// owns them: each must go to Transmit (of a socket on the same UMEM) or UMEM.Free. Descriptors
// that do not lie inside one chunk of the UMEM are dropped and counted. Receive side.
func (s *Socket) Receive(descs []Desc) int {
	n := s.rx.Consume(descs)
	k := 0
	for i := range n {
		d := descs[i]
		base := d.Addr & s.umem.chunkMask
		if base >= uint64(len(s.umem.mem)) {
			s.rxInvalid.Add(1)
			continue
		}
		s.inFill.remove(base >> s.umem.shift)
		if d.Addr+uint64(d.Len) > base+uint64(s.umem.opts.ChunkSize) {
			s.rxInvalid.Add(1)
			s.umem.Free(base)
			continue
		}
		descs[k] = d
		k++
	}
	return k
}

// NeedsRXWakeup reports whether the kernel waits for a syscall before it fills more frames
// (need_wakeup on the fill ring, which zero-copy drivers set when the fill ring ran dry); WakeRX
// or Wait makes that syscall.
func (s *Socket) NeedsRXWakeup() bool { return s.needWakeup && s.fill.NeedWakeup() }

// WakeRX makes the syscall need_wakeup asks for on the receive side: a non-blocking recvfrom(2)
// that lets the driver resume filling. Receive side.
func (s *Socket) WakeRX() {
	_, _, _ = unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
}

// Wait blocks in poll(2) until a frame can be received or timeout passes and reports whether
// one can. It returns ErrLinkDown once the netdev is gone. Receive side.
func (s *Socket) Wait(timeout time.Duration) (bool, error) {
	if s.down.Load() {
		return false, ErrLinkDown
	}
	s.pollfd[0].Revents = 0
	n, err := unix.Poll(s.pollfd[:], int(timeout/time.Millisecond))
	if err != nil && !errors.Is(err, unix.EINTR) {
		return false, fmt.Errorf("poll AF_XDP socket: %w", err)
	}
	if n > 0 && s.pollfd[0].Revents&unix.POLLIN != 0 {
		return true, nil
	}
	// Nothing to read: the netdev may have gone (the kernel sets ENETDOWN and unbinds).
	if soerr, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil &&
		(soerr == int(unix.ENETDOWN) || soerr == int(unix.ENXIO)) {
		s.down.Store(true)
		return false, ErrLinkDown
	}
	return false, nil
}

// Transmit queues descs on the TX ring and returns how many it queued, counting from the front;
// the kernel owns those frames, the caller keeps descs[n:]. A descriptor outside the UMEM stops
// the batch there. Nothing leaves in copy mode until Kick. Transmit side.
func (s *Socket) Transmit(descs []Desc) int {
	valid := len(descs)
	for i, d := range descs {
		base := d.Addr & s.umem.chunkMask
		if base >= uint64(len(s.umem.mem)) || d.Addr+uint64(d.Len) > base+uint64(s.umem.opts.ChunkSize) {
			valid = i
			break
		}
	}
	n := s.tx.Produce(descs[:valid])
	for _, d := range descs[:n] {
		s.inTX.add(d.Addr >> s.umem.shift)
	}
	return n
}

// Complete moves the chunks of sent frames from the completion ring back to the UMEM and
// returns how many. Transmit side.
func (s *Socket) Complete() int {
	total := 0
	for {
		n := s.comp.Consume(s.compBatch)
		if n == 0 {
			return total
		}
		for _, a := range s.compBatch[:n] {
			s.inTX.remove(a >> s.umem.shift)
		}
		s.umem.FreeBatch(s.compBatch[:n])
		total += n
	}
}

// Kick makes the kernel send what the TX ring holds: sendto(2) in a loop, because copy mode
// sends only a budget of frames per call, draining completions in between. EAGAIN, EBUSY and
// ENOBUFS mean "call again"; it stops when the ring is empty, the kernel says it needs no wakeup,
// or after a bounded number of rounds. Transmit side.
func (s *Socket) Kick() error {
	rounds := int(s.tx.size/16) + 4
	for range rounds {
		s.Complete()
		if s.tx.Pending() == 0 {
			return nil
		}
		if s.needWakeup && !s.tx.NeedWakeup() {
			return nil
		}
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0, unix.EAGAIN, unix.EBUSY, unix.ENOBUFS, unix.EINTR:
		case unix.ENETDOWN, unix.ENXIO:
			s.down.Store(true)
			return ErrLinkDown
		default:
			return fmt.Errorf("kick AF_XDP transmit: %w", e)
		}
	}
	s.Complete()
	return nil
}

// Statistics reads the kernel's counters for the socket.
func (s *Socket) Statistics() (Statistics, error) {
	var st struct{ rxDropped, rxInvalid, txInvalid, rxFull, fillEmpty, txEmpty uint64 }
	if err := getsockopt(s.fd, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st)); err != nil {
		return Statistics{}, fmt.Errorf("read AF_XDP statistics: %w", err)
	}
	return Statistics{
		RXDropped: st.rxDropped, RXInvalidDescs: st.rxInvalid, TXInvalidDescs: st.txInvalid,
		RXRingFull: st.rxFull, RXFillRingEmpty: st.fillEmpty, TXRingEmptyDescs: st.txEmpty,
		RXOutOfRange: s.rxInvalid.Load(),
	}, nil
}

// Close closes the socket, which unbinds it and stops the kernel using its rings, then returns
// every chunk still in its rings to the UMEM. Neither side may be in use during Close.
//
// In copy mode the kernel copies a frame out of its chunk while it sends it, so a chunk may be
// reused as soon as the socket is closed. In zero-copy mode the driver releases the UMEM
// asynchronously; reuse the chunks only for sockets of the same process after that.
func (s *Socket) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.release()
	s.umem.lifeMu.Lock()
	for i, o := range s.umem.users {
		if o == s {
			s.umem.users = append(s.umem.users[:i], s.umem.users[i+1:]...)
			break
		}
	}
	s.umem.lifeMu.Unlock()
	var back []uint64
	back = s.inFill.drain(back, s.umem.shift)
	back = s.inTX.drain(back, s.umem.shift)
	s.umem.FreeBatch(back)
	return err
}

func (s *Socket) release() error {
	if s.fd < 0 { // a socket over in-memory rings (tests)
		return nil
	}
	err := unix.Close(s.fd)
	for i, m := range s.maps {
		if m != nil {
			_ = unix.Munmap(m)
			s.maps[i] = nil
		}
	}
	if err != nil {
		return fmt.Errorf("close AF_XDP socket: %w", err)
	}
	return nil
}

func getsockopt(fd, opt int, p unsafe.Pointer, size uintptr) error {
	l := uint32(size)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt),
		uintptr(p), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return e
	}
	return nil
}

func setsockopt(fd, opt int, p unsafe.Pointer, size uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt),
		uintptr(p), size, 0)
	if e != 0 {
		return e
	}
	return nil
}
