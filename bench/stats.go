package bench

import (
	"math"
	"math/bits"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/parleyhq/parley/client"
)

// stream is what one subscriber receives of one published track. Its packet
// function runs on the track's read goroutine; the run reads it under mu.
type stream struct {
	kind string
	run  *run

	mu        sync.Mutex
	inWindow  bool   // has seen a packet while measuring
	first     int64  // extended sequence number of the first packet in the window
	high      int64  // highest extended sequence number in the window
	received  uint64 // packets in the window
	bytes     uint64 // RTP bytes (header + payload) in the window
	reordered uint64 // packets in the window older than one already seen

	started bool  // has seen any packet
	last    int64 // highest extended sequence number ever
}

// packet records one arrival; at is Unix nanoseconds. Only a packet whose
// payload is clear gives a latency.
func (s *stream) packet(pkt []byte, at int64, clear bool) {
	seq, payload, ok := client.ParseRTP(pkt)
	if !ok {
		return
	}
	s.mu.Lock()
	ext := int64(seq)
	if s.started {
		// Unwrap against the highest number seen: a step within ±32767.
		ext = s.last + int64(int16(seq-uint16(s.last)))
	}
	late := s.started && ext < s.last
	if !s.started || ext > s.last {
		s.last = ext
	}
	s.started = true
	measuring := s.run.measuring.Load()
	if measuring {
		if !s.inWindow {
			s.inWindow, s.first, s.high = true, ext, ext
		}
		s.high = max(s.high, ext)
		s.received++
		s.bytes += uint64(len(pkt))
		if late {
			s.reordered++
		}
	}
	s.mu.Unlock()
	if measuring && clear {
		if sent, ok := client.SendTime(payload); ok {
			s.run.latency.record(at - sent)
		}
	}
}

// windowCounts are one stream's counts over the measuring window.
type windowCounts struct {
	expected, received, bytes, reordered uint64
}

// window returns the stream's counts over the measuring window; ok is false
// when no packet arrived in it.
func (s *stream) window() (w windowCounts, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.inWindow {
		return w, false
	}
	return windowCounts{uint64(s.high - s.first + 1), s.received, s.bytes, s.reordered}, true
}

// histogram is a lock-free log-linear histogram of durations in nanoseconds:
// exact below 128 µs, then 64 buckets per power of two (within 1.6 %).
type histogram struct {
	buckets  [histBuckets]atomic.Uint64
	count    atomic.Uint64
	max      atomic.Int64
	negative atomic.Uint64 // arrivals stamped before they were sent (clock steps)
}

const (
	histLinear  = 128 // µs recorded exactly
	histSub     = 64  // buckets per power of two above that
	histBuckets = histLinear + 48*histSub
)

func histIndex(us uint64) int {
	if us < histLinear {
		return int(us)
	}
	shift := bits.Len64(us) - 7 // keep the top 7 bits: 64..127
	i := histLinear + (shift-1)*histSub + int(us>>shift) - histSub
	return min(i, histBuckets-1)
}

// histValue is the middle of bucket i, in µs.
func histValue(i int) float64 {
	if i < histLinear {
		return float64(i) + 0.5
	}
	shift := (i-histLinear)/histSub + 1
	lo := uint64((i-histLinear)%histSub+histSub) << shift
	return float64(lo) + float64(uint64(1)<<shift)/2
}

func (h *histogram) record(ns int64) {
	if ns < 0 {
		h.negative.Add(1)
		ns = 0
	}
	h.buckets[histIndex(uint64(ns/1000))].Add(1)
	h.count.Add(1)
	for {
		m := h.max.Load()
		if ns <= m || h.max.CompareAndSwap(m, ns) {
			break
		}
	}
}

// quantile returns the q-quantile (0..1) in milliseconds.
func (h *histogram) quantile(q float64) float64 {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := max(uint64(q*float64(n)+0.5), 1) // nearest rank
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			return min(histValue(i)/1000, float64(h.max.Load())/1e6)
		}
	}
	return float64(h.max.Load()) / 1e6
}

// quantile returns the q-quantile (nearest rank) of sorted xs.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := max(int(q*float64(len(sorted))+0.5), 1)
	return sorted[min(rank, len(sorted))-1]
}

func sortedCopy(xs []float64) []float64 {
	out := slices.Clone(xs)
	slices.Sort(out)
	return out
}

// schedLatency reads the Go scheduler's latency histogram: how long
// goroutines of this process waited to run once they could.
func schedLatency() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return s[0].Value.Float64Histogram()
}

// schedQuantile is the q-quantile (ms) of the waits recorded between a and b
// (upper bucket bounds).
func schedQuantile(a, b *metrics.Float64Histogram, q float64) float64 {
	if a == nil || b == nil || len(a.Counts) != len(b.Counts) {
		return 0
	}
	var total uint64
	for i := range b.Counts {
		total += b.Counts[i] - a.Counts[i]
	}
	if total == 0 {
		return 0
	}
	rank := max(uint64(q*float64(total)+0.5), 1)
	var seen uint64
	for i := range b.Counts {
		seen += b.Counts[i] - a.Counts[i]
		if seen >= rank {
			hi := b.Buckets[i+1]
			if math.IsInf(hi, 1) {
				hi = b.Buckets[i]
			}
			return hi * 1000
		}
	}
	return 0
}
