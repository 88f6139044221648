package sfu

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// timedWriter notes when each packet reached it; while a gate is set and
// open (not closed) it blocks, as pion's write does on an ICE-TCP connection
// nobody reads.
type timedWriter struct {
	gate  atomic.Pointer[chan struct{}]
	mu    sync.Mutex
	at    map[uint16]time.Duration // when each sequence number arrived, since start
	seqs  []uint16                 // in arrival order
	keys  []bool                   // whether each starts a keyframe
	start time.Time
}

func (w *timedWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if g := w.gate.Load(); g != nil {
		<-*g
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seqs = append(w.seqs, h.SequenceNumber)
	w.keys = append(w.keys, isKeyframeStart(codecVP8, payload))
	w.at[h.SequenceNumber] = time.Since(w.start)
	return len(payload), nil
}

func (w *timedWriter) Write(b []byte) (int, error) { return len(b), nil }

// TestSlowSubscriberStallsNoOne: one subscriber's connection takes nothing for
// 5 s (its writes block). The publisher's read loop goes on, its two other
// subscribers get every packet with no added delay, and the slow one, once its
// connection takes packets again, goes on from a keyframe with no hole in its
// numbering (nothing for it to NACK).
func TestSlowSubscriberStallsNoOne(t *testing.T) {
	var p plis
	r := newReceiver("V1", "0", vp8, webrtc.RTPCodecTypeVideo, nil, p.write, nil, new(counters))
	r.addLayer(0, "", nil)
	r.layer(0).ssrc = 5000
	start := time.Now()
	newSub := func(ssrc uint32) (*Forwarder, *timedWriter, *sendQueue) {
		w := &timedWriter{at: map[uint16]time.Duration{}, start: start}
		q := newSendQueue()
		f := newForwarder("F", webrtc.RTPCodecTypeVideo, vp8, "S", "L", new(counters))
		f.bound.Store(&binding{ssrc: ssrc, pt: 96, writer: w})
		f.q = q
		f.SwitchTo(r)
		return f, w, q
	}
	fslow, slow, qs := newSub(1)
	_, fast1, q1 := newSub(2)
	_, fast2, q2 := newSub(3)
	gate := make(chan struct{})

	// 200 packets a second for 8 s: a keyframe each second, 4 packets a frame.
	// The slow subscriber stops taking packets from 1 s to 6 s.
	v := &vpxLayer{ssrc: 5000, seq: 1000, pid: 77}
	var pkt rtp.Packet
	var handoff []time.Duration // when the read loop handed each packet over
	frames := 0
	var stalled, resumed time.Duration
	for next := time.Duration(0); next < 8*time.Second; next += 20 * time.Millisecond {
		if d := next - time.Since(start); d > 0 {
			time.Sleep(d)
		}
		if stalled == 0 && time.Since(start) >= time.Second {
			stalled = time.Since(start)
			slow.gate.Store(&gate)
		}
		if resumed == 0 && time.Since(start) >= 6*time.Second {
			resumed = time.Since(start)
			close(gate)
		}
		for _, raw := range v.frame(frames%50 == 0, 4) {
			handoff = append(handoff, time.Since(start))
			r.forward(raw, &pkt, nowNanos())
		}
		frames++
		if frames%50 == 1 {
			r.layer(0).lastKeyframe.Store(0) // let the next overflow's keyframe request go up at once
		}
	}
	for _, q := range []*sendQueue{qs, q1, q2} {
		for !q.empty() {
			time.Sleep(time.Millisecond)
		}
		q.stop()
		q.wait()
	}

	// The fast subscribers: every packet, in order, and their delay from the
	// read loop's hand-off to their writer during the stall no worse than before
	// it by more than 5 ms.
	for i, w := range []*timedWriter{fast1, fast2} {
		w.mu.Lock()
		n := len(w.seqs)
		var before, during []time.Duration
		for k, seq := range w.seqs {
			late := w.at[seq] - handoff[min(k, len(handoff)-1)]
			switch at := w.at[seq]; {
			case at < stalled:
				before = append(before, late)
			case at < resumed:
				during = append(during, late)
			}
		}
		w.mu.Unlock()
		if n != frames*4 {
			t.Errorf("fast subscriber %d got %d of %d packets", i+1, n, frames*4)
		}
		pb, pd := p99(before), p99(during)
		t.Logf("fast subscriber %d: %d packets; p99 delay %v before the stall, %v during it", i+1, n, pb, pd)
		if len(during) < 500 || pd > pb+5*time.Millisecond {
			t.Errorf("fast subscriber %d: %d packets during the stall, p99 delay %v (before: %v)", i+1, len(during), pd, pb)
		}
	}

	// The slow subscriber: its numbering has no hole; it got what it was sent
	// before the stall, then (once its connection takes packets again) the write
	// that blocked and the full queue, and then the stream goes on from a keyframe.
	slow.mu.Lock()
	defer slow.mu.Unlock()
	before := 0
	for k, seq := range slow.seqs {
		if k > 0 && seq != slow.seqs[k-1]+1 {
			t.Errorf("the slow subscriber's numbering jumps from %d to %d", slow.seqs[k-1], seq)
		}
		if slow.at[seq] < stalled {
			before++
		}
	}
	drops := fslow.stats.queueDrops.Load()
	// The first packet not queued before the overflow: after those written before
	// the stall, the batch the writer had taken when its write blocked (1 to
	// writeBatch packets) and the full queue.
	from, to := before+1+queueLen, before+writeBatch+queueLen
	t.Logf("slow subscriber: %d packets (%d before the stall); %d dropped while its queue was full", len(slow.seqs), before, drops)
	if drops < 300 { // 5 s at 200 packets a second, less the 512 the queue holds
		t.Errorf("%d packets dropped: the slow subscriber's queue never stayed full, the test proves nothing", drops)
	}
	if len(slow.seqs) <= to || !slices.Contains(slow.keys[from:to+1], true) {
		t.Errorf("after its queue drained, the slow subscriber's stream does not go on from a keyframe (%d packets, restart between %d and %d)", len(slow.seqs), from, to)
	}
}

// p99 is the 99th percentile of ds (0 for none).
func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)*99/100]
}

