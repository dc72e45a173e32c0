// Package pipeline builds the OpenFlow flows of Sluice's single-node pipeline: the tables,
// registers and marks the agent programs into whichever switch runs (Sluice's datapath or
// Open vSwitch), as []*flow.Flow values from datapath/flow.
//
// The table order follows Antrea's published pipeline (docs/design/ovs-pipeline.md):
//
//	0 RootClassifier ─arp─▶ 1 ARPSpoofGuard ─▶ 2 ARPResponder ─(answer, IN_PORT) / ─▶ 22
//	                 └─ip──▶ 3 Classifier ─▶ 4 SpoofGuard ─▶ 5 UnSNAT ─▶ 6 ConntrackZone
//	  ─ct(zone,nat,table=7)─▶ 7 ConntrackState ─▶ 8..16 (Services, egress policy: pass-through)
//	  ─▶ 17 L3Forwarding ─▶ 18 EgressMark ─▶ 19 L3DecTTL ─▶ 20 SNATMark ─▶ 21 SNAT
//	  ─▶ 22 L2ForwardingCalc ─▶ 23..27 (ingress policy: pass-through)
//	  ─▶ 28 ConntrackCommit ─ct(commit,table=29)─▶ 29 Output
//
// Every table exists from the start; the ones later features fill (Services, policy, SNAT)
// hold only a priority-0 flow that passes packets to the next table, so adding their flows
// later changes no other table.
//
// NodeFlows builds the static part (defaults, ARP for the gateway, conntrack, gateway
// traffic) from a NodeConfig; PodFlows builds one pod's flows (classifier, ARP and IP spoof
// guard, ARP answer, L3 and L2 forwarding) from a PodConfig. Every flow carries a cookie
// (cookie.go) naming its component, the pod it belongs to and the agent's round, so a pod's
// flows are deleted with one cookie filter (PodFilter) and, after an agent restart, flows of
// older rounds are found and removed (RoundFilter).
//
// Registers, register bit ranges, ct_mark bits and the conntrack zone are named in
// registers.go and nowhere else; builders use only those names.
package pipeline
