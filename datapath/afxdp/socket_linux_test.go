package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/bpf"
	"github.com/sluicenet/sluice/internal/testutil"
)

const testUDPPort = 7777

// vethSocket is one AF_XDP socket on the host end of a veth pair whose other end (peer) sits in
// its own namespace with 192.0.2.1/24 and a static neighbour 192.0.2.2 at the host end's MAC.
type vethSocket struct {
	peerNS, hostNS *testutil.NetNS
	peer, host     testutil.Veth
	umem           *UMEM
	sock           *Socket
	conn           *net.UDPConn // peer's UDP socket, connected to 192.0.2.2:testUDPPort
}

// newVethSocket builds the pair and a socket on the host end; with u nil the socket gets a new
// UMEM (and registers it), else it shares u.
func newVethSocket(t *testing.T, mtu int, u *UMEM) *vethSocket {
	t.Helper()
	v := &vethSocket{peerNS: testutil.NewNetNS(t, "axp"), hostNS: testutil.NewNetNS(t, "axh")}
	v.peer, v.host = testutil.VethPair(t, testutil.UniqueName("axp"), v.peerNS, testutil.UniqueName("axh"), v.hostNS)
	testutil.AddAddr(t, v.peerNS, v.peer.Name, "192.0.2.1/24")
	for _, c := range []struct {
		ns   *testutil.NetNS
		args []string
	}{
		{v.peerNS, []string{"ip", "link", "set", v.peer.Name, "mtu", fmt.Sprint(mtu)}},
		{v.hostNS, []string{"ip", "link", "set", v.host.Name, "mtu", fmt.Sprint(mtu)}},
		{v.peerNS, []string{"ip", "neigh", "replace", "192.0.2.2", "lladdr", v.host.MAC.String(), "dev", v.peer.Name, "nud", "permanent"}},
	} {
		if out, err := c.ns.Exec(c.args[0], c.args[1:]...); err != nil {
			t.Fatalf("%v: %v\n%s", c.args, err, out)
		}
	}
	var err error
	v.umem = u
	if u == nil {
		if v.umem, err = NewUMEM(DefaultUMEMOptions()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := v.umem.Close(); err != nil {
				t.Errorf("close umem: %v", err)
			}
		})
	}
	opts := DefaultSocketOptions()
	opts.Mode = ModeCopy
	// The real steering program, everything on the host end to slot 0.
	steer, err := bpf.Load(bpf.Options{MaxSockets: 1, MaxInterfaces: 1, MaxPrefixes: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = steer.Close() })
	if err := steer.SetInterface(v.host.Index, bpf.InterfaceConfig{Mode: bpf.ModeAll}); err != nil {
		t.Fatal(err)
	}
	err = v.hostNS.Do(func() error {
		a, err := steer.Attach(v.host.Index, bpf.AttachNative)
		if err != nil {
			return err
		}
		t.Cleanup(func() { _ = a.Detach() })
		if v.sock, err = NewSocket(v.umem, v.host.Index, 0, opts); err != nil {
			return err
		}
		return steer.SetSocket(0, v.sock.FD())
	})
	if err != nil {
		t.Fatalf("set up socket on %s: %v", v.host.Name, err)
	}
	t.Cleanup(func() { _ = v.sock.Close() }) // before the UMEM's cleanup: cleanups run last-in first-out
	err = v.peerNS.Do(func() error {
		v.conn, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(192, 0, 2, 2), Port: testUDPPort})
		return err
	})
	if err != nil {
		t.Fatalf("peer udp socket: %v", err)
	}
	t.Cleanup(func() { v.conn.Close() })
	return v
}

// receiveUDP receives until want UDP frames to testUDPPort arrived or the deadline passed, frees
// every other frame (IPv6 router solicitations and the like), and returns the UDP ones.
func (v *vethSocket) receiveUDP(t *testing.T, want int) []Desc {
	t.Helper()
	var got []Desc
	descs := make([]Desc, 64)
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		v.sock.Refill()
		n := v.sock.Receive(descs)
		if n == 0 {
			if _, err := v.sock.Wait(50 * time.Millisecond); err != nil {
				t.Fatalf("Wait: %v", err)
			}
			continue
		}
		for _, d := range descs[:n] {
			if _, ok := udpPayload(v.umem.mem[d.Addr : d.Addr+uint64(d.Len)]); ok {
				got = append(got, d)
			} else {
				v.umem.Free(d.Addr)
			}
		}
	}
	return got
}

