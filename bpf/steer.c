//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// steer.c — Sluice's XDP steering program.
//
// One program, loaded once, serves every interface and every RX queue the datapath owns. For each
// frame it decides between two outcomes:
//
//   XDP_REDIRECT into the XSKMAP slot  ifaces[ingress_ifindex].slot_base + rx_queue_index
//   XDP_PASS to the kernel's stack
//
// and counts the reason in a per-CPU counter. The decision, in order:
//
//   1. no entry in `ifaces` for the ingress interface          -> PASS (no_config)
//   2. frame too short for a header it announces               -> PASS (malformed)
//   3. destination IP, ARP target IP or ND target address in
//      `kernel_owned`                                          -> PASS (kernel_owned)
//   4. mode ALL (pod and gateway ports)                        -> REDIRECT
//   5. mode SELECTIVE (uplink): destination IP / ARP target /
//      ND target in `owned`, UDP destination port in
//      `tunnel_ports`, TCP/UDP/SCTP destination port inside the
//      interface's NodePort range                              -> REDIRECT
//      anything else                                           -> PASS (not_owned)
//
// A REDIRECT becomes a PASS when the queue index is outside the interface's reserved slots
// (queue_range) or the slot holds no socket (no_socket): bpf_redirect_map is called with XDP_PASS
// as its fallback action, so a datapath that died, or has not opened its socket yet, degrades to
// kernel forwarding instead of a black hole.
//
// Addresses are stored in the LPM tries as 16-byte IPv6 addresses; IPv4 uses the IPv4-mapped form
// ::ffff:a.b.c.d with 96 added to the prefix length, so one trie holds both families.
//
// The program is not frags-aware (plain SEC("xdp")): it only ever sees linear frames.
//
// Keep the enums and structs in sync with the Go side (bpf/config.go, bpf/counters.go).

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/icmpv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// Interface modes (iface_config.mode).
enum steer_mode {
	STEER_MODE_ALL = 1,       // pod and gateway ports: everything to the socket
	STEER_MODE_SELECTIVE = 2, // uplink: only what the datapath owns
};

// Counter indexes: one per verdict reason.
enum steer_counter {
	CNT_REDIRECTED = 0,
	CNT_PASS_KERNEL_OWNED = 1,
	CNT_PASS_NOT_OWNED = 2,
	CNT_PASS_NO_CONFIG = 3,
	CNT_PASS_NO_SOCKET = 4,
	CNT_PASS_QUEUE_RANGE = 5,
	CNT_PASS_MALFORMED = 6,
	CNT_MAX = 7,
};

// iface_config is the value of `ifaces`, keyed by ifindex.
struct iface_config {
	__u32 mode;      // enum steer_mode
	__u32 slot_base; // XSKMAP slot of RX queue 0
	__u32 queues;    // slots reserved: queues slot_base .. slot_base+queues-1
	__u16 nodeport_min; // NodePort range (host byte order), selective mode only;
	__u16 nodeport_max; // nodeport_max == 0 disables it
};

// prefix_key is the key of the `owned` and `kernel_owned` LPM tries.
struct prefix_key {
	__u32 prefixlen; // 0..128; IPv4 is IPv4-mapped: 96 + its prefix length
	__u8 addr[16];   // network byte order
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1024);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct iface_config);
	__uint(max_entries, 1024);
} ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct prefix_key);
	__type(value, __u8);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} owned SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct prefix_key);
	__type(value, __u8);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} kernel_owned SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u16); // UDP destination port, host byte order
	__type(value, __u8);
	__uint(max_entries, 64);
} tunnel_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, CNT_MAX);
} counters SEC(".maps");

// Wire layouts that the UAPI headers do not give in a directly usable form.
struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct arp_eth_ipv4 {
	__be16 hrd;
	__be16 pro;
	__u8 hln;
	__u8 pln;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

struct l4_ports {
	__be16 source;
	__be16 dest;
};

struct nd_msg {
	__u8 type;
	__u8 code;
	__be16 checksum;
	__be32 reserved;
	__u8 target[16];
};

#define ETH_P_8021Q_BE bpf_htons(0x8100)
#define ETH_P_8021AD_BE bpf_htons(0x88A8)
#define ARPHRD_ETHER 1
#define ND_NEIGHBOR_SOLICIT 135
#define ND_NEIGHBOR_ADVERT 136
#define IPV4_FRAG_OFFSET_MASK 0x1fff
#define IPV6_FRAG_OFFSET_MASK 0xfff8
#define MAX_VLAN_TAGS 2
#define MAX_IPV6_EXT_HDRS 4

// Internal result of classification: "redirect" or one of the pass reasons.
#define WANT_REDIRECT CNT_REDIRECTED

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}

