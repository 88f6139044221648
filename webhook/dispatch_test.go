package webhook_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/webhook"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// start makes a dispatcher with quick retries, closed at the end of the test.
func start(t *testing.T, o webhook.Options) *webhook.Dispatcher {
	t.Helper()
	o.Logger = quiet
	if o.Backoff == 0 {
		o.Backoff = 5 * time.Millisecond
	}
	d, err := webhook.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Close(ctx)
	})
	return d
}

// waitStats polls the counters until ok holds.
func waitStats(t *testing.T, d *webhook.Dispatcher, what string, ok func(webhook.Stats) bool) webhook.Stats {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := d.Stats()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: stats %+v", what, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func event(typ string) webhook.Event {
	return webhook.Event{Type: typ, Time: time.Now(), Room: "r"}
}

func TestRetryOnServerErrorsKeepsDeliveryID(t *testing.T) {
	rc := newReceiver(t, func(n int, _ *http.Request) int {
		if n < 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	d := start(t, webhook.Options{Hooks: []config.Webhook{{URL: rc.URL(), Secret: secret}}})
	d.Send(event(webhook.RoomStarted))
	s := waitStats(t, d, "a delivery", func(s webhook.Stats) bool { return s.Delivered == 1 })
	if s.Retries != 2 || s.Failed != 0 {
		t.Errorf("stats %+v, want 2 retries and no failure", s)
	}
	reqs := rc.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		if r.header.Get(webhook.HeaderDelivery) != reqs[0].header.Get(webhook.HeaderDelivery) {
			t.Errorf("delivery ids differ across retries")
		}
		if err := webhook.Verify(secret, r.header, r.body, time.Now(), time.Minute); err != nil {
			t.Error(err)
		}
	}
}

func TestRefusalIsNotRetriedAndOthersFollow(t *testing.T) {
	rc := newReceiver(t, func(n int, _ *http.Request) int {
		if n == 0 {
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	d := start(t, webhook.Options{Hooks: []config.Webhook{{URL: rc.URL(), Secret: secret}}})
	d.Send(event(webhook.RoomStarted))
	d.Send(event(webhook.RoomFinished))
	s := waitStats(t, d, "one refusal and one delivery", func(s webhook.Stats) bool { return s.Failed == 1 && s.Delivered == 1 })
	if s.Retries != 0 {
		t.Errorf("a 400 was retried: %+v", s)
	}
	if got := types(rc.requests()); strings.Join(got, ",") != "room_started,room_finished" {
		t.Errorf("requests %v", got)
	}
}

func TestTooManyRequestsIsRetriedUntilAttemptsRunOut(t *testing.T) {
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusTooManyRequests })
	d := start(t, webhook.Options{Hooks: []config.Webhook{{URL: rc.URL(), Secret: secret}}, Attempts: 3})
	d.Send(event(webhook.RoomStarted))
	s := waitStats(t, d, "the event to be given up", func(s webhook.Stats) bool { return s.Failed == 1 })
	if n := len(rc.requests()); n != 3 || s.Retries != 2 || s.Delivered != 0 {
		t.Errorf("%d requests, stats %+v; want 3 attempts", n, s)
	}
}

func TestUnreachableReceiverIsRetried(t *testing.T) {
	rc := newReceiver(t, nil)
	url := rc.URL()
	rc.srv.Close() // nothing listens there any more: connection refused
	d := start(t, webhook.Options{Hooks: []config.Webhook{{URL: url, Secret: secret}}, Attempts: 2})
	d.Send(event(webhook.RoomStarted))
	s := waitStats(t, d, "the event to be given up", func(s webhook.Stats) bool { return s.Failed == 1 })
	if s.Retries != 1 {
		t.Errorf("stats %+v; want one retry of a network error", s)
	}
}

// A receiver that stops answering fills its queue; what does not fit is
// dropped and counted, and Send never waits.
func TestFullQueueDropsAndCounts(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int, r *http.Request) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	d := start(t, webhook.Options{Hooks: []config.Webhook{{URL: rc.URL(), Secret: secret}}, QueueSize: 2, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d.Send(event(webhook.RoomStarted))
	rc.waitFor(t, ctx, "the first event to be in flight", has(webhook.RoomStarted))
	for range 2 + 5 { // two fit in the queue, five do not
		d.Send(event(webhook.ParticipantJoined))
	}
	if s := d.Stats(); s.Dropped != 5 {
		t.Errorf("dropped %d, want 5", s.Dropped)
	}
	close(release)
	s := waitStats(t, d, "the queued events", func(s webhook.Stats) bool { return s.Delivered == 3 })
	if s.Dropped != 5 || s.Failed != 0 {
		t.Errorf("stats %+v", s)
	}
}

// Close gives up on a receiver that hangs once its bound runs out, counting
// what was left as failed.
func TestCloseIsBoundedByItsContext(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int, r *http.Request) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	t.Cleanup(func() { close(release) })
	d, err := webhook.New(webhook.Options{Hooks: []config.Webhook{{URL: rc.URL(), Secret: secret}}, Logger: quiet, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d.Send(event(webhook.RoomStarted))
	d.Send(event(webhook.RoomFinished))
	rc.waitFor(t, ctx, "the first event to be in flight", has(webhook.RoomStarted))
	cctx, ccancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer ccancel()
	d.Close(cctx) // returns only when the worker has stopped
	if s := d.Stats(); s.Failed != 2 || s.Delivered != 0 {
		t.Errorf("after Close: %+v, want both events failed", s)
	}
	d.Send(event(webhook.RoomStarted)) // after Close: ignored, no panic
	if n := len(rc.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestNewRefusesBadHooks(t *testing.T) {
	for _, c := range []struct {
		hook config.Webhook
		want string
	}{
		{config.Webhook{URL: "ftp://example.test/x", Secret: "s"}, "not an http(s) URL"},
		{config.Webhook{URL: "http://", Secret: "s"}, "not an http(s) URL"},
		{config.Webhook{URL: "http://127.0.0.1:9/x"}, "secret is empty"},
		{config.Webhook{URL: "http://127.0.0.1:9/x", Secret: "s", Events: []string{"room-start"}}, `event type "room-start" is unknown`},
	} {
		_, err := webhook.New(webhook.Options{Hooks: []config.Webhook{c.hook}, Logger: quiet})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "webhooks[0]: ") {
			t.Errorf("%+v: err %v, want one naming webhooks[0] and %q", c.hook, err, c.want)
		}
	}
}

func TestNilDispatcherIgnoresEverything(t *testing.T) {
	var d *webhook.Dispatcher
	d.Send(event(webhook.RoomStarted))
	d.RecordSealed("r", "rec", 3)
	d.Close(context.Background())
	if s := d.Stats(); s != (webhook.Stats{}) {
		t.Errorf("stats %+v", s)
	}
}
