// Package cni is Sluice's CNI plugin: the short-lived binary a container runtime execs for every
// pod sandbox (spec 1.1: ADD, DEL, CHECK, GC, STATUS, VERSION).
//
// The plugin holds no state and touches no network namespace itself. It parses the network
// configuration from stdin (ParseConfig) and the Kubernetes pod identity from CNI_ARGS
// (ParseArgs), turns the command into one unary gRPC call on sluice-agent's unix socket
// (cniapi.CNIClient), and prints the agent's answer as a CNI result in the version the
// configuration asks for:
//
//	runtime ──exec──▶ sluice-cni ──gRPC/unix──▶ sluice-agent (IPAM, veth, OVSDB port, flows)
//	        ◀─stdout── result/error ◀── AddResponse / status
//
// Every call carries a deadline (the "timeout" config key), so a hung or absent agent turns into a
// CNI error with code 11 ("try again later") naming the socket instead of a stuck kubelet. Agent
// errors travel as gRPC status codes and are mapped to the plugin-specific codes below, with the
// agent's message passed through verbatim. docs/cni.md lists every key and code.
package cni
