// Package gateway is Parley's HTTP front door: the WebSocket signaling endpoint
// that connects clients to rooms, the browser client and health checks, all on
// one port.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/room"
	"github.com/parleyhq/parley/signal"
	"github.com/parleyhq/parley/web"
)

// Timing of the signaling socket.
const (
	joinTimeout  = 10 * time.Second // a socket must join this soon after opening
	pingInterval = 15 * time.Second
	pingTimeout  = 30 * time.Second
)

// Gateway serves HTTP for one node.
type Gateway struct {
	rooms    *room.Manager
	verifier *auth.Verifier
	log      *slog.Logger
	mux      *http.ServeMux
	limits   Limits
	joins    *joinLimiter
	sockets  map[string]bool // paths of long-lived WebSockets besides /ws (HandleSocket); set before serving
	draining atomic.Bool     // shutting down: refuse joins, report not ready
	cluster  Cluster         // nil for a node alone; set before serving
}

// Drain makes the gateway refuse new joins and report not ready.
func (g *Gateway) Drain() { g.draining.Store(true) }

// floodClose is how many messages over the rate a connection may send before
// it is closed: a client that ignores rate_limited errors is not a client.
const floodClose = 500

// New returns a Gateway whose routes are ready.
func New(rooms *room.Manager, verifier *auth.Verifier, log *slog.Logger, limits Limits) *Gateway {
	g := &Gateway{rooms: rooms, verifier: verifier, log: log, mux: http.NewServeMux(),
		limits: limits, joins: newJoinLimiter(limits.JoinsPerMinute)}
	web.RegisterWith(g.mux, web.Options{Peers: g.peers})
	g.mux.HandleFunc("GET /ws", g.serveWS)
	g.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	})
	g.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if g.cluster != nil {
			g.clusterReady(w)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		if g.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "shutting down\n")
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	return g
}

// Handle adds a route (for packages that extend the gateway).
func (g *Gateway) Handle(pattern string, h http.Handler) { g.mux.Handle(pattern, h) }

// HandleSocket adds a route at path for WebSockets that last as long as
// what they carry (the links between nodes): like /ws, its GETs that upgrade
// are spared the request deadlines.
func (g *Gateway) HandleSocket(path string, h http.Handler) {
	if g.sockets == nil {
		g.sockets = map[string]bool{}
	}
	g.sockets[path] = true
	g.mux.Handle("GET "+path, h)
}

// HandleJoins adds a route whose POSTs make media sessions (WHIP, WHEP): they
// count against the same per-address join limit as WebSocket joins, and are
// refused while the node drains. Each one costs a peer connection, so a
// valid token must not be enough to make them without bound.
func (g *Gateway) HandleJoins(pattern string, h http.Handler) {
	g.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if g.draining.Load() {
				w.Header().Set("Retry-After", "5")
				jsonError(w, http.StatusServiceUnavailable, signal.CodeShuttingDown, "the server is shutting down")
				return
			}
			if !g.joins.allow(r, time.Now()) {
				w.Header().Set("Retry-After", "60")
				jsonError(w, http.StatusTooManyRequests, signal.CodeRateLimited, "too many sessions from this address; try again in a minute")
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
}

// jsonError answers with the JSON error shape of Parley's HTTP APIs.
func jsonError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func (g *Gateway) serveWS(w http.ResponseWriter, r *http.Request) {
	if g.draining.Load() {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "the server is shutting down", http.StatusServiceUnavailable)
		return
	}
	if !g.joins.allow(r, time.Now()) {
		w.Header().Set("Retry-After", "60")
		http.Error(w, "too many connections from this address; try again in a minute", http.StatusTooManyRequests)
		return
	}
	// The default origin check (same host only) stops other sites from driving
	// a visitor's browser into a meeting; pages of the cluster's other nodes
	// are this site too (a page redirected here).
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: g.peerOrigin(r)})
	if err != nil {
		return // Accept has answered the request
	}
	// We enforce the message limit ourselves so the client hears why.
	ws.SetReadLimit(-1)
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	c := newConn(ws, cancel)
	c.nodes = g.live
	go c.writeLoop(ctx)
	defer func() {
		cancel()
		<-c.done
		_ = ws.CloseNow()
	}()

	p, err := g.join(ctx, c)
	if moved := (*room.ElsewhereError)(nil); errors.As(err, &moved) {
		c.Send(signal.NewRedirect(moved.URL, moved.Node))
		c.closeWith(websocket.StatusNormalClosure, "redirect")
		<-c.done
		return
	}
	if err != nil {
		var perr *signal.Error
		if !errors.As(err, &perr) {
			perr = signal.Errorf(signal.CodeInternal, "joining failed")
		}
		perr.Ref = "join"
		code := websocket.StatusPolicyViolation
		if perr.Code == signal.CodeMessageTooLarge {
			code = websocket.StatusMessageTooBig
		}
		c.Send(perr)
		c.closeWith(code, perr.Code)
		<-c.done // let the writer deliver the error before the socket goes
		return
	}
	go g.keepAlive(ctx, c)
	g.readLoop(ctx, c, p)
}

