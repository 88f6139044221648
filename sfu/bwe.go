package sfu

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/pion/rtcp"
)

// Bandwidth estimation for one subscriber's downlink. Every packet the server
// sends carries a transport-wide sequence number (the transport-cc header
// extension); the subscriber's browser reports when each arrived (TWCC
// feedback). From that comes queuing delay (one-way delay above the least seen
// lately: a queue is building at the bottleneck) and the delivered rate; loss
// comes from receiver reports. Either signal lowers the estimate to below what
// actually got through; a clear path raises it, quickly until the first
// congestion, then gently. REMB and receiver-report loss alone stand in for
// subscribers that send no TWCC.
//
// It is deliberately smaller than Google's GCC (no Kalman or trendline
// filter): the SFU forwards layers whose rates are set by the publishers, so
// it only needs to know which layers fit, and a delay threshold tells that
// reliably before the bottleneck drops packets.
const (
	bweInitial   = 500_000
	bweMin       = 100_000
	bweMax       = 20_000_000
	bweHistory   = 4096 // sent packets remembered for feedback (a few seconds of video)
	overuseDelay = 60e6 // ns of queuing delay that means congestion
	clearDelay   = 25e6 // ns of queuing delay under which the path is clear
	baseWindow   = 10e9 // ns over which the base one-way delay is the minimum
	rateWindow   = 500e6
	kneeMemory   = 30e9 // how long the rate at the last congestion guides the climb
	lossWarmup   = 2e9  // loss reported this soon after the first feedback is ignored
)

type sentSlot struct {
	at   atomic.Int64  // send time, ns
	meta atomic.Uint32 // sequence number << 16 | size; 0 when empty
	lost atomic.Bool   // a report said it was missing (it may yet arrive: reordering)
}

type estimator struct {
	seq atomic.Uint32
	// sent is made with the first packet numbered for feedback: 64 KiB that
	// a subscriber without transport-wide feedback (most WHEP players) or a
	// peer that only publishes never needs. At 300 WHEP viewers it was a
	// third of the server's heap.
	sent atomic.Pointer[[bweHistory]sentSlot]

	mu           sync.Mutex
	estimate     float64 // bits/s
	lastUpdate   int64
	lastDecrease int64
	holdUntil    int64
	congested    bool // seen congestion once: leave the fast start
	twccAt       int64
	remb         float64
	// Base one-way delay: the minimum over two alternating windows, so an old
	// minimum ages out (the route or the clocks may shift).
	baseCur, basePrev float64
	baseStart         int64
	baseSet           bool
	// Delivered rate over rateWindow of arrival time.
	winBytes  int
	winFirst  int64
	winLast   int64
	acked     float64
	lastQueue float64 // ns, latest queuing delay seen
	lastLoss  float64
	firstFb   int64
	winGot    int // packets reported since the last loss figure
	winLost   int
	overuses  int     // consecutive reports over the delay threshold
	knee      float64 // delivered rate when congestion last struck; 0: none lately
	kneeAt    int64
	published atomic.Uint64 // estimate for readers that must not take mu
	// Retransmission budget (bits), refilled at rtxShare of the estimate.
	rtxTokens float64
	rtxAt     int64
	feedback  atomic.Bool // any TWCC, REMB or receiver report arrived
	lastFbSeq int         // feedback packet count of the last TWCC, -1 before any
}

func newEstimator() *estimator {
	e := &estimator{estimate: bweInitial, lastFbSeq: -1}
	e.published.Store(bweInitial)
	return e
}

// nextSeq numbers one outgoing packet.
func (e *estimator) nextSeq() uint16 { return uint16(e.seq.Add(1) - 1) }

// onSent remembers a packet for feedback. It runs on the media path: no locks
// and no allocation.
func (e *estimator) onSent(seq uint16, size int, now int64) {
	h := e.sent.Load()
	if h == nil {
		e.sent.CompareAndSwap(nil, new([bweHistory]sentSlot))
		h = e.sent.Load()
	}
	s := &h[int(seq)%bweHistory]
	s.at.Store(now)
	s.lost.Store(false)
	s.meta.Store(uint32(seq)<<16 | uint32(min(size, 0xffff)))
}

func (e *estimator) lookup(seq uint16) (at int64, size int, ok bool) {
	h := e.sent.Load()
	if h == nil {
		return 0, 0, false
	}
	s := &h[int(seq)%bweHistory]
	m := s.meta.Load()
	if m == 0 || uint16(m>>16) != seq {
		return 0, 0, false
	}
	return s.at.Load(), int(m & 0xffff), true
}

// Target is the current estimate in bits/s.
func (e *estimator) Target() uint64 { return e.published.Load() }

