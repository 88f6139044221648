package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/record"
)

// openCmd serves one record folder read-only on this computer for the record
// player: `parley open RECORD_DIR`. No server data, no token, no network.
func openCmd(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return openUntil(ctx, args, stdout, stderr)
}

// openUntil serves until ctx ends.
func openUntil(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("open", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: parley open RECORD_DIR [--addr 127.0.0.1:PORT] [--server-key KEY]")
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to serve on (port 0: a free one)")
	serverKey := fs.String("server-key", "", "the server's public key (from parley key export), for the player's verification; without it the record is checked with the key it names, which shows only that it is consistent")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	dir, err := oneRecordFolder(fs, pos)
	if err != nil {
		return err
	}
	var key ed25519.PublicKey
	if *serverKey != "" {
		k, err := parseKey(*serverKey)
		if err != nil {
			return usageError{err}
		}
		key = k
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return usageError{fmt.Errorf("--addr %q: %v", *addr, err)}
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		// The folder is served without a token: to this computer only.
		return usageError{fmt.Errorf("--addr %q is not a loopback address: parley open serves a record to this computer only", *addr)}
	}
	l, err := record.ReadLog(dir)
	if errors.Is(err, iofs.ErrNotExist) {
		return usageError{fmt.Errorf("%s is not a record folder: it has no %s", dir, record.LogFile)}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           gateway.OpenRecord(dir, key),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.NewTextHandler(stderr, nil), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "record %s (room %s), read-only; open it in a browser:\n  http://%s/records/%s\nCtrl-C stops.\n",
		l.Record, l.Room, ln.Addr(), l.Record)
	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	<-served
	return nil
}
