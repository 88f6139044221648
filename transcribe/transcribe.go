// Package transcribe turns the speech of a meeting's audio tracks into text
// with a speech recogniser the operator hosts. A Track is fed a published
// track's RTP as a receiver tap; it cuts the speech into segments by the RFC
// 6464 levels the packets carry, wraps each segment's Opus packets in Ogg (no
// decoding here) and a few workers send them to an OpenAI-compatible
// /v1/audio/transcriptions endpoint. The media path never waits for any of
// it: a tap that cannot keep up drops packets, a queue that is full drops its
// oldest segment, and both are counted. An engine that fails or stalls is
// "not answering": the service then sends one request at a time, spaced out,
// until one is answered in time, and tells its OnHealth callback both ways.
package transcribe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Config is what a Service needs.
type Config struct {
	// URL is the transcription endpoint, e.g.
	// http://127.0.0.1:8000/v1/audio/transcriptions.
	URL string
	// Model is sent as the request's model ("whisper-1", "Systran/faster-whisper-small"...).
	Model string
	// APIKey, when set, is sent as a bearer token.
	APIKey string
	// Language is the hint for floor speech ("en"); "" lets the engine
	// detect it. Interpretation channels are hinted with their own language.
	Language string
	// Queue is how many segments may wait for the engine (default 32); when
	// full the oldest is dropped.
	Queue int
	// Workers is how many requests run at once (default 2).
	Workers int
	// Retries is how many times a failed request is tried again (default 2).
	Retries int
	// Timeout bounds one request (default 60 s).
	Timeout time.Duration
	// Stall is how long a request may wait for its answer before the engine
	// counts as not answering (default 20 s): a caption that late is of no
	// use, and whatever comes next would queue behind it.
	Stall time.Duration
	// OnHealth, when set, is told when the engine stops answering (a request
	// failed, was refused or has waited longer than Stall) and when it
	// answers in time again. It is called in order, from the service's
	// goroutines, and must not block or call the service.
	OnHealth func(answering bool)
	Logger   *slog.Logger
	// probeBase is the first pause between probes of an engine that does
	// not answer (1 s; tests make it short).
	probeBase time.Duration
	// HTTP is the client to use; nil for a default one.
	HTTP *http.Client
}

// Service transcribes tracks; it owns its workers and every track's
// goroutine, and Close stops them all.
type Service struct {
	cfg    Config
	engine string
	client *client
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	queue []*job
	wake  chan struct{}

	// The engine's health: see Answering. healthMu orders the changes and
	// their OnHealth calls; it is taken before mu, never after.
	healthMu  sync.Mutex
	answering bool
	failures  int           // requests failed in a row, to space out the probes
	probe     chan struct{} // held by the one worker that may send while the engine does not answer
	answered  atomic.Uint64 // requests answered, ever: did the engine answer anyone since?

	segments, errors, retries, dropped, tapDropped, empty atomic.Uint64
	latency                                               histogram
}

// New checks cfg and starts the workers.
func New(cfg Config) (*Service, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("asr url %q is not an http(s) URL", cfg.URL)
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 32
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	} else if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.Stall <= 0 {
		cfg.Stall = 20 * time.Second
	}
	if cfg.probeBase <= 0 {
		cfg.probeBase = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		cfg: cfg, engine: u.Host, log: cfg.Logger, ctx: ctx, cancel: cancel,
		client: &client{url: cfg.URL, model: cfg.Model, apiKey: cfg.APIKey, http: cfg.HTTP},
		wake:   make(chan struct{}, 1), probe: make(chan struct{}, 1), answering: true,
	}
	for range cfg.Workers {
		s.wg.Add(1)
		go s.work()
	}
	return s, nil
}

// Engine names the engine in results: the endpoint's host.
func (s *Service) Engine() string { return s.engine }

// Model is the configured model.
func (s *Service) Model() string { return s.cfg.Model }

// Close stops every track and worker and waits for them; requests in flight
// are cancelled and segments still queued are dropped.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

// Source is a track to transcribe.
type Source struct {
	Track, Participant, Identity string
	// LevelID is the RTP header extension id of the audio level (RFC 6464),
	// 0 when the track carries none: then every packet counts as speech.
	LevelID uint8
	// ClockRate is the RTP clock (48000 for Opus).
	ClockRate uint32
}

