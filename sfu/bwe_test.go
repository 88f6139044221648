package sfu

import (
	"testing"

	"github.com/pion/rtcp"
)

// bottleneck is a simulated link: a rate, a drop-tail queue and a base delay,
// on a clock the test drives (ns).
type bottleneck struct {
	rate     float64 // bits/s
	queueMax float64 // bytes
	base     int64
	free     int64 // when the link finishes what it holds
}

// send returns when a packet sent at now arrives, or false when the queue is full.
func (b *bottleneck) send(now int64, size int) (int64, bool) {
	start := max(now, b.free)
	if queued := float64(start-now) * b.rate / 8 / 1e9; queued > b.queueMax {
		return 0, false
	}
	b.free = start + int64(float64(size)*8/b.rate*1e9)
	return b.free + b.base, true
}

type simPacket struct {
	seq     uint16
	arrival int64
	lost    bool
}

// feedback builds the TWCC report a browser would send for pkts.
func feedback(pkts []simPacket, count uint8) *rtcp.TransportLayerCC {
	fb := &rtcp.TransportLayerCC{BaseSequenceNumber: pkts[0].seq, PacketStatusCount: uint16(len(pkts)), FbPktCount: count}
	first := int64(-1)
	for _, p := range pkts {
		if !p.lost && (first < 0 || p.arrival < first) {
			first = p.arrival
		}
	}
	if first < 0 {
		first = 0
	}
	ref := first / 64e6
	fb.ReferenceTime = uint32(ref)
	at := ref * 64e6
	for _, p := range pkts {
		if p.lost {
			fb.PacketChunks = append(fb.PacketChunks, &rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketNotReceived, RunLength: 1})
			continue
		}
		d := (p.arrival - at) / 1000
		at += d * 1000
		fb.PacketChunks = append(fb.PacketChunks, &rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedLargeDelta, RunLength: 1})
		fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: d})
	}
	return fb
}

// TestEstimatorFindsTheBottleneck drives the estimator the way a subscriber
// behind a 300 kbit/s link would: the sender picks the largest simulcast
// layer the estimate allows. Under the cap it must settle on the low layer
// with little loss; once the cap is lifted it must climb to a higher layer.
func TestEstimatorFindsTheBottleneck(t *testing.T) {
	e := newEstimator()
	link := &bottleneck{rate: 300_000, queueMax: 30_000, base: 20e6}
	layerRates := []float64{150_000, 500_000, 1_500_000}
	choose := func() int {
		est := float64(e.Target()) - audioRate
		l := 0
		for i, r := range layerRates {
			if r <= est {
				l = i
			}
		}
		return l
	}
	const size = 1200
	var (
		now     int64
		nextFb  int64 = 100e6
		batch   []simPacket
		fbCount uint8
		credit  float64
	)
	type tally struct{ sent, lost, layerTime [3]int }
	run := func(until int64, tl *tally) {
		for ; now < until; now += 1e6 { // 1 ms steps
			layer := choose()
			tl.layerTime[layer]++
			credit += (layerRates[layer] + audioRate) / 8 / 1000
			for credit >= size {
				credit -= size
				seq := e.nextSeq()
				e.onSent(seq, size, now)
				arr, ok := link.send(now, size)
				batch = append(batch, simPacket{seq: seq, arrival: arr, lost: !ok})
				tl.sent[layer]++
				if !ok {
					tl.lost[layer]++
				}
			}
			if now >= nextFb && len(batch) > 0 {
				e.onTWCC(feedback(batch, fbCount), now+20e6)
				fbCount++
				batch = batch[:0]
				nextFb = now + 100e6
			}
		}
	}
	var warm, capped, lifted tally
	run(10e9, &warm)
	run(30e9, &capped)
	sum := func(a [3]int) int { return a[0] + a[1] + a[2] }
	lossRate := float64(sum(capped.lost)) / float64(sum(capped.sent))
	lowShare := float64(capped.layerTime[0]) / float64(sum(capped.layerTime))
	t.Logf("capped 300 kbit/s, 10-30 s: low layer %.0f%% of the time, loss %.1f%%, estimate %d", lowShare*100, lossRate*100, e.Target())
	if lowShare < 0.8 {
		t.Errorf("under a 300 kbit/s cap the low layer ran only %.0f%% of the time", lowShare*100)
	}
	if lossRate > 0.03 {
		t.Errorf("under the cap %.1f%% of packets were lost", lossRate*100)
	}
	link.rate, link.queueMax = 5_000_000, 200_000
	run(60e9, &lifted)
	last := choose()
	t.Logf("cap lifted, 30-60 s: layer time %v, final estimate %d, layer %d", lifted.layerTime, e.Target(), last)
	if last < 1 || lifted.layerTime[0] == sum(lifted.layerTime) {
		t.Errorf("after the cap was lifted the estimate (%d) never allowed a higher layer", e.Target())
	}
}

// TestEstimatorFallsBackToReports: with no TWCC, REMB caps the estimate and
// receiver-report loss lowers it.
func TestEstimatorFallsBackToReports(t *testing.T) {
	e := newEstimator()
	e.onREMB(250_000, 1e9)
	if got := e.Target(); got != 250_000 {
		t.Fatalf("after REMB 250k the estimate is %d", got)
	}
	e2 := newEstimator()
	for i := range 5 {
		e2.onReceiverLoss(0.3, int64(i+1)*1e9)
	}
	if got := e2.Target(); got >= bweInitial {
		t.Fatalf("30%% loss in receiver reports left the estimate at %d", got)
	}
	if !e2.hasFeedback() {
		t.Fatal("receiver reports do not count as feedback")
	}
}

// TestLossDecisionsComeFromReceiverReports: TWCC that reports packets
// missing (which Chrome was seen doing for packets its RTP stream received)
// does not cut the estimate; a receiver report with heavy loss does.
func TestLossDecisionsComeFromReceiverReports(t *testing.T) {
	e := newEstimator()
	now := int64(1e9)
	var count uint8
	for range 50 { // 5 s of reports: 40% of packets "missing", no queue
		var batch []simPacket
		for range 10 {
			seq := e.nextSeq()
			e.onSent(seq, 1200, now)
			batch = append(batch, simPacket{seq: seq, arrival: now + 20e6, lost: seq%5 < 2})
			now += 10e6
		}
		e.onTWCC(feedback(batch, count), now)
		count++
	}
	if got := e.Target(); got < bweInitial {
		t.Fatalf("TWCC-only loss cut the estimate to %d", got)
	}
	before := e.Target()
	e.onReceiverLoss(0.3, now)
	if got := e.Target(); got >= before {
		t.Fatalf("30%% loss in a receiver report left the estimate at %d (was %d)", got, before)
	}
}
