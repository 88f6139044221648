package server_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server"
)

func hostPort(srv *server.Server) string {
	return strings.TrimPrefix(srv.URL(), "http://")
}

// settledGoroutines waits until the goroutine count is at most limit, and
// returns the last count seen.
func settledGoroutines(limit int, within time.Duration) int {
	deadline := time.Now().Add(within)
	for {
		n := runtime.NumGoroutine()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ended reports whether the server has closed c, reading whatever it answered
// first; it waits at most wait.
func ended(c net.Conn, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		var ne net.Error
		switch {
		case err == nil:
			continue // an answer before the close
		case errors.As(err, &ne) && ne.Timeout():
			return false
		default:
			return true // EOF or reset
		}
	}
}

// TestSlowBodiesAreCutAtTheDeadline: unauthenticated clients that send a
// request body one byte at a time, on paths of every kind, hold their
// connection only until the request deadline, while others are served.
func TestSlowBodiesAreCutAtTheDeadline(t *testing.T) {
	const deadline = 600 * time.Millisecond
	srv := startServer(t, func(c *config.Config) { c.RequestTimeout = deadline; c.MaxConnsPerIP = 0 })
	addr := hostPort(srv)
	paths := []string{"/api/v1/rooms", "/whip/summit", "/records/x", "/healthz", "/r/summit", "/nowhere"}
	const n = 60

	before := runtime.NumGoroutine()
	conns := make([]net.Conn, n)
	sent := make([]time.Time, n) // each deadline runs from its request's headers
	endedAt := make([]time.Duration, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
		head := "POST " + paths[i%len(paths)] + " HTTP/1.1\r\nHost: parley\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
		if _, err := io.WriteString(c, head); err != nil {
			t.Fatal(err)
		}
		sent[i] = time.Now()
	}
	start := time.Now()

	// One byte every 100 ms per connection, from this goroutine alone, so
	// the goroutines counted are the server's.
	var held int
	served := false
	for open := n; open > 0 && time.Since(start) < deadline+5*time.Second; {
		time.Sleep(100 * time.Millisecond)
		for i, c := range conns {
			if endedAt[i] != 0 {
				continue
			}
			if ended(c, time.Millisecond) {
				endedAt[i] = time.Since(sent[i])
				open--
				continue
			}
			_, _ = c.Write([]byte(" "))
		}
		if !served && time.Since(start) > deadline/2 {
			served = true
			held = runtime.NumGoroutine() - before
			// Others are served meanwhile, bodies included.
			hc := &http.Client{Timeout: deadline / 2}
			resp, err := hc.Get(srv.URL() + "/healthz")
			if err != nil {
				t.Fatalf("healthz while slow clients are held: %v", err)
			}
			resp.Body.Close()
			req, _ := http.NewRequest("POST", srv.URL()+"/api/v1/rooms", strings.NewReader(`{"name":"summit"}`))
			req.Header.Set("Authorization", "Bearer "+mint(t, srv, auth.AdminRoom, "operator", auth.GrantAdmin))
			resp, err = hc.Do(req)
			if err != nil {
				t.Fatalf("an admin request while slow clients are held: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("creating a room while slow clients are held: %s", resp.Status)
			}
		}
	}
	first, last := time.Hour, time.Duration(0)
	for i, at := range endedAt {
		if at == 0 {
			t.Fatalf("POST %s: still open %s after the start, with a deadline of %s", paths[i%len(paths)], time.Since(start), deadline)
		}
		first, last = min(first, at), max(last, at)
	}
	// The cut comes from the deadline: not before it, and soon after.
	if first < deadline-100*time.Millisecond || last > deadline+time.Second {
		t.Errorf("connections ended between %s and %s; the deadline is %s", first, last, deadline)
	}
	for _, c := range conns {
		c.Close()
	}
	after := settledGoroutines(before+5, 5*time.Second)
	t.Logf("%d slow connections: +%d goroutines while held, cut between %s and %s (deadline %s); %d goroutines before, %d after",
		n, held, first.Round(time.Millisecond), last.Round(time.Millisecond), deadline, before, after)
	if held < n-5 { // a few of earlier tests' goroutines may have ended meanwhile
		t.Errorf("+%d goroutines while %d connections are held: the count does not see them", held, n)
	}
	if after > before+5 {
		t.Errorf("%d goroutines after the cut, %d before", after, before)
	}
}

// TestConnectionCapPerAddress: one address holds at most max_conns_per_ip
// connections; more are closed at once and cost no goroutine, while other
// addresses are served, and a connection given back makes room again.
func TestConnectionCapPerAddress(t *testing.T) {
	const limit = 8
	srv := startServer(t, func(c *config.Config) { c.MaxConnsPerIP = limit })
	addr := hostPort(srv)

	// Each of these is known to be accepted: it was answered, and stays open
	// (kept alive) holding its place.
	held := make([]net.Conn, limit)
	for i := range held {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := healthz(c); err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, limit, err)
		}
		held[i] = c
	}

	before := runtime.NumGoroutine()
	const extra = 50
	for i := range extra {
		c, err := net.Dial("tcp", addr)
		if errors.Is(err, syscall.ECONNRESET) {
			continue // closed so fast that the dial saw it
		}
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = healthz(c)
		if !ended(c, 2*time.Second) {
			t.Fatalf("connection %d over the cap is still open", limit+i+1)
		}
	}
	grown := runtime.NumGoroutine() - before
	t.Logf("%d connections over the cap of %d: +%d goroutines", extra, limit, grown)
	if grown > 5 {
		t.Errorf("+%d goroutines for %d refused connections", grown, extra)
	}

	// Another address is not affected (on Linux all of 127/8 is loopback).
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	if c, err := d.Dial("tcp", addr); errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, os.ErrPermission) {
		t.Log("127.0.0.2 is not usable here; another address is not tried")
	} else if err != nil {
		t.Fatal(err)
	} else {
		defer c.Close()
		if err := healthz(c); err != nil {
			t.Fatalf("127.0.0.2 while 127.0.0.1 is at the cap: %v", err)
		}
	}

	// A place given back is free again once the server has seen the close.
	held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			err = healthz(c)
			c.Close()
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no place after one connection closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// healthz asks GET /healthz on c and keeps c open.
func healthz(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: parley\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}
