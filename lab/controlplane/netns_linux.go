package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// netnsDir is where named network namespaces are bind-mounted (by iproute2 and netns.NewNamed).
const netnsDir = "/var/run/netns"

// createNamespace adds a named network namespace with loopback up; it fails if the name exists.
func createNamespace(name string) error {
	if _, err := os.Stat(filepath.Join(netnsDir, name)); err == nil {
		return fmt.Errorf("create netns %s: already exists", name)
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("create netns %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return inNamespace(name, func(h *netlink.Handle) error {
		lo, err := h.LinkByName("lo")
		if err != nil {
			return err
		}
		return h.LinkSetUp(lo)
	})
}

// deleteNamespace removes a named network namespace and reports whether there was one; a missing
// one is not an error. Links inside go with it once no process holds the namespace.
func deleteNamespace(name string) (bool, error) {
	if _, err := os.Stat(filepath.Join(netnsDir, name)); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
		return true, fmt.Errorf("delete netns %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return true, nil
}

// inNamespace runs fn with a netlink handle bound to the named namespace; the caller's thread
// never changes namespace.
func inNamespace(name string, fn func(h *netlink.Handle) error) error {
	ns, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", name, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in netns %s: %w", name, err)
	}
	defer h.Close()
	return fn(h)
}

// createBridge adds the fabric bridge (no address, STP off so ports forward at once) inside the
// fabric namespace and brings it up.
func createBridge(fabricNS, bridge string) error {
	return inNamespace(fabricNS, func(h *netlink.Handle) error {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridge}}
		if err := h.LinkAdd(br); err != nil {
			return fmt.Errorf("add bridge %s in %s: %w", bridge, fabricNS, err)
		}
		if err := h.LinkSetUp(br); err != nil {
			return fmt.Errorf("set bridge %s up: %w", bridge, err)
		}
		return nil
	})
}

// AttachToFabric connects namespace ns to the fabric: it creates a veth pair inside fabricNS
// whose end port becomes a port of bridge and whose other end moves into ns as ifname with addr,
// and brings everything up. Both ends live in lab namespaces, so deleting either namespace
// removes the pair.
func AttachToFabric(fabricNS, bridge, port, ns, ifname string, addr netip.Prefix) error {
	target, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer target.Close()
	err = inNamespace(fabricNS, func(h *netlink.Handle) error {
		br, err := h.LinkByName(bridge)
		if err != nil {
			return fmt.Errorf("find bridge %s: %w", bridge, err)
		}
		v := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: port, MTU: 1500},
			PeerName:      ifname,
			PeerNamespace: netlink.NsFd(target),
		}
		if err := h.LinkAdd(v); err != nil {
			return fmt.Errorf("add veth %s/%s: %w", port, ifname, err)
		}
		l, err := h.LinkByName(port)
		if err != nil {
			return fmt.Errorf("find %s: %w", port, err)
		}
		if err := h.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("enslave %s to %s: %w", port, bridge, err)
		}
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", port, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("attach %s to fabric: %w", ns, err)
	}
	err = inNamespace(ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(ifname)
		if err != nil {
			return fmt.Errorf("find %s: %w", ifname, err)
		}
		ipn := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), addr.Addr().BitLen())}
		if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipn}); err != nil {
			return fmt.Errorf("add %s to %s: %w", addr, ifname, err)
		}
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", ifname, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("attach %s to fabric: %w", ns, err)
	}
	return nil
}

// DialInNamespace opens a connection to addr from inside the named network namespace. The socket
// is created on a thread that entered the namespace (see onThreadIn) and keeps that namespace.
func DialInNamespace(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := onThreadIn(ns, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// onThreadIn runs fn on a fresh goroutine locked to an OS thread that entered namespace ns. The
// thread is never unlocked, so the runtime discards it when fn returns and no other goroutine
// ever runs in ns by accident.
func onThreadIn(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromName(ns)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", ns, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Forward accepts connections on ln (in the caller's namespace, typically loopback) and splices
// each to target dialled from inside namespace ns, until ctx ends; it then closes ln.
func Forward(ctx context.Context, ln net.Listener, ns, target string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			up, err := DialInNamespace(ctx, ns, "tcp", target)
			if err != nil {
				log.Warn("forward dial failed", "netns", ns, "target", target, "err", err)
				return
			}
			defer up.Close()
			done := context.AfterFunc(ctx, func() { c.Close(); up.Close() })
			defer done()
			splice(c, up)
		}()
	}
}

// splice copies both ways until either side ends, then half-closes the other.
func splice(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		} else {
			dst.Close()
		}
	}
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
}