// Result is one segment's text.
type Result struct {
	Source
	// Channel is "floor" or an interpretation channel; Language the hint sent.
	Channel, Language string
	// Start and End are when the segment's first and last packet arrived;
	// RTPStart and RTPEnd their RTP timestamps on the track.
	Start, End       time.Time
	RTPStart, RTPEnd uint32
	Text             string
	Engine, Model    string
	// Latency is from the end of the segment to the engine's answer.
	Latency time.Duration
	// Late: the segment waited for an engine that was not answering; its
	// text is for the record, too late for a caption.
	Late bool
}

// Stats are the service's counters since it started.
type Stats struct {
	Segments   uint64 // answered by the engine
	Empty      uint64 // of those, answered with no text
	Errors     uint64 // given up after the retries, or refused
	Retries    uint64 // requests tried again
	Dropped    uint64 // segments dropped unsent: the queue was full
	TapDropped uint64 // packets a track's goroutine could not take in time
	// Latency is the engine's answer time for answered segments.
	Latency HistogramSnapshot
}

// Stats reads the counters.
func (s *Service) Stats() Stats {
	return Stats{Segments: s.segments.Load(), Empty: s.empty.Load(), Errors: s.errors.Load(), Retries: s.retries.Load(),
		Dropped: s.dropped.Load(), TapDropped: s.tapDropped.Load(), Latency: s.latency.snapshot()}
}

// Answering reports whether the engine answers: false from a failed, refused
// or stalled request until the next request answered within Stall.
func (s *Service) Answering() bool {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	return s.answering
}

// setAnswering records one request's outcome; healthMu is held.
func (s *Service) setAnsweringLocked(ok bool, why string) {
	if ok {
		s.failures = 0
	} else {
		s.failures++
	}
	if s.answering == ok {
		return
	}
	s.answering = ok
	if !ok { // what waits now will be late
		s.mu.Lock()
		for _, j := range s.queue {
			j.late = true
		}
		s.mu.Unlock()
	}
	if ok {
		s.log.Info("the speech engine answers again")
	} else {
		s.log.Warn("the speech engine is not answering: transcription waits for it", "why", why)
	}
	if s.cfg.OnHealth != nil {
		s.cfg.OnHealth(ok)
	}
}

func (s *Service) setAnswering(ok bool, why string) {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	s.setAnsweringLocked(ok, why)
}

// probePause is how long the prober waits before its next request while the
// engine does not answer: 1 s, doubling with every failure, at most 8 s.
func (s *Service) probePause() time.Duration {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	return s.cfg.probeBase << min(max(s.failures-1, 0), 3)
}

// job is a segment waiting for the engine.
type job struct {
	seg    *Segment // until audio is made from it
	audio  []byte   // the segment as Ogg/Opus
	tries  int      // requests sent for it so far
	late   bool     // it waited for the engine while it was not answering
	res    Result   // all but the text and latency
	emit   func(Result)
	queued time.Time
}

// maxTries bounds the requests one segment gets, however long the engine is
// down: a segment that fails that often gives way to the newer ones.
func (s *Service) maxTries() int { return 2 * (s.cfg.Retries + 1) }

// enqueue adds j, dropping the oldest waiting segment when the queue is full:
// the newest speech matters most to captions, and the count tells.
func (s *Service) enqueue(j *job) {
	j.late = j.late || !s.Answering() // before s.mu: healthMu is taken first
	s.mu.Lock()
	if len(s.queue) >= s.cfg.Queue {
		s.dropLocked(s.queue[0])
		s.queue = s.queue[1:]
	}
	s.queue = append(s.queue, j)
	s.mu.Unlock()
	s.signal()
}

// requeue puts back, first in line, a segment the engine did not answer: it
// waits for the engine to return, unless the queue filled meanwhile.
func (s *Service) requeue(j *job) {
	j.late = true
	s.mu.Lock()
	if len(s.queue) >= s.cfg.Queue {
		s.dropLocked(j)
	} else {
		s.queue = append(s.queue, nil)
		copy(s.queue[1:], s.queue)
		s.queue[0] = j
	}
	s.mu.Unlock()
	s.signal()
}

func (s *Service) dropLocked(j *job) {
	s.dropped.Add(1)
	if j.seg != nil {
		j.seg.release()
		j.seg = nil
	}
	s.log.Warn("transcription queue full: dropped the oldest segment", "track", j.res.Track, "start", j.res.Start)
}

