package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server/servertest"
	"github.com/parleyhq/parley/webhook"
)

const secret = "wh-secret-for-tests"

// A whole call, recorded, reaches the operator as room_started,
// participant_joined, track_published, participant_left, room_finished and
// recording_sealed, in order, each signed; a receiver that asked for room
// events only gets those.
func TestCallEventsReachReceiverInOrderSigned(t *testing.T) {
	all := newReceiver(t, nil)
	roomsOnly := newReceiver(t, nil)
	srv := servertest.Start(t, func(c *config.Config) {
		c.RecordAll = true
		c.ReconnectGrace = 0
		c.Webhooks = []config.Webhook{
			{URL: all.URL(), Secret: secret},
			{URL: roomsOnly.URL(), Secret: "another-secret", Events: []string{webhook.RoomStarted, webhook.RoomFinished}},
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	call := servertest.Call(t, ctx, srv, "summit", "head-a", "head-b")
	a, b := call[0], call[1]
	leave(t, a)
	leave(t, b)
	reqs := all.waitFor(t, ctx, "room_finished and recording_sealed", func(r []request) bool {
		return has(webhook.RoomFinished)(r) && has(webhook.RecordingSealed)(r)
	})

	// Order: what the room did, as the room did it.
	got := types(reqs)
	t.Logf("events: %v", got)
	count := func(typ string) int {
		n := 0
		for _, g := range got {
			if g == typ {
				n++
			}
		}
		return n
	}
	for typ, want := range map[string]int{webhook.RoomStarted: 1, webhook.ParticipantJoined: 2, webhook.TrackPublished: 4,
		webhook.ParticipantLeft: 2, webhook.RoomFinished: 1, webhook.RecordingSealed: 1} {
		if n := count(typ); n != want {
			t.Errorf("%d %s events, want %d (all: %v)", n, typ, want, got)
		}
	}
	if got[0] != webhook.RoomStarted {
		t.Errorf("first event %s, want room_started (all: %v)", got[0], got)
	}
	joined, published, left := map[string]int{}, map[string]int{}, map[string]int{}
	var finishedAt, sealedAt, lastLeft int
	for i, r := range reqs {
		e := r.event
		switch e.Type {
		case webhook.ParticipantJoined:
			joined[e.Participant] = i
			if e.Identity == "" || e.Data["name"] == "" {
				t.Errorf("participant_joined without identity or name: %+v", e)
			}
		case webhook.TrackPublished:
			published[e.Participant] = i
			if _, ok := joined[e.Participant]; !ok {
				t.Errorf("track_published of %s before it joined: %v", e.Participant, got)
			}
			if e.Data["track"] == "" || e.Data["kind"] == "" || e.Data["source"] == "" {
				t.Errorf("track_published without track, kind or source: %+v", e)
			}
		case webhook.ParticipantLeft:
			left[e.Participant] = i
			lastLeft = i
			if i < published[e.Participant] {
				t.Errorf("participant_left of %s before its tracks were published: %v", e.Participant, got)
			}
			if e.Data["reason"] == "" {
				t.Errorf("participant_left without a reason: %+v", e)
			}
		case webhook.RoomFinished:
			finishedAt = i
		case webhook.RecordingSealed:
			sealedAt = i
			if e.Data["record"] == "" {
				t.Errorf("recording_sealed names no record: %+v", e)
			}
		}
		if e.Room != "summit" || e.ID == "" || e.Time.IsZero() {
			t.Errorf("event %d lacks room, id or time: %+v", i, e)
		}
	}
	if len(joined) != 2 || len(left) != 2 {
		t.Errorf("joined %v, left %v: want the same two participants", joined, left)
	}
	for p := range joined {
		if _, ok := left[p]; !ok {
			t.Errorf("%s joined and never left", p)
		}
	}
	if finishedAt < lastLeft || sealedAt < lastLeft {
		t.Errorf("room_finished (%d) or recording_sealed (%d) before the last participant_left (%d): %v", finishedAt, sealedAt, lastLeft, got)
	}
	if finishedAt != len(got)-1 && sealedAt != len(got)-1 {
		t.Errorf("events after the room finished: %v", got)
	}

	// Every delivery is signed, headed and unique.
	ids := map[string]bool{}
	for _, r := range reqs {
		if err := webhook.Verify(secret, r.header, r.body, time.Now(), time.Minute); err != nil {
			t.Errorf("%s: %v", r.event.Type, err)
		}
		if err := webhook.Verify("wrong-secret", r.header, r.body, time.Now(), time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
			t.Errorf("%s verifies with a wrong secret: %v", r.event.Type, err)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		if h := r.header.Get(webhook.HeaderEvent); h != r.event.Type {
			t.Errorf("%s = %q for a %s event", webhook.HeaderEvent, h, r.event.Type)
		}
		if _, err := strconv.ParseInt(r.header.Get(webhook.HeaderTimestamp), 10, 64); err != nil {
			t.Errorf("%s: %v", webhook.HeaderTimestamp, err)
		}
		id := r.header.Get(webhook.HeaderDelivery)
		if id == "" || ids[id] {
			t.Errorf("delivery id %q empty or repeated without a failure", id)
		}
		ids[id] = true
	}

	only := roomsOnly.waitFor(t, ctx, "room_finished", has(webhook.RoomFinished))
	if got := types(only); !slices.Equal(got, []string{webhook.RoomStarted, webhook.RoomFinished}) {
		t.Errorf("filtered receiver got %v, want room_started, room_finished", got)
	}
	for _, r := range only {
		if err := webhook.Verify("another-secret", r.header, r.body, time.Now(), time.Minute); err != nil {
			t.Errorf("filtered receiver, %s: %v", r.event.Type, err)
		}
	}
	// Same event, same id for every receiver.
	if only[0].event.ID != reqs[0].event.ID {
		t.Errorf("room_started has id %s at one receiver and %s at another", reqs[0].event.ID, only[0].event.ID)
	}
}

// A receiver that fails twice gets the same delivery again, and what follows
// waits for it: order holds across retries.
func TestFailingReceiverGetsRedeliveryWithSameID(t *testing.T) {
	rc := newReceiver(t, func(n int, _ *http.Request) int {
		if n < 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	srv := servertest.Start(t, func(c *config.Config) {
		c.ReconnectGrace = 0
		c.Webhooks = []config.Webhook{{URL: rc.URL(), Secret: secret}}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := dial(t, ctx, srv, "retry", "solo")
	leave(t, a)
	reqs := rc.waitFor(t, ctx, "room_finished", has(webhook.RoomFinished))
	if len(reqs) < 5 {
		t.Fatalf("got %v, want room_started three times then the rest", types(reqs))
	}
	first := reqs[0].header.Get(webhook.HeaderDelivery)
	for i, r := range reqs[:3] {
		if r.event.Type != webhook.RoomStarted || r.header.Get(webhook.HeaderDelivery) != first {
			t.Errorf("attempt %d: %s with delivery %s; want room_started with %s", i+1, r.event.Type, r.header.Get(webhook.HeaderDelivery), first)
		}
		if err := webhook.Verify(secret, r.header, r.body, time.Now(), time.Minute); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
	}
	if reqs[2].event.ID != reqs[0].event.ID {
		t.Errorf("the event id changed across retries")
	}
	if got, want := types(reqs[3:]), []string{webhook.ParticipantJoined, webhook.ParticipantLeft, webhook.RoomFinished}; !slices.Equal(got, want) {
		t.Errorf("after the retries: %v, want %v", got, want)
	}
}

// A receiver that never answers holds up neither the call nor the other
// receivers, and the server still shuts down within its bound.
func TestHangingReceiverDoesNotHoldUpTheCall(t *testing.T) {
	release := make(chan struct{})
	hang := newReceiver(t, func(_ int, r *http.Request) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	// Registered after the receiver, so it runs before the receiver's Close
	// (which waits for handlers).
	t.Cleanup(func() { close(release) })
	good := newReceiver(t, nil)
	srv := servertest.Start(t, func(c *config.Config) {
		c.ReconnectGrace = 0
		c.Webhooks = []config.Webhook{{URL: hang.URL(), Secret: secret}, {URL: good.URL(), Secret: secret}}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	call := servertest.Call(t, ctx, srv, "hung", "head-a", "head-b")
	a, b := call[0], call[1]
	leave(t, a)
	leave(t, b)
	good.waitFor(t, ctx, "room_finished", has(webhook.RoomFinished))
	// Its events wait behind the first, in order (attempts time out and are
	// retried, so there may be several of the first).
	for _, r := range hang.requests() {
		if r.event.Type != webhook.RoomStarted {
			t.Errorf("the hanging receiver got %s before room_started was delivered", r.event.Type)
		}
	}

	sctx, scancel := context.WithTimeout(context.Background(), webhook.DrainTimeout+20*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if sctx.Err() != nil {
		t.Fatalf("shutdown used up its whole bound")
	}
}
