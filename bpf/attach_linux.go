package bpf

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AttachMode selects how the program is attached to an interface.
type AttachMode int

const (
	// AttachAuto tries native (driver) XDP and falls back to generic XDP.
	AttachAuto AttachMode = iota
	// AttachNative attaches in the driver's receive path only, or fails.
	AttachNative
	// AttachGeneric attaches in the generic (skb) path, which every netdev has but which runs
	// after the kernel allocated an skb.
	AttachGeneric
)

// String returns "auto", "native" or "generic".
func (m AttachMode) String() string {
	switch m {
	case AttachAuto:
		return "auto"
	case AttachNative:
		return "native"
	case AttachGeneric:
		return "generic"
	}
	return fmt.Sprintf("AttachMode(%d)", int(m))
}

func (m AttachMode) flags() link.XDPAttachFlags {
	if m == AttachNative {
		return link.XDPDriverMode
	}
	return link.XDPGenericMode
}

// ErrInterfaceBusy is wrapped by Attach's error when the interface already has an XDP program:
// there is only one per interface, so an OVS afxdp port (libxdp) and Sluice cannot share a netdev.
var ErrInterfaceBusy = errors.New("interface already has an xdp program")

// Attachment is the steering program attached to one interface through a bpf_link.
type Attachment struct {
	// Ifindex is the interface the program is attached to.
	Ifindex int
	// Mode is AttachNative or AttachGeneric: what the kernel accepted.
	Mode AttachMode

	link   link.Link
	pinned string
}

// Attach attaches the program to interface ifindex (in the calling thread's network namespace).
// AttachAuto tries native XDP first and falls back to generic XDP, logging why; the returned
// Attachment reports the mode that got attached. Only one XDP program can be attached to an
// interface: attaching where another one is (OVS's, say) fails.
func (s *Steering) Attach(ifindex int, mode AttachMode) (*Attachment, error) {
	name := ifaceName(ifindex)
	switch mode {
	case AttachNative, AttachGeneric:
		l, err := attachXDP(s.objs.Steer, ifindex, mode)
		if err != nil {
			return nil, fmt.Errorf("attach xdp to %s: %w", name, err)
		}
		return &Attachment{Ifindex: ifindex, Mode: mode, link: l}, nil
	case AttachAuto:
		l, err := attachXDP(s.objs.Steer, ifindex, AttachNative)
		if err == nil {
			return &Attachment{Ifindex: ifindex, Mode: AttachNative, link: l}, nil
		}
		var pe *PermissionError
		if errors.As(err, &pe) || errors.Is(err, ErrInterfaceBusy) {
			return nil, fmt.Errorf("attach xdp to %s: %w", name, err)
		}
		s.opts.Logger.Info("native xdp unavailable, using generic xdp", "interface", name, "error", err)
		l, gerr := attachXDP(s.objs.Steer, ifindex, AttachGeneric)
		if gerr != nil {
			return nil, fmt.Errorf("attach xdp to %s: native: %v; generic: %w", name, err, gerr)
		}
		return &Attachment{Ifindex: ifindex, Mode: AttachGeneric, link: l}, nil
	}
	return nil, fmt.Errorf("attach xdp to %s: %w: attach mode %v", name, ErrInvalidConfig, mode)
}

func attachXDP(prog *ebpf.Program, ifindex int, mode AttachMode) (link.Link, error) {
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: mode.flags()})
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.EBUSY) {
		return nil, fmt.Errorf("%w: %w", ErrInterfaceBusy, err)
	}
	if err != nil {
		feature := "generic XDP bpf_link (Linux 5.9)"
		if mode == AttachNative {
			feature = "native XDP in the driver of " + ifaceName(ifindex)
		}
		return nil, classify(err, needAttach, feature)
	}
	return l, nil
}

// LoadPinnedAttachment opens the link pinned at path (by an earlier process's Attachment.Pin) and
// switches it atomically to this Steering's program, so a restarted datapath takes over an
// interface without ever detaching it. The attach mode is read back from the interface, which
// must be in the calling thread's network namespace.
func (s *Steering) LoadPinnedAttachment(path string) (*Attachment, error) {
	l, err := link.LoadPinnedLink(path, nil)
	if err != nil {
		return nil, fmt.Errorf("load pinned xdp link %s: %w", path, classify(err, needLoad, ""))
	}
	info, err := l.Info()
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("load pinned xdp link %s: %w", path, err)
	}
	xi := info.XDP()
	if xi == nil {
		l.Close()
		return nil, fmt.Errorf("load pinned xdp link %s: %w: link type %v is not xdp", path, ErrInvalidConfig, info.Type)
	}
	if err := l.Update(s.objs.Steer); err != nil {
		l.Close()
		return nil, fmt.Errorf("load pinned xdp link %s: replace program: %w", path, err)
	}
	mode, err := attachedMode(int(xi.Ifindex))
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("load pinned xdp link %s: %w", path, err)
	}
	return &Attachment{Ifindex: int(xi.Ifindex), Mode: mode, link: l, pinned: path}, nil
}

// Values of IFLA_XDP_ATTACHED (enum in linux/if_link.h).
const (
	xdpAttachedDrv = 1
	xdpAttachedSKB = 2
)

// attachedMode asks the kernel (rtnetlink IFLA_XDP) how the XDP program of ifindex is attached.
func attachedMode(ifindex int) (AttachMode, error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return 0, fmt.Errorf("look up ifindex %d: %w", ifindex, err)
	}
	x := l.Attrs().Xdp
	if x == nil || !x.Attached {
		return 0, fmt.Errorf("no xdp program on ifindex %d", ifindex)
	}
	switch x.AttachMode {
	case xdpAttachedDrv:
		return AttachNative, nil
	case xdpAttachedSKB:
		return AttachGeneric, nil
	}
	return 0, fmt.Errorf("xdp on ifindex %d attached in unexpected mode %d", ifindex, x.AttachMode)
}

// Pin pins the link at path on bpffs: the program then stays attached after Close and after the
// process exits, until Unpin (or Detach) and the last reference are gone.
func (a *Attachment) Pin(path string) error {
	if err := a.link.Pin(path); err != nil {
		return fmt.Errorf("pin xdp link of ifindex %d at %s: %w", a.Ifindex, path, classify(err, needLoad, ""))
	}
	a.pinned = path
	return nil
}

// Unpin removes the link's pin; a later Close then detaches the program.
func (a *Attachment) Unpin() error {
	if err := a.link.Unpin(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unpin xdp link of ifindex %d: %w", a.Ifindex, err)
	}
	a.pinned = ""
	return nil
}

// Close releases the link handle. An unpinned link detaches; a pinned one stays attached.
func (a *Attachment) Close() error {
	if err := a.link.Close(); err != nil {
		return fmt.Errorf("close xdp link of ifindex %d: %w", a.Ifindex, err)
	}
	return nil
}

// Detach removes the pin, if any, and detaches the program from the interface.
func (a *Attachment) Detach() error {
	if err := a.Unpin(); err != nil {
		return err
	}
	return a.Close()
}

// ifaceName names ifindex for messages: "eth0 (ifindex 2)", or "ifindex 2" if it cannot be
// resolved.
func ifaceName(ifindex int) string {
	if ifi, err := net.InterfaceByIndex(ifindex); err == nil {
		return fmt.Sprintf("%s (ifindex %d)", ifi.Name, ifindex)
	}
	return fmt.Sprintf("ifindex %d", ifindex)
}
