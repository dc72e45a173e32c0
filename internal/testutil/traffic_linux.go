package testutil

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// Ping sends three pings from the namespace to addr and fails t unless they are answered.
func Ping(t testing.TB, from *NetNS, addr string) {
	t.Helper()
	if out, err := from.Exec("ping", "-c", "3", "-i", "0.2", "-W", "2", addr); err != nil {
		t.Fatalf("ping %s from %s: %v\n%s", addr, from.Name, err, out)
	}
}

// TransferTCP sends size random bytes over a new TCP connection from the client namespace to a
// listener at addr ("ip:port") in the server namespace and fails t unless the receiver got
// exactly those bytes (compared by sha256). The data is streamed in 64 KiB blocks, so a large
// transfer needs no buffer of its size; each side gives up after three minutes.
func TransferTCP(t testing.TB, client, server *NetNS, addr string, size int) {
	t.Helper()
	var ln net.Listener
	if err := server.Do(func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		n   int64
		sum []byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(transferTimeout))
		h := sha256.New()
		n, err := io.Copy(h, c)
		got <- result{n, h.Sum(nil), err}
	}()
	var c net.Conn
	if err := client.Do(func() (err error) { c, err = net.DialTimeout("tcp4", addr, 5*time.Second); return err }); err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(transferTimeout))
	block := make([]byte, 64<<10)
	_, _ = rand.Read(block)
	h := sha256.New()
	for off := 0; off < size; off += len(block) {
		binary.BigEndian.PutUint64(block, uint64(off)) // no two blocks alike
		w := block[:min(len(block), size-off)]
		h.Write(w)
		if _, err := c.Write(w); err != nil {
			t.Fatalf("send to %s at byte %d: %v", addr, off, err)
		}
	}
	_ = c.(*net.TCPConn).CloseWrite()
	r := <-got
	if r.err != nil {
		t.Fatalf("receive on %s: %v", addr, r.err)
	}
	if want := h.Sum(nil); r.n != int64(size) || !bytes.Equal(r.sum, want) {
		t.Errorf("received %d bytes with sha256 %x, sent %d with %x", r.n, r.sum, size, want)
	}
}

// transferTimeout bounds each side of TransferTCP.
const transferTimeout = 3 * time.Minute
