package pipeline

import "strconv"

// Table is an OpenFlow table ID of the pipeline.
type Table uint8

// The pipeline's tables, in Antrea's order. Tables marked "pass-through" hold only a default
// flow to the next table until a later feature fills them.
const (
	// TableRootClassifier (table 0): ARP to ARPSpoofGuard, IPv4 to Classifier, rest dropped.
	TableRootClassifier Table = 0
	// TableARPSpoofGuard (table 1): ARP sender MAC and IP per port.
	TableARPSpoofGuard Table = 1
	// TableARPResponder (table 2): answers ARP for the gateway and local pods.
	TableARPResponder Table = 2
	// TableClassifier (table 3): marks PktSource per in_port.
	TableClassifier Table = 3
	// TableSpoofGuard (table 4): source MAC and IP per pod port.
	TableSpoofGuard Table = 4
	// TableUnSNAT (table 5): pass-through.
	TableUnSNAT Table = 5
	// TableConntrackZone (table 6): ct(zone=CTZone,nat) and recirculate.
	TableConntrackZone Table = 6
	// TableConntrackState (table 7): drops invalid connections.
	TableConntrackState Table = 7
	// TablePreRoutingClassifier (table 8): marks packets routed through the gateway MAC.
	TablePreRoutingClassifier Table = 8
	// TableServiceMark (table 9): pass-through.
	TableServiceMark Table = 9
	// TableSessionAffinity (table 10): pass-through.
	TableSessionAffinity Table = 10
	// TableServiceLB (table 11): pass-through.
	TableServiceLB Table = 11
	// TableEndpointDNAT (table 12): pass-through.
	TableEndpointDNAT Table = 12
	// TableAntreaPolicyEgressRule (table 13): pass-through.
	TableAntreaPolicyEgressRule Table = 13
	// TableEgressRule (table 14): pass-through.
	TableEgressRule Table = 14
	// TableEgressDefaultRule (table 15): pass-through.
	TableEgressDefaultRule Table = 15
	// TableEgressMetric (table 16): pass-through.
	TableEgressMetric Table = 16
	// TableL3Forwarding (table 17): local pods, gateway, everything else to the gateway.
	TableL3Forwarding Table = 17
	// TableEgressMark (table 18): pass-through.
	TableEgressMark Table = 18
	// TableL3DecTTL (table 19): dec_ttl of routed packets.
	TableL3DecTTL Table = 19
	// TableSNATMark (table 20): pass-through.
	TableSNATMark Table = 20
	// TableSNAT (table 21): pass-through.
	TableSNAT Table = 21
	// TableL2ForwardingCalc (table 22): destination MAC to TargetOFPort.
	TableL2ForwardingCalc Table = 22
	// TableIngressSecurityClassifier (table 23): pass-through.
	TableIngressSecurityClassifier Table = 23
	// TableAntreaPolicyIngressRule (table 24): pass-through.
	TableAntreaPolicyIngressRule Table = 24
	// TableIngressRule (table 25): pass-through.
	TableIngressRule Table = 25
	// TableIngressDefaultRule (table 26): pass-through.
	TableIngressDefaultRule Table = 26
	// TableIngressMetric (table 27): pass-through.
	TableIngressMetric Table = 27
	// TableConntrackCommit (table 28): commits new connections with ConnSource.
	TableConntrackCommit Table = 28
	// TableOutput (table 29): output to TargetOFPort.
	TableOutput Table = 29
)

var tableNames = [...]string{
	"RootClassifier", "ARPSpoofGuard", "ARPResponder", "Classifier", "SpoofGuard", "UnSNAT",
	"ConntrackZone", "ConntrackState", "PreRoutingClassifier", "ServiceMark", "SessionAffinity",
	"ServiceLB", "EndpointDNAT", "AntreaPolicyEgressRule", "EgressRule", "EgressDefaultRule",
	"EgressMetric", "L3Forwarding", "EgressMark", "L3DecTTL", "SNATMark", "SNAT",
	"L2ForwardingCalc", "IngressSecurityClassifier", "AntreaPolicyIngressRule", "IngressRule",
	"IngressDefaultRule", "IngressMetric", "ConntrackCommit", "Output",
}

// NumTables is the number of tables the pipeline uses (0..NumTables-1).
const NumTables = len(tableNames)

// String returns the table's name ("Table<N>" for an ID the pipeline does not use).
func (t Table) String() string {
	if int(t) < len(tableNames) {
		return tableNames[t]
	}
	return "Table" + strconv.Itoa(int(t))
}