static __always_inline void key_from_v4(struct prefix_key *k, const void *addr4)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->prefixlen = 128;
	k->addr[10] = 0xff;
	k->addr[11] = 0xff;
	__builtin_memcpy(&k->addr[12], addr4, 4);
}

static __always_inline void key_from_v6(struct prefix_key *k, const void *addr6)
{
	k->prefixlen = 128;
	__builtin_memcpy(k->addr, addr6, 16);
}

// owner_verdict applies the address rules to one address (destination IP, ARP target or ND
// target): kernel-owned always passes; mode ALL redirects; mode SELECTIVE redirects owned
// addresses. It returns -1 when the address alone does not decide (selective, not owned), so the
// caller can still try the port rules.
static __always_inline int owner_verdict(const struct iface_config *cfg, struct prefix_key *k)
{
	if (bpf_map_lookup_elem(&kernel_owned, k))
		return CNT_PASS_KERNEL_OWNED;
	if (cfg->mode == STEER_MODE_ALL)
		return WANT_REDIRECT;
	if (bpf_map_lookup_elem(&owned, k))
		return WANT_REDIRECT;
	return -1;
}

// port_verdict applies the selective port rules to the L4 header at l4.
static __always_inline int port_verdict(const struct iface_config *cfg, __u8 proto, void *l4,
					void *data_end)
{
	__u32 hdr_len;

	switch (proto) {
	case IPPROTO_UDP:
		hdr_len = 8;
		break;
	case IPPROTO_TCP:
		hdr_len = 20;
		break;
	case IPPROTO_SCTP:
		hdr_len = 12;
		break;
	default:
		return CNT_PASS_NOT_OWNED;
	}
	if (l4 + hdr_len > data_end)
		return CNT_PASS_MALFORMED;

	struct l4_ports *p = l4;
	__u16 dport = bpf_ntohs(p->dest);
	if (proto == IPPROTO_UDP && bpf_map_lookup_elem(&tunnel_ports, &dport))
		return WANT_REDIRECT;
	if (cfg->nodeport_max != 0 && dport >= cfg->nodeport_min && dport <= cfg->nodeport_max)
		return WANT_REDIRECT;
	return CNT_PASS_NOT_OWNED;
}

static __always_inline int classify_arp(const struct iface_config *cfg, void *l3, void *data_end)
{
	struct arp_eth_ipv4 *arp = l3;
	struct prefix_key k;

	// The fixed ARP header first: hardware/protocol types we cannot read the target of are
	// decided by the mode alone.
	if (l3 + 8 > data_end)
		return CNT_PASS_MALFORMED;
	if (arp->hrd != bpf_htons(ARPHRD_ETHER) || arp->pro != bpf_htons(ETH_P_IP) ||
	    arp->hln != 6 || arp->pln != 4)
		return cfg->mode == STEER_MODE_ALL ? WANT_REDIRECT : CNT_PASS_NOT_OWNED;
	if ((void *)(arp + 1) > data_end)
		return CNT_PASS_MALFORMED;

	key_from_v4(&k, arp->tpa);
	int v = owner_verdict(cfg, &k);
	return v < 0 ? CNT_PASS_NOT_OWNED : v;
}

static __always_inline int classify_ipv4(const struct iface_config *cfg, void *l3, void *data_end)
{
	struct iphdr *ip = l3;
	struct prefix_key k;

	if ((void *)(ip + 1) > data_end)
		return CNT_PASS_MALFORMED;
	if (ip->version != 4 || ip->ihl < 5)
		return CNT_PASS_MALFORMED;

	key_from_v4(&k, &ip->daddr);
	int v = owner_verdict(cfg, &k);
	if (v >= 0)
		return v;

	// Later fragments carry no ports: they cannot match a port rule.
	if (ip->frag_off & bpf_htons(IPV4_FRAG_OFFSET_MASK))
		return CNT_PASS_NOT_OWNED;
	return port_verdict(cfg, ip->protocol, l3 + ip->ihl * 4, data_end);
}

