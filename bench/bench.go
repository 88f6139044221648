// Package bench is Parley's load generator, behind "parley bench": synthetic
// participants join a server on this machine with real tokens and real WebRTC
// (ICE, DTLS-SRTP), publish synthetic audio and video, receive what the
// server forwards, and the run reports join time, throughput, loss, the
// latency the server adds and, for a server process named by its pid, its CPU
// and memory. See BENCHMARKS.md for the figures and the report's fields.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
)

// Scenarios.
const (
	// Meeting: every participant publishes audio and video and receives all others.
	Meeting = "meeting"
	// Webinar: one publisher (audio and video) per room, the participants subscribe only.
	Webinar = "webinar"
	// WHEP: Publishers per room publish with WHIP; the participants are
	// viewers, each playing every publisher with a WHEP session of its own.
	WHEP = "whep"
	// Interpretation: the reference scenario (two heads, two interpreters,
	// listeners over channels). Not implemented yet.
	Interpretation = "interpretation"
)

// ErrNotYet is returned for a scenario the tool does not drive yet.
var ErrNotYet = errors.New("not yet implemented")

// Config is one load run.
type Config struct {
	Scenario string
	// URL is the server's base URL; its host must be a loopback address.
	// Several, separated by commas, are nodes of one cluster whose rooms
	// span nodes: participants join them in turn, the first (each room's
	// first publisher) on the first.
	URL string
	// DataDir is the server's data folder: its signing key mints the tokens.
	// Ignored when Signer is set.
	DataDir string
	Signer  *auth.Signer
	// Participants per room. Meeting: each publishes and subscribes.
	// Webinar: subscribers, in addition to the room's one publisher.
	// WHEP: viewers, in addition to the room's publishers.
	Participants int
	// Publishers per room in the WHEP scenario (default 2).
	Publishers int
	// Sample: WHEP viewers decrypt one packet in Sample for latency and
	// count the others by their clear header (default 16).
	Sample int
	Rooms  int
	// Duration is the measuring window, after everyone has joined.
	Duration time.Duration
	// Bitrate is each publisher's video rate in bits per second.
	Bitrate int
	// KeyframeInterval is the time between video keyframes (default 2 s).
	KeyframeInterval time.Duration
	// FPS is each publisher's video frame rate (default 30).
	FPS int
	// NoAudio publishes video only.
	NoAudio bool
	// Pacing spreads each video frame's packets at this multiple of the
	// bitrate, as browsers do (0: 2.5); negative sends each frame in one burst.
	Pacing float64
	// Ramp is how many participants start joining per second.
	Ramp float64
	// ServerPID, when not 0, is the server's process on this machine: the
	// report then includes its CPU time and memory.
	ServerPID int
	// Settle is the pause between the last join and the measuring window (default 2 s).
	Settle time.Duration
	// Progress receives progress lines while the run ramps and measures (nil: none).
	Progress io.Writer
	// Driver connects participants (nil: ParleyDriver).
	Driver Driver
}

// Time limits of a run.
const (
	joinTimeout  = 10 * time.Second // signaling and publishing of one participant
	mediaTimeout = 10 * time.Second // after the last join, for everyone's first packet
	hardSlack    = 30 * time.Second // the run ends at ramp + duration + this, whatever happens
)

