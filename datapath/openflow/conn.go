package openflow

import (
	"bufio"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// Reader cuts a byte stream into OpenFlow messages. It reads through a buffer, so one read
// from the socket may yield many messages and a message split over many reads is reassembled.
// A Reader is not safe for concurrent use.
type Reader struct {
	r   *bufio.Reader
	buf []byte
}

// NewReader returns a Reader over r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), buf: make([]byte, 0, 4096)}
}

// ReadRaw returns the next whole message (header included). The slice is valid until the next
// call. A stream that ends between messages returns io.EOF; one that ends inside a message
// returns io.ErrUnexpectedEOF.
func (r *Reader) ReadRaw() ([]byte, error) {
	var hdr [HeaderLen]byte
	if _, err := io.ReadFull(r.r, hdr[:]); err != nil {
		return nil, err
	}
	h, err := ParseHeader(hdr[:])
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	n := int(h.Length)
	if cap(r.buf) < n {
		r.buf = make([]byte, n, max(n, 2*cap(r.buf)))
	}
	r.buf = r.buf[:n]
	copy(r.buf, hdr[:])
	if _, err := io.ReadFull(r.r, r.buf[HeaderLen:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read %v body: %w", h.Type, err)
	}
	return r.buf, nil
}

// Read returns the next message decoded. A message that is framed correctly but does not
// decode returns its header and raw bytes with the error, so a switch can answer with an
// OpenFlow error for that xid and carry on.
func (r *Reader) Read() (Header, Message, []byte, error) {
	raw, err := r.ReadRaw()
	if err != nil {
		return Header{}, nil, nil, err
	}
	h, m, err := Unmarshal(raw)
	return h, m, raw, err
}

// Writer batches encoded messages and writes them to the underlying stream on Flush. It is safe
// for concurrent use: each Write appends one whole message.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer over w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write appends one message to the batch; it does not touch the stream.
func (w *Writer) Write(xid uint32, m Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, err := Append(w.buf, xid, m)
	w.buf = b
	return err
}

// WriteSplit appends m, split into several messages if it is a multipart reply too big for one
// (see AppendSplit).
func (w *Writer) WriteSplit(xid uint32, m Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	start := len(w.buf)
	b, err := AppendSplit(w.buf, xid, m)
	if err != nil {
		w.buf = w.buf[:start]
		return err
	}
	w.buf = b
	return nil
}

// WriteRaw appends an already encoded message.
func (w *Writer) WriteRaw(raw []byte) {
	w.mu.Lock()
	w.buf = append(w.buf, raw...)
	w.mu.Unlock()
}

// Buffered returns the number of bytes waiting for Flush.
func (w *Writer) Buffered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.buf)
}

// Flush writes the batch in one call.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	w.buf = w.buf[:0]
	if err != nil {
		return fmt.Errorf("write openflow messages: %w", err)
	}
	return nil
}

// Conn is an OpenFlow connection: a Reader, a Writer and a transaction-id counter. Reading is
// for one goroutine; Send and the xid counter are safe for concurrent use.
type Conn struct {
	*Reader
	*Writer
	xid atomic.Uint32
}

// NewConn wraps a stream (a net.Conn on unix:…/br0.mgmt or tcp:…:6653).
func NewConn(rw io.ReadWriter) *Conn {
	return &Conn{Reader: NewReader(rw), Writer: NewWriter(rw)}
}

// NextXID returns a fresh transaction id (never 0).
func (c *Conn) NextXID() uint32 {
	for {
		if x := c.xid.Add(1); x != 0 {
			return x
		}
	}
}

// Send encodes m with a fresh xid, writes it at once and returns the xid.
func (c *Conn) Send(m Message) (uint32, error) {
	xid := c.NextXID()
	return xid, c.SendXID(xid, m)
}

// SendXID writes m with the given xid (a reply uses its request's) and flushes.
func (c *Conn) SendXID(xid uint32, m Message) error {
	if err := c.Write(xid, m); err != nil {
		return err
	}
	return c.Flush()
}

// Handshake performs the opening exchange: both sides send HELLO offering OpenFlow 1.5 and the
// peer's HELLO must offer it too. On a mismatch it sends OFPET_HELLO_FAILED and fails.
func (c *Conn) Handshake() error {
	if _, err := c.Send(NewHello()); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	h, m, _, err := c.Read()
	if err != nil {
		return fmt.Errorf("read hello: %w", err)
	}
	hello, ok := m.(*Hello)
	if !ok {
		return fmt.Errorf("read hello: got %v", h.Type)
	}
	if !hello.Supports(h.Version, Version) {
		e := ErrHelloIncompatible
		e.Data = []byte("sluice supports only OpenFlow 1.5 (0x06)")
		_ = c.SendXID(h.XID, &e)
		return fmt.Errorf("version negotiation: peer offers header version 0x%02x bitmap %x: %w", h.Version, hello.Bitmaps, ErrBadVersion)
	}
	return nil
}
