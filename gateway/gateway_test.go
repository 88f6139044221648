package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"github.com/parleyhq/parley/server/servertest"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/signal"
)

// These tests run a real node on free loopback ports and talk to /ws over a raw
// WebSocket, as a third-party client would.

// startServer runs a node on free loopback ports with a fresh data folder.
func startServer(t *testing.T, tweaks ...func(*config.Config)) *server.Server {
	t.Helper()
	return servertest.Start(t, tweaks...)
}

func mint(t *testing.T, srv *server.Server, room, identity string, grants ...auth.Grant) string {
	t.Helper()
	return mintClaims(t, srv.Signer(), auth.Claims{
		Subject: identity, Room: room, Name: identity, Grants: grants,
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix(),
	})
}

func mintClaims(t *testing.T, s *auth.Signer, c auth.Claims) string {
	t.Helper()
	tok, err := s.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var member = []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}

// testCtx bounds a whole test: a message that never comes fails the test
// instead of hanging it.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wsURL(srv *server.Server) string { return "ws" + strings.TrimPrefix(srv.URL(), "http") + "/ws" }

// wsClient is a raw signaling connection.
type wsClient struct {
	t    *testing.T
	ctx  context.Context
	name string
	c    *websocket.Conn
}

// message is the part of any server message the tests look at.
type message struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Ref     string `json:"ref"`
	raw     []byte
}

func dialWS(t *testing.T, ctx context.Context, srv *server.Server, name string) *wsClient {
	t.Helper()
	c, _, err := websocket.Dial(ctx, wsURL(srv), nil)
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return &wsClient{t: t, ctx: ctx, name: name, c: c}
}

func (w *wsClient) sendRaw(typ websocket.MessageType, b []byte) {
	w.t.Helper()
	if err := w.c.Write(w.ctx, typ, b); err != nil {
		w.t.Fatalf("%s: write: %v", w.name, err)
	}
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		w.t.Fatal(err)
	}
	w.sendRaw(websocket.MessageText, b)
}

// next reads the next message; the test fails if the socket ends instead.
func (w *wsClient) next() message {
	w.t.Helper()
	typ, b, err := w.c.Read(w.ctx)
	if err != nil {
		w.t.Fatalf("%s: read: %v", w.name, err)
	}
	if typ != websocket.MessageText {
		w.t.Fatalf("%s: server sent a %v frame", w.name, typ)
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		w.t.Fatalf("%s: server sent non-JSON %q: %v", w.name, b, err)
	}
	m.raw = b
	return m
}

// waitFor skips other messages until one of type typ arrives. An error message
// is never skipped unless typ is "error".
func (w *wsClient) waitFor(typ string) message {
	w.t.Helper()
	for {
		m := w.next()
		if m.Type == typ {
			return m
		}
		if m.Type == "error" {
			w.t.Fatalf("%s: waiting for %q, got error %s", w.name, typ, m.raw)
		}
	}
}

// expectError waits for the next error message and checks its code.
func (w *wsClient) expectError(code string) message {
	w.t.Helper()
	m := w.waitFor("error")
	if m.Code != code {
		w.t.Fatalf("%s: error code %q (%s), want %q", w.name, m.Code, m.raw, code)
	}
	if strings.TrimSpace(m.Message) == "" {
		w.t.Errorf("%s: error %q has no message", w.name, code)
	}
	return m
}

// expectClosed reads until the socket ends and returns the close status the
// server sent; the test fails if the socket ends without a close frame.
func (w *wsClient) expectClosed() websocket.StatusCode {
	w.t.Helper()
	for {
		_, b, err := w.c.Read(w.ctx)
		if err == nil {
			var m message
			_ = json.Unmarshal(b, &m)
			if m.Type == "welcome" || m.Type == "pong" {
				w.t.Fatalf("%s: waiting for the socket to close, got %s", w.name, b)
			}
			continue
		}
		st := websocket.CloseStatus(err)
		if st == -1 {
			w.t.Fatalf("%s: socket ended without a close frame: %v", w.name, err)
		}
		return st
	}
}

// pingPong checks that the session still answers.
func (w *wsClient) pingPong() {
	w.t.Helper()
	w.send(map[string]string{"type": "ping"})
	w.waitFor("pong")
}