func (c *Config) defaults() {
	if c.Rooms == 0 {
		c.Rooms = 1
	}
	if c.Bitrate == 0 {
		c.Bitrate = 1_000_000
	}
	if c.Ramp == 0 {
		c.Ramp = 10
	}
	if c.KeyframeInterval == 0 {
		c.KeyframeInterval = 2 * time.Second
	}
	if c.Settle == 0 {
		c.Settle = 2 * time.Second
	}
	if c.Publishers == 0 {
		c.Publishers = 2
	}
	if c.Sample == 0 {
		c.Sample = 16
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

func (c *Config) validate() error {
	switch c.Scenario {
	case Meeting, Webinar, WHEP:
	case Interpretation:
		return fmt.Errorf("scenario %q: %w (it needs the interpretation driver; use meeting or webinar)", c.Scenario, ErrNotYet)
	default:
		return fmt.Errorf("unknown scenario %q (known: meeting, webinar, whep)", c.Scenario)
	}
	for _, u := range c.urls() {
		if err := CheckLoopback(u); err != nil {
			return err
		}
	}
	switch {
	case c.Scenario == Meeting && c.Participants < 2:
		return errors.New("a meeting needs at least 2 participants")
	case c.Participants < 1:
		return errors.New("participants must be at least 1")
	case c.Publishers < 1:
		return errors.New("publishers must be at least 1")
	case c.FPS < 0 || c.FPS > 120:
		return errors.New("fps must be between 1 and 120")
	case c.Sample < 1:
		return errors.New("sample must be at least 1")
	case c.Rooms < 1:
		return errors.New("rooms must be at least 1")
	case c.Duration <= 0:
		return errors.New("duration must be positive")
	case c.Bitrate < 10_000:
		return errors.New("bitrate must be at least 10 kbit/s")
	case c.Ramp <= 0:
		return errors.New("ramp must be positive")
	case c.Settle < 0:
		return errors.New("settle must not be negative")
	}
	return nil
}

// urls are the nodes participants join, in turn.
func (c *Config) urls() []string { return strings.Split(c.URL, ",") }

// CheckLoopback refuses a server URL whose host is not a loopback address:
// the load tool never sends traffic off this machine.
func CheckLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url %q: scheme must be http or https", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("url %q: the load tool only drives a server on this machine (a loopback address such as 127.0.0.1)", raw)
	}
	return nil
}

// plan is one participant of the run.
type plan struct {
	room      string
	identity  string
	publish   bool
	subscribe bool
	// timeJoin: media was already flowing in the room when it joined, so the
	// time to its first packet is a join time.
	timeJoin bool
	watch    []string // WHEP: the publishers it plays
}

func (c *Config) plans(runID string) []plan {
	var out []plan
	room := func(r int) string { return fmt.Sprintf("bench-%s-%d", runID, r+1) }
	switch c.Scenario {
	case Meeting:
		// Round robin over the rooms, so they fill together.
		for i := range c.Participants * c.Rooms {
			out = append(out, plan{
				room: room(i % c.Rooms), identity: fmt.Sprintf("p%d", i+1),
				publish: true, subscribe: true, timeJoin: i >= c.Rooms,
			})
		}
	case Webinar:
		for r := range c.Rooms {
			out = append(out, plan{room: room(r), identity: fmt.Sprintf("presenter%d", r+1), publish: true})
		}
		for i := range c.Participants * c.Rooms {
			out = append(out, plan{room: room(i % c.Rooms), identity: fmt.Sprintf("s%d", i+1), subscribe: true, timeJoin: true})
		}
	case WHEP:
		pubs := func(r int) []string {
			ids := make([]string, c.Publishers)
			for k := range ids {
				ids[k] = fmt.Sprintf("camera%d-%d", r+1, k+1)
			}
			return ids
		}
		for r := range c.Rooms {
			for _, id := range pubs(r) {
				out = append(out, plan{room: room(r), identity: id, publish: true})
			}
		}
		for i := range c.Participants * c.Rooms {
			r := i % c.Rooms
			out = append(out, plan{room: room(r), identity: fmt.Sprintf("v%d", i+1), subscribe: true, timeJoin: true, watch: pubs(r)})
		}
	}
	return out
}

// participant is the run's view of one client.
type participant struct {
	plan
	url      string // the node it joins
	token    string
	sources  []*client.Source
	gotFirst chan struct{} // closed at the first media packet
	first    atomic.Int64  // its arrival, Unix nanoseconds
	once     sync.Once

	// Written by the participant's join goroutine, read after it has ended.
	start   time.Time
	session Session
	failure string // why it failed; "" while it has not
}

// run is one load run in progress.
type run struct {
	cfg       Config
	measuring atomic.Bool
	latency   histogram

	mu      sync.Mutex
	streams []*stream

	launched, signalled, failed atomic.Int32
}

