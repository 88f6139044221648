// Package webhook delivers room events to operators' back ends: each event is
// POSTed as signed JSON to every configured receiver that wants it, in order,
// retried with backoff, without ever holding up a room (docs/webhooks.md).
package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/room"
)

// Defaults of Options.
const (
	DefaultQueueSize  = 1024
	DefaultAttempts   = 6 // first try and five retries: 1+2+4+8+16 s of waiting
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = time.Minute
	DefaultTimeout    = 10 * time.Second
	// DrainTimeout is what a server gives queued and in-flight deliveries
	// when it shuts down: enough for a healthy receiver, bounded for a dead one.
	DrainTimeout = 5 * time.Second
)

// Options configure a Dispatcher. Zero fields take the defaults.
type Options struct {
	Hooks  []config.Webhook
	Logger *slog.Logger
	// QueueSize bounds each receiver's backlog; events beyond it are dropped
	// and counted, so a dead receiver costs memory up to here and no more.
	QueueSize int
	// Attempts is how many times one event is tried before it is given up.
	Attempts int
	// Backoff is the wait before the first retry; it doubles per retry up to
	// MaxBackoff, and each wait is jittered (half of it random) so receivers
	// that come back are not hit by every node at the same instant.
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one attempt, response included.
	Timeout time.Duration
	// Client sends the requests (tests); by default a client that does not
	// follow redirects: a POST must not silently turn into a GET elsewhere.
	Client *http.Client
}

// Stats counts deliveries over all receivers since the Dispatcher started.
type Stats struct {
	Delivered uint64 // answered 2xx
	Failed    uint64 // given up: attempts exhausted, refused (4xx), or cut by shutdown
	Dropped   uint64 // never tried: the receiver's queue was full
	Retries   uint64 // attempts after the first
}

// Dispatcher fans events out to receivers. Its methods may be called from any
// goroutine and never block; a nil *Dispatcher ignores everything.
type Dispatcher struct {
	opts   Options
	log    *slog.Logger
	client *http.Client
	recv   []*receiver

	ctx    context.Context // cancelled when the shutdown drain runs out
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex // guards closed against sends on closed queues
	closed bool

	delivered, failed, dropped, retries atomic.Uint64
}

// receiver is one configured URL with its queue and worker.
type receiver struct {
	url      string
	secret   string
	events   map[string]bool // nil: all
	queue    chan delivery
	warnedAt atomic.Int64 // unix nanoseconds of the last "queue full" warning
}

type delivery struct {
	id   string // X-Parley-Delivery: the same on every attempt
	typ  string
	body []byte
}

