// Command sluice-cni is Sluice's CNI plugin binary; container runtimes exec it from their CNI bin
// directory. All logic lives in package cni.
package main

import "github.com/sluicenet/sluice/cni"

func main() { cni.Main() }
