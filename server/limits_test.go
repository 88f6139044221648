package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/signal"
)

func TestMessageFloodIsRefusedAndOthersKeepTalking(t *testing.T) {
	srv := startServer(t, func(c *config.Config) { c.MessagesPerSecond = 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	flooder := dial(t, ctx, srv, "r", "flooder", auth.GrantJoin)
	a := dial(t, ctx, srv, "r", "a", auth.GrantJoin)
	b := dial(t, ctx, srv, "r", "b", auth.GrantJoin)
	for range 1000 {
		if err := flooder.SendRaw([]byte(`{"type":"ping"}`)); err != nil {
			break // closed by the server: expected at the end
		}
	}
	if _, err := flooder.WaitFor(ctx, func(typ string, raw []byte) bool {
		return typ == "error" && strings.Contains(string(raw), signal.CodeRateLimited)
	}); err != nil {
		t.Fatalf("the flood got no rate_limited error: %v", err)
	}
	if _, err := flooder.WaitFor(ctx, func(string, []byte) bool { return false }); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the flooder's connection stays open: %v", err)
	}
	pongs := 0
	for _, m := range flooder.Messages() {
		if typeIs(m, "pong") {
			pongs++
		}
	}
	if pongs == 0 || pongs > 200 {
		t.Errorf("%d of 1000 pings answered; want the burst (80) and a little more", pongs)
	}
	// The others are not affected.
	if err := a.Send(&signal.ChatSend{Type: "chat", Text: "still here"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitFor(ctx, func(typ string, raw []byte) bool {
		return typ == "chat" && strings.Contains(string(raw), "still here")
	}); err != nil {
		t.Fatal(err)
	}
}

func TestRoomAndServerCapacity(t *testing.T) {
	srv := startServer(t, func(c *config.Config) { c.MaxParticipants = 2; c.MaxRooms = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dial(t, ctx, srv, "r", "a", auth.GrantJoin)
	dial(t, ctx, srv, "r", "b", auth.GrantJoin)
	for _, c := range []struct{ room, want string }{{"r", signal.CodeRoomFull}, {"other", signal.CodeServerFull}} {
		_, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: c.room, Token: mint(t, srv, c.room, "c", auth.GrantJoin)})
		var se *signal.Error
		if !errors.As(err, &se) || se.Code != c.want {
			t.Errorf("joining %s: %v, want %s", c.room, err, c.want)
		}
	}
	// A seat taken back is not a new participant: "a" rejoining is fine.
	dial(t, ctx, srv, "r", "a", auth.GrantJoin)
}

func TestDuplicateIdentityRefusedBySetting(t *testing.T) {
	srv := startServer(t, func(c *config.Config) { c.RefuseDuplicates = true })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first := dial(t, ctx, srv, "r", "head-a", auth.GrantJoin)
	_, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "r", Token: mint(t, srv, "r", "head-a", auth.GrantJoin)})
	var se *signal.Error
	if !errors.As(err, &se) || se.Code != signal.CodeDuplicate {
		t.Fatalf("second connection of head-a: %v", err)
	}
	if err := first.Send(&signal.Ping{Type: "ping"}); err != nil {
		t.Fatal(err)
	}
	if _, err := first.WaitFor(ctx, func(typ string, _ []byte) bool { return typ == "pong" }); err != nil {
		t.Fatalf("the first connection was disturbed: %v", err)
	}
}

func TestJoinFloodFromOneAddress(t *testing.T) {
	srv := startServer(t, func(c *config.Config) { c.JoinsPerMinute = 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	host := dial(t, ctx, srv, "r", "host", auth.GrantJoin)
	refused := 0
	for i := range 10 {
		c, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "r", Token: mint(t, srv, "r", "guest", auth.GrantJoin)})
		if err != nil {
			if !strings.Contains(err.Error(), "429") {
				t.Fatalf("join %d: %v, want HTTP 429", i, err)
			}
			refused++
			continue
		}
		c.Close()
	}
	if refused != 6 { // 5 a minute, and the host used one
		t.Errorf("%d of 10 joins refused, want 6", refused)
	}
	// The host's session is untouched.
	if err := host.Send(&signal.Ping{Type: "ping"}); err != nil {
		t.Fatal(err)
	}
	if _, err := host.WaitFor(ctx, func(typ string, _ []byte) bool { return typ == "pong" }); err != nil {
		t.Fatal(err)
	}
}
