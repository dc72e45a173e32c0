// Package bpf loads and drives Sluice's XDP steering program, the only code that runs before the
// datapath sees a frame.
//
// One program (steer.c, compiled by bpf2go) is attached to every interface the datapath serves:
// pod veths, the gateway and the uplink. For each received frame it either redirects the frame
// into an AF_XDP socket or passes it to the kernel's stack, following per-interface
// configuration kept in BPF maps:
//
//	ifaces[ifindex] -> {mode, slot base, queues, NodePort range}
//	                     │
//	 frame ─> kernel-owned destination / ARP target / ND target? ──yes──> XDP_PASS
//	                     │ no
//	          mode all ──┴── mode selective: owned prefix, tunnel UDP port or NodePort? ──no──> XDP_PASS
//	                     │ yes
//	                     v
//	          bpf_redirect_map(xsks, slot base + rx queue, XDP_PASS)
//	                     │                         │ empty slot
//	                     v                         v
//	            AF_XDP socket of that queue     XDP_PASS (kernel)
//
// Mode [ModeAll] is for pod and gateway ports: everything goes to the datapath except what is
// addressed to the kernel itself. Mode [ModeSelective] is for the uplink: only what the datapath
// owns (destination prefixes added with [Steering.AddOwnedPrefix], tunnel ports added with
// [Steering.AddTunnelPort], the interface's NodePort range) goes to the datapath, so the node's
// own traffic (SSH, kubelet, the API server) never depends on it. Addresses added with
// [Steering.AddKernelOwned] always go to the kernel, in both modes, and so do ARP requests and
// replies and IPv6 neighbour solicitations and advertisements whose target is such an address.
//
// The XSKMAP slot of a frame is its interface's SlotBase plus the RX queue it arrived on, so a
// single program and a single set of maps serve every interface and queue. The redirect uses
// XDP_PASS as its fallback action: a slot without a socket (the datapath is not running, or has
// not opened that queue yet) sends frames to the kernel instead of dropping them. With
// [Options.PinPath] the maps are pinned on bpffs and with [Attachment.Pin] the link is, so a
// restarted datapath finds its configuration and the program stays attached meanwhile.
//
// Every verdict is counted per CPU by reason (see [Counters]); nothing is logged per packet.
package bpf