type welcome struct {
	signal.Welcome
	raw []byte
}

func joinMsg(room, token string) map[string]any {
	return map[string]any{"type": "join", "version": signal.Version, "room": room, "token": token}
}

// join opens a socket and joins room as identity; the first answer must be welcome.
func join(t *testing.T, ctx context.Context, srv *server.Server, room, identity string, grants ...auth.Grant) (*wsClient, welcome) {
	t.Helper()
	w := dialWS(t, ctx, srv, identity)
	w.send(joinMsg(room, mint(t, srv, room, identity, grants...)))
	m := w.next()
	if m.Type != "welcome" {
		t.Fatalf("%s: first answer to join is %s, want welcome", identity, m.raw)
	}
	var wel welcome
	if err := json.Unmarshal(m.raw, &wel.Welcome); err != nil {
		t.Fatalf("%s: welcome %s: %v", identity, m.raw, err)
	}
	wel.raw = m.raw
	if wel.Self.Identity != identity {
		t.Fatalf("%s: welcome self.identity = %q", identity, wel.Self.Identity)
	}
	if wel.Self.ID == "" {
		t.Fatalf("%s: welcome without self.id: %s", identity, m.raw)
	}
	if wel.Version != signal.Version || wel.Room.Name != room {
		t.Fatalf("%s: welcome version %d room %q", identity, wel.Version, wel.Room.Name)
	}
	return w, wel
}

func TestFirstMessageMustBeJoin(t *testing.T) {
	srv := startServer(t)
	ctx := testCtx(t)
	for _, first := range []any{
		map[string]string{"type": "ping"},
		map[string]string{"type": "chat", "text": "hi"},
		map[string]any{"type": "leave"},
	} {
		w := dialWS(t, ctx, srv, "early")
		w.send(first)
		w.expectError(signal.CodeNotJoined)
		if st := w.expectClosed(); st == websocket.StatusNormalClosure {
			t.Errorf("after not_joined the socket closed with %v, want an error status", st)
		}
	}
}

// tamper changes one character in the middle of the token's signature.
func tamper(tok string) string {
	i := len(tok) - 20
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

func TestJoinRefusals(t *testing.T) {
	srv := startServer(t)
	ctx := testCtx(t)
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(edit func(*auth.Claims)) auth.Claims {
		c := auth.Claims{Subject: "eve", Room: "demo", Grants: member, IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}
		edit(&c)
		return c
	}
	good := mint(t, srv, "demo", "eve", member...)
	cases := []struct {
		name string
		msg  map[string]any
		code string
	}{
		{"forged token", joinMsg("demo", mintClaims(t, auth.NewSigner(otherKey), claims(func(*auth.Claims) {}))), signal.CodeTokenInvalid},
		{"tampered token", joinMsg("demo", tamper(good)), signal.CodeTokenInvalid},
		{"garbage token", joinMsg("demo", "not-a-token"), signal.CodeTokenInvalid},
		{"expired token", joinMsg("demo", mintClaims(t, srv.Signer(), claims(func(c *auth.Claims) {
			c.IssuedAt, c.ExpiresAt = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
		}))), signal.CodeTokenExpired},
		{"token not valid yet", joinMsg("demo", mintClaims(t, srv.Signer(), claims(func(c *auth.Claims) {
			c.NotBefore, c.ExpiresAt = now.Add(time.Hour).Unix(), now.Add(2*time.Hour).Unix()
		}))), signal.CodeTokenExpired},
		{"wrong room", joinMsg("demo", mint(t, srv, "other", "eve", member...)), signal.CodeWrongRoom},
		{"no join grant", joinMsg("demo", mint(t, srv, "demo", "eve", auth.GrantSubscribe)), signal.CodeForbidden},
		{"wrong version", map[string]any{"type": "join", "version": 2, "room": "demo", "token": good}, signal.CodeUnsupportedVersion},
		{"no token", map[string]any{"type": "join", "version": 1, "room": "demo"}, signal.CodeTokenMissing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := dialWS(t, ctx, srv, "eve")
			w.send(tc.msg)
			m := w.expectError(tc.code)
			if m.Ref != "join" {
				t.Errorf("ref = %q, want \"join\"", m.Ref)
			}
			if strings.Contains(m.Message, good) {
				t.Errorf("error message repeats the token: %q", m.Message)
			}
			w.expectClosed()
		})
	}
	// None of them got in.
	_, wel := join(t, ctx, srv, "demo", "alice", member...)
	if len(wel.Participants) != 0 {
		t.Fatalf("refused joins are in the room: %s", wel.raw)
	}
}

