package transcribe

import "time"

// Voice activity: a packet is voiced when its RFC 6464 level (in -dBov, lower
// is louder) is below voicedLevel. A segment starts at the first voiced packet
// (with preRoll before it, as the level lags the onset of a word) and ends once
// hangover has passed without a voiced packet, so that the quiet ends of words
// and the pauses between them stay in, or when it has lasted maxSegment.
const (
	voicedLevel = 60
	preRoll     = 300 * time.Millisecond
	hangover    = 600 * time.Millisecond
	maxSegment  = 15 * time.Second
	// minVoiced is the least voiced audio a segment must hold to be sent:
	// a click or a cough is not worth a request.
	minVoiced = 200 * time.Millisecond
)

// packet is one Opus packet of a track as the segmenter sees it.
type packet struct {
	ts      uint32    // RTP timestamp
	level   int       // -dBov, or -1 when the packet carried none
	at      time.Time // arrival
	payload []byte
}

// Segment is a stretch of speech on one track.
type Segment struct {
	// Start and End are when the first and the last packet arrived.
	Start, End time.Time
	// RTPStart and RTPEnd are the first and last packets' RTP timestamps, to
	// place the segment in the track's recorded file.
	RTPStart, RTPEnd uint32
	// Payloads are the Opus packets in order; Timestamps their RTP times.
	Payloads   [][]byte
	Timestamps []uint32
	// Cut: the speech went on past maxSegment; the next segment continues it.
	Cut bool
}

// Duration is the media time the segment spans.
func (s *Segment) Duration(clock uint32) time.Duration {
	return time.Duration(uint64(s.RTPEnd-s.RTPStart)) * time.Second / time.Duration(clock)
}

// segmenter cuts one track's packets into segments. It is fed by one
// goroutine and knows no clock but the packets' own and the times it is given.
type segmenter struct {
	clock      uint32 // RTP clock rate
	haveLevels bool   // the track carries levels; without them every packet counts as voiced

	pre    []packet // idle: the last preRoll of packets
	cur    *Segment // the segment being gathered, or nil
	voiced uint32   // RTP time voiced in cur
	lastV  uint32   // RTP timestamp of cur's last voiced packet
	lastTS uint32   // RTP timestamp of the last packet
	lastAt time.Time
}

func newSegmenter(clock uint32, haveLevels bool) *segmenter {
	if clock == 0 {
		clock = 48000
	}
	return &segmenter{clock: clock, haveLevels: haveLevels}
}

func (g *segmenter) ticks(d time.Duration) uint32 {
	return uint32(d * time.Duration(g.clock) / time.Second)
}

// push takes the next packet; it returns a segment when one ended.
func (g *segmenter) push(p packet) *Segment {
	var done *Segment
	// A packet from before the last one (reordered, or a repeat) adds nothing
	// the segment can use: Opus packets go in RTP order.
	if (g.cur != nil || len(g.pre) > 0) && int32(p.ts-g.lastTS) <= 0 {
		return nil
	}
	voiced := !g.haveLevels || (p.level >= 0 && p.level < voicedLevel)
	if g.cur != nil && int32(p.ts-g.lastV) > int32(g.ticks(hangover)) {
		done = g.end(false) // the speaker stopped
	}
	if g.cur != nil && p.ts-g.cur.RTPStart >= g.ticks(maxSegment) {
		done = g.end(true) // long speech: cut here, carry on in a new segment
		g.begin(p, voiced)
		return done
	}
	g.lastTS, g.lastAt = p.ts, p.at
	if g.cur == nil {
		if !voiced {
			g.pre = append(g.pre, p)
			for len(g.pre) > 0 && p.ts-g.pre[0].ts > g.ticks(preRoll) {
				g.pre = g.pre[1:]
			}
			return done
		}
		g.begin(p, true)
		return done
	}
	g.add(p, voiced)
	return done
}

// begin opens a segment with the pre-roll and p.
func (g *segmenter) begin(p packet, voiced bool) {
	g.cur = &Segment{}
	for _, q := range g.pre {
		g.add(q, false)
	}
	g.pre = g.pre[:0]
	g.add(p, voiced)
	g.lastTS, g.lastAt = p.ts, p.at
}

func (g *segmenter) add(p packet, voiced bool) {
	s := g.cur
	if len(s.Payloads) == 0 {
		s.Start, s.RTPStart = p.at, p.ts
		g.voiced = 0
	}
	if voiced {
		if len(s.Payloads) > 0 {
			// A packet voices the time since the one before it, up to 20 ms.
			g.voiced += min(p.ts-s.Timestamps[len(s.Timestamps)-1], g.ticks(20*time.Millisecond))
		} else {
			g.voiced += g.ticks(20 * time.Millisecond)
		}
		g.lastV = p.ts
	}
	s.End, s.RTPEnd = p.at, p.ts
	s.Payloads = append(s.Payloads, p.payload)
	s.Timestamps = append(s.Timestamps, p.ts)
}

// tick is called now and then with the time: a segment whose track fell
// silent (muted, DTX pause, ended) ends hangover after its last packet.
func (g *segmenter) tick(now time.Time) *Segment {
	if g.cur != nil && now.Sub(g.lastAt) > hangover {
		return g.end(false)
	}
	return nil
}

// flush ends the segment in progress (the track ended).
func (g *segmenter) flush() *Segment { return g.end(false) }

// end closes the current segment; it returns nil when there was none or it
// held too little voice to send.
func (g *segmenter) end(cut bool) *Segment {
	s := g.cur
	g.cur = nil
	g.pre = g.pre[:0]
	if s == nil || g.voiced < g.ticks(minVoiced) {
		return nil
	}
	s.Cut = cut
	return s
}