static __always_inline int classify_ipv6(const struct iface_config *cfg, void *l3, void *data_end)
{
	struct ipv6hdr *ip6 = l3;
	struct prefix_key k;

	if ((void *)(ip6 + 1) > data_end)
		return CNT_PASS_MALFORMED;
	if (ip6->version != 6)
		return CNT_PASS_MALFORMED;

	key_from_v6(&k, &ip6->daddr);
	int v = owner_verdict(cfg, &k);
	if (v == CNT_PASS_KERNEL_OWNED)
		return v;
	// Mode ALL and owned destinations still need the ND check below: a neighbour solicitation
	// goes to a multicast address, only its target says whom it is for.

	__u8 nexthdr = ip6->nexthdr;
	void *l4 = ip6 + 1;
	int later_fragment = 0;

#pragma unroll
	for (int i = 0; i < MAX_IPV6_EXT_HDRS; i++) {
		if (nexthdr != IPPROTO_HOPOPTS && nexthdr != IPPROTO_ROUTING &&
		    nexthdr != IPPROTO_DSTOPTS && nexthdr != IPPROTO_FRAGMENT &&
		    nexthdr != IPPROTO_AH)
			break;
		__u8 *ext = l4;
		if (l4 + 8 > data_end)
			return CNT_PASS_MALFORMED;
		__u32 len;
		if (nexthdr == IPPROTO_FRAGMENT) {
			len = 8;
			if (*(__be16 *)(ext + 2) & bpf_htons(IPV6_FRAG_OFFSET_MASK))
				later_fragment = 1;
		} else if (nexthdr == IPPROTO_AH) {
			len = ((__u32)ext[1] + 2) * 4;
		} else {
			len = ((__u32)ext[1] + 1) * 8;
		}
		nexthdr = ext[0];
		l4 += len;
		if (later_fragment)
			break;
	}

	if (nexthdr == IPPROTO_ICMPV6 && !later_fragment) {
		struct nd_msg *nd = l4;
		if (l4 + 4 > data_end)
			return CNT_PASS_MALFORMED;
		if (nd->type == ND_NEIGHBOR_SOLICIT || nd->type == ND_NEIGHBOR_ADVERT) {
			if ((void *)(nd + 1) > data_end)
				return CNT_PASS_MALFORMED;
			key_from_v6(&k, nd->target);
			int t = owner_verdict(cfg, &k);
			return t < 0 ? CNT_PASS_NOT_OWNED : t;
		}
	}

	if (v >= 0)
		return v;
	if (later_fragment)
		return CNT_PASS_NOT_OWNED;
	return port_verdict(cfg, nexthdr, l4, data_end);
}

SEC("xdp")
int steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 ifindex = ctx->ingress_ifindex;
	int verdict;

	struct iface_config *cfg = bpf_map_lookup_elem(&ifaces, &ifindex);
	if (!cfg) {
		count(CNT_PASS_NO_CONFIG);
		return XDP_PASS;
	}

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end) {
		count(CNT_PASS_MALFORMED);
		return XDP_PASS;
	}
	__be16 proto = eth->h_proto;
	void *l3 = eth + 1;

#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (proto != ETH_P_8021Q_BE && proto != ETH_P_8021AD_BE)
			break;
		struct vlan_hdr *vh = l3;
		if ((void *)(vh + 1) > data_end) {
			count(CNT_PASS_MALFORMED);
			return XDP_PASS;
		}
		proto = vh->proto;
		l3 = vh + 1;
	}

	if (proto == bpf_htons(ETH_P_IP))
		verdict = classify_ipv4(cfg, l3, data_end);
	else if (proto == bpf_htons(ETH_P_IPV6))
		verdict = classify_ipv6(cfg, l3, data_end);
	else if (proto == bpf_htons(ETH_P_ARP))
		verdict = classify_arp(cfg, l3, data_end);
	else
		verdict = cfg->mode == STEER_MODE_ALL ? WANT_REDIRECT : CNT_PASS_NOT_OWNED;

	if (verdict != WANT_REDIRECT) {
		count(verdict);
		return XDP_PASS;
	}

	__u32 queue = ctx->rx_queue_index;
	if (queue >= cfg->queues) {
		count(CNT_PASS_QUEUE_RANGE);
		return XDP_PASS;
	}
	long action = bpf_redirect_map(&xsks, cfg->slot_base + queue, XDP_PASS);
	if (action == XDP_REDIRECT)
		count(CNT_REDIRECTED);
	else
		count(CNT_PASS_NO_SOCKET);
	return action;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