// deleteVeth deletes the pair and waits until the socket reports ErrLinkDown.
func (v *vethSocket) deleteVeth(t *testing.T) {
	t.Helper()
	if out, err := v.peerNS.Exec("ip", "link", "del", v.peer.Name); err != nil {
		t.Fatalf("delete veth: %v\n%s", err, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		_, err = v.sock.Wait(50 * time.Millisecond)
	}
	if !errors.Is(err, ErrLinkDown) {
		t.Fatalf("Wait after the veth went: got %v, want ErrLinkDown", err)
	}
}

// udpPayload returns the payload of an IPv4 UDP frame to testUDPPort.
func udpPayload(f []byte) ([]byte, bool) {
	if len(f) < 42 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[23] != 17 {
		return nil, false
	}
	ihl := int(f[14]&0xf) * 4
	if len(f) < 14+ihl+8 || binary.BigEndian.Uint16(f[14+ihl+2:]) != testUDPPort {
		return nil, false
	}
	return f[14+ihl+8:], true
}

// reflect turns a frame into its reply by swapping MACs, IPv4 addresses and UDP ports. The IPv4
// checksum stays valid because swapping does not change a one's-complement sum; the UDP checksum
// is cleared (allowed over IPv4) because the peer's checksum offload left only a partial one.
func reflect(f []byte) {
	var mac [6]byte
	copy(mac[:], f[0:6])
	copy(f[0:6], f[6:12])
	copy(f[6:12], mac[:])
	var ip [4]byte
	copy(ip[:], f[26:30])
	copy(f[26:30], f[30:34])
	copy(f[30:34], ip[:])
	ihl := int(f[14]&0xf) * 4
	p := f[14+ihl:]
	sp, dp := binary.BigEndian.Uint16(p[0:]), binary.BigEndian.Uint16(p[2:])
	binary.BigEndian.PutUint16(p[0:], dp)
	binary.BigEndian.PutUint16(p[2:], sp)
	binary.BigEndian.PutUint16(p[6:], 0)
}

// TestPrivilegedSocketVeth sends datagrams from the peer, receives them through the socket,
// reflects them back out through the TX ring, and checks the peer gets every reply, that an
// oversized frame shows up in XDP_STATISTICS, and that every chunk returns to the UMEM.
func TestPrivilegedSocketVeth(t *testing.T) {
	testutil.RequirePrivileged(t)
	v := newVethSocket(t, 3000, nil)
	if v.sock.ZeroCopy() {
		t.Errorf("veth socket bound in zero-copy mode; veth has only copy mode")
	}
	const n = 200
	t.Run("receive from peer", func(t *testing.T) {
		for i := range n {
			if _, err := fmt.Fprintf(v.conn, "sluice-%04d", i); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
		got := v.receiveUDP(t, n)
		if len(got) != n {
			t.Fatalf("received %d datagrams, want %d", len(got), n)
		}
		for i, d := range got {
			p, _ := udpPayload(v.umem.mem[d.Addr : d.Addr+uint64(d.Len)])
			if want := fmt.Sprintf("sluice-%04d", i); string(p) != want {
				t.Fatalf("datagram %d: got %q, want %q", i, p, want)
			}
			if d.Addr-v.umem.ChunkBase(d.Addr) != PacketHeadroom {
				t.Fatalf("frame at offset %d in its chunk, want %d", d.Addr-v.umem.ChunkBase(d.Addr), PacketHeadroom)
			}
		}
		t.Run("transmit back", func(t *testing.T) {
			for _, d := range got {
				reflect(v.umem.mem[d.Addr : d.Addr+uint64(d.Len)])
			}
			if q := v.sock.Transmit(got); q != n {
				t.Fatalf("Transmit queued %d of %d", q, n)
			}
			if err := v.sock.Kick(); err != nil {
				t.Fatalf("Kick: %v", err)
			}
			_ = v.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 2048)
			for i := range n {
				m, err := v.conn.Read(buf)
				if err != nil {
					t.Fatalf("peer read reply %d: %v", i, err)
				}
				if want := fmt.Sprintf("sluice-%04d", i); string(buf[:m]) != want {
					t.Fatalf("reply %d: got %q, want %q", i, buf[:m], want)
				}
			}
			deadline := time.Now().Add(2 * time.Second)
			for v.sock.Complete(); v.sock.tx.Pending() > 0 && time.Now().Before(deadline); v.sock.Complete() {
				_ = v.sock.Kick()
			}
		})
	})
	t.Run("frame longer than a chunk is dropped by the kernel", func(t *testing.T) {
		before, err := v.sock.Statistics()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.conn.Write(make([]byte, 2500)); err != nil { // 2542-byte frame > 1792
			t.Fatal(err)
		}
		if _, err := fmt.Fprint(v.conn, "after"); err != nil {
			t.Fatal(err)
		}
		got := v.receiveUDP(t, 1)
		if len(got) != 1 {
			t.Fatalf("received %d frames after the oversized one, want 1", len(got))
		}
		v.umem.Free(got[0].Addr)
		after, err := v.sock.Statistics()
		if err != nil {
			t.Fatal(err)
		}
		if d := after.RXDropped - before.RXDropped; d != 1 {
			t.Fatalf("XDP_STATISTICS rx_dropped grew by %d, want 1 (stats %+v)", d, after)
		}
		if after.RXInvalidDescs != 0 || after.TXInvalidDescs != 0 {
			t.Fatalf("invalid descriptors counted: %+v", after)
		}
	})
	t.Run("netdev disappears", func(t *testing.T) {
		v.deleteVeth(t)
		if err := v.sock.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if got, want := v.umem.Available(), v.umem.NumChunks(); got != want {
			t.Fatalf("chunks back in the UMEM: got %d, want %d", got, want)
		}
		if d := v.umem.DoubleFrees() + v.umem.BadFrees(); d != 0 {
			t.Fatalf("double or bad frees: %d", d)
		}
	})
}

// TestPrivilegedSharedUMEM binds a second socket, on another netdev, to the first one's UMEM
// and forwards a frame from one to the other by passing its address: no copy in userspace.
func TestPrivilegedSharedUMEM(t *testing.T) {
	testutil.RequirePrivileged(t)
	v1 := newVethSocket(t, 1500, nil)
	v2 := newVethSocket(t, 1500, v1.umem)
	if v1.sock.Shared() || !v2.sock.Shared() {
		t.Fatalf("Shared: first %v (want false), second %v (want true)", v1.sock.Shared(), v2.sock.Shared())
	}
	if _, err := fmt.Fprint(v1.conn, "across"); err != nil {
		t.Fatal(err)
	}
	got := v1.receiveUDP(t, 1)
	if len(got) != 1 {
		t.Fatalf("received %d frames on the first socket, want 1", len(got))
	}
	// Address the frame to the second peer's UDP socket, as a reply from 192.0.2.2.
	f := v1.umem.mem[got[0].Addr : got[0].Addr+uint64(got[0].Len)]
	reflect(f)
	copy(f[0:6], v2.peer.MAC)
	copy(f[6:12], v2.host.MAC)
	binary.BigEndian.PutUint16(f[36:], uint16(v2.conn.LocalAddr().(*net.UDPAddr).Port))
	if n := v2.sock.Transmit(got); n != 1 {
		t.Fatalf("Transmit on the sharing socket: queued %d", n)
	}
	if err := v2.sock.Kick(); err != nil {
		t.Fatal(err)
	}
	_ = v2.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := v2.conn.Read(buf)
	if err != nil || string(buf[:n]) != "across" {
		t.Fatalf("second peer read %q, %v; want \"across\"", buf[:n], err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for v2.sock.Complete(); v2.sock.tx.Pending() > 0 && time.Now().Before(deadline); v2.sock.Complete() {
		_ = v2.sock.Kick()
	}
	if err := v2.sock.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v1.sock.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := v1.umem.Available(), v1.umem.NumChunks(); got != want {
		t.Fatalf("chunks back in the shared UMEM: got %d, want %d", got, want)
	}
}

// TestPrivilegedZeroCopyOnVeth asks for zero-copy where the driver has only copy mode and
// expects an error naming the missing feature.
func TestPrivilegedZeroCopyOnVeth(t *testing.T) {
	testutil.RequirePrivileged(t)
	ns := testutil.NewNetNS(t, "axz")
	a, _ := testutil.VethPair(t, testutil.UniqueName("axz"), ns, testutil.UniqueName("axz"), ns)
	u, err := NewUMEM(DefaultUMEMOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	opts := DefaultSocketOptions()
	opts.Mode = ModeZeroCopy
	err = ns.Do(func() error {
		s, err := NewSocket(u, a.Index, 0, opts)
		if err == nil {
			s.Close()
		}
		return err
	})
	var ue *UnsupportedError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "zero-copy") {
		t.Fatalf("NewSocket with ModeZeroCopy on veth: got %v, want an UnsupportedError about zero-copy", err)
	}
	if got := u.Available(); got != u.NumChunks() {
		t.Fatalf("chunks back after the failed bind: got %d, want %d", got, u.NumChunks())
	}
}

// TestPrivilegedNewSocketAfterOwnerVanished checks that a UMEM stays usable when the netdev of
// the socket that registered it disappears: the next socket registers the memory afresh
// instead of trying to share with an unbound socket.
func TestPrivilegedNewSocketAfterOwnerVanished(t *testing.T) {
	testutil.RequirePrivileged(t)
	v1 := newVethSocket(t, 1500, nil)
	v1.deleteVeth(t)
	v2 := newVethSocket(t, 1500, v1.umem) // v1's socket is still open, but unbound
	if v2.sock.Shared() {
		t.Fatal("new socket shared the UMEM with an unbound socket")
	}
	if _, err := fmt.Fprint(v2.conn, "still works"); err != nil {
		t.Fatal(err)
	}
	got := v2.receiveUDP(t, 1)
	if len(got) != 1 {
		t.Fatalf("received %d frames on the new socket, want 1", len(got))
	}
	v2.umem.Free(got[0].Addr)
}
