package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/server/servertest"
	"github.com/parleyhq/parley/signal"
	"github.com/parleyhq/parley/webhook"
)

// request is one POST a test receiver got.
type request struct {
	header http.Header
	body   []byte
	event  webhook.Event
}

// receiver is an HTTP endpoint on 127.0.0.1 that records every request and
// answers with whatever answer says (200 when answer is nil).
type receiver struct {
	srv    *httptest.Server
	answer func(n int, r *http.Request) int // n counts requests from 0

	mu   sync.Mutex
	reqs []request
	seen chan struct{} // closed and replaced on each request
}

func newReceiver(t *testing.T, answer func(n int, r *http.Request) int) *receiver {
	t.Helper()
	rc := &receiver{answer: answer, seen: make(chan struct{})}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) URL() string { return rc.srv.URL + "/hook" }

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var e webhook.Event
	_ = json.Unmarshal(body, &e)
	rc.mu.Lock()
	n := len(rc.reqs)
	rc.reqs = append(rc.reqs, request{header: r.Header.Clone(), body: body, event: e})
	close(rc.seen)
	rc.seen = make(chan struct{})
	rc.mu.Unlock()
	code := http.StatusOK
	if rc.answer != nil {
		code = rc.answer(n, r)
	}
	w.WriteHeader(code)
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

// waitFor polls until ok holds for the requests so far, or fails the test.
func (rc *receiver) waitFor(t *testing.T, ctx context.Context, what string, ok func([]request) bool) []request {
	t.Helper()
	for {
		rc.mu.Lock()
		reqs, ch := append([]request(nil), rc.reqs...), rc.seen
		rc.mu.Unlock()
		if ok(reqs) {
			return reqs
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("receiver: waiting for %s: %v; got %v", what, ctx.Err(), types(reqs))
		}
	}
}

// types lists the event types of reqs, in order.
func types(reqs []request) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = r.event.Type
	}
	return out
}

func has(typ string) func([]request) bool {
	return func(reqs []request) bool {
		for _, r := range reqs {
			if r.event.Type == typ {
				return true
			}
		}
		return false
	}
}

func dial(t *testing.T, ctx context.Context, srv *server.Server, room, identity string) *client.Client {
	return servertest.Dial(t, ctx, srv, room, identity, servertest.Everyone...)
}

// leave says goodbye, so the seat goes at once rather than after a grace period.
func leave(t *testing.T, c *client.Client) {
	t.Helper()
	if err := c.Send(&signal.Leave{Type: "leave"}); err != nil {
		t.Fatal(err)
	}
}