func TestBadMessagesKeepTheSessionOpen(t *testing.T) {
	srv := startServer(t)
	ctx := testCtx(t)
	w, _ := join(t, ctx, srv, "demo", "alice", member...)

	w.sendRaw(websocket.MessageText, []byte(`{"type":"chat",`))
	w.expectError(signal.CodeBadRequest)
	w.pingPong()

	w.sendRaw(websocket.MessageText, []byte(`{"type":"chat","text":"hi","evil":1}`))
	w.expectError(signal.CodeBadRequest)
	w.pingPong()

	w.send(map[string]string{"type": "teleport"})
	if m := w.expectError(signal.CodeUnknownType); !strings.Contains(m.Message, "teleport") {
		t.Errorf("unknown_type message %q does not name the type", m.Message)
	}
	w.pingPong()

	w.sendRaw(websocket.MessageBinary, []byte(`{"type":"ping"}`))
	w.expectError(signal.CodeBadRequest)
	w.pingPong()

	w.send(joinMsg("demo", mint(t, srv, "demo", "alice", member...)))
	w.expectError(signal.CodeAlreadyJoined)
	w.pingPong()

	// Exactly at the limit is not too large (this one fails later, on its SDP).
	head, tail := `{"type":"offer","pc":"pub","sdp":"`, `"}`
	atLimit := head + strings.Repeat("x", signal.MaxMessageBytes-len(head)-len(tail)) + tail
	w.sendRaw(websocket.MessageText, []byte(atLimit))
	w.expectError(signal.CodeBadRequest)
	w.pingPong()
}

func TestOversizedMessageClosesWith1009(t *testing.T) {
	srv := startServer(t)
	ctx := testCtx(t)
	big := []byte(`{"type":"chat","text":"` + strings.Repeat("a", signal.MaxMessageBytes) + `"}`)

	t.Run("after join", func(t *testing.T) {
		w, _ := join(t, ctx, srv, "demo", "alice", member...)
		w.sendRaw(websocket.MessageText, big)
		w.expectError(signal.CodeMessageTooLarge)
		if st := w.expectClosed(); st != websocket.StatusMessageTooBig {
			t.Fatalf("close status %v, want %v (1009)", st, websocket.StatusMessageTooBig)
		}
	})
	t.Run("as the first message", func(t *testing.T) {
		w := dialWS(t, ctx, srv, "bob")
		w.sendRaw(websocket.MessageText, big)
		w.expectError(signal.CodeMessageTooLarge)
		if st := w.expectClosed(); st != websocket.StatusMessageTooBig {
			t.Fatalf("close status %v, want %v (1009)", st, websocket.StatusMessageTooBig)
		}
	})
	t.Run("binary", func(t *testing.T) {
		w, _ := join(t, ctx, srv, "demo", "carol", member...)
		w.sendRaw(websocket.MessageBinary, big)
		w.expectError(signal.CodeMessageTooLarge)
		if st := w.expectClosed(); st != websocket.StatusMessageTooBig {
			t.Fatalf("close status %v, want %v (1009)", st, websocket.StatusMessageTooBig)
		}
	})
}

type chatMsg struct {
	Type string     `json:"type"`
	ID   string     `json:"id"`
	From signal.Ref `json:"from"`
	Text string     `json:"text"`
	Time string     `json:"time"`
}

