//go:build !linux

package ipam

import (
	"errors"
	"os"
)

// errNoFlock is returned off Linux: the state directory's locking relies on flock(2).
var errNoFlock = errors.New("flock: supported on linux only")

func flock(*os.File) error   { return errNoFlock }
func funlock(*os.File) error { return nil }
