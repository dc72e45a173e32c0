package pipeline

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/sluicenet/sluice/datapath/flow"
)

// NodeConfig is what the static pipeline needs to know about the node.
type NodeConfig struct {
	// Round is the agent's round (see Cookie); it goes into every flow's cookie.
	Round uint16
	// GatewayOFPort is the OpenFlow port of the gateway interface (sluice-gw0).
	GatewayOFPort uint32
	// GatewayIP and GatewayMAC are the gateway interface's IPv4 address and MAC.
	GatewayIP  netip.Addr
	GatewayMAC net.HardwareAddr
	// PodCIDRs are the node's IPv4 pod CIDRs.
	PodCIDRs []netip.Prefix
	// NodeIP is the node's own address (kept for the Service and SNAT tables; unused yet).
	NodeIP netip.Addr
}

// PodConfig is what one pod's flows need.
type PodConfig struct {
	// Round is the agent's round, as in NodeConfig.
	Round uint16
	// OFPort is the OpenFlow port of the pod's host-side veth.
	OFPort uint32
	// MAC is the pod interface's MAC.
	MAC net.HardwareAddr
	// IPs are the pod's IPv4 addresses.
	IPs []netip.Addr
}

// ErrUnsupported reports a configuration the pipeline does not handle yet (IPv6 addresses).
var ErrUnsupported = errors.New("not supported by the pipeline")

// Priorities used across tables.
const (
	prioDefault = 0
	prioLow     = 190
	prioLowest  = 180
	prioNormal  = 200
	prioHigh    = 210
)

// builder collects flows in flow text and parses them once, so every flow is the switch's
// canonical form and Validate-checked.
type builder struct {
	cookie uint64
	flows  []*flow.Flow
	err    error
}

func (b *builder) add(t Table, prio int, match, actions string) {
	if b.err != nil {
		return
	}
	s := fmt.Sprintf("table=%d,priority=%d,cookie=%#x", t, prio, b.cookie)
	if match != "" {
		s += "," + match
	}
	s += ",actions=" + actions
	f, err := flow.ParseFlow(s)
	if err == nil {
		err = f.Validate()
	}
	if err != nil {
		b.err = fmt.Errorf("build %s flow: %w", t, err)
		return
	}
	b.flows = append(b.flows, f)
}

func gotoT(t Table) string { return fmt.Sprintf("goto_table:%d", t) }

func checkMAC(what string, m net.HardwareAddr) error {
	if len(m) != 6 {
		return fmt.Errorf("%s %q: want a 6-byte Ethernet MAC", what, m)
	}
	return nil
}

func checkIPv4(what string, a netip.Addr) error {
	if !a.IsValid() {
		return fmt.Errorf("%s: missing", what)
	}
	if !a.Is4() {
		return fmt.Errorf("%s %s: IPv6 %w", what, a, ErrUnsupported)
	}
	return nil
}

