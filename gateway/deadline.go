package gateway

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// hsts is sent on every HTTPS response: a browser that has once reached the
// node over HTTPS is not talked down to plain HTTP for a year. Over plain HTTP
// browsers ignore it, so it is not sent there.
const hsts = "max-age=31536000"

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS != nil {
		w.Header().Set("Strict-Transport-Security", hsts)
	}
	if d := g.limits.RequestTimeout; d > 0 && g.isWebSocket(r) {
		// A connection kept alive keeps the last request's write deadline,
		// which may have passed; the handshake must not depend on the
		// WebSocket library writing only after the hijack has cleared it.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	} else if d > 0 {
		// http.Server's ReadHeaderTimeout ends with the headers: without
		// these a body sent a byte now and then, or a response never read,
		// holds a connection and its goroutine for as long as the client likes.
		rc := http.NewResponseController(w)
		start := time.Now()
		// The handler's own work comes on top of the body (a WHIP answer may
		// take 15 s), hence twice the time to take the response.
		_ = rc.SetWriteDeadline(start.Add(2 * d))
		if r.Body != nil && r.Body != http.NoBody {
			_ = rc.SetReadDeadline(start.Add(d))
			r.Body = &bodyDeadline{ReadCloser: r.Body, rc: rc}
		}
	}
	g.mux.ServeHTTP(w, r)
}

// isWebSocket reports a signaling upgrade: those sessions last as long as the
// meeting, and once the socket is hijacked net/http clears its deadlines and
// the gateway's own join timeout and pings take over. Only a bodiless GET /ws
// qualifies, so that an Upgrade header cannot buy any other request, or a
// body dribbled after it, freedom from the deadlines.
func (g *Gateway) isWebSocket(r *http.Request) bool {
	return r.Method == http.MethodGet && (r.URL.Path == "/ws" || g.sockets[r.URL.Path]) && (r.Body == nil || r.Body == http.NoBody) &&
		strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// bodyDeadline lifts the read deadline once the whole body has arrived: after
// that net/http reads only to notice the client leaving, and a deadline there
// would cancel the request's context while the handler still works on it.
type bodyDeadline struct {
	io.ReadCloser
	rc     *http.ResponseController
	lifted bool
}

func (b *bodyDeadline) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.lifted {
		b.lifted = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// progressWriter gives each write its own deadline, for responses that may
// rightly take hours (a record of a long meeting is gigabytes): a client
// that keeps reading is never cut, one that stalls for d is.
// It also stops at once when cut is set (the token was revoked): a fresh
// deadline per write would otherwise undo the past one the revocation sets.
type progressWriter struct {
	w   io.Writer
	rc  *http.ResponseController
	d   time.Duration
	cut *atomic.Bool
}

// errCut ends a download whose token was revoked.
var errCut = errors.New("the access token was revoked")

func (p *progressWriter) Write(b []byte) (int, error) {
	if p.cut != nil && p.cut.Load() {
		return 0, errCut
	}
	if p.d > 0 {
		_ = p.rc.SetWriteDeadline(time.Now().Add(p.d))
	}
	return p.w.Write(b)
}
