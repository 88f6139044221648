package transcribe

import (
	"sync"
	"time"
)

// LatencyBuckets are the upper bounds (seconds) of the engine latency
// histogram: a small model on a GPU answers in a fraction of a second, a
// large one on CPUs in several.
var LatencyBuckets = []float64{.1, .25, .5, 1, 2, 4, 8, 16, 32}

// histogram counts observations per bucket; metrics reads its snapshot
// (package metrics turns it into a Prometheus histogram).
type histogram struct {
	mu     sync.Mutex
	counts [10]uint64 // per bucket, and +Inf last
	sum    float64
	n      uint64
}

// HistogramSnapshot is a histogram's state: Counts[i] is the number of
// observations at or below Buckets[i] (cumulative, as Prometheus has it).
type HistogramSnapshot struct {
	Buckets []float64
	Counts  []uint64
	Sum     float64 // seconds
	Count   uint64
}

func (h *histogram) observe(d time.Duration) {
	v := d.Seconds()
	h.mu.Lock()
	defer h.mu.Unlock()
	i := 0
	for i < len(LatencyBuckets) && v > LatencyBuckets[i] {
		i++
	}
	h.counts[i]++
	h.sum += v
	h.n++
}

func (h *histogram) snapshot() HistogramSnapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := HistogramSnapshot{Buckets: LatencyBuckets, Counts: make([]uint64, len(LatencyBuckets)), Sum: h.sum, Count: h.n}
	var acc uint64
	for i := range LatencyBuckets {
		acc += h.counts[i]
		out.Counts[i] = acc
	}
	return out
}