// NodeFlows returns the static pipeline for the node: a default flow in every table, ARP
// handling for the gateway, the gateway's classifier, spoof guard, L3 and L2 flows, conntrack
// zone and commit, and output.
func NodeFlows(c NodeConfig) ([]*flow.Flow, error) {
	if c.GatewayOFPort == 0 {
		return nil, errors.New("node config: gateway ofport is 0")
	}
	if err := checkIPv4("node config: gateway IP", c.GatewayIP); err != nil {
		return nil, err
	}
	if err := checkMAC("node config: gateway MAC", c.GatewayMAC); err != nil {
		return nil, err
	}
	for _, p := range c.PodCIDRs {
		if err := checkIPv4("node config: pod CIDR", p.Addr()); err != nil {
			return nil, err
		}
	}
	gw, gwIP, gwMAC := c.GatewayOFPort, c.GatewayIP, c.GatewayMAC
	b := &builder{cookie: Cookie(c.Round, ComponentNode, 0)}

	// RootClassifier: ARP and IPv4 enter their branches; anything else is dropped.
	b.add(TableRootClassifier, prioNormal, "arp", gotoT(TableARPSpoofGuard))
	b.add(TableRootClassifier, prioNormal, "ip", gotoT(TableClassifier))
	b.add(TableRootClassifier, prioDefault, "", "drop")

	// ARPSpoofGuard: the gateway may send any ARP; pods are let through by PodFlows.
	b.add(TableARPSpoofGuard, prioNormal, fmt.Sprintf("arp,in_port=%d", gw), gotoT(TableARPResponder))
	b.add(TableARPSpoofGuard, prioDefault, "", "drop")

	// ARPResponder: pods asking for the gateway get the answer from the switch; other ARP
	// (replies, requests nobody here answers) is forwarded by destination MAC.
	b.add(TableARPResponder, prioNormal, fmt.Sprintf("arp,arp_tpa=%s,arp_op=1", gwIP), arpReply(gwIP, gwMAC))
	b.add(TableARPResponder, prioLow, "arp", gotoT(TableL2ForwardingCalc))
	b.add(TableARPResponder, prioDefault, "", "drop")

	// Classifier: gateway traffic; pods are classified by PodFlows.
	b.add(TableClassifier, prioNormal, fmt.Sprintf("in_port=%d", gw), PktSource.Load(SourceGateway)+","+gotoT(TableSpoofGuard))
	b.add(TableClassifier, prioDefault, "", "drop")

	// SpoofGuard: the gateway carries the host's and the outside world's traffic.
	b.add(TableSpoofGuard, prioNormal, fmt.Sprintf("ip,in_port=%d", gw), gotoT(TableUnSNAT))
	b.add(TableSpoofGuard, prioDefault, "", "drop")

	b.add(TableUnSNAT, prioDefault, "", gotoT(TableConntrackZone))

	// ConntrackZone/State: every IPv4 packet goes through conntrack (with nat, so later
	// Service DNAT is undone on replies) and continues in ConntrackState after recirculation.
	b.add(TableConntrackZone, prioNormal, "ip", fmt.Sprintf("ct(table=%d,zone=%d,nat)", TableConntrackState, CTZone))
	b.add(TableConntrackZone, prioDefault, "", gotoT(TableConntrackState))
	b.add(TableConntrackState, prioNormal, "ct_state=+inv+trk,ip", "drop")
	b.add(TableConntrackState, prioDefault, "", gotoT(TablePreRoutingClassifier))

	// PreRoutingClassifier: a packet addressed to the gateway's MAC is routed by the pipeline.
	b.add(TablePreRoutingClassifier, prioNormal, fmt.Sprintf("ip,dl_dst=%s", gwMAC), RewriteMAC.Load(1)+","+gotoT(TableServiceMark))
	b.add(TablePreRoutingClassifier, prioDefault, "", gotoT(TableServiceMark))

	for t := TableServiceMark; t < TableL3Forwarding; t++ {
		b.add(t, prioDefault, "", gotoT(t+1))
	}

	// L3Forwarding: the gateway's own address and everything not for a local pod goes to
	// the gateway (the host routes it); local pods are added by PodFlows.
	b.add(TableL3Forwarding, prioHigh, fmt.Sprintf("ip,nw_dst=%s", gwIP),
		fmt.Sprintf("set_field:%s->eth_dst,%s,%s", gwMAC, PktDest.Load(DestGateway), gotoT(TableEgressMark)))
	for _, p := range c.PodCIDRs {
		// A pod CIDR address without a pod (never allocated, or the pod is gone): the host
		// routes the CIDR back to the gateway, so sending it there would only loop.
		b.add(TableL3Forwarding, prioLowest, fmt.Sprintf("ip,nw_dst=%s", p.Masked()), "drop")
	}
	b.add(TableL3Forwarding, prioDefault, "",
		fmt.Sprintf("set_field:%s->eth_dst,%s,%s", gwMAC, PktDest.Load(DestGateway), gotoT(TableEgressMark)))

	b.add(TableEgressMark, prioDefault, "", gotoT(TableL3DecTTL))

	// L3DecTTL: packets the pipeline routes between pods lose one hop; the host decrements
	// what it routes itself.
	b.add(TableL3DecTTL, prioNormal, fmt.Sprintf("ip,%s,%s", RewriteMAC.Match(1), PktDest.Match(DestLocal)), "dec_ttl,"+gotoT(TableSNATMark))
	b.add(TableL3DecTTL, prioDefault, "", gotoT(TableSNATMark))

	b.add(TableSNATMark, prioDefault, "", gotoT(TableSNAT))
	b.add(TableSNAT, prioDefault, "", gotoT(TableL2ForwardingCalc))

	// L2ForwardingCalc: the gateway's MAC; pods' MACs are added by PodFlows.
	b.add(TableL2ForwardingCalc, prioNormal, fmt.Sprintf("dl_dst=%s", gwMAC), l2Actions(gw))
	b.add(TableL2ForwardingCalc, prioDefault, "", gotoT(TableIngressSecurityClassifier))

	for t := TableIngressSecurityClassifier; t < TableConntrackCommit; t++ {
		b.add(t, prioDefault, "", gotoT(t+1))
	}

	// ConntrackCommit: new connections are committed with where they came from.
	b.add(TableConntrackCommit, prioNormal, "ct_state=+new+trk,ip",
		fmt.Sprintf("ct(commit,table=%d,zone=%d,exec(move:%s->%s))", TableOutput, CTZone, PktSource.NXM(), ConnSource.NXM()))
	b.add(TableConntrackCommit, prioDefault, "", gotoT(TableOutput))

	// Output: to the port L2ForwardingCalc chose; anything without a destination is dropped.
	b.add(TableOutput, prioNormal, OutputMethod.Match(OutputToPort), "output:"+TargetOFPort.NXM())
	b.add(TableOutput, prioDefault, "", "drop")
	return b.flows, b.err
}

