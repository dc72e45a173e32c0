package pipeline

import "strconv"

// Table is an OpenFlow table ID of the pipeline.
type Table uint8

// The pipeline's tables, in Antrea's order. Tables marked "pass-through" hold only a default
// flow to the next table until a later feature fills them.
const (
	TableRootClassifier            Table = 0  // ARP to ARPSpoofGuard, IPv4 to Classifier, rest dropped
	TableARPSpoofGuard             Table = 1  // ARP sender MAC and IP per port
	TableARPResponder              Table = 2  // answers ARP for the gateway and local pods
	TableClassifier                Table = 3  // marks PktSource per in_port
	TableSpoofGuard                Table = 4  // source MAC and IP per pod port
	TableUnSNAT                    Table = 5  // pass-through
	TableConntrackZone             Table = 6  // ct(zone=CTZone,nat) and recirculate
	TableConntrackState            Table = 7  // drops invalid connections
	TablePreRoutingClassifier      Table = 8  // marks packets routed through the gateway MAC
	TableServiceMark               Table = 9  // pass-through
	TableSessionAffinity           Table = 10 // pass-through
	TableServiceLB                 Table = 11 // pass-through
	TableEndpointDNAT              Table = 12 // pass-through
	TableAntreaPolicyEgressRule    Table = 13 // pass-through
	TableEgressRule                Table = 14 // pass-through
	TableEgressDefaultRule         Table = 15 // pass-through
	TableEgressMetric              Table = 16 // pass-through
	TableL3Forwarding              Table = 17 // local pods, gateway, everything else to the gateway
	TableEgressMark                Table = 18 // pass-through
	TableL3DecTTL                  Table = 19 // dec_ttl of routed packets
	TableSNATMark                  Table = 20 // pass-through
	TableSNAT                      Table = 21 // pass-through
	TableL2ForwardingCalc          Table = 22 // destination MAC to TargetOFPort
	TableIngressSecurityClassifier Table = 23 // pass-through
	TableAntreaPolicyIngressRule   Table = 24 // pass-through
	TableIngressRule               Table = 25 // pass-through
	TableIngressDefaultRule        Table = 26 // pass-through
	TableIngressMetric             Table = 27 // pass-through
	TableConntrackCommit           Table = 28 // commits new connections with ConnSource
	TableOutput                    Table = 29 // output to TargetOFPort
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
