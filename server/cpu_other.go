//go:build !unix

package server

import (
	"runtime"
	"time"
)

// processCPU is not measured here: placement weighs participants and rooms.
func processCPU() time.Duration { return 0 }

func numCPU() int { return runtime.NumCPU() }
