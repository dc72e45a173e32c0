package testutil

import (
	"crypto/rand"
	"crypto/sha256"
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
// exactly those bytes (compared by sha256). Each side gives up after 30 s.
func TransferTCP(t testing.TB, client, server *NetNS, addr string, size int) {
	t.Helper()
	var ln net.Listener
	if err := server.Do(func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		n   int64
		sum [32]byte
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
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		h := sha256.New()
		var r result
		r.n, r.err = io.Copy(h, c)
		copy(r.sum[:], h.Sum(nil))
		got <- r
	}()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	want := sha256.Sum256(data)
	err := client.Do(func() error {
		c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		_, err = c.Write(data)
		return err
	})
	if err != nil {
		t.Fatalf("send to %s: %v", addr, err)
	}
	r := <-got
	if r.err != nil {
		t.Fatalf("receive on %s: %v", addr, r.err)
	}
	if r.n != int64(size) || r.sum != want {
		t.Errorf("received %d bytes (sha256 match %v), want %d bytes with the sent sha256", r.n, r.sum == want, size)
	}
}