func (s *Service) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Service) next() *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return nil
	}
	j := s.queue[0]
	s.queue[0] = nil
	s.queue = s.queue[1:]
	if len(s.queue) > 0 {
		s.signal() // more work: wake another worker
	}
	return j
}

func (s *Service) work() {
	defer s.wg.Done()
	for {
		busy := false
		if s.Answering() {
			if j := s.next(); j != nil {
				s.do(j)
				busy = true
			}
		} else {
			// The engine does not answer: one worker probes it with the
			// oldest segment now and then; the others wait their turn.
			var alive bool
			if busy, alive = s.probeOnce(); !alive {
				return
			}
		}
		if !busy {
			select {
			case <-s.wake:
			case <-s.ctx.Done():
				return
			}
		}
	}
}

// probeOnce takes the probe, waits the pause and sends the oldest segment.
// busy is false when there was nothing to send; alive false once the service
// closed.
func (s *Service) probeOnce() (busy, alive bool) {
	select {
	case s.probe <- struct{}{}:
	case <-s.ctx.Done():
		return false, false
	}
	defer func() { <-s.probe }()
	if s.Answering() { // the prober before us brought it back
		return true, true
	}
	t := time.NewTimer(s.probePause())
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx.Done():
		return false, false
	}
	j := s.next()
	if j == nil {
		return false, true
	}
	s.do(j)
	return true, true
}

// do sends one segment. While the engine answers, a failure is tried again (a
// bounded number of times, with a growing pause); a segment the engine did not
// answer at all goes back to the queue to wait for it (a probe sends it once).
func (s *Service) do(j *job) {
	if j.audio == nil {
		audio, err := oggOpus(j.seg)
		j.seg.release()
		j.seg = nil
		if err != nil {
			s.errors.Add(1)
			s.log.Warn("transcription: cannot wrap the segment", "track", j.res.Track, "err", err)
			return
		}
		j.audio = audio
	}
	answeredBefore := s.answered.Load()
	attempts := s.cfg.Retries + 1
	if !s.Answering() {
		attempts = 1 // a probe
	}
	pause := 250 * time.Millisecond
	for attempt := 0; ; attempt++ {
		j.tries++
		text, took, err := s.send(j)
		if err == nil {
			s.segments.Add(1)
			s.latency.observe(took)
			if text == "" {
				s.empty.Add(1)
				return
			}
			r := j.res
			r.Text = text
			r.Latency = time.Since(r.End)
			r.Late = j.late
			s.log.Debug("transcribed", "track", r.Track, "channel", r.Channel, "engine_time", took,
				"since_speech_ended", r.Latency, "waited", time.Since(j.queued)-took)
			j.emit(r)
			return
		}
		if s.ctx.Err() != nil {
			return // closing
		}
		var se *statusError
		if errors.As(err, &se) && !se.retry() {
			s.errors.Add(1)
			s.log.Warn("transcription refused", "track", j.res.Track, "err", err)
			return
		}
		if attempt+1 < attempts && j.tries < s.maxTries() {
			s.retries.Add(1)
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return
			}
			pause *= 2
			continue
		}
		if s.answered.Load() != answeredBefore || j.tries >= s.maxTries() {
			// The engine answers others: it is this segment that fails.
			s.errors.Add(1)
			s.log.Warn("transcription failed", "track", j.res.Track, "attempts", j.tries, "err", err)
			return
		}
		s.requeue(j)
		return
	}
}

// send makes one request for j and tells the engine's health by its outcome:
// a request still waiting after Stall marks the engine as not answering at
// once, without waiting for the request's own timeout.
func (s *Service) send(j *job) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	var finished bool // under healthMu
	stall := time.AfterFunc(s.cfg.Stall, func() {
		s.healthMu.Lock()
		defer s.healthMu.Unlock()
		if !finished {
			s.setAnsweringLocked(false, "no answer within "+s.cfg.Stall.String())
		}
	})
	t0 := time.Now()
	text, err := s.client.transcribe(ctx, j.audio, j.res.Language)
	took := time.Since(t0)
	stall.Stop()
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	finished = true
	switch {
	case err == nil:
		s.answered.Add(1)
		if took < s.cfg.Stall {
			s.setAnsweringLocked(true, "")
		}
	case s.ctx.Err() == nil:
		s.setAnsweringLocked(false, err.Error())
	}
	return text, took, err
}

