package openflow

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"testing/iotest"
)

func messagesStream(t *testing.T) ([]byte, [][]byte) {
	t.Helper()
	var stream []byte
	var msgs [][]byte
	for i, m := range []Message{NewHello(), &EchoRequest{Data: []byte("x")}, &FeaturesRequest{}, &BarrierRequest{}} {
		b := mustMarshal(t, uint32(i+1), m)
		msgs = append(msgs, b)
		stream = append(stream, b...)
	}
	return stream, msgs
}

// TestReaderFraming checks that messages come out whole however the stream is cut.
func TestReaderFraming(t *testing.T) {
	stream, want := messagesStream(t)
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"one read for all", bytes.NewReader(stream)},
		{"one byte per read", iotest.OneByteReader(bytes.NewReader(stream))},
		{"half reads", iotest.HalfReader(bytes.NewReader(stream))},
		{"data with EOF", iotest.DataErrReader(bytes.NewReader(stream))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(tc.r)
			for i, w := range want {
				got, err := r.ReadRaw()
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if !bytes.Equal(got, w) {
					t.Errorf("message %d = %x, want %x", i, got, w)
				}
			}
			if _, err := r.ReadRaw(); !errors.Is(err, io.EOF) {
				t.Errorf("after the last message: err = %v, want io.EOF", err)
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	stream, _ := messagesStream(t)
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"cut inside a body", stream[:len(stream)-3], io.ErrUnexpectedEOF},
		{"cut inside a header", stream[:4], io.ErrUnexpectedEOF},
		{"length below header", []byte{6, 0, 0, 7, 0, 0, 0, 1}, ErrBadLength},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tc.in))
			var err error
			for err == nil {
				_, err = r.ReadRaw()
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// countingWriter counts Write calls.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

func TestWriterBatches(t *testing.T) {
	var cw countingWriter
	w := NewWriter(&cw)
	for i := range 100 {
		fm := NewFlowMod(FlowAdd)
		fm.Priority = uint16(i)
		if err := w.Write(uint32(i), fm); err != nil {
			t.Fatal(err)
		}
	}
	if cw.writes != 0 {
		t.Fatalf("Write touched the stream %d times before Flush", cw.writes)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if cw.writes != 1 {
		t.Errorf("Flush made %d writes, want 1", cw.writes)
	}
	r := NewReader(&cw.Buffer)
	for i := range 100 {
		h, m, _, err := r.Read()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if h.XID != uint32(i) || m.(*FlowMod).Priority != uint16(i) {
			t.Errorf("message %d: xid %d priority %d", i, h.XID, m.(*FlowMod).Priority)
		}
	}
}

func TestWriterRefusesOversizedMessage(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Write(1, &EchoRequest{Data: make([]byte, MaxMessageLen)}); !errors.Is(err, ErrTooLong) {
		t.Errorf("err = %v, want ErrTooLong", err)
	}
	if w.Buffered() != 0 {
		t.Errorf("a refused message left %d bytes in the batch", w.Buffered())
	}
}

func TestConnXIDs(t *testing.T) {
	c := NewConn(&bytes.Buffer{})
	seen := map[uint32]bool{}
	for range 1000 {
		x := c.NextXID()
		if x == 0 || seen[x] {
			t.Fatalf("xid %d repeated or zero", x)
		}
		seen[x] = true
	}
}

func TestHandshake(t *testing.T) {
	for _, tc := range []struct {
		name    string
		peer    Message
		version uint8
		ok      bool
	}{
		{"bitmap with 1.5", &Hello{Bitmaps: []uint32{1<<4 | 1<<6}}, 6, true},
		{"no bitmap, header 1.5", &Hello{}, 6, true},
		{"bitmap without 1.5", &Hello{Bitmaps: []uint32{1 << 4}}, 4, false},
		{"no bitmap, header 1.3", &Hello{}, 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			done := make(chan error, 1)
			go func() { done <- NewConn(a).Handshake() }()
			peer := NewConn(b)
			raw := mustMarshal(t, 1, tc.peer)
			raw[0] = tc.version
			if _, _, _, err := peer.Read(); err != nil { // our hello
				t.Fatal(err)
			}
			go b.Write(raw)
			if !tc.ok {
				h, m, _, err := peer.Read()
				if err != nil || h.Type != TypeError || !errors.Is(m.(*Error), ErrHelloIncompatible) {
					t.Errorf("peer got %v %#v (%v), want OFPHFC_INCOMPATIBLE", h.Type, m, err)
				}
			}
			if err := <-done; (err == nil) != tc.ok {
				t.Errorf("Handshake error = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
