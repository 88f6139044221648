package sfu

import (
	"testing"

	"github.com/pion/rtp"
)

// The decision step's rules, without connections: layer switches happen on
// the chosen layer's keyframe only, drops say why, and the outgoing numbering
// runs on without a jump or a repeat across switches and overflows.

func hdr(ssrc uint32, seq uint16, ts uint32) *rtp.Header {
	return &rtp.Header{SSRC: ssrc, SequenceNumber: seq, Timestamp: ts}
}

func TestTranslateWaitsForTheChosenLayersKeyframe(t *testing.T) {
	s := selector{cur: -1, m: munger{clock: 90000}}
	s.sourceChanged(true)
	// Until a keyframe of layer 0 (the target after a source change), nothing.
	if tr := s.translate(hdr(1, 100, 1000), 0, false, true, false, 0); tr.verdict != waitLayer {
		t.Fatalf("a delta frame before any keyframe: %+v", tr)
	}
	if tr := s.translate(hdr(2, 500, 9000), 1, true, true, false, 0); tr.verdict != waitLayer {
		t.Fatalf("a keyframe of a layer not chosen: %+v", tr)
	}
	tr := s.translate(hdr(1, 101, 1000), 0, true, true, false, 1e6)
	if tr.verdict != send || !tr.switched || tr.layerSwitch {
		t.Fatalf("the chosen layer's keyframe: %+v", tr)
	}
	first := tr.seq
	if tr := s.translate(hdr(1, 102, 4000), 0, false, true, false, 2e6); tr.verdict != send || tr.seq != first+1 || tr.switched {
		t.Fatalf("the next packet: %+v, want seq %d", tr, first+1)
	}

	// Choosing layer 2: layer 0 goes on until layer 2's keyframe, then stops.
	s.target = 2
	if tr := s.translate(hdr(3, 7000, 50000), 2, false, true, false, 3e6); tr.verdict != waitLayer {
		t.Fatalf("a delta frame of the new layer: %+v", tr)
	}
	if tr := s.translate(hdr(1, 103, 7000), 0, false, true, false, 3e6); tr.verdict != send || tr.seq != first+2 {
		t.Fatalf("the old layer until the switch: %+v", tr)
	}
	tr = s.translate(hdr(3, 7001, 50000), 2, true, true, false, 40e6)
	if tr.verdict != send || !tr.layerSwitch || tr.seq != first+3 {
		t.Fatalf("the new layer's keyframe: %+v, want a layer switch at seq %d", tr, first+3)
	}
	// 37 ms passed since the last packet sent: the timestamp advances by as much.
	if want := uint32(7000 + 37*90); tr.ts != want {
		t.Errorf("timestamp across the switch %d, want %d", tr.ts, want)
	}
	if tr := s.translate(hdr(1, 104, 10000), 0, false, true, false, 41e6); tr.verdict != waitLayer {
		t.Fatalf("the old layer after the switch: %+v", tr)
	}
}

func TestTranslateOverflow(t *testing.T) {
	// Video: a full queue stops it until the chosen layer's next keyframe,
	// and the numbering runs on across the gap.
	s := selector{cur: -1, m: munger{clock: 90000}}
	s.sourceChanged(true)
	tr := s.translate(hdr(1, 10, 0), 0, true, true, false, 0)
	seq := tr.seq
	if tr := s.translate(hdr(1, 11, 0), 0, false, true, true, 1e6); tr.verdict != overflowed || !tr.restart || s.cur != -1 {
		t.Fatalf("video overflow: %+v, cur %d", tr, s.cur)
	}
	if tr := s.translate(hdr(1, 12, 3000), 0, false, true, false, 2e6); tr.verdict != waitLayer {
		t.Fatalf("video after an overflow, before a keyframe: %+v", tr)
	}
	tr = s.translate(hdr(1, 20, 9000), 0, true, true, false, 30e6)
	if tr.verdict != send || tr.seq != seq+1 || tr.layerSwitch {
		t.Fatalf("the keyframe after an overflow: %+v, want seq %d (no hole to NACK)", tr, seq+1)
	}

	// Audio loses the packet only, and its numbering keeps the hole (the
	// subscriber may conceal it; nothing waits).
	a := selector{cur: -1, m: munger{clock: 48000}}
	a.sourceChanged(false)
	tr = a.translate(hdr(5, 1, 0), 0, false, false, false, 0)
	if tr.verdict != send {
		t.Fatalf("audio's first packet: %+v", tr)
	}
	if tr := a.translate(hdr(5, 2, 960), 0, false, false, true, 20e6); tr.verdict != overflowed || tr.restart {
		t.Fatalf("audio overflow: %+v", tr)
	}
	if tr2 := a.translate(hdr(5, 3, 1920), 0, false, false, false, 40e6); tr2.verdict != send || tr2.seq != tr.seq+2 {
		t.Fatalf("audio after an overflow: %+v, want seq %d", tr2, tr.seq+2)
	}
}

func TestTranslateSourceSwitchAndStalePackets(t *testing.T) {
	// An interpreter hands over a channel: the new source's numbering
	// continues the old one's, and a late packet of the old source, or one
	// older than the new source's first, is not sent.
	s := selector{cur: -1, m: munger{clock: 48000}}
	s.sourceChanged(false)
	var last translation
	for i := range uint16(5) {
		last = s.translate(hdr(7, 1000+i, 960*uint32(i)), 0, false, false, false, int64(i)*20e6)
	}
	s.sourceChanged(false)
	tr := s.translate(hdr(9, 40000, 123456), 0, false, false, false, 200e6)
	if tr.verdict != send || tr.seq != last.seq+1 {
		t.Fatalf("the new source's first packet: %+v, want seq %d", tr, last.seq+1)
	}
	if want := last.ts + 120*48; tr.ts != want {
		t.Errorf("timestamp across the hand-over %d, want %d (120 ms later)", tr.ts, want)
	}
	if tr := s.translate(hdr(9, 39999, 122496), 0, false, false, false, 201e6); tr.verdict != beforeStart {
		t.Fatalf("a packet older than the new source's first: %+v", tr)
	}
	if tr := s.translate(hdr(9, 40001, 124416), 0, false, false, false, 220e6); tr.verdict != send || tr.seq != last.seq+2 {
		t.Fatalf("the new source goes on: %+v", tr)
	}
}

// BenchmarkTranslate: the decision alone costs nothing to allocate.
func BenchmarkTranslate(b *testing.B) {
	s := selector{cur: -1, m: munger{clock: 90000}}
	s.sourceChanged(true)
	h := hdr(1, 0, 0)
	b.ReportAllocs()
	for i := range b.N {
		h.SequenceNumber, h.Timestamp = uint16(i), uint32(i)*3000
		if tr := s.translate(h, 0, i == 0, true, false, int64(i)*1e6); tr.verdict != send {
			b.Fatalf("packet %d: %+v", i, tr)
		}
	}
}