// Track transcribes one published audio track; it is a receiver tap.
type Track struct {
	s    *Service
	src  Source
	emit func(Result)
	// The tap hands packets over in slots: it takes a free one, copies the
	// packet in and passes it on; the track's goroutine hands it back once
	// the segmenter has copied what it keeps. There are tapBuffer slots, made
	// once: when none is free the packet is dropped, and the media path
	// never allocates.
	free chan *slot
	in   chan *slot
	stop chan struct{}
	once sync.Once

	mu                sync.Mutex
	channel, language string // "" channel: nothing of this track is transcribed now
}

// tapBuffer is how many packets (20 ms each) may wait for a track's
// goroutine: a second, more than any scheduling hiccup.
const tapBuffer = 50

// maxPayload is the largest payload a slot holds: an Opus packet is at most
// 1275 bytes per frame, and a packet that fit in one datagram fits here.
const maxPayload = 1500

// slot is one packet on its way from the tap to the track's goroutine.
type slot struct {
	ts    uint32
	level int
	at    time.Time
	n     int
	buf   [maxPayload]byte
}

// Track starts transcribing src as channel in language; results go to emit,
// from a worker goroutine. Feed it with WriteRTP; Close it when the track ends.
func (s *Service) Track(src Source, channel, language string, emit func(Result)) *Track {
	t := &Track{s: s, src: src, emit: emit, free: make(chan *slot, tapBuffer), in: make(chan *slot, tapBuffer),
		stop: make(chan struct{}), channel: channel, language: language}
	for range tapBuffer {
		t.free <- new(slot)
	}
	if language == "" && channel == "floor" {
		t.language = s.cfg.Language
	}
	s.wg.Add(1)
	go t.run()
	return t
}

// SetChannel says what the track's speech is from now on: an interpreter
// moving to another channel speaks another language. An empty channel stops
// transcription until the next call (an interpreter who speaks into none).
func (t *Track) SetChannel(channel, language string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if language == "" && channel == "floor" {
		language = t.s.cfg.Language
	}
	t.channel, t.language = channel, language
}

func (t *Track) labels() (string, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.channel, t.language
}

// WriteRTP takes a copy of one packet; it runs on the media path, so it
// never waits and never allocates: when the track's goroutine lags, the
// packet is dropped.
func (t *Track) WriteRTP(raw []byte) {
	ts, payload, level, ok := parseRTP(raw, t.src.LevelID)
	if !ok || len(payload) > maxPayload {
		return
	}
	var sl *slot
	select {
	case sl = <-t.free:
	default:
		t.s.tapDropped.Add(1)
		return
	}
	sl.ts, sl.level, sl.at, sl.n = ts, level, time.Now(), copy(sl.buf[:], payload)
	select {
	case t.in <- sl:
	default: // cannot happen: there are as many slots as room in t.in
		t.free <- sl
		t.s.tapDropped.Add(1)
	}
}

// Close ends the track: the speech in progress is still sent. It does not wait.
func (t *Track) Close() { t.once.Do(func() { close(t.stop) }) }

// run owns the track's segmenter until Close or the service closes.
func (t *Track) run() {
	defer t.s.wg.Done()
	g := newSegmenter(t.src.ClockRate, t.src.LevelID != 0)
	tick := time.NewTicker(hangover / 3)
	defer tick.Stop()
	take := func(sl *slot) {
		seg := g.push(packet{ts: sl.ts, level: sl.level, at: sl.at, payload: sl.buf[:sl.n]})
		t.free <- sl // the segmenter copied what it keeps
		t.hand(seg)
	}
	for {
		select {
		case sl := <-t.in:
			take(sl)
		case now := <-tick.C:
			t.hand(g.tick(now))
		case <-t.stop:
			for drained := false; !drained; { // what the tap handed over before it was removed
				select {
				case sl := <-t.in:
					take(sl)
				default:
					drained = true
				}
			}
			t.hand(g.flush())
			return
		case <-t.s.ctx.Done():
			return
		}
	}
}

// hand queues a finished segment for the engine.
func (t *Track) hand(seg *Segment) {
	if seg == nil {
		return
	}
	channel, language := t.labels()
	if channel == "" {
		seg.release()
		return
	}
	t.s.enqueue(&job{seg: seg, emit: t.emit, queued: time.Now(), res: Result{
		Source: t.src, Channel: channel, Language: language,
		Start: seg.Start, End: seg.End, RTPStart: seg.RTPStart, RTPEnd: seg.RTPEnd,
		Engine: t.s.engine, Model: t.s.cfg.Model,
	}})
}