func TestChatReachesEveryoneWithSender(t *testing.T) {
	srv := startServer(t)
	ctx := testCtx(t)
	alice, aw := join(t, ctx, srv, "demo", "alice", member...)
	bob, bw := join(t, ctx, srv, "demo", "bob", auth.GrantJoin, auth.GrantSubscribe)
	if len(bw.Participants) != 1 || bw.Participants[0].Identity != "alice" {
		t.Fatalf("bob's welcome lists %s", bw.raw)
	}

	const text = "Guten Tag 👋 <b>&</b>"
	alice.send(map[string]string{"type": "chat", "text": text})
	var got [2]chatMsg
	for i, w := range []*wsClient{alice, bob} {
		m := w.waitFor("chat")
		if err := json.Unmarshal(m.raw, &got[i]); err != nil {
			t.Fatal(err)
		}
		c := got[i]
		if c.Text != text {
			t.Errorf("%s got text %q, want %q", w.name, c.Text, text)
		}
		if c.From.Identity != "alice" || c.From.ID != aw.Self.ID {
			t.Errorf("%s got from %+v, want alice (%s)", w.name, c.From, aw.Self.ID)
		}
		if c.ID == "" {
			t.Errorf("%s: chat has no id", w.name)
		}
		if _, err := time.Parse(time.RFC3339, c.Time); err != nil {
			t.Errorf("%s: chat time %q is not RFC 3339: %v", w.name, c.Time, err)
		}
	}
	if got[0].ID != got[1].ID {
		t.Errorf("the echo and the delivery have different ids %q and %q", got[0].ID, got[1].ID)
	}

	// A chat that fails validation reaches no one: bob's next message is his pong.
	alice.send(map[string]string{"type": "chat", "text": "   "})
	alice.expectError(signal.CodeBadRequest)
	bob.send(map[string]string{"type": "ping"})
	if m := bob.next(); m.Type != "pong" {
		t.Fatalf("bob got %s, want pong", m.raw)
	}
}

func TestModerateNeedsTheGrant(t *testing.T) {
	srv := startServer(t)
	ctx := testCtx(t)
	alice, _ := join(t, ctx, srv, "demo", "alice", member...)
	bob, bw := join(t, ctx, srv, "demo", "bob", member...)
	alice.waitFor("participant-joined")

	alice.send(map[string]string{"type": "moderate", "action": "remove", "target": bw.Self.ID})
	alice.expectError(signal.CodeForbidden)
	alice.send(map[string]string{"type": "moderate", "action": "mute", "target": bw.Self.ID, "source": "mic"})
	alice.expectError(signal.CodeForbidden)

	// Bob is still there and was told nothing.
	bob.send(map[string]string{"type": "ping"})
	if m := bob.next(); m.Type != "pong" {
		t.Fatalf("bob got %s, want pong", m.raw)
	}
	alice.pingPong()
}

func TestModeratorRemovesParticipant(t *testing.T) {
	srv := startServer(t)
	ctx := testCtx(t)
	mod, _ := join(t, ctx, srv, "demo", "mod", auth.GrantJoin, auth.GrantSubscribe, auth.GrantModerate)
	target, tw := join(t, ctx, srv, "demo", "target", member...)
	other, _ := join(t, ctx, srv, "demo", "other", member...)

	mod.send(map[string]string{"type": "moderate", "action": "remove", "target": "PA_nobody"})
	mod.expectError(signal.CodeNotFound)

	mod.send(map[string]string{"type": "moderate", "action": "remove", "target": tw.Self.ID})

	var removed struct {
		By signal.Ref `json:"by"`
	}
	m := target.waitFor("removed")
	if err := json.Unmarshal(m.raw, &removed); err != nil {
		t.Fatal(err)
	}
	if removed.By.Identity != "mod" {
		t.Errorf("removed.by = %+v, want the moderator", removed.By)
	}
	target.expectClosed()

	for _, w := range []*wsClient{other, mod} {
		var left signal.ParticipantLeft
		m := w.waitFor("participant-left")
		if err := json.Unmarshal(m.raw, &left); err != nil {
			t.Fatal(err)
		}
		if left.ID != tw.Self.ID || left.Identity != "target" || left.Reason != signal.ReasonRemoved {
			t.Errorf("%s got %s, want target %s left with reason %q", w.name, m.raw, tw.Self.ID, signal.ReasonRemoved)
		}
	}
	// The removed participant is gone for newcomers too.
	_, late := join(t, ctx, srv, "demo", "late", member...)
	for _, p := range late.Participants {
		if p.Identity == "target" {
			t.Fatalf("a newcomer still sees the removed participant: %s", late.raw)
		}
	}
}

