package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/server/servertest"
	"github.com/parleyhq/parley/signal"
)

// startServer runs a node on free loopback ports with a fresh data folder.
func startServer(t *testing.T, tweaks ...func(*config.Config)) *server.Server {
	t.Helper()
	return servertest.Start(t, tweaks...)
}

func mint(t *testing.T, srv *server.Server, room, identity string, grants ...auth.Grant) string {
	return servertest.Mint(t, srv, room, identity, grants...)
}

var allGrants = []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}

func dial(t *testing.T, ctx context.Context, srv *server.Server, room, identity string, grants ...auth.Grant) *client.Client {
	return servertest.Dial(t, ctx, srv, room, identity, grants...)
}

// publishAV publishes a synthetic mic and camera and pumps them until ctx ends.
var publishAV = servertest.PublishAV

// waitInbound waits until c receives media on want tracks, each at least minBytes.
var waitInbound = servertest.WaitInbound

func TestThreeParticipantsExchangeMedia(t *testing.T) {
	srv := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := []string{"head-a", "head-b", "interp-a"}
	var cs []*client.Client
	for _, n := range names {
		c := dial(t, ctx, srv, "summit", n, allGrants...)
		if err := publishAV(ctx, c, n); err != nil {
			t.Fatalf("%s publish: %v", n, err)
		}
		cs = append(cs, c)
	}
	for i, c := range cs {
		if err := waitInbound(ctx, c, 4, 5000); err != nil {
			t.Fatalf("%s: %v", names[i], err)
		}
		for _, in := range c.Inbound() {
			if in.Identity == names[i] {
				t.Errorf("%s receives its own %s", names[i], in.Source)
			}
			if in.Identity == "" || in.Source == "" {
				t.Errorf("%s: a forwarded track has no owner in the offer's map", names[i])
			}
		}
	}
	// One leaves: the others see it go and keep receiving from each other.
	if err := cs[2].Send(&signal.Leave{Type: "leave"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs[:2] {
		if _, err := c.WaitFor(ctx, func(typ string, raw []byte) bool {
			return typ == "participant-left" && containsIdentity(raw, "interp-a")
		}); err != nil {
			t.Fatal(err)
		}
	}
	before := map[*client.Inbound]uint64{}
	for _, c := range cs[:2] {
		for _, in := range c.Inbound() {
			before[in] = in.Bytes.Load()
		}
	}
	time.Sleep(time.Second)
	for i, c := range cs[:2] {
		for _, in := range c.Inbound() {
			grew := in.Bytes.Load() > before[in]
			if in.Identity == "interp-a" && grew {
				t.Errorf("%s still receives from the participant who left", names[i])
			}
			if in.Identity != "interp-a" && !grew {
				t.Errorf("%s stopped receiving %s of %s", names[i], in.Source, in.Identity)
			}
		}
	}
}

func containsIdentity(raw []byte, id string) bool {
	return bytesContains(raw, `"identity":"`+id+`"`)
}

func bytesContains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }

func TestWithoutSubscribeReceivesNothing(t *testing.T) {
	srv := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub := dial(t, ctx, srv, "r1", "speaker", allGrants...)
	if err := publishAV(ctx, pub, "speaker"); err != nil {
		t.Fatal(err)
	}
	deaf := dial(t, ctx, srv, "r1", "deaf", auth.GrantJoin, auth.GrantPublish)
	full := dial(t, ctx, srv, "r1", "full", auth.GrantJoin, auth.GrantSubscribe)
	if err := waitInbound(ctx, full, 2, 5000); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	for _, raw := range deaf.Messages() {
		if typeIs(raw, "offer") {
			t.Fatalf("a participant without subscribe got a sub offer: %s", raw)
		}
	}
	if n := len(deaf.Inbound()); n != 0 {
		t.Fatalf("a participant without subscribe receives %d tracks", n)
	}
}

func typeIs(raw []byte, typ string) bool { return bytesContains(raw, `"type":"`+typ+`"`) }

func TestWithoutPublishCannotPublish(t *testing.T) {
	srv := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	watcher := dial(t, ctx, srv, "r2", "watcher", allGrants...)
	mute := dial(t, ctx, srv, "r2", "listener", auth.GrantJoin, auth.GrantSubscribe)
	pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
	defer pcancel()
	err := publishAV(pctx, mute, "listener")
	var se *signal.Error
	if !errors.As(err, &se) || se.Code != signal.CodeForbidden {
		t.Fatalf("publishing without the grant: got %v, want a %q error", err, signal.CodeForbidden)
	}
	time.Sleep(time.Second)
	if n := len(watcher.Inbound()); n != 0 {
		t.Fatalf("watcher receives %d tracks from a participant who may not publish", n)
	}
}

func TestLeavingCleansUp(t *testing.T) {
	srv := startServer(t, func(c *config.Config) { c.ReconnectGrace = 100 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Warm up once so lazily started runtime and library goroutines are counted in the baseline.
	round := func(room string) {
		var cs []*client.Client
		for _, n := range []string{"a", "b", "c"} {
			c, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: room, Token: mint(t, srv, room, n, allGrants...)})
			if err != nil {
				t.Fatal(err)
			}
			pctx, pcancel := context.WithCancel(ctx)
			defer pcancel()
			if err := publishAV(pctx, c, n); err != nil {
				t.Fatal(err)
			}
			cs = append(cs, c)
		}
		for _, c := range cs {
			if err := waitInbound(ctx, c, 4, 1000); err != nil {
				t.Fatal(err)
			}
		}
		cs[0].Send(&signal.Leave{Type: "leave"}) // a clean leave
		for _, c := range cs {
			c.Close() // and two dropped connections
		}
		waitUntil(t, ctx, func() bool { return len(srv.Rooms().Rooms()) == 0 }, "room to close")
	}
	round("warm")
	base := runtime.NumGoroutine()
	for i := range 3 {
		round(fmt.Sprintf("room%d", i))
	}
	waitUntil(t, ctx, func() bool { return runtime.NumGoroutine() <= base+2 }, "goroutines to return to the baseline")
}

func waitUntil(t *testing.T, ctx context.Context, cond func() bool, what string) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("timed out waiting for %s (goroutines: %d)\n%s", what, runtime.NumGoroutine(), buf[:n])
		case <-time.After(50 * time.Millisecond):
		}
	}
}
