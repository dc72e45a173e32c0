// Package pipeline runs packets through OpenFlow flow tables the way Open vSwitch's userspace
// datapath does: translate once, cache the translation, execute it on every packet.
//
//	frame ─▶ packet.Extract ─▶ key ─▶ cache? ──hit──────────────────────────┐
//	                                   │ miss                                 ▼
//	                                   └─▶ translate (classifier per table,   execute ops on the
//	                                       resubmit, groups, learn, …)  ───▶  frame: set fields,
//	                                       = a flat list of datapath ops      push/pop VLAN, ct,
//	                                                                          output, controller
//	                                                      recirculation ◀──── ct(table=N)
//
// # Translation
//
// Translation walks the tables for one packet key, as ofproto-dpif-xlate does: it looks the key
// up in the classifier of a table, runs the matched flow's instructions (apply actions, clear
// and write the action set, write metadata, goto_table), follows resubmit and group actions
// recursively (depth limit 64, at most 4096 resubmits per packet, like OVS), and executes learn
// (a learned flow is visible from the next packet on: translation sees one snapshot of the
// tables). Field changes are made on a copy of the key; the frame is not touched. Whenever the
// packet leaves the translation — output, controller, ct — the header fields that differ from
// what the frame already has are committed as set-field ops, so the result is a flat list of
// datapath operations equivalent to OVS's "Datapath actions", which is what the trace prints.
//
// ct(table=N) forks as in OVS: the op list gets a ct op and a recirc op carrying the frozen
// metadata (in_port, registers, metadata, pkt_mark, tunnel); the original continues with its
// conntrack fields cleared. Executing the recirc op re-extracts the key from the frame (after
// any NAT), restores the frozen metadata, fills ct_state, ct_zone, ct_mark, ct_label and the
// original tuple from the connection tracker, and runs the next pass from table N.
//
// # Cache
//
// The op list depends only on the key (and the tables), so it is cached per pass in an
// exact-match cache (classifier.Cache) keyed by the whole key plus the pass's resume table. An
// established connection costs, per pass, one hash lookup and its ops. Behind it a megaflow
// cache (classifier.MegaflowCache) holds each program under the key masked by the bits translation depended on
// (classifier masks, fields actions read or wrote, frozen metadata), so new connections that
// differ only in unmatched fields (source port, tcp_flags) skip translation too. The cache is stamped
// with the pipeline's version, which every flow, group or port change (learn included)
// increments, so no translation computed before a change is ever served after it. Translations
// with side effects (learn) are not cached, so every packet re-runs them as in OVS.
//
// # Trace
//
// Trace runs one packet on the slow path and records, per pass, each table lookup (the flow
// matched, the actions taken, the ct_state seen) and the op list, like ofproto/trace. With
// TraceOptions.CTNext it emulates ofproto/trace's conntrack model instead of the tracker: each
// recirculation sees the given ct_state, ct_mark and ct_label are zero, and ct(commit,nat(range))
// gives the recirculated copy the range's first address and port.
//
// # Concurrency
//
// A Pipeline is safe for concurrent use. Every change goes through a Tx (Begin ... Commit), which
// may mix flow adds, modifies and deletes with group and meter changes: the flow tables, groups
// and meters are published together with one pointer store, and each translation reads that
// pointer once, so a packet sees a whole transaction or none of it. Commit returns the deleted
// flows with their counters; an add that replaces a flow and a modify carry its counters over
// (unless reset_counts), and a modify keeps its install time, as OVS does. A Runner holds one goroutine's cache and scratch buffers and must not be
// shared.
package pipeline
