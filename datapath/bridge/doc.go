// Package bridge is sluice-datapath's runtime: it turns the bridges and interfaces that
// ovsdb-server describes into running OpenFlow switches that forward over AF_XDP. It implements
// ovsdb.Datapath and wires the finished pieces together:
//
//	ovsdb.Client ──AddBridge──> ofswitch.Switch on unix:<RunDir>/<bridge>.mgmt + pipeline
//	             ──Attach────> netdev: steering slot (bpf, mode all) + AF_XDP socket on queue 0
//	                           (one shared UMEM) + XDP link + ofswitch port with its ofport
//	             <──Status───  link state, MAC, MTU, ifindex, port counters
//
//	per attached netdev, one goroutine locked to its OS thread:
//
//	port.XDP ──Receive (batch)──> pipeline.Runner.Process(frame, ofport)
//	                              ├─ outputs ──copy into a UMEM chunk──> Transmit on the
//	                              │            destination port (the first output reuses the
//	                              │            received chunk)
//	                              └─ packet-ins ──> ofswitch.Switch.SendPacketIns
//
// Polling is adaptive as in package forward: while frames flow a port's goroutine polls its
// rings without syscalls; after Options.BusyPolls empty rounds it sleeps in poll(2) for up to
// Options.IdleWait, which also bounds how long a detach or shutdown takes.
//
// The steering program (package bpf) runs in mode "all" on every attached netdev: each frame of
// RX queue 0 goes to the interface's XSKMAP slot. Slots are handed out per interface from 0 up
// and given back on detach. Only queue 0 gets a socket (enough on veth); frames on other
// queues go to the kernel.
//
// An internal interface N (the bridge's own, the LOCAL port 65534, or any other such as a
// gateway) is a veth pair, as OVS makes it a kernel netdev: N stays with the host (up, TX
// checksum offload off since AF_XDP forwards partial checksums as they are; the
// bridge's own gets the bridge's MAC) for addresses and routes, and its far end, named "sl"
// and a hash of bridge and interface, is attached like a netdev under N's ofport. Detach,
// del-br and shutdown delete the pair. Geneve and vxlan interfaces become tunnel ports:
// registered with the switch under their ofport, but without encapsulation yet, so every frame
// sent to one is dropped and counted (DropTunnelEncap and the port's tx_dropped).
//
// # Restart without a black hole
//
// With Options.PinDir set, the steering maps and every XDP link are pinned on bpffs
// (<PinDir>/link-<ifname>). On shutdown the sockets close (their XSKMAP slots empty, so the
// steering program passes every frame to the kernel stack) but the links stay attached; a
// restarted process loads the pinned maps and links and takes the interfaces over again.
// Without PinDir, shutdown detaches everything.
//
// Nothing on the per-packet path allocates: frames that cannot be forwarded are counted by
// reason (Drops). Datapath.Metrics reads every counter at scrape time and Metrics.WriteText
// renders them in the Prometheus text format; Run serves them on Options.MetricsAddr.
package bridge
