package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/signal"
)

// lockedBuffer collects the server's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// expectError sends msg and waits for an error with code in reply to it.
func expectError(t *testing.T, ctx context.Context, c *client.Client, msg any, code string) {
	t.Helper()
	mark := len(c.Messages())
	if err := c.Send(msg); err != nil {
		t.Fatal(err)
	}
	for {
		if e := c.ErrorSince(mark); e != nil {
			if e.Code != code {
				t.Fatalf("%T: got %+v, want %s", msg, e, code)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%T: no error came back", msg)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestEveryGrantIsEnforced(t *testing.T) {
	logs := &lockedBuffer{}
	cfg := config.Default()
	cfg.Listen, cfg.UDPPort, cfg.DataDir = "127.0.0.1:0", 0, t.TempDir()
	srv, err := server.Start(cfg, slog.New(slog.NewTextHandler(io.MultiWriter(logs), &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var tokens []string
	tok := func(id string, grants ...auth.Grant) string {
		s := mint(t, srv, "summit", id, grants...)
		tokens = append(tokens, s)
		return s
	}

	// join: a token without it is refused before anything is set up.
	_, err = client.Dial(ctx, client.Options{URL: srv.URL(), Room: "summit", Token: tok("nojoin", auth.GrantSubscribe)})
	var se *signal.Error
	if !errors.As(err, &se) || se.Code != signal.CodeForbidden {
		t.Fatalf("join without the join grant: %v", err)
	}

	mod, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "summit", Token: tok("head-a", auth.GrantJoin, auth.GrantModerate)})
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close()
	plain, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "summit", Token: tok("aide", auth.GrantJoin)})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	modID := mod.Welcome().Self.ID

	// moderate: refused, and the target hears nothing of it.
	expectError(t, ctx, plain, &signal.Moderate{Type: "moderate", Action: "mute", Target: modID, Source: signal.SourceMic}, signal.CodeForbidden)
	expectError(t, ctx, plain, &signal.Moderate{Type: "moderate", Action: "remove", Target: modID}, signal.CodeForbidden)
	// record: refused, and no record is made.
	expectError(t, ctx, plain, &signal.Record{Type: "record", On: true}, signal.CodeForbidden)
	if ms, _ := filepath.Glob(filepath.Join(cfg.DataDir, record.Dir, "*")); len(ms) != 0 {
		t.Fatalf("a record was started without the grant: %v", ms)
	}
	// subscribe: choosing a channel needs it.
	expectError(t, ctx, plain, &signal.Listen{Type: "listen", Channel: signal.Floor}, signal.CodeForbidden)
	// interpret: refused without the grant.
	expectError(t, ctx, plain, &signal.Interpret{Type: "interpret", Channel: "en"}, signal.CodeForbidden)
	for _, m := range mod.Messages() {
		if typeIs(m, "muted") || typeIs(m, "removed") {
			t.Fatalf("the moderator was affected by a refused request: %s", m)
		}
	}

	// moderate with ban: the target's token, and its identity, are revoked for the room.
	expectNoError := func(c *client.Client, msg any) {
		if err := c.Send(msg); err != nil {
			t.Fatal(err)
		}
	}
	expectNoError(mod, &signal.Moderate{Type: "moderate", Action: "remove", Target: plain.Welcome().Self.ID, Ban: true})
	if _, err := plain.WaitFor(ctx, func(typ string, _ []byte) bool { return typ == "removed" }); err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{tokens[len(tokens)-1], tok("aide", auth.GrantJoin)} {
		_, err = client.Dial(ctx, client.Options{URL: srv.URL(), Room: "summit", Token: token})
		if !errors.As(err, &se) || se.Code != signal.CodeTokenRevoked {
			t.Fatalf("a banned participant rejoining: %v", err)
		}
	}
	if c, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "summit", Token: tok("aide-2", auth.GrantJoin)}); err != nil {
		t.Fatalf("others may still join: %v", err)
	} else {
		c.Close()
	}

	// Tokens never reach the log.
	text := logs.String()
	if len(text) == 0 {
		t.Fatal("no log captured")
	}
	for _, token := range tokens {
		if bytes.Contains([]byte(text), []byte(token)) || bytes.Contains([]byte(text), []byte(token[len(token)-40:])) {
			t.Fatal("a token appears in the server's log")
		}
	}
}
