package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/adminclient"
	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/server/servertest"
)

// testNode is a real Parley node and an HTTP client for its admin API.
type testNode struct {
	t     *testing.T
	srv   *server.Server
	doc   *openAPIDoc
	admin string              // an admin token
	api   *adminclient.Client // with the admin token; its answers are checked as call's are

	mu        sync.Mutex
	validated map[string]bool // "METHOD path status" checked against the document
}

func startNode(t *testing.T, tweaks ...func(*config.Config)) *testNode {
	t.Helper()
	srv := servertest.Start(t, tweaks...)
	n := &testNode{t: t, srv: srv, doc: loadDoc(t), validated: map[string]bool{}}
	n.admin = n.mint(auth.Claims{Subject: "operator", Room: auth.AdminRoom, Grants: []auth.Grant{auth.GrantAdmin}})
	n.api = &adminclient.Client{URL: srv.URL(), Token: n.admin, HTTP: &http.Client{Transport: conformingTransport{n}}}
	return n
}

// conformingTransport checks the answers of the API's Go client against the
// document, as call checks its own.
type conformingTransport struct{ n *testNode }

func (c conformingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if ct := resp.Header.Get("Content-Type"); len(raw) > 0 && ct != "application/json" {
		c.n.t.Errorf("%s %s: Content-Type %q, want application/json", req.Method, req.URL.Path, ct)
	}
	_ = json.Unmarshal(raw, &a.body)
	c.n.conforms(req.Method, req.URL.RequestURI(), a)
	return resp, nil
}

// ctx bounds one call of the API.
func (n *testNode) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	n.t.Cleanup(cancel)
	return ctx
}

func (n *testNode) mint(c auth.Claims) string {
	n.t.Helper()
	if c.ExpiresAt == 0 {
		c.IssuedAt, c.ExpiresAt = time.Now().Unix(), time.Now().Add(time.Hour).Unix()
	}
	tok, err := n.srv.Signer().Mint(c)
	if err != nil {
		n.t.Fatal(err)
	}
	return tok
}

func (n *testNode) roomToken(room, identity string, grants ...auth.Grant) string {
	return n.mint(auth.Claims{Subject: identity, Name: identity, Room: room, Grants: grants})
}

// answer is one HTTP response of the API.
type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any // the decoded JSON object, if it was one
}

