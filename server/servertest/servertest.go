// Package servertest starts real Parley nodes for tests in other packages: free
// loopback ports, a fresh data folder, shutdown at the end of the test.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server"
)

// Start runs a node, after applying tweaks to its configuration. With -v its
// log goes to the test log.
func Start(t testing.TB, tweaks ...func(*config.Config)) *server.Server {
	t.Helper()
	return StartWith(t, nil, tweaks...)
}

// StartWith is Start with options only Go code gives (server.Option).
func StartWith(t testing.TB, opts []server.Option, tweaks ...func(*config.Config)) *server.Server {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.UDPPort = 0
	cfg.DataDir = t.TempDir()
	for _, tw := range tweaks {
		tw(&cfg)
	}
	return StartConfig(t, cfg, opts...)
}

// StartConfig runs a node with exactly cfg (for tests of how a configuration
// is loaded), shut down at the end of the test.
func StartConfig(t testing.TB, cfg config.Config, opts ...server.Option) *server.Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := server.Start(cfg, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }
