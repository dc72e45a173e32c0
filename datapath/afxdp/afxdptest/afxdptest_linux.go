// Package afxdptest gives privileged tests of AF_XDP sockets a minimal XDP program to feed them:
// an XSKMAP and a program that redirects every frame to the socket registered for its receive
// queue, or passes it to the kernel when there is none (bpf_redirect_map with XDP_PASS as the
// fallback). It exists only for tests; the datapath's real steering program is package bpf.
package afxdptest

import (
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// Redirect is a loaded redirect program attached to one netdev.
type Redirect struct {
	// XSKs is the XSKMAP, keyed by receive queue index, valued by socket file descriptor.
	XSKs *ebpf.Map
	prog *ebpf.Program
	link link.Link
}

// xdpMDRxQueueIndex is offsetof(struct xdp_md, rx_queue_index).
const xdpMDRxQueueIndex = 16

// AttachRedirect loads the redirect program and attaches it to ifindex in native (driver) mode,
// removing both with t.Cleanup. Call it on a thread inside the netdev's network namespace (it
// returns an error rather than failing t, so it may run on a namespace helper's goroutine).
func AttachRedirect(t testing.TB, ifindex int) (*Redirect, error) {
	xsks, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: 64})
	if err != nil {
		return nil, fmt.Errorf("create xskmap: %w", err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, xdpMDRxQueueIndex, asm.Word), // key = ctx->rx_queue_index
			asm.LoadMapPtr(asm.R1, xsks.FD()),
			asm.Mov.Imm(asm.R3, 2), // XDP_PASS when the slot is empty
			asm.FnRedirectMap.Call(),
			asm.Return(),
		},
	})
	if err != nil {
		xsks.Close()
		return nil, fmt.Errorf("load redirect program: %w", err)
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPDriverMode})
	if err != nil {
		prog.Close()
		xsks.Close()
		return nil, fmt.Errorf("attach redirect program to ifindex %d: %w", ifindex, err)
	}
	r := &Redirect{XSKs: xsks, prog: prog, link: l}
	t.Cleanup(func() {
		_ = r.link.Close()
		_ = r.prog.Close()
		_ = r.XSKs.Close()
	})
	return r, nil
}

// SetSocket registers a socket file descriptor for a receive queue.
func (r *Redirect) SetSocket(queue, fd int) error {
	if err := r.XSKs.Put(uint32(queue), uint32(fd)); err != nil {
		return fmt.Errorf("put socket %d at queue %d: %w", fd, queue, err)
	}
	return nil
}

// ClearSocket empties a receive queue's slot, so its frames go to the kernel again.
func (r *Redirect) ClearSocket(queue int) error {
	if err := r.XSKs.Delete(uint32(queue)); err != nil {
		return fmt.Errorf("delete socket at queue %d: %w", queue, err)
	}
	return nil
}
