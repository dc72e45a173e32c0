package ipam

import (
	"os"

	"golang.org/x/sys/unix"
)

// flock takes an exclusive flock(2) on f, waiting for other holders (other processes, or other
// Allocators in this process: flock locks belong to the open file description).
func flock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			return err
		}
	}
}

// funlock drops the lock taken by flock.
func funlock(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_UN)
}
