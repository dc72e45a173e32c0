// Package ofswitch is the OpenFlow 1.5 side of sluice-datapath: a server on the bridge's
// management socket (unix:/var/run/sluice/<bridge>.mgmt by default) that controllers such as
// the Sluice agent or `ovs-ofctl -O OpenFlow15` drive exactly as they drive ovs-vswitchd.
//
//	controller ──unix socket──▶ conn reader ──▶ handle (one message at a time, in order)
//	                               │                 │ flow/group/meter mods, bundles
//	                               │                 ▼
//	                               │            pipeline.Pipeline (classifier transactions)
//	                               ▼
//	                        conn writer ◀── replies, and asynchronous messages:
//	                                        PACKET_IN (rate limited), FLOW_REMOVED, PORT_STATUS
//
// # Connections
//
// Every accepted connection gets a reader goroutine that decodes and handles one message at a
// time, so a connection's requests take effect in the order they were sent and a BARRIER_REPLY
// is sent only after everything before the BARRIER_REQUEST is done, as the spec requires. A
// writer goroutine owns the socket's write side: replies are queued without loss, asynchronous
// messages (packet-in) are dropped and counted when a slow controller's queue is full, so the
// packet path never waits for a controller. As with ovs-vswitchd's management socket, a
// connection receives asynchronous messages only after it set a non-zero miss_send_len. Any number of controllers may connect; ROLE_REQUEST
// makes one the master (the others become slaves, which may read but not change the switch and
// receive only PORT_STATUS).
//
// The first message each side sends is HELLO with a version bitmap offering only OpenFlow 1.5
// (0x06). A peer whose HELLO does not offer 1.5 gets OFPET_HELLO_FAILED/OFPHFC_INCOMPATIBLE and
// is disconnected. After that, a message that cannot be decoded or that the switch does not
// support is answered with the OpenFlow error the spec names (OFPBRC_BAD_TYPE, OFPBRC_BAD_LEN,
// OFPBMC_*, OFPBAC_*, ...) carrying the start of the offending request; the connection stays up.
//
// # Flow tables
//
// Flows live in a pipeline.Pipeline, which compiles them into the classifier. FLOW_MOD follows
// Open vSwitch: add replaces a flow with the same table, match and priority (check_overlap
// refuses an overlapping one instead); modify and modify-strict replace the instructions of the
// selected flows and keep their cookie, timeouts and flags; delete and delete-strict remove them
// and send FLOW_REMOVED (reason delete) for those added with send_flow_rem. Non-strict
// selection takes every flow at least as specific as the request's match; cookie/cookie_mask,
// out_port and out_group narrow the selection; table 255 means every table. Flows whose idle
// or hard timeout passes are removed by a once-a-second sweep (FLOW_REMOVED reason idle/hard).
//
// # Bundles
//
// BUNDLE_CONTROL open/close/commit/discard and BUNDLE_ADD_MESSAGE collect FLOW_MOD, GROUP_MOD
// and METER_MOD messages per connection. Each message is decoded and checked when it is added;
// commit then checks the whole bundle's group and meter references and existence against the
// switch as the bundle would change it, so such a bundle that would fail changes nothing and
// the controller gets the failing message's error followed by OFPBFC_MSG_FAILED. The whole
// bundle (adds, modifies, deletes, group and meter changes) is then applied as one pipeline
// transaction (pipeline.Tx): packets see all of it or none, and a message that still fails
// while applying (check_overlap) discards the transaction, so nothing changes.
//
// # Ports
//
// The datapath tells the switch about its ports through the Ports interface (AddPort,
// RemovePort, SetPortState); each change is announced to controllers with PORT_STATUS and
// updates the pipeline's set of existing ports. A Port supplies counters (port stats) and
// transmits PACKET_OUT frames.
package ofswitch