func TestSecondJoinReplacesTheFirst(t *testing.T) {
	srv := startServer(t)
	ctx := testCtx(t)
	first, _ := join(t, ctx, srv, "demo", "dup", member...)
	second, _ := join(t, ctx, srv, "demo", "dup", member...)

	first.expectError(signal.CodeReplaced)
	first.expectClosed()
	second.pingPong()

	_, wel := join(t, ctx, srv, "demo", "watcher", member...)
	n := 0
	for _, p := range wel.Participants {
		if p.Identity == "dup" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the room lists identity dup %d times: %s", n, wel.raw)
	}
}

func TestCrossOriginWebSocketRefused(t *testing.T) {
	srv := startServer(t)
	ctx := testCtx(t)
	c, resp, err := websocket.Dial(ctx, wsURL(srv), &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {"http://evil.example"}},
	})
	if err == nil {
		_ = c.CloseNow()
		t.Fatal("a WebSocket from http://evil.example was accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("cross-origin handshake: status %d (%v), want 403", status, err)
	}

	// The browser client's own origin is accepted.
	c, _, err = websocket.Dial(ctx, wsURL(srv), &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {srv.URL()}},
	})
	if err != nil {
		t.Fatalf("same-origin WebSocket refused: %v", err)
	}
	_ = c.CloseNow()
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	client := &http.Client{
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestRoomPage(t *testing.T) {
	srv := startServer(t)
	resp, body := get(t, srv.URL()+"/r/demo")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /r/demo: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q, want text/html", ct)
	}
	if !strings.Contains(strings.ToLower(body), "<html") {
		t.Errorf("body is not an HTML page: %.200q", body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy = %q, want default-src 'self'", csp)
	}
	for _, d := range strings.Split(csp, ";") {
		f := strings.Fields(d)
		if len(f) > 0 && f[0] == "script-src" {
			for _, src := range f[1:] {
				if src == "'unsafe-inline'" || src == "'unsafe-eval'" || src == "*" || strings.HasPrefix(src, "http") {
					t.Errorf("script-src allows %s", src)
				}
			}
		}
	}
	if rp := resp.Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("Referrer-Policy = %q, want no-referrer (the token is in the URL)", rp)
	}

	for _, path := range []string{
		"/r/..%2f",
		"/r/..%2F",
		"/r/%2e%2e",
		"/r/a%2fb",
		"/r/a%20b",
		"/r/%3Cscript%3E",
		"/r/" + strings.Repeat("r", 65),
	} {
		resp, body := get(t, srv.URL()+path)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
		// The styled "not found" page, never the meeting page, and nothing of the path.
		if strings.Contains(body, "app.js") || !strings.Contains(body, "nothing at this address") {
			t.Errorf("GET %s served %q, want the not-found page", path, body)
		}
		if strings.Contains(strings.ToLower(body), "script%3e") || strings.Contains(body, "<script>") {
			t.Errorf("GET %s: the page repeats the path", path)
		}
	}
}

func TestHealthz(t *testing.T) {
	srv := startServer(t)
	resp, body := get(t, srv.URL()+"/healthz")
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Fatalf("GET /healthz: %s %q, want 200 ok", resp.Status, body)
	}
}

// An unknown path gets a styled page that says so and leads home, with a 404
// and the client's security headers; other methods keep the plain 404.
func TestUnknownPathGetsAPageWithAWayBack(t *testing.T) {
	srv := startServer(t)
	for _, path := range []string{"/nope", "/r/", "/r/a/b", "/records-typo"} {
		resp, body := get(t, srv.URL()+path)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
		if !strings.Contains(body, "nothing at this address") || !strings.Contains(body, `href="/"`) {
			t.Errorf("GET %s: %q, want the not-found page with a link home", path, body)
		}
	}
	resp, _ := get(t, srv.URL()+"/nope")
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("the not-found page's CSP: %q", csp)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	r, err := http.Post(srv.URL()+"/nope", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusNotFound || strings.Contains(string(b), "<html") {
		t.Errorf("POST /nope: %s %q, want a plain 404", r.Status, b)
	}
}

// The WebSocket endpoint answers plain HTTP with an error, not a hang.
func TestWebSocketEndpointNeedsUpgrade(t *testing.T) {
	srv := startServer(t)
	resp, _ := get(t, srv.URL()+"/ws")
	if resp.StatusCode < 400 {
		t.Fatalf("GET /ws without upgrade: %s", resp.Status)
	}
}
