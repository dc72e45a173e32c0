package classifier

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time the process has used. Benchmarks report it per operation next
// to wall time: on a shared machine the wall clock also counts time spent waiting for a CPU.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
