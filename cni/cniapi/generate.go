// Package cniapi is the gRPC API between the sluice-cni plugin and sluice-agent, generated from
// cni.proto. The plugin is a client: one unary call per CNI command on the agent's unix socket.
// The agent implements CNIServer. Regenerate with `go generate ./cni/cniapi` (needs Debian's
// protobuf-compiler; the Go plugins are pinned `go tool` entries in go.mod).
package cniapi

//go:generate sh -c "protoc --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --plugin=protoc-gen-go-grpc=$(go tool -n protoc-gen-go-grpc) --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative cni.proto"
