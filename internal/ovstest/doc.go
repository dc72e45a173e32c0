// Package ovstest runs a private, real Open vSwitch for one test and asks it what it would do
// with a packet, so Sluice's pipeline can be checked against OVS's verdicts (differential
// testing).
//
// # The switch
//
// Start makes a temporary directory holding everything the switch needs and creates there:
//
//	conf.db               ovsdb-tool create … vswitch.ovsschema
//	db.sock               ovsdb-server's only remote (punix: no TCP listener)
//	ovsdb-server.ctl      its unixctl socket
//	ovs-vswitchd.ctl      ovs-vswitchd's unixctl socket (ovs-appctl -t)
//	br0.mgmt              the bridge's OpenFlow socket (ovs-ofctl unix:…)
//	*.log                 both daemons' logs (shown when a test fails)
//
// Both daemons run in the foreground as children of the test (no --detach), with OVS_RUNDIR,
// OVS_DBDIR, OVS_LOGDIR and OVS_SYSCONFDIR pointing at the directory, so nothing touches the
// host's /var/run/openvswitch. ovs-vswitchd runs with --enable-dummy=override and
// --disable-system: the bridge is a userspace (netdev) bridge whose ports are type=dummy,
// numbered by ofport_request, with no kernel device behind them. t.Cleanup stops both by PID
// (SIGTERM, then SIGKILL after a grace period), waits for them, and removes the directory — also
// when the test fails.
//
// # Asking OVS
//
// AddFlows and AddGroups feed ovs-ofctl -O OpenFlow15 (flows as one atomic bundle). Trace runs
// ovs-appctl ofproto/trace and parses what it prints into a Trace: one Pass for the first
// lookup and one per recirculation (ct(table=N)), each with its per-table Steps and its
// "Datapath actions" line. Verdict flattens the passes into what the datapath would do to the
// packet: the ports it leaves on, each with the header fields changed at that point; the ct()
// actions; packets sent to the controller; or drop.
//
// ofproto/trace does not run conntrack: a recirculated pass sees ct_state from --ct-next (trk,new
// by default), ct_zone from the ct action, and every other ct_* field zero; a ct(commit,nat(...))
// with a range is simulated by giving the recirculated pass the range's first address and port
// (a bare "nat" changes nothing). It does not apply learn() unless a packet is supplied
// (TracePacket), and select groups with the default dp_hash method recirculate on a hash the
// trace does not know ("no live bucket"): flow sets meant for tracing use
// selection_method=hash, whose bucket choice the trace prints (Step.Bucket).
package ovstest