// TestQueuedForwardAllocatesNothing: queuing a packet for the subscriber's
// writer, and its writing, allocate nothing in steady state.
func TestQueuedForwardAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers on purpose")
	}
	r := testReceiver()
	q := newSendQueue()
	defer func() { q.stop(); q.wait() }()
	var ws []*recordWriter
	for i := range 10 {
		f, w := boundForwarder(r, uint32(i+1), 96)
		f.q = q
		ws = append(ws, w)
	}
	raw := rawPacket(t, 1, 1, true)
	var pkt rtp.Packet
	r.forward(raw, &pkt, 0)
	seq := uint16(1)
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		setSeq(raw, seq)
		r.forward(raw, &pkt, 0)
		for !q.empty() {
			runtime.Gosched() // the writer's turn
		}
	})
	if allocs != 0 {
		t.Fatalf("queuing one packet for 10 subscribers allocates %.1f times", allocs)
	}
}

// BenchmarkForwardQueued is BenchmarkForward with the subscribers' send queue
// in the path: the read loop's copy into the queue, and the writer's hand-off.
func BenchmarkForwardQueued(b *testing.B) {
	for _, k := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", k), func(b *testing.B) {
			r := testReceiver()
			q := newSendQueue()
			defer func() { q.stop(); q.wait() }()
			for i := range k {
				f, _ := boundForwarder(r, uint32(i+1), 96)
				f.q = q
			}
			raws := make([][]byte, 256)
			for i := range raws {
				raws[i] = rawPacket(b, uint16(i), uint32(i)*3000, true)
			}
			var pkt rtp.Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(raws[0])))
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				p := raws[i&255]
				setSeq(p, uint16(i))
				r.forward(p, &pkt, 0)
				for q.room() < k {
					runtime.Gosched() // the writer's turn: a full queue would drop
				}
			}
		})
	}
}