func (r *run) onTrack(p *participant) func(kind, owner string) func([]byte, int64, bool) {
	return func(kind, owner string) func([]byte, int64, bool) {
		s := &stream{kind: kind, run: r}
		r.mu.Lock()
		r.streams = append(r.streams, s)
		r.mu.Unlock()
		return func(pkt []byte, at int64, clear bool) {
			if p.first.Load() == 0 && p.first.CompareAndSwap(0, at) {
				p.once.Do(func() { close(p.gotFirst) })
			}
			s.packet(pkt, at, clear)
		}
	}
}

// Run performs one load run and reports what it measured. It returns within
// the ramp time + Duration + 30 s, and closes every client it started first.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Driver == nil {
		cfg.Driver = ParleyDriver{}
		if cfg.Scenario == WHEP {
			d, err := NewWHEPDriver(cfg.Sample)
			if err != nil {
				return nil, err
			}
			defer d.Close() // after closeAll, deferred below
			cfg.Driver = d
		}
	}
	signer := cfg.Signer
	if signer == nil {
		key, err := auth.LoadKey(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("no signing key in data folder %q (name the server's --data folder): %w", cfg.DataDir, err)
		}
		signer = auth.NewSigner(key)
	}
	var srv *procWatch
	if cfg.ServerPID != 0 {
		var err error
		if srv, err = watchProc(cfg.ServerPID); err != nil {
			return nil, fmt.Errorf("server-pid: %w", err)
		}
		defer srv.stop()
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	plans := cfg.plans(hex.EncodeToString(id[:]))
	rampTime := time.Duration(float64(len(plans)) / cfg.Ramp * float64(time.Second))
	ctx, cancel := context.WithTimeout(ctx, rampTime+cfg.Duration+hardSlack)
	defer cancel()

	r := &run{cfg: cfg}
	var startDrops map[string]uint64
	if srv != nil {
		startDrops, _ = udpDrops(srv.pid)
	}
	parts, err := r.participants(signer, plans, rampTime)
	if err != nil {
		return nil, err
	}

	pumpCtx, stopPumps := context.WithCancel(ctx)
	var joins, pumps sync.WaitGroup
	defer func() {
		// Everything this run started ends here: join goroutines, pumps, clients.
		stopPumps()
		joins.Wait()
		pumps.Wait()
		closeAll(parts)
	}()
	join := func(p *participant) {
		r.launched.Add(1)
		joins.Add(1)
		go func() {
			defer joins.Done()
			r.join(ctx, p, pumpCtx, &pumps)
		}()
	}

	start := time.Now()
	fmt.Fprintf(cfg.Progress, "bench: %s, %d room(s), %d participants at %.4g/s, video %d kbit/s\n",
		cfg.Scenario, cfg.Rooms, len(parts), cfg.Ramp, cfg.Bitrate/1000)
	var lastProgress time.Time
	progress := func(force bool) {
		if !force && time.Since(lastProgress) < time.Second {
			return
		}
		lastProgress = time.Now()
		fmt.Fprintf(cfg.Progress, "bench: ramp %5.1fs  started %d/%d  joined %d  failed %d\n",
			time.Since(start).Seconds(), r.launched.Load(), len(parts), r.signalled.Load(), r.failed.Load())
	}
	interval := time.Duration(float64(time.Second) / cfg.Ramp)
	next := time.Now()
	for i, p := range parts {
		if i > 0 && parts[i-1].publish && !p.publish {
			// Webinar: the audience comes in once every presenter is on air.
			joins.Wait()
			if err := sleep(ctx, 300*time.Millisecond, 0, nil); err != nil {
				return nil, err
			}
			next = time.Now()
		}
		if err := sleepUntil(ctx, next, progress); err != nil {
			return nil, fmt.Errorf("ramp: %w", err)
		}
		next = next.Add(interval)
		join(p)
	}
	for !waitTimeout(&joins, time.Second) {
		progress(true)
	}
	progress(true)

	// Every receiver must see media; then let the system settle.
	mediaBy := time.Now().Add(mediaTimeout)
	for _, p := range parts {
		if p.session == nil || !p.subscribe {
			continue
		}
		wctx, wcancel := context.WithDeadline(ctx, mediaBy)
		select {
		case <-p.gotFirst:
		case <-wctx.Done():
			p.failure = "no media arrived within 10 s of the last join"
		}
		wcancel()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("waiting for media: %w", ctx.Err())
		}
	}
	if err := sleep(ctx, cfg.Settle, 0, nil); err != nil {
		return nil, err
	}

	// The measuring window.
	w0 := r.snapshot(parts, srv)
	r.measuring.Store(true)
	fmt.Fprintf(cfg.Progress, "bench: measuring for %s\n", cfg.Duration)
	err = sleep(ctx, cfg.Duration, 5*time.Second, func(elapsed time.Duration) {
		t, _ := r.totals()
		loss := 0.0
		if t.expected > t.received {
			loss = 100 * float64(t.expected-t.received) / float64(t.expected)
		}
		fmt.Fprintf(cfg.Progress, "bench: measuring %4.0fs/%.0fs  %.0f packets/s forwarded, loss %.2f%%\n",
			elapsed.Seconds(), cfg.Duration.Seconds(), float64(t.received)/elapsed.Seconds(), loss)
	})
	r.measuring.Store(false)
	w1 := r.snapshot(parts, srv)
	if err != nil {
		return nil, fmt.Errorf("measuring: %w", err)
	}
	for _, p := range parts {
		if p.session != nil && p.failure == "" {
			if err := p.session.Err(); err != nil {
				p.failure = "after joining: " + err.Error()
			}
		}
	}
	rep := r.report(parts, w0, w1, srv)
	if rep.Server != nil {
		rep.Server.UDPDropsJoining = dropsSince(startDrops, w0.serverDrops)
	}
	return rep, nil
}

