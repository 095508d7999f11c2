//go:build unix

package groupbench

import (
	"syscall"
	"time"
)

// processCPU is the CPU time, user plus system, this process has used,
// to the microsecond (getrusage(2)): /proc's ticks of 10 ms are too
// coarse for one send.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
