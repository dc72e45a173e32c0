// Package openflow is Sluice's OpenFlow 1.5 codec with the Open vSwitch (Nicira) extensions,
// shared by the switch side (datapath/ofswitch) and the controller side (agent/bridge).
//
// # Wire model
//
// Every OpenFlow message starts with an 8-byte ofp_header (version, type, length, xid). Marshal
// appends the header and a message's body; Unmarshal checks the header and dispatches on the type
// (and, for OFPT_MULTIPART_* and OFPT_EXPERIMENTER, on the multipart type or the experimenter
// and subtype) to a Go type per message, so a switch and a controller share one set of structs.
// A message type the codec does not know decodes to *Unknown, which keeps its body so a switch can
// answer it with OFPBRC_BAD_TYPE and a proxy can forward it untouched.
//
// Reader cuts a byte stream into messages (it copes with partial reads and with many messages
// in one read); Writer batches encoded messages and flushes them in one write. Conn pairs the
// two with an xid counter.
//
// # Matches
//
// A match travels as a list of OXM TLVs (ofp_match type OFPMT_OXM). Each TLV names a field by
// class and field number: 0x8000 (OpenFlow basic), 0x8001 (packet registers, OVS's xreg0-7),
// 0x0000 and 0x0001 (Nicira's NXM_OF_* and NXM_NX_*) and 0xffff (experimenter, followed by a
// 32-bit experimenter id). Encoding picks the header OVS itself sends in OpenFlow 1.5 and emits
// the fields in OVS's order, so a match built from flow.Match reproduces ovs-ofctl's bytes;
// decoding accepts every header OVS accepts for the field. flow.Match and flow.Key are the
// in-memory form (AppendMatch, UnmarshalMatch): a 32-bit register reg<N> is the high or low half
// of the packet register xreg<N/2>, as in OVS.
//
// # Actions and instructions
//
// Instructions (goto_table, write_metadata, apply/write/clear_actions, meter) and actions are
// wire-level structs with the fields the wire carries: the standard OpenFlow 1.5 actions and the
// Nicira experimenter actions (NXAST_*) that Sluice's pipeline uses (resubmit, ct with nat,
// learn, conjunction, controller2, note, dec_ttl, ...). An action the codec does not model
// decodes to *RawAction and re-encodes byte for byte. FlowModFor, FlowMod.Flow, GroupModFor,
// MeterModFor and their inverses convert to and from the flow model (datapath/flow).
//
// # Switch side
//
// ErrorFor turns a decoding failure into the OpenFlow error to answer with; AppendSplit (and
// Writer.WriteSplit) cut a multipart reply bigger than 64 KiB into parts flagged "more".
//
// Everything here was written from the OpenFlow 1.5.1 specification and the public Open vSwitch
// headers (openflow-1.5.h, openflow-common.h, nicira-ext.h, meta-flow.h) and checked against the
// bytes ovs-ofctl 3.1 sends and ovs-vswitchd 3.1 answers (see testdata/ and the TestPrivileged
// tests).
package openflow
