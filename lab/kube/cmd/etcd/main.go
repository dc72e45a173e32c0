// Command etcd is etcd's own server main, built from the same module graph as
// kube-apiserver so the lab's etcd is the version Kubernetes pins.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