// join reads and checks the join message and admits the client to its room.
func (g *Gateway) join(ctx context.Context, c *conn) (*room.Participant, error) {
	jctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	data, err := readMessage(jctx, c.ws)
	if err != nil && data == nil {
		return nil, signal.Errorf(signal.CodeBadRequest, "no join message arrived")
	}
	if err != nil {
		return nil, err
	}
	msg, err := signal.Decode(data)
	if err != nil {
		return nil, err
	}
	j, ok := msg.(*signal.Join)
	if !ok {
		return nil, signal.Errorf(signal.CodeNotJoined, "the first message must be join")
	}
	claims, err := g.verifier.Verify(j.Token, j.Room)
	if err != nil {
		return nil, tokenError(err)
	}
	p, err := g.rooms.Join(ctx, room.JoinRequest{Claims: claims, Name: j.Name, Key: j.Key, Resume: j.Resume, E2EE: j.E2EE, Client: c})
	switch {
	case errors.Is(err, room.ErrRoomFull):
		return nil, signal.Errorf(signal.CodeRoomFull, "this room is full")
	case errors.Is(err, room.ErrDuplicate):
		return nil, signal.Errorf(signal.CodeDuplicate, "you are in this room already, from another tab or device")
	case errors.Is(err, room.ErrRevoked):
		return nil, signal.Errorf(signal.CodeTokenRevoked, "this access token has been revoked for this room")
	case errors.Is(err, room.ErrE2EERequired):
		return nil, signal.Errorf(signal.CodeE2EERequired, "this room admits only end-to-end encrypted clients; join with a meeting passphrase")
	case errors.Is(err, room.ErrServerFull):
		return nil, signal.Errorf(signal.CodeServerFull, "this server hosts as many rooms as it may; try again later")
	case errors.As(err, new(*room.ElsewhereError)):
		return nil, err // serveWS redirects
	case errors.Is(err, room.ErrPlacementUnavailable):
		return nil, signal.Errorf(signal.CodeClusterUnavailable, "this server cannot reach the rest of its cluster to find this meeting; try again in a few seconds")
	case err != nil:
		return nil, signal.Errorf(signal.CodeInternal, "%s", err.Error())
	}
	return p, nil
}

// tokenError turns a verification failure into the protocol's error.
func tokenError(err error) *signal.Error {
	switch {
	case errors.Is(err, auth.ErrMissing):
		return signal.Errorf(signal.CodeTokenMissing, "join needs an access token")
	case errors.Is(err, auth.ErrExpired), errors.Is(err, auth.ErrNotYet):
		return signal.Errorf(signal.CodeTokenExpired, "%s; ask for a new link", err.Error())
	case errors.Is(err, auth.ErrWrongRoom):
		return signal.Errorf(signal.CodeWrongRoom, "this access token is for another room")
	case errors.Is(err, auth.ErrNoJoin):
		return signal.Errorf(signal.CodeForbidden, "this access token does not allow joining")
	default:
		return signal.Errorf(signal.CodeTokenInvalid, "the access token is not valid: %s", err.Error())
	}
}

// readLoop feeds the client's messages to its session until the socket ends.
func (g *Gateway) readLoop(ctx context.Context, c *conn, p room.Session) {
	defer p.Disconnected()
	b := newBucket(g.limits.MessagesPerSecond, time.Now())
	var dropped int
	var warned time.Time
	for {
		data, err := readMessage(ctx, c.ws)
		var perr *signal.Error
		switch {
		case errors.As(err, &perr) && perr.Code == signal.CodeMessageTooLarge:
			c.Send(perr)
			c.closeWith(websocket.StatusMessageTooBig, perr.Code)
			<-c.done
			return
		case perr != nil:
			c.Send(perr)
			continue
		case err != nil:
			return
		}
		if now := time.Now(); !b.take(now) {
			dropped++
			if dropped > floodClose {
				c.Send(signal.Errorf(signal.CodeRateLimited, "too many messages; the connection is closed"))
				c.closeWith(websocket.StatusPolicyViolation, signal.CodeRateLimited)
				<-c.done
				return
			}
			if now.Sub(warned) > time.Second {
				warned = now
				c.Send(signal.Errorf(signal.CodeRateLimited, "more than %d messages a second: messages are being dropped", g.limits.MessagesPerSecond))
			}
			continue
		}
		msg, err := signal.Decode(data)
		if err != nil {
			if errors.As(err, &perr) {
				c.Send(perr)
			}
			continue
		}
		dispatch(ctx, c, p, msg)
	}
}

// readMessage reads one text message of at most signal.MaxMessageBytes.
func readMessage(ctx context.Context, ws *websocket.Conn) ([]byte, error) {
	typ, rd, err := ws.Reader(ctx)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(rd, signal.MaxMessageBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > signal.MaxMessageBytes {
		return data, signal.Errorf(signal.CodeMessageTooLarge, "messages are limited to %d bytes", signal.MaxMessageBytes)
	}
	if typ != websocket.MessageText {
		return data, signal.Errorf(signal.CodeBadRequest, "messages must be text frames holding JSON")
	}
	return data, nil
}

// keepAlive pings the client; one that stops answering is disconnected.
func (g *Gateway) keepAlive(ctx context.Context, c *conn) {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err := c.ws.Ping(pctx)
			cancel()
			if err != nil {
				c.cancel()
				return
			}
		}
	}
}