// participants prepares every planned client: tokens and sources.
func (r *run) participants(signer *auth.Signer, plans []plan, rampTime time.Duration) ([]*participant, error) {
	now := time.Now()
	parts := make([]*participant, len(plans))
	urls := r.cfg.urls()
	for i, pl := range plans {
		p := &participant{plan: pl, gotFirst: make(chan struct{}), url: urls[i%len(urls)]}
		grants := []auth.Grant{auth.GrantJoin}
		if pl.publish {
			grants = append(grants, auth.GrantPublish)
			kinds := []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}
			if r.cfg.NoAudio {
				kinds = kinds[1:]
			}
			for _, kind := range kinds {
				s, err := client.NewSource(kind, pl.identity+"-"+kind.String(), pl.identity,
					client.SourceConfig{Bitrate: r.cfg.Bitrate, FPS: r.cfg.FPS, KeyframeInterval: r.cfg.KeyframeInterval, Pacing: r.cfg.Pacing})
				if err != nil {
					return nil, err
				}
				p.sources = append(p.sources, s)
			}
		}
		if pl.subscribe {
			grants = append(grants, auth.GrantSubscribe)
		}
		tok, err := signer.Mint(auth.Claims{
			Subject: pl.identity, Room: pl.room, Name: pl.identity, Grants: grants,
			IssuedAt: now.Unix(), ExpiresAt: now.Add(rampTime + r.cfg.Duration + time.Hour).Unix(),
		})
		if err != nil {
			return nil, err
		}
		p.token = tok
		parts[i] = p
	}
	return parts, nil
}

