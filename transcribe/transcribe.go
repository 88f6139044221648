// Package transcribe turns the speech of a meeting's audio tracks into text
// with a speech recogniser the operator hosts. A Track is fed a published
// track's RTP as a receiver tap; it cuts the speech into segments by the RFC
// 6464 levels the packets carry, wraps each segment's Opus packets in Ogg (no
// decoding here) and a few workers send them to an OpenAI-compatible
// /v1/audio/transcriptions endpoint. The media path never waits for any of
// it: a tap that cannot keep up drops packets, a queue that is full drops its
// oldest segment, and both are counted.
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

	"github.com/pion/rtp"
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
	Logger  *slog.Logger
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
		wake:   make(chan struct{}, 1),
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

// job is a segment waiting for the engine.
type job struct {
	seg    *Segment
	res    Result // all but the text and latency
	emit   func(Result)
	queued time.Time
}

// enqueue adds j, dropping the oldest waiting segment when the queue is full:
// the newest speech matters most to captions, and the count tells.
func (s *Service) enqueue(j *job) {
	s.mu.Lock()
	if len(s.queue) >= s.cfg.Queue {
		old := s.queue[0]
		s.queue = s.queue[1:]
		s.dropped.Add(1)
		s.log.Warn("transcription queue full: dropped the oldest segment", "track", old.res.Track, "start", old.res.Start)
	}
	s.queue = append(s.queue, j)
	s.mu.Unlock()
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
	s.queue = s.queue[1:]
	if len(s.queue) > 0 {
		select { // more work: wake another worker
		case s.wake <- struct{}{}:
		default:
		}
	}
	return j
}

func (s *Service) work() {
	defer s.wg.Done()
	for {
		j := s.next()
		if j == nil {
			select {
			case <-s.wake:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		s.do(j)
	}
}

// do sends one segment, trying again (a bounded number of times, with a
// growing pause) when the engine is unreachable or answers 5xx.
func (s *Service) do(j *job) {
	audio, err := oggOpus(j.seg)
	if err != nil {
		s.errors.Add(1)
		s.log.Warn("transcription: cannot wrap the segment", "track", j.res.Track, "err", err)
		return
	}
	pause := 250 * time.Millisecond
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
		t0 := time.Now()
		text, err := s.client.transcribe(ctx, audio, j.res.Language)
		cancel()
		if err == nil {
			s.segments.Add(1)
			s.latency.observe(time.Since(t0))
			if text == "" {
				s.empty.Add(1)
				return
			}
			r := j.res
			r.Text = text
			r.Latency = time.Since(j.seg.End)
			s.log.Debug("transcribed", "track", r.Track, "channel", r.Channel, "engine_time", time.Since(t0),
				"since_speech_ended", r.Latency, "waited", t0.Sub(j.queued))
			j.emit(r)
			return
		}
		if s.ctx.Err() != nil {
			return // closing
		}
		var se *statusError
		if attempt >= s.cfg.Retries || (errors.As(err, &se) && !se.retry()) {
			s.errors.Add(1)
			s.log.Warn("transcription failed", "track", j.res.Track, "attempts", attempt+1, "err", err)
			return
		}
		s.retries.Add(1)
		select {
		case <-time.After(pause):
		case <-s.ctx.Done():
			return
		}
		pause *= 2
	}
}

// Track transcribes one published audio track; it is a receiver tap.
type Track struct {
	s    *Service
	src  Source
	emit func(Result)
	in   chan packet
	stop chan struct{}
	once sync.Once

	mu                sync.Mutex
	channel, language string // "" channel: nothing of this track is transcribed now
}

// tapBuffer is how many packets (20 ms each) may wait for a track's
// goroutine: a second, more than any scheduling hiccup.
const tapBuffer = 50

// Track starts transcribing src as channel in language; results go to emit,
// from a worker goroutine. Feed it with WriteRTP; Close it when the track ends.
func (s *Service) Track(src Source, channel, language string, emit func(Result)) *Track {
	t := &Track{s: s, src: src, emit: emit, in: make(chan packet, tapBuffer), stop: make(chan struct{}),
		channel: channel, language: language}
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
// never waits: when the track's goroutine lags, the packet is dropped.
func (t *Track) WriteRTP(raw []byte) {
	var h rtp.Header
	n, err := h.Unmarshal(raw)
	if err != nil || n > len(raw) {
		return
	}
	payload := raw[n:]
	if h.Padding && len(payload) > 0 {
		pad := int(payload[len(payload)-1])
		if pad > len(payload) {
			return
		}
		payload = payload[:len(payload)-pad]
	}
	p := packet{ts: h.Timestamp, level: -1, at: time.Now(), payload: append([]byte(nil), payload...)}
	if t.src.LevelID != 0 {
		if ext := h.GetExtension(t.src.LevelID); len(ext) > 0 {
			p.level = int(ext[0] & 0x7f)
		}
	}
	select {
	case t.in <- p:
	default:
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
	for {
		select {
		case p := <-t.in:
			t.hand(g.push(p))
		case now := <-tick.C:
			t.hand(g.tick(now))
		case <-t.stop:
			for drained := false; !drained; { // what the tap handed over before it was removed
				select {
				case p := <-t.in:
					t.hand(g.push(p))
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
		return
	}
	t.s.enqueue(&job{seg: seg, emit: t.emit, queued: time.Now(), res: Result{
		Source: t.src, Channel: channel, Language: language,
		Start: seg.Start, End: seg.End, RTPStart: seg.RTPStart, RTPEnd: seg.RTPEnd,
		Engine: t.s.engine, Model: t.s.cfg.Model,
	}})
}
