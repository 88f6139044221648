package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/signal"
)

func TestGracefulShutdownTellsClients(t *testing.T) {
	srv := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.Get(srv.URL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "ready") {
		t.Fatalf("readyz before shutdown: %d %s", resp.StatusCode, body)
	}
	c := dial(t, ctx, srv, "r", "a", auth.GrantJoin)
	done := make(chan error, 1)
	go func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		done <- srv.Shutdown(sctx)
	}()
	if _, err := c.WaitFor(ctx, func(typ string, raw []byte) bool {
		return typ == "error" && strings.Contains(string(raw), signal.CodeShuttingDown)
	}); err != nil {
		t.Fatalf("the client was not told: %v", err)
	}
	_, err = c.WaitFor(ctx, func(string, []byte) bool { return false })
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("close: %v, want 1001 going away", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("shutdown did not finish")
	}
}
