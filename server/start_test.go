package server_test

import (
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/server/servertest"
)

// TestFailedStartReleasesItsPorts: a node that fails late in its start (its
// TLS certificate cannot be read, after the media port, the TURN relay and the
// HTTP listener are bound) releases them all: a node on the same ports starts.
func TestFailedStartReleasesItsPorts(t *testing.T) {
	free := func(network string) int {
		t.Helper()
		if network == "udp" {
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			return c.LocalAddr().(*net.UDPAddr).Port
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = net.JoinHostPort("127.0.0.1", itoa(free("tcp")))
	cfg.UDPPort = free("udp")
	cfg.TURN = true
	cfg.TURNPort = free("udp")
	bad := cfg
	bad.TLSCert = filepath.Join(t.TempDir(), "missing.pem")
	bad.TLSKey = filepath.Join(t.TempDir(), "missing-key.pem")
	if _, err := server.Start(bad, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Fatal("a node with a missing certificate started")
	}
	srv := servertest.StartConfig(t, cfg) // fails the test if a port is still held
	if srv.MediaPort() != cfg.UDPPort {
		t.Fatalf("media port %d, want %d", srv.MediaPort(), cfg.UDPPort)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
