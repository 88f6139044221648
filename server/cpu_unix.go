//go:build unix

package server

import (
	"runtime"
	"syscall"
	"time"
)

// processCPU is the CPU time the process has used, user and system: one
// system call, cheap enough for every heartbeat.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func numCPU() int { return runtime.NumCPU() }
