package gateway_test

import (
	"archive/tar"
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/server/servertest"
)

const shortDeadline = 300 * time.Millisecond

// TestWebSocketOutlivesTheRequestDeadline: the signaling session is not an
// HTTP request that must end.
func TestWebSocketOutlivesTheRequestDeadline(t *testing.T) {
	srv := startServer(t, func(c *config.Config) { c.RequestTimeout = shortDeadline })
	ctx := testCtx(t)
	w, _ := join(t, ctx, srv, "summit", "head-a", member...)
	time.Sleep(3 * shortDeadline) // past both the read and the write deadline
	w.pingPong()
}

// smallWindow is an HTTP client whose receive buffer is small, so that the
// server can write no further ahead of the reader than its own buffers allow.
func smallWindow() *http.Client {
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 32<<10)
		})
	}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// download asks for the record and reads it with pause between MiB, stopping
// after stopAfter bytes for stall; it returns the size of media.webm in the
// tar, or the error that ended the tar.
func download(t *testing.T, srv *server.Server, id, token string, pause, stall time.Duration, stopAfter int64) (int64, time.Duration, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL()+"/records/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := smallWindow().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %s", resp.Status)
	}
	body := &slowReader{r: resp.Body, pause: pause, stall: stall, stopAfter: stopAfter}
	tr := tar.NewReader(body)
	var size int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return size, time.Since(start), nil
		}
		if err != nil {
			return size, time.Since(start), err
		}
		n, err := io.Copy(io.Discard, tr)
		if err != nil {
			return size, time.Since(start), err
		}
		if h.Name == servertest.FakeRecordMedia {
			size = n
		}
	}
}

// slowReader pauses after each MiB, and once, after stopAfter bytes, for stall.
type slowReader struct {
	r           io.Reader
	pause       time.Duration
	stall       time.Duration
	stopAfter   int64
	n, nextStop int64
	stalled     bool
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.n >= s.nextStop {
		time.Sleep(s.pause)
		s.nextStop += 1 << 20
	}
	if !s.stalled && s.stopAfter > 0 && s.n >= s.stopAfter {
		s.stalled = true
		time.Sleep(s.stall)
	}
	n, err := s.r.Read(p[:min(len(p), int(s.nextStop-s.n))])
	s.n += int64(n)
	return n, err
}

// TestRecordDownloadIsCutOnlyWhenItStalls: a download that keeps going may
// take many times the request deadline; one whose reader stops is cut.
func TestRecordDownloadIsCutOnlyWhenItStalls(t *testing.T) {
	var dataDir string
	srv := startServer(t, func(c *config.Config) { c.RequestTimeout = shortDeadline; dataDir = c.DataDir })
	const size = 24 << 20 // more than the socket buffers between the two ends hold
	id := servertest.FakeRecord(t, dataDir, "summit", size)
	tok := mint(t, srv, "summit", "clerk", auth.GrantJoin, auth.GrantRecord)

	got, took, err := download(t, srv, id, tok, 60*time.Millisecond, 0, 0)
	if err != nil || got != size {
		t.Fatalf("a steady download: %d of %d bytes in %s: %v", got, size, took, err)
	}
	if took < 4*shortDeadline {
		t.Fatalf("the download took %s: too fast to show anything against a deadline of %s", took, shortDeadline)
	}
	t.Logf("steady download of %d MiB: %s, request deadline %s", size>>20, took.Round(time.Millisecond), shortDeadline)

	got, took, err = download(t, srv, id, tok, 0, 6*shortDeadline, 1<<20)
	if err == nil || got == size {
		t.Fatalf("a download stalled for %s: %d bytes, %v; want it cut", 6*shortDeadline, got, err)
	}
	t.Logf("a download stalled for %s after 1 MiB: cut after %s (%v)", 6*shortDeadline, took.Round(time.Millisecond), err)
}

// TestWebSocketOnAKeptAliveConnection: an upgrade on a connection that
// served a request before, longer ago than that request's deadlines, is not
// failed by them.
func TestWebSocketOnAKeptAliveConnection(t *testing.T) {
	srv := startServer(t, func(c *config.Config) { c.RequestTimeout = shortDeadline })
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	ask := func(req string) *http.Response {
		t.Helper()
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := ask("GET /healthz HTTP/1.1\r\nHost: parley\r\n\r\n")
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	time.Sleep(3 * shortDeadline) // the healthz response's write deadline has passed
	resp = ask("GET /ws HTTP/1.1\r\nHost: parley\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade on a kept-alive connection: %s", resp.Status)
	}
}
