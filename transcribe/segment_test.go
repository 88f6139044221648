package transcribe

import (
	"testing"
	"time"
)

// feed pushes n 20 ms packets at level, from ts on, and returns the
// segments that ended and the next timestamp.
func feed(g *segmenter, ts uint32, at time.Time, n, level int) ([]*Segment, uint32, time.Time) {
	var out []*Segment
	for range n {
		if s := g.push(packet{ts: ts, level: level, at: at, payload: []byte{0xfc, 1}}); s != nil {
			out = append(out, s)
		}
		ts += 960
		at = at.Add(20 * time.Millisecond)
	}
	return out, ts, at
}

const loud, quiet = 30, 127

func TestSegmenterHangoverKeepsPauses(t *testing.T) {
	g := newSegmenter(48000, true)
	at := time.Unix(1000, 0)
	var segs []*Segment
	ts := uint32(1 << 31)
	add := func(n, level int) {
		var s []*Segment
		s, ts, at = feed(g, ts, at, n, level)
		segs = append(segs, s...)
	}
	add(50, quiet) // 1 s of silence: only the pre-roll is kept
	add(50, loud)  // 1 s of speech
	add(20, quiet) // a 400 ms pause inside the hangover: the same segment
	add(50, loud)
	add(40, quiet) // 800 ms: beyond the hangover, the segment ends
	if len(segs) != 1 {
		t.Fatalf("%d segments, want 1", len(segs))
	}
	s := segs[0]
	// Pre-roll (300 ms, 15 packets + the first voiced) + 1 s + 400 ms + 1 s +
	// the hangover's packets (600 ms / 20 ms = 30, the 31st ends it).
	if n := len(s.Payloads); n < 15+50+20+50+29 || n > 16+50+20+50+31 {
		t.Errorf("%d packets in the segment", n)
	}
	if d := s.Duration(48000); d < 2900*time.Millisecond || d > 3400*time.Millisecond {
		t.Errorf("segment spans %v", d)
	}
	if s.Cut {
		t.Error("marked as cut")
	}
}

func TestSegmenterCutsLongSpeech(t *testing.T) {
	g := newSegmenter(48000, true)
	segs, _, _ := feed(g, 4294967295-1000, time.Unix(0, 0), 40*50, loud) // 40 s, across the timestamp's wrap
	if len(segs) != 2 {
		t.Fatalf("%d segments, want 2", len(segs))
	}
	for _, s := range segs {
		if d := s.Duration(48000); d > maxSegment || d < maxSegment-100*time.Millisecond || !s.Cut {
			t.Errorf("segment of %v (cut %v)", d, s.Cut)
		}
	}
	if s := g.flush(); s == nil || s.Duration(48000) < 9*time.Second {
		t.Errorf("the rest: %+v", s)
	}
}

func TestSegmenterIgnoresClicksAndSilence(t *testing.T) {
	g := newSegmenter(48000, true)
	ts := uint32(0)
	at := time.Unix(0, 0)
	var segs []*Segment
	for range 5 {
		var s []*Segment
		s, ts, at = feed(g, ts, at, 2, loud) // 40 ms clicks
		segs = append(segs, s...)
		s, ts, at = feed(g, ts, at, 100, quiet)
		segs = append(segs, s...)
	}
	if s := g.flush(); s != nil {
		segs = append(segs, s)
	}
	if len(segs) != 0 {
		t.Fatalf("%d segments from clicks", len(segs))
	}
}

func TestSegmenterEndsWhenPacketsStop(t *testing.T) {
	g := newSegmenter(48000, true)
	_, _, at := feed(g, 0, time.Unix(0, 0), 50, loud)
	if g.tick(at.Add(hangover/2)) != nil {
		t.Fatal("ended within the hangover")
	}
	if s := g.tick(at.Add(hangover + time.Millisecond)); s == nil || len(s.Payloads) != 50 {
		t.Fatalf("not ended after the hangover: %+v", s)
	}
}

func TestSegmenterWithoutLevels(t *testing.T) {
	g := newSegmenter(48000, false)
	feed(g, 0, time.Unix(0, 0), 100, -1)
	if s := g.flush(); s == nil || len(s.Payloads) != 100 {
		t.Fatalf("a track without levels is all speech: %+v", s)
	}
}

func TestSegmenterDropsReordered(t *testing.T) {
	g := newSegmenter(48000, true)
	for _, ts := range []uint32{0, 960, 1920, 960, 2880, 2880, 3840} {
		g.push(packet{ts: ts, level: loud, payload: []byte{1}})
	}
	feed(g, 4800, time.Unix(0, 0), 10, loud)
	s := g.flush()
	if s == nil || len(s.Payloads) != 15 {
		t.Fatalf("%+v", s)
	}
	for i := 1; i < len(s.Timestamps); i++ {
		if s.Timestamps[i] <= s.Timestamps[i-1] {
			t.Fatalf("out of order: %v", s.Timestamps)
		}
	}
}
