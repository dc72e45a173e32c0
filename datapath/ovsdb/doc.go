// Package ovsdb connects the Sluice datapath to Open vSwitch's configuration database, the way
// ovs-vswitchd's bridge.c does, so that ovs-vsctl, Antrea-style agents and operators configure
// Sluice exactly as they configure OVS, and one ovsdb-server can serve both switches.
//
// # What it reads
//
// A Client monitors the tables of the Open_vSwitch database in a real ovsdb-server (RFC 7047,
// through libovsdb v0.7.0 and the model in package vswitch): Open_vSwitch (the root row),
// Bridge, Port and Interface, and the targets of Controller rows. A bridge belongs to Sluice
// when its datapath_type is DatapathType ("sluice"); every other bridge is left alone, so
// ovs-vswitchd may manage the "system" and "netdev" bridges of the same database. For each Sluice bridge the Client derives
// the desired state: the Bridge and, for every Interface of every Port, an Interface value with
// its Kind (from the type column), options, external_ids and an OpenFlow port number.
//
// # How it reconciles
//
// Monitor updates land in libovsdb's cache; each cache event only pokes one goroutine, which
// takes a snapshot of the tables and reconciles it into a Datapath, the interface the
// forwarding plane implements (so this package does not depend on AF_XDP):
//
//	ovsdb-server ──update2──> libovsdb cache ──event──> poke ──> reconcile goroutine
//	                                                              │ snapshot → desired state
//	                                                              │ Datapath: AddBridge/Attach/Detach/…
//	ovsdb-server <──transact── status rows, cur_cfg <─────────────┘
//
// Interfaces are keyed by name (unique in the database; an ovsdb "rename" is a delete plus an
// insert). An interface whose type, options, MTU request or OpenFlow port changed is detached and
// attached again; one that is gone is detached. Failed attachments are retried on every Resync
// and every status tick, not on every database event, so a persistent failure cannot turn the
// status writes into a loop.
//
// OpenFlow port numbers follow ovs-vswitchd's rules where they matter to tools: the bridge's own
// "internal" interface (named like the bridge) is the local port 65534; a valid ofport_request
// (1..65279) is honoured unless another interface already holds that number, in which case the
// interface gets an automatic number and moves to its request once it is free; an automatic
// number is the one the interface had before (in this process, else the ofport column, which
// makes numbers stable across restarts) or the lowest number in 1..32767 that nobody holds or
// requests.
//
// # What it writes back
//
// After every reconcile, in one transaction, the Interface columns ovs-vswitchd maintains:
// ofport (-1 and a human-readable error when the attachment failed, as ovs-vswitchd does),
// error, admin_state, link_state, mac_in_use, ifindex and mtu, each only when it differs from
// what the cache holds; the Bridge's datapath_id and datapath_version as AddBridge reports
// them (Bridge.DatapathID picks the ID as ovs-vswitchd does); statistics with OVS's key names every status interval (5 s, or
// other_config:stats-update-interval of the Open_vSwitch row, at least 5 s, as ovs-vswitchd).
// The same transaction adds "sluice" to datapath_types and Sluice's interface types to
// iface_types (by set insertion, so a shared ovs-vswitchd keeps its own) and fills db_version
// from the schema when nobody (ovs-ctl normally) has. ovs_version is left to whoever starts the
// switch: tools parse it as an Open vSwitch version.
//
// Then, in a second transaction, cur_cfg = next_cfg. ovs-vsctl without --no-wait blocks until
// cur_cfg catches up and then checks that every interface it added has an ofport, so cur_cfg
// must only be acknowledged for a snapshot that contains the whole change. libovsdb applies an
// update notification (one committed transaction) table by table under its cache lock while
// readers do not take that lock; the snapshot reads the root row first and then each table
// through TableCache.Table, which waits for an update in progress, so it is at least as new as
// the next_cfg it read. A snapshot with a reference to a row that is not there yet, or without
// the root row (libovsdb empties its cache before refilling it on reconnect) is not acted on
// at all.
//
// # Reconnecting
//
// libovsdb reconnects with backoff when ovsdb-server goes away and restores the monitor; the
// cache is repopulated, which pokes a reconcile. Ephemeral columns (mac_in_use, link_state, …)
// are lost when ovsdb-server restarts, and the reconcile writes them again because it compares
// what it wants with what the cache holds, not with what it wrote before.
package ovsdb
