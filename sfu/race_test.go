//go:build race

package sfu

// raceEnabled: the race detector is on, and sync.Pool drops a share of what
// is put back on purpose, so allocation counts mean nothing.
const raceEnabled = true