// New checks the hooks and starts one worker per receiver. Close stops them.
func New(o Options) (*Dispatcher, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	client := o.Client
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	d := &Dispatcher{opts: o, log: o.Logger, client: client}
	for i, h := range o.Hooks {
		r, err := newReceiver(h, o.QueueSize)
		if err != nil {
			return nil, fmt.Errorf("webhooks[%d]: %w", i, err)
		}
		d.recv = append(d.recv, r)
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for _, r := range d.recv {
		d.wg.Add(1)
		go d.work(r)
	}
	return d, nil
}

func newReceiver(h config.Webhook, queue int) (*receiver, error) {
	u, err := url.Parse(h.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("url %q is not an http(s) URL", h.URL)
	}
	if h.Secret == "" {
		// Unsigned events could be forged by anyone who can reach the receiver.
		return nil, errors.New("secret is empty; every receiver needs one to check signatures")
	}
	r := &receiver{url: h.URL, secret: h.Secret, queue: make(chan delivery, queue)}
	if len(h.Events) > 0 {
		r.events = map[string]bool{}
		for _, t := range h.Events {
			if !slices.Contains(Types, t) {
				return nil, fmt.Errorf("event type %q is unknown (known: %s)", t, strings.Join(Types, ", "))
			}
			r.events[t] = true
		}
	}
	return r, nil
}

// RoomEvent sends a room's event to the receivers that want it; events that
// are not for operators (docs/webhooks.md) are ignored. It fits
// room.Config.OnEvent: it never blocks.
func (d *Dispatcher) RoomEvent(e room.Event) {
	if w, ok := fromRoom(e); ok {
		d.Send(w)
	}
}

// RecordSealed announces that a room's record was sealed (it is final and
// can be verified from then on); entries is how many it holds. It fits the
// server's recorder hook and never blocks.
func (d *Dispatcher) RecordSealed(roomName, record string, entries uint64) {
	d.Send(Event{Type: RecordingSealed, Time: time.Now(), Room: roomName,
		Data: map[string]string{"record": record, "entries": strconv.FormatUint(entries, 10)}})
}

// Send queues e for every receiver that wants its type, giving it an id if it
// has none. A receiver whose queue is full loses the event (counted, logged).
func (d *Dispatcher) Send(e Event) {
	if d == nil || len(d.recv) == 0 {
		return
	}
	if e.ID == "" {
		e.ID = newID("EV_")
	}
	body, err := json.Marshal(e)
	if err != nil {
		d.log.Error("webhook event not encoded", "type", e.Type, "err", err)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	for _, r := range d.recv {
		if r.events != nil && !r.events[e.Type] {
			continue
		}
		select {
		case r.queue <- delivery{id: newID("WD_"), typ: e.Type, body: body}:
		default:
			n := d.dropped.Add(1)
			// One warning a second at most: a dead receiver must not flood the log too.
			now := time.Now().UnixNano()
			if last := r.warnedAt.Load(); now-last > int64(time.Second) && r.warnedAt.CompareAndSwap(last, now) {
				d.log.Warn("webhook queue full: event dropped", "url", redact(r.url), "type", e.Type, "dropped_total", n)
			}
		}
	}
}

// Stats returns the delivery counters (zero for a nil Dispatcher).
func (d *Dispatcher) Stats() Stats {
	if d == nil {
		return Stats{}
	}
	return Stats{Delivered: d.delivered.Load(), Failed: d.failed.Load(), Dropped: d.dropped.Load(), Retries: d.retries.Load()}
}

// Close stops taking events and lets the workers deliver what is queued until
// ctx ends; then attempts in flight are cut and what is left is counted as
// failed. It returns when every worker has stopped.
func (d *Dispatcher) Close(ctx context.Context) {
	if d == nil {
		return
	}
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		for _, r := range d.recv {
			close(r.queue)
		}
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		d.cancel()
		<-done
	}
	d.cancel()
}

// work delivers r's events one after another, so a receiver sees them in order.
func (d *Dispatcher) work(r *receiver) {
	defer d.wg.Done()
	abandoned := 0
	for dl := range r.queue {
		if d.ctx.Err() != nil {
			abandoned++
			d.failed.Add(1)
			continue
		}
		d.deliver(r, dl)
	}
	if abandoned > 0 {
		d.log.Warn("webhook events not delivered before shutdown", "url", redact(r.url), "events", abandoned)
	}
}

// deliver tries one event until it is accepted, refused, out of attempts or
// the dispatcher is cut off.
func (d *Dispatcher) deliver(r *receiver, dl delivery) {
	for attempt := 1; ; attempt++ {
		retry, wait, err := d.attempt(r, dl)
		if err == nil {
			d.delivered.Add(1)
			return
		}
		if !retry || attempt >= d.opts.Attempts || d.ctx.Err() != nil {
			d.failed.Add(1)
			d.log.Warn("webhook not delivered", "url", redact(r.url), "type", dl.typ, "delivery", dl.id, "attempts", attempt, "err", err)
			return
		}
		if wait <= 0 {
			wait = d.backoff(attempt)
		}
		d.log.Debug("webhook attempt failed; retrying", "url", redact(r.url), "type", dl.typ, "delivery", dl.id, "attempt", attempt, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-d.ctx.Done():
			t.Stop()
			d.failed.Add(1)
			return
		}
		d.retries.Add(1)
	}
}

// backoff is the wait after the given failed attempt: Backoff·2^(attempt-1),
// capped, of which the second half is random.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	w := d.opts.Backoff
	for i := 1; i < attempt && w < d.opts.MaxBackoff; i++ {
		w *= 2
	}
	w = min(w, d.opts.MaxBackoff)
	return w/2 + time.Duration(mrand.Int64N(int64(w/2)+1))
}

// attempt POSTs dl once. It reports whether a failure is worth retrying and,
// for a receiver that asked with Retry-After, how long to wait.
func (d *Dispatcher) attempt(r *receiver, dl delivery) (retry bool, wait time.Duration, err error) {
	ctx, cancel := context.WithTimeout(d.ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(dl.body))
	if err != nil {
		return false, 0, err
	}
	// Signed afresh per attempt: the timestamp says when this copy was sent,
	// so receivers can refuse old copies without refusing our retries.
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Parley-Webhook/1")
	req.Header.Set(HeaderEvent, dl.typ)
	req.Header.Set(HeaderDelivery, dl.id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(r.secret, ts, dl.body))
	resp, err := d.client.Do(req)
	if err != nil {
		return true, 0, err
	}
	// Drain a little so the connection can be reused; a receiver's answer is not read.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, 0, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, min(retryAfter(resp.Header.Get("Retry-After")), d.opts.MaxBackoff), fmt.Errorf("receiver answered %s", resp.Status)
	default:
		return false, 0, fmt.Errorf("receiver answered %s (not retried)", resp.Status)
	}
}

// retryAfter reads a Retry-After in seconds (the HTTP-date form is rare from
// webhook receivers and falls back to our own backoff).
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// redact hides credentials a URL may carry (user info, query tokens) in logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