// onTWCC digests one transport-wide feedback packet.
func (e *estimator) onTWCC(fb *rtcp.TransportLayerCC, now int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if int(fb.FbPktCount) == e.lastFbSeq {
		return // the same feedback again (it may reach more than one sender)
	}
	e.lastFbSeq = int(fb.FbPktCount)
	if e.firstFb == 0 {
		e.firstFb = now
	}
	e.twccAt = now
	e.feedback.Store(true)
	arrival := int64(fb.ReferenceTime) * 64e6
	seq := fb.BaseSequenceNumber
	deltas := fb.RecvDeltas
	left := int(fb.PacketStatusCount)
	var lost, got int
	queue := math.Inf(1)
	status := func(sym uint16) {
		if left <= 0 {
			return
		}
		left--
		s := seq
		seq++
		sentAt, size, known := e.lookup(s)
		switch sym {
		case rtcp.TypeTCCPacketReceivedSmallDelta, rtcp.TypeTCCPacketReceivedLargeDelta:
			if len(deltas) == 0 {
				return
			}
			arrival += deltas[0].Delta * 1000
			deltas = deltas[1:]
			if !known {
				return
			}
			if slot := &e.sent.Load()[int(s)%bweHistory]; slot.lost.Swap(false) {
				// Reported missing before, arrived after all: it was
				// reordered, not lost.
				e.winLost = max(0, e.winLost-1)
			}
			got++
			owd := float64(arrival - sentAt)
			e.updateBase(owd, now)
			// The least-delayed packet of the report: a standing queue
			// delays them all, a scheduling hiccup only some.
			queue = math.Min(queue, owd-e.base())
			e.delivered(size, arrival)
		case rtcp.TypeTCCPacketNotReceived:
			if known && !e.sent.Load()[int(s)%bweHistory].lost.Swap(true) {
				lost++
			}
		}
	}
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for range min(int(c.RunLength), left) {
				status(c.PacketStatusSymbol)
			}
		case *rtcp.StatusVectorChunk:
			for _, sym := range c.SymbolList {
				status(sym)
			}
		}
	}
	if got+lost == 0 {
		return
	}
	if got == 0 {
		queue = 0
	}
	// TWCC's loss, over at least 50 packets, is kept for stats only. The
	// decisions use the loss receiver reports give (onReceiverLoss): over
	// relayed paths Chrome was seen reporting in TWCC a fifth of the video
	// packets missing that its RTP stream had received (no NACK, no
	// packetsLost), and an estimate driven by that collapsed for good.
	e.winGot += got
	e.winLost += lost
	if n := e.winGot + e.winLost; n >= 50 {
		e.lastLoss = float64(e.winLost) / float64(n)
		e.winGot, e.winLost = 0, 0
	}
	e.lastQueue = queue
	e.update(queue, -1, now)
}

func (e *estimator) updateBase(owd float64, now int64) {
	if !e.baseSet {
		e.baseCur, e.basePrev, e.baseStart, e.baseSet = owd, owd, now, true
		return
	}
	if now-e.baseStart > baseWindow/2 {
		e.basePrev, e.baseCur, e.baseStart = e.baseCur, owd, now
	}
	e.baseCur = math.Min(e.baseCur, owd)
}

func (e *estimator) base() float64 { return math.Min(e.baseCur, e.basePrev) }

// delivered accounts a packet that arrived, for the delivered rate.
func (e *estimator) delivered(size int, arrival int64) {
	if e.winBytes == 0 || arrival < e.winFirst {
		e.winFirst = arrival
	}
	e.winBytes += size
	e.winLast = max(e.winLast, arrival)
	if span := e.winLast - e.winFirst; span >= rateWindow {
		rate := float64(e.winBytes) * 8 * 1e9 / float64(span)
		if e.acked == 0 {
			e.acked = rate
		} else {
			e.acked = 0.5*e.acked + 0.5*rate
		}
		e.winBytes = 0
	}
}

