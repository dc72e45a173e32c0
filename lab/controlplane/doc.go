// Package controlplane brings up the control plane of Sluice's one-machine lab: a real etcd,
// kube-apiserver and kube-controller-manager running inside a network namespace of their own,
// reachable over a lab-made fabric, and takes it all down again.
//
// The network is two namespaces the lab creates. The fabric namespace holds a Linux bridge
// (later every node namespace hangs off it too); the control-plane namespace holds loopback and
// one end of a veth pair whose other end is a port of that bridge. The control plane's address
// on the fabric (10.77.0.2/24 by default) carries kube-apiserver, so node namespaces reach the
// API server over the fabric the way real nodes reach it over the network. Nothing has a route
// off the machine: the root namespace gets no address and no route. For the host, an optional
// forwarder in the root namespace listens on a loopback port and opens each connection from
// inside the control-plane namespace (a socket keeps the namespace it was created in, so a
// goroutine locked to a thread that entered the namespace can dial and hand the connection back).
//
//	root ns                 fabric ns                      control-plane ns
//	127.0.0.1:16443 ──dial in cp ns──────────────────────> 10.77.0.2:6443 kube-apiserver
//	(forwarder)             bridge ── port "cp" ══veth══ eth0 10.77.0.2/24
//	                          └─ node ports (later)        127.0.0.1:2379 etcd
//	                                                      kube-controller-manager
//
// Up generates the PKI with crypto/x509 (an ECDSA CA, the apiserver serving certificate valid
// for the fabric address, loopback and the first Service IP, client certificates for the admin
// in system:masters and for the controller manager, an RSA service-account key pair), writes
// kubeconfigs, starts the three processes with `ip netns exec` so each PID is the binary's own,
// waits for /readyz and for the ServiceAccount controller to create default/default, and records
// everything in a state directory: state.json (namespaces, PIDs with their start times, paths),
// pki/, etcd data, logs/. The state file is rewritten after every step, so Down can undo a
// half-finished Up. Down stops processes by PID (after checking the PID still belongs to the
// process that was started, by its start time in /proc), deletes the namespaces (which removes
// the bridge and veths inside them) and removes the state directory.
//
// The binaries come from lab/build-kube.sh, which builds them from the Go module proxy into a
// cache directory; Up fails with ErrBinariesMissing when they are absent.
package controlplane