// arpReply turns an ARP request for ip into the reply from mac and sends it back.
func arpReply(ip netip.Addr, mac net.HardwareAddr) string {
	return fmt.Sprintf("move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:%s->eth_src,set_field:2->arp_op,"+
		"move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],set_field:%s->arp_sha,"+
		"move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],set_field:%s->arp_spa,IN_PORT", mac, mac, ip)
}

func l2Actions(port uint32) string {
	return fmt.Sprintf("%s,%s,%s", TargetOFPort.Load(port), OutputMethod.Load(OutputToPort), gotoT(TableIngressSecurityClassifier))
}

// PodFlows returns one pod's flows: its classifier mark, ARP and IP spoof guard (the pod's
// MAC with each of its IPs), the ARP answer for its IPs, L3 forwarding to it (routed packets
// get the gateway's MAC as source and the pod's as destination, as a router would) and L2
// forwarding to its port. gwMAC is the gateway's MAC (the routed source MAC).
func PodFlows(c PodConfig, gwMAC net.HardwareAddr) ([]*flow.Flow, error) {
	if c.OFPort == 0 {
		return nil, errors.New("pod config: ofport is 0")
	}
	if err := checkMAC("pod config: MAC", c.MAC); err != nil {
		return nil, err
	}
	if err := checkMAC("pod config: gateway MAC", gwMAC); err != nil {
		return nil, err
	}
	if len(c.IPs) == 0 {
		return nil, errors.New("pod config: no IPs")
	}
	for _, ip := range c.IPs {
		if err := checkIPv4("pod config: IP", ip); err != nil {
			return nil, err
		}
	}
	port, mac := c.OFPort, c.MAC
	b := &builder{cookie: Cookie(c.Round, ComponentPod, uint64(port))}
	for _, ip := range c.IPs {
		b.add(TableARPSpoofGuard, prioNormal, fmt.Sprintf("arp,in_port=%d,arp_spa=%s,arp_sha=%s", port, ip, mac), gotoT(TableARPResponder))
		b.add(TableARPResponder, prioNormal, fmt.Sprintf("arp,arp_tpa=%s,arp_op=1", ip), arpReply(ip, mac))
		// The pod asking for its own address (a gratuitous ARP or an announcement) must not
		// be told its own MAC owns it; nobody else needs the announcement, as the switch
		// answers for the pod.
		b.add(TableARPResponder, prioHigh, fmt.Sprintf("arp,in_port=%d,arp_tpa=%s", port, ip), "drop")
	}
	b.add(TableClassifier, prioLow, fmt.Sprintf("in_port=%d", port), PktSource.Load(SourcePod)+","+gotoT(TableSpoofGuard))
	for _, ip := range c.IPs {
		b.add(TableSpoofGuard, prioNormal, fmt.Sprintf("ip,in_port=%d,dl_src=%s,nw_src=%s", port, mac, ip), gotoT(TableUnSNAT))
	}
	for _, ip := range c.IPs {
		b.add(TableL3Forwarding, prioNormal, fmt.Sprintf("ip,%s,nw_dst=%s", RewriteMAC.Match(1), ip),
			fmt.Sprintf("set_field:%s->eth_src,set_field:%s->eth_dst,%s,%s", gwMAC, mac, PktDest.Load(DestLocal), gotoT(TableEgressMark)))
		b.add(TableL3Forwarding, prioLow, fmt.Sprintf("ip,nw_dst=%s", ip), PktDest.Load(DestLocal)+","+gotoT(TableEgressMark))
	}
	b.add(TableL2ForwardingCalc, prioNormal, fmt.Sprintf("dl_dst=%s", mac), l2Actions(port))
	return b.flows, b.err
}

// PodFilter returns the flow filter (del-flows/dump-flows) that selects every flow of the pod
// on ofport, whatever round installed it.
func PodFilter(ofport uint32) *flow.Flow {
	return mustFilter(cookieFilter(Cookie(0, ComponentPod, uint64(ofport)), cookieComponentMask|cookieObjectMask))
}

// RoundFilter returns the filter selecting every flow the pipeline installed in round.
// The agent, after replaying its flows in a new round, deletes each older round it finds in
// the switch's dump (a cookie mask cannot express "not equal").
func RoundFilter(round uint16) *flow.Flow {
	return mustFilter(cookieFilter(Cookie(round, 0, 0), cookieRoundMask))
}

func mustFilter(s string) *flow.Flow {
	f, err := flow.ParseFlowFilter(s)
	if err != nil {
		panic(err) // the text is built from integers only
	}
	return f
}