// update moves the estimate on one round of evidence: queue is the queuing
// delay (ns), loss the fraction lost, or -1 when there is no new figure.
func (e *estimator) update(queue, loss float64, now int64) {
	dt := 0.0
	if e.lastUpdate != 0 {
		dt = math.Min(float64(now-e.lastUpdate)/1e9, 1)
	}
	e.lastUpdate = now
	if queue > overuseDelay {
		e.overuses++
	} else {
		e.overuses = 0
	}
	if e.knee > 0 && now-e.kneeAt > kneeMemory {
		e.knee = 0 // the path may have changed since
	}
	switch {
	case loss > 0.1 || e.overuses >= 2:
		e.congested = true
		// At most one cut per 300 ms: feedback of the same congestion keeps
		// arriving for a round trip.
		if now-e.lastDecrease < 300e6 {
			break
		}
		target := e.estimate * 0.85
		if e.acked > 0 {
			// Below what got through, but a sender that used little of the
			// estimate learns little from one bad report: halve at most.
			target = math.Max(e.acked*0.85, e.estimate*0.5)
		}
		if loss > 0.1 {
			target = math.Min(target, e.estimate*(1-0.5*loss))
		}
		e.estimate = math.Min(e.estimate, target)
		e.knee, e.kneeAt = math.Max(e.acked, e.estimate), now
		e.lastDecrease = now
		e.holdUntil = now + 1e9
	case (loss < 0 || loss < 0.02) && queue < clearDelay && now >= e.holdUntil:
		var next float64
		switch {
		case !e.congested:
			next = e.estimate * (1 + 1.0*dt) // fast start: double per second
		case e.knee > 0 && e.estimate > 0.8*e.knee && e.estimate < 1.2*e.knee:
			// Near where congestion struck: creep, so a link at its limit
			// is probed gently rather than overrun every few seconds.
			next = e.estimate + 0.05*e.knee*dt
		default:
			next = e.estimate * (1 + 0.15*dt)
		}
		// A path used lightly says little about a heavier load: do not run
		// far ahead of what was delivered.
		if ceiling := 2*e.acked + 800_000; e.acked > 0 && next > ceiling {
			next = math.Max(e.estimate, ceiling)
		}
		e.estimate = next
	}
	e.estimate = math.Max(bweMin, math.Min(bweMax, e.estimate))
	if e.remb > 0 && e.twccStale(now) {
		e.estimate = math.Min(e.estimate, e.remb)
	}
	e.published.Store(uint64(e.estimate))
}

// onREMB takes a receiver's own estimate; it rules only while no TWCC arrives.
func (e *estimator) onREMB(bitrate float64, now int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.remb = bitrate
	e.feedback.Store(true)
	if e.twccStale(now) {
		e.estimate = math.Max(bweMin, math.Min(bweMax, bitrate))
		e.published.Store(uint64(e.estimate))
	}
}

// onReceiverLoss takes a receiver report's fraction lost (RTP-level, what the
// viewer really misses): with TWCC it cuts on heavy loss and holds the climb
// on moderate loss, the way GCC's loss-based controller does; without TWCC it
// is the whole estimate (with REMB, REMB rules).
func (e *estimator) onReceiverLoss(fraction float64, now int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.remb > 0 && e.twccStale(now) {
		return
	}
	e.feedback.Store(true)
	if e.twccStale(now) {
		e.update(0, fraction, now)
		return
	}
	if now-e.firstFb < lossWarmup {
		return // the connection starting (keys not yet in place at the far end), not the path
	}
	switch {
	case fraction > 0.1:
		e.update(e.lastQueue, fraction, now)
	case fraction >= 0.02:
		e.holdUntil = max(e.holdUntil, now+1e9)
	}
}

// twccStale reports whether TWCC has been silent (or never came) for 2 s.
func (e *estimator) twccStale(now int64) bool { return e.twccAt == 0 || now-e.twccAt > 2e9 }

// hasFeedback reports whether the estimate rests on anything the subscriber said.
func (e *estimator) hasFeedback() bool { return e.feedback.Load() }

// rtxShare is the part of the estimate retransmissions may take, and
// rtxBurst how many seconds of it may go at once. A link that loses packets
// because it overflows must not be sent a retransmission for every NACK: each
// adds to the overflow, more is lost and NACKed, and the link collapses into
// retransmissions while the picture freezes (seen under a 300 kbit/s cap:
// 40 retransmissions a second, three times the cap offered, 4.5 s frozen).
// libwebrtc bounds its retransmissions by the estimate for the same reason.
const (
	rtxShare = 0.5
	rtxBurst = 0.5
)

// spendRetransmit reports whether a retransmission of size bytes fits the
// subscriber's budget now, and takes it if so.
func (e *estimator) spendRetransmit(size int, now int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	rate := rtxShare * float64(e.published.Load())
	if e.rtxAt == 0 || now < e.rtxAt {
		e.rtxTokens = rate * rtxBurst
	} else {
		e.rtxTokens = min(e.rtxTokens+rate*float64(now-e.rtxAt)/1e9, rate*rtxBurst)
	}
	e.rtxAt = now
	bits := float64(size * 8)
	if e.rtxTokens < bits {
		return false
	}
	e.rtxTokens -= bits
	return true
}

// state returns the last queuing delay (ms) and loss seen, for stats and tests.
func (e *estimator) state() (queueMs, loss, acked float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastQueue / 1e6, e.lastLoss, e.acked
}
