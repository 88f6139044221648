package sfu

import (
	"math/rand/v2"
	"testing"

	"github.com/pion/rtp"
)

// source is a synthetic publisher stream: its own SSRC, random starting
// sequence number and timestamp, 20 ms Opus frames.
type source struct {
	ssrc uint32
	seq  uint16
	ts   uint32
}

func (s *source) next() rtp.Header {
	s.seq++
	s.ts += 960
	return rtp.Header{SSRC: s.ssrc, SequenceNumber: s.seq, Timestamp: s.ts}
}

func TestMungerContinuousAcrossManySwitches(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	srcs := make([]*source, 3)
	for i := range srcs {
		srcs[i] = &source{ssrc: rng.Uint32(), seq: uint16(rng.Uint32()), ts: rng.Uint32()}
	}
	m := munger{clock: 48000}
	now := int64(0)
	cur := 0
	var lastSeq uint16
	var lastTS uint32
	seen := map[uint16]bool{}
	sent := 0
	for i := range 5000 {
		if i > 0 && rng.IntN(40) == 0 { // switch source now and then
			cur = (cur + 1 + rng.IntN(2)) % len(srcs)
			m.switched()
		}
		for j, s := range srcs { // every source keeps producing, forwarded or not
			h := s.next()
			if j != cur {
				continue
			}
			seq, ts, ok := m.rewrite(&h, now)
			if !ok {
				t.Fatalf("packet %d of the current source was dropped", i)
			}
			if sent > 0 {
				if seq != lastSeq+1 {
					t.Fatalf("packet %d: seq %d after %d (gap or repeat)", i, seq, lastSeq)
				}
				if d := ts - lastTS; d == 0 || d > 48000 {
					t.Fatalf("packet %d: timestamp step %d", i, d)
				}
			}
			if seen[seq] && sent < 65536 {
				t.Fatalf("sequence number %d sent twice", seq)
			}
			seen[seq] = true
			lastSeq, lastTS = seq, ts
			sent++
		}
		now += 20_000_000
	}
}

func TestMungerTimestampFollowsWallClockOverAPause(t *testing.T) {
	m := munger{clock: 48000}
	a := &source{ssrc: 1, seq: 100, ts: 1000}
	b := &source{ssrc: 2, seq: 60000, ts: 4_000_000_000}
	h := a.next()
	_, ts1, _ := m.rewrite(&h, 0)
	m.switched()
	h = b.next()
	_, ts2, _ := m.rewrite(&h, 2_000_000_000) // two seconds of silence between the sources
	if d := ts2 - ts1; d < 95000 || d > 97000 {
		t.Fatalf("timestamp advanced %d over 2 s, want about 96000", d)
	}
}

func TestMungerDropsLatePacketsOfTheOldSourceAndMapsRetransmissions(t *testing.T) {
	m := munger{clock: 48000}
	a := &source{ssrc: 1, seq: 10, ts: 0}
	var sent []uint16
	for range 5 {
		h := a.next()
		seq, _, _ := m.rewrite(&h, 0)
		sent = append(sent, seq)
	}
	// Reordered packet from before the start of the stream.
	old := rtp.Header{SSRC: 1, SequenceNumber: 5, Timestamp: 0}
	if _, _, ok := m.rewrite(&old, 0); ok {
		t.Fatal("a packet older than the stream's start was forwarded")
	}
	m.switched()
	b := &source{ssrc: 2, seq: 500, ts: 0}
	h := b.next()
	first, _, _ := m.rewrite(&h, 0)
	if _, ok := m.source(sent[2]); ok {
		t.Fatal("a retransmission request for the old source maps into the new one")
	}
	if src, ok := m.source(first); !ok || src != h.SequenceNumber {
		t.Fatalf("source(%d) = %d,%v; want %d", first, src, ok, h.SequenceNumber)
	}
	if _, ok := m.source(first + 5); ok {
		t.Fatal("a sequence number not yet sent maps to a source packet")
	}
}

func TestForwarderSwitchesBetweenReceivers(t *testing.T) {
	a, b := testReceiver(), testReceiver()
	w := &recordWriter{}
	f := newTestForwarder(w, 42, 111)
	f.SwitchTo(a)
	var pkt rtp.Packet
	a.forward(rawPacket(t, 1000, 5000, false), &pkt, 0)
	b.forward(rawPacket(t, 7, 9, false), &pkt, 0) // not the source: nothing
	if w.n != 1 || w.last.SequenceNumber != 1000 {
		t.Fatalf("after a: %d packets, last seq %d", w.n, w.last.SequenceNumber)
	}
	f.SwitchTo(b)
	if a.Forwarders() != 0 || b.Forwarders() != 1 {
		t.Fatalf("forwarder lists: a=%d b=%d", a.Forwarders(), b.Forwarders())
	}
	a.forward(rawPacket(t, 1001, 5960, false), &pkt, 0)
	b.forward(rawPacket(t, 8, 969, false), &pkt, 20_000_000)
	if w.n != 2 || w.last.SequenceNumber != 1001 || w.last.SSRC != 42 {
		t.Fatalf("after switch: %d packets, last %+v", w.n, w.last)
	}
	f.SwitchTo(nil)
	b.forward(rawPacket(t, 9, 1929, false), &pkt, 40_000_000)
	if w.n != 2 || b.Forwarders() != 0 {
		t.Fatal("a paused forwarder still sends")
	}
}
