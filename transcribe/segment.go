package transcribe

import (
	"sync"
	"time"
)

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

// packet is one Opus packet of a track as the segmenter sees it. Its payload
// is lent for the length of a push: the segmenter copies what it keeps, so
// the caller can reuse the memory for the next packet.
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
	// While the segmenter gathers a segment, Payloads is empty and the bytes
	// are in data (ends marks where each packet ends): data grows by append,
	// so slices of it taken before the last growth would hold stale copies.
	Payloads   [][]byte
	Timestamps []uint32
	// Cut: the speech went on past maxSegment; the next segment continues it.
	Cut bool

	data []byte
	ends []int
}

// segments keeps segments' memory for the next ones, so that a track's speech
// goes through the same few buffers: the tap and its segmenter allocate
// nothing per packet once a meeting has warmed up.
var segments = sync.Pool{New: func() any { return new(Segment) }}

func newSegment() *Segment { return segments.Get().(*Segment) }

// release gives the segment's memory back; s must not be used after.
func (s *Segment) release() {
	clear(s.Payloads) // no references into data from the pool
	*s = Segment{Payloads: s.Payloads[:0], Timestamps: s.Timestamps[:0], data: s.data[:0], ends: s.ends[:0]}
	segments.Put(s)
}

// append adds one packet's copy.
func (s *Segment) append(ts uint32, payload []byte) {
	s.data = append(s.data, payload...)
	s.ends = append(s.ends, len(s.data))
	s.Timestamps = append(s.Timestamps, ts)
}

// seal points Payloads at the packets, once data grows no more.
func (s *Segment) seal() {
	s.Payloads = s.Payloads[:0]
	from := 0
	for _, end := range s.ends {
		s.Payloads = append(s.Payloads, s.data[from:end:end])
		from = end
	}
}

// Duration is the media time the segment spans.
func (s *Segment) Duration(clock uint32) time.Duration {
	return time.Duration(uint64(s.RTPEnd-s.RTPStart)) * time.Second / time.Duration(clock)
}

// held is a packet of the pre-roll: its bytes are in segmenter.preData.
type held struct {
	ts    uint32
	level int
	at    time.Time
	n     int
}

// segmenter cuts one track's packets into segments. It is fed by one
// goroutine and knows no clock but the packets' own and the times it is given.
type segmenter struct {
	clock      uint32 // RTP clock rate
	haveLevels bool   // the track carries levels; without them every packet counts as voiced

	// Idle: the last preRoll of packets, their bytes end to end in preData.
	// Both are trimmed from the front by copying down, which reuses their
	// memory: the pre-roll is a few hundred milliseconds, a few kilobytes.
	pre     []held
	preData []byte

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
			g.hold(p)
			return done
		}
		g.begin(p, true)
		return done
	}
	g.add(p, voiced)
	return done
}

// hold keeps p in the pre-roll and forgets what is older than preRoll.
func (g *segmenter) hold(p packet) {
	g.pre = append(g.pre, held{ts: p.ts, level: p.level, at: p.at, n: len(p.payload)})
	g.preData = append(g.preData, p.payload...)
	drop, bytes := 0, 0
	for drop < len(g.pre) && p.ts-g.pre[drop].ts > g.ticks(preRoll) {
		bytes += g.pre[drop].n
		drop++
	}
	if drop > 0 {
		g.pre = g.pre[:copy(g.pre, g.pre[drop:])]
		g.preData = g.preData[:copy(g.preData, g.preData[bytes:])]
	}
}

// begin opens a segment with the pre-roll and p.
func (g *segmenter) begin(p packet, voiced bool) {
	g.cur = newSegment()
	from := 0
	for _, q := range g.pre {
		g.add(packet{ts: q.ts, level: q.level, at: q.at, payload: g.preData[from : from+q.n]}, false)
		from += q.n
	}
	g.pre, g.preData = g.pre[:0], g.preData[:0]
	g.add(p, voiced)
	g.lastTS, g.lastAt = p.ts, p.at
}

func (g *segmenter) add(p packet, voiced bool) {
	s := g.cur
	if len(s.Timestamps) == 0 {
		s.Start, s.RTPStart = p.at, p.ts
		g.voiced = 0
	}
	if voiced {
		if n := len(s.Timestamps); n > 0 {
			// A packet voices the time since the one before it, up to 20 ms.
			g.voiced += min(p.ts-s.Timestamps[n-1], g.ticks(20*time.Millisecond))
		} else {
			g.voiced += g.ticks(20 * time.Millisecond)
		}
		g.lastV = p.ts
	}
	s.End, s.RTPEnd = p.at, p.ts
	s.append(p.ts, p.payload)
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
	g.pre, g.preData = g.pre[:0], g.preData[:0]
	if s == nil {
		return nil
	}
	if g.voiced < g.ticks(minVoiced) {
		s.release()
		return nil
	}
	s.Cut = cut
	s.seal()
	return s
}
