// Package flow is the OpenFlow flow model shared by the datapath and the agent: matches,
// instructions and actions, groups and meters, and their ovs-ofctl text form.
//
// # Model
//
// A Flow is a table, a priority, a Match (a packed Key of values plus a Key of mask bits, see
// key.go), bookkeeping (cookie, 32-bit timeouts, flags, statistics) and Instructions. OpenFlow
// allows each instruction once and runs them in a fixed order, so Instructions is a struct:
// Apply (with OpenFlow 1.5's meter action first when present), ClearActions, Write,
// WriteMetadata and GotoTable. Actions are small concrete types (*Output, *SetField, *Move,
// *Resubmit, *CT, *Learn, *Conjunction, ...) behind the Action interface; an executor or codec
// dispatches with a type switch. Like OVS, the model has one canonical form for equivalent
// inputs: load:V->f[a..b] and mod_nw_dst:A become *SetField with a mask, strip_vlan becomes
// *PopVLAN, a controller action with nothing but a length becomes *Output to CONTROLLER, and
// mod_tp_dst takes the protocol of the match (tcp_dst, udp_dst or sctp_dst).
//
// # Text
//
// ParseFlow reads ovs-ofctl add-flow syntax (and dump-flows lines, keeping their statistics);
// (*Flow).String prints what `ovs-ofctl -O OpenFlow15 dump-flows --no-stats` prints for the
// same flow, byte for byte: OVS's field order (lib/match.c match_format), shorthands (tcp,
// icmp6, ...), number formats (registers in hex, ports in decimal, 0 as "0"), action spellings
// (load and mod_* print as set_field, NXM names in subfields) and instruction order. The
// fixtures in testdata/flows are checked against a real ovs-vswitchd (see
// TestPrivilegedPrintMatchesOVS) and the committed golden dumps it writes. ParseGroup and
// (*GroupEntry).String do the same for ovs-ofctl add-group/dump-groups; ParseMeter and
// (*MeterEntry).String use add-meter syntax.
//
// # Validation
//
// ParseFlow rejects what ovs-ofctl or ovs-vswitchd would reject, with an error that quotes the
// flow and names the problem: a match field without its prerequisite (nw_src needs ip or arp,
// tp_dst needs tcp/udp/sctp, nd_target needs icmp6 neighbour discovery, ct_nw_src a tracked
// connection), masks on fields that cannot be masked, an action on a field the match does not
// establish (set_field:...->ip_dst without ip, pop_vlan without a VLAN), goto_table that does
// not move forward, loads beyond a field's width, set_field values outside their mask, output to
// port 0, conjunction mixed with other actions, ct nat or exec without commit. Flow.Validate
// runs the same checks on a Flow built in code. Unlike OVS (which silently drops match fields
// whose prerequisites are missing), nothing is normalised away: the flow is refused.
package flow