// errCode is the error code of an error answer.
func (a answer) errCode() string {
	e, _ := a.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (a answer) errMessage() string {
	e, _ := a.body["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

// call sends an API request with token ("" for none). body is marshalled
// unless it is a string or []byte (sent as is). Every answer from a routed
// operation is checked against the OpenAPI document: its status must be
// documented for the operation and its body must validate.
func (n *testNode) call(method, path, token string, body any) answer {
	n.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			n.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, n.srv.URL()+path, rd)
	if err != nil {
		n.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		n.t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			n.t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
		}
		if err := json.Unmarshal(raw, &a.body); err != nil {
			n.t.Fatalf("%s %s: answer is not a JSON object: %v\n%s", method, path, err, raw)
		}
	}
	if a.status >= 400 && (a.errCode() == "" || a.errMessage() == "") {
		n.t.Errorf("%s %s: error %d without {\"error\":{\"code\",\"message\"}}: %s", method, path, a.status, raw)
	}
	n.conforms(method, path, a)
	return a
}

// conforms checks an answer against the document, when the request reached
// a route (401s and routing errors are checked against the shared shapes).
func (n *testNode) conforms(method, path string, a answer) {
	n.t.Helper()
	tmpl := routeOf(method, path)
	if tmpl == "" {
		if a.status < 400 {
			n.t.Errorf("%s %s answered %d but matches no route", method, path, a.status)
		}
		return
	}
	schema, documented, err := n.doc.responseSchema(method, tmpl, a.status)
	if err != nil {
		n.t.Errorf("%s %s: %v", method, tmpl, err)
		return
	}
	if !documented {
		n.t.Errorf("%s %s answered %d, which the document does not list for it: %s", method, tmpl, a.status, a.raw)
		return
	}
	if schema == nil {
		if len(a.raw) > 0 {
			n.t.Errorf("%s %s %d: documented without a body, answered %s", method, tmpl, a.status, a.raw)
		}
	} else {
		var v any
		if err := json.Unmarshal(a.raw, &v); err != nil {
			n.t.Errorf("%s %s %d: %v", method, tmpl, a.status, err)
			return
		}
		if err := n.doc.validate(schema, v, "$"); err != nil {
			n.t.Errorf("%s %s %d: the answer does not match the document: %v\n%s", method, tmpl, a.status, err, a.raw)
		}
	}
	n.mu.Lock()
	n.validated[fmt.Sprintf("%s %s %d", method, tmpl, a.status)] = true
	n.mu.Unlock()
}

// routeOf finds the route template a request path matches, or "".
func routeOf(method, path string) string {
	path, _, _ = strings.Cut(path, "?")
	for _, rt := range api.Routes() {
		if rt.Method == method && matchTemplate(rt.Path, path) {
			return rt.Path
		}
	}
	return ""
}

func matchTemplate(tmpl, path string) bool {
	ts, ps := strings.Split(tmpl, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return false
	}
	for i := range ts {
		if strings.HasPrefix(ts[i], "{") && strings.HasSuffix(ts[i], "}") {
			if ps[i] == "" {
				return false
			}
			continue
		}
		if ts[i] != ps[i] {
			return false
		}
	}
	return true
}

// must calls and fails the test unless the status is want.
func (n *testNode) must(method, path string, body any, want int) answer {
	n.t.Helper()
	a := n.call(method, path, n.admin, body)
	if a.status != want {
		n.t.Fatalf("%s %s: %d %s, want %d", method, path, a.status, a.raw, want)
	}
	return a
}

// fails calls with the admin token and checks the status and error code.
func (n *testNode) fails(method, path string, body any, status int, code string) answer {
	n.t.Helper()
	a := n.call(method, path, n.admin, body)
	if a.status != status || a.errCode() != code {
		n.t.Fatalf("%s %s: %d %s, want %d %s", method, path, a.status, a.raw, status, code)
	}
	return a
}

// dial joins room as identity with grants.
func (n *testNode) dial(ctx context.Context, room, identity string, grants ...auth.Grant) *client.Client {
	n.t.Helper()
	c, err := client.Dial(ctx, client.Options{URL: n.srv.URL(), Room: room, Token: n.roomToken(room, identity, grants...)})
	if err != nil {
		n.t.Fatalf("%s joins %s: %v", identity, room, err)
	}
	n.t.Cleanup(c.Close)
	return c
}

var everyone = []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}

// publishAV publishes a synthetic microphone and camera, fed until ctx ends.
func publishAV(t *testing.T, ctx context.Context, c *client.Client, name string) {
	t.Helper()
	if err := servertest.PublishAV(ctx, c, name); err != nil {
		t.Fatalf("%s publishes: %v", name, err)
	}
}

// eventually polls cond until it holds or the test's patience ends.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitMsg waits for a message of type typ (seen before or after) matching pred.
func waitMsg(t *testing.T, ctx context.Context, c *client.Client, typ string, pred func(raw []byte) bool) []byte {
	t.Helper()
	raw, err := c.WaitFor(ctx, func(ty string, raw []byte) bool { return ty == typ && (pred == nil || pred(raw)) })
	if err != nil {
		t.Fatalf("waiting for %s: %v", typ, err)
	}
	return raw
}

// participantsOf lists a room's participants through the API, by identity.
func (n *testNode) participantsOf(room string) map[string]adminclient.Participant {
	n.t.Helper()
	ps, err := n.api.ListParticipants(n.ctx(), room)
	if err != nil {
		n.t.Fatalf("participants of %s: %v", room, err)
	}
	out := map[string]adminclient.Participant{}
	for _, p := range ps {
		out[p.Identity] = p
	}
	return out
}

// tracksOf summarises a participant's tracks as "source" or "source(muted)".
func tracksOf(p adminclient.Participant) []string {
	var out []string
	for _, t := range p.Tracks {
		s := t.Source
		if t.Muted {
			s += "(muted)"
		}
		out = append(out, s)
	}
	return out
}