// join connects one participant and starts its sources.
func (r *run) join(ctx context.Context, p *participant, pumpCtx context.Context, pumps *sync.WaitGroup) {
	jctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	tracks := make([]Track, len(p.sources))
	for i, s := range p.sources {
		tracks[i] = Track{Source: s, Name: sourceName(s.Kind())}
	}
	spec := Participant{URL: p.url, Room: p.room, Identity: p.identity, Token: p.token, Publish: tracks, Subscribe: p.subscribe, Watch: p.watch}
	if p.subscribe {
		spec.OnTrack = r.onTrack(p)
	}
	p.start = time.Now()
	s, err := r.cfg.Driver.Join(jctx, spec)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("no answer within %s", joinTimeout)
		}
		p.failure = err.Error()
		r.failed.Add(1)
		return
	}
	p.session = s
	r.signalled.Add(1)
	for _, src := range p.sources {
		pumps.Add(1)
		go func() {
			defer pumps.Done()
			src.Run(pumpCtx)
		}()
	}
}

// closeAll disconnects every participant, a few at a time.
func closeAll(parts []*participant) {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, p := range parts {
		if p.session == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.session.Close()
			<-sem
		}()
	}
	wg.Wait()
}

// totals sums the streams' window counts.
func (r *run) totals() (t windowCounts, streams int) {
	r.mu.Lock()
	all := r.streams
	r.mu.Unlock()
	for _, s := range all {
		w, ok := s.window()
		if !ok {
			continue
		}
		streams++
		t.expected += w.expected
		t.received += w.received
		t.bytes += w.bytes
		t.reordered += w.reordered
	}
	return t, streams
}

// snap is the state of the world at one edge of the window.
type snap struct {
	at          time.Time
	serverCPU   float64
	serverErr   error
	serverDrops map[string]uint64
	selfCPU     float64
	selfDrops   map[string]uint64
	machineCPU  float64
	machineErr  error
	sched       *metrics.Float64Histogram
	pubPackets  uint64
	pubBytes    uint64
	pubErrors   uint64
}

func (r *run) snapshot(parts []*participant, srv *procWatch) snap {
	s := snap{at: time.Now(), sched: schedLatency()}
	if srv != nil {
		s.serverCPU, s.serverErr = procCPU(srv.pid)
		s.serverDrops, _ = udpDrops(srv.pid)
	}
	s.selfCPU, _ = procCPU("self")
	s.selfDrops, _ = udpDrops("self")
	s.machineCPU, s.machineErr = machineCPU()
	for _, p := range parts {
		for _, src := range p.sources {
			st := src.Stats()
			s.pubPackets += st.Packets
			s.pubBytes += st.Bytes
			s.pubErrors += st.WriteErrors
		}
	}
	return s
}

// sleep waits d, calling tick every period (when both are set); it fails when ctx ends first.
func sleep(ctx context.Context, d, period time.Duration, tick func(elapsed time.Duration)) error {
	start := time.Now()
	t := time.NewTimer(d)
	defer t.Stop()
	var c <-chan time.Time
	if period > 0 && tick != nil {
		tk := time.NewTicker(period)
		defer tk.Stop()
		c = tk.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		case <-c:
			tick(time.Since(start))
		}
	}
}

// sleepUntil waits until t, calling progress(false) at least once a second.
func sleepUntil(ctx context.Context, t time.Time, progress func(force bool)) error {
	for {
		progress(false)
		d := time.Until(t)
		if d <= 0 {
			return ctx.Err()
		}
		if err := sleep(ctx, min(d, time.Second), 0, nil); err != nil {
			return err
		}
	}
}

// waitTimeout waits for wg up to d and reports whether it is done.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// procWatch samples a process's memory while the run lasts.
type procWatch struct {
	pid     string
	peakRSS atomic.Uint64
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

func watchProc(pid int) (*procWatch, error) {
	w := &procWatch{pid: strconv.Itoa(pid), done: make(chan struct{})}
	rss, _, err := procMem(w.pid)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no process %d on this machine", pid)
		}
		return nil, err
	}
	if _, err := procCPU(w.pid); err != nil {
		return nil, err
	}
	w.peakRSS.Store(rss)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-t.C:
				if rss, _, err := procMem(w.pid); err == nil && rss > w.peakRSS.Load() {
					w.peakRSS.Store(rss)
				}
			}
		}
	}()
	return w, nil
}

func (w *procWatch) stop() {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
}
