package api_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/signal"
)

func TestAuthErrors(t *testing.T) {
	n := startNode(t)
	_, foreign, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	foreignAdmin, err := auth.NewSigner(foreign).Mint(auth.Claims{Subject: "operator", Room: auth.AdminRoom,
		Grants: []auth.Grant{auth.GrantAdmin}, IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	expired := n.mint(auth.Claims{Subject: "operator", Room: auth.AdminRoom, Grants: []auth.Grant{auth.GrantAdmin},
		IssuedAt: time.Now().Add(-2 * time.Hour).Unix(), ExpiresAt: time.Now().Add(-time.Hour).Unix()})
	roomTok := n.roomToken("summit", "head-a", auth.GrantJoin, auth.GrantModerate, auth.GrantRecord)

	unauthorized := map[string]string{
		"no token":        "",
		"garbage":         "not-a-token",
		"foreign key":     foreignAdmin,
		"expired":         expired,
		"truncated admin": n.admin[:len(n.admin)-4],
	}
	for _, rt := range []struct{ method, path string }{
		{"GET", "/api/v1/rooms"},
		{"POST", "/api/v1/rooms"},
		{"DELETE", "/api/v1/rooms/summit"},
		{"GET", "/api/v1/recordings"},
		{"GET", "/api/v1/no-such-thing"}, // nobody maps the API without a token
	} {
		for name, tok := range unauthorized {
			a := n.call(rt.method, rt.path, tok, nil)
			if a.status != http.StatusUnauthorized || a.errCode() != "unauthorized" {
				t.Errorf("%s %s with %s: %d %s, want 401 unauthorized", rt.method, rt.path, name, a.status, a.raw)
			}
			if h := a.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
				t.Errorf("%s %s with %s: WWW-Authenticate %q, want Bearer", rt.method, rt.path, name, h)
			}
		}
		a := n.call(rt.method, rt.path, roomTok, nil)
		if a.status != http.StatusForbidden || a.errCode() != "forbidden" {
			t.Errorf("%s %s with a room token: %d %s, want 403 forbidden", rt.method, rt.path, a.status, a.raw)
		}
	}
	// The same request with the admin token gets through.
	n.must("GET", "/api/v1/rooms", nil, http.StatusOK)
	// The description is public.
	if a := n.call("GET", "/api/v1/openapi.json", "", nil); a.status != http.StatusOK || a.body["openapi"] != "3.1.0" {
		t.Fatalf("openapi.json without a token: %d %.80s", a.status, a.raw)
	}

	// And an admin token is no way into a room.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = client.Dial(ctx, client.Options{URL: n.srv.URL(), Room: "summit", Token: n.admin})
	var se *signal.Error
	if !errors.As(err, &se) || se.Code != signal.CodeTokenInvalid {
		t.Fatalf("joining with an admin token: %v, want %s", err, signal.CodeTokenInvalid)
	}
	if len(n.srv.Rooms().Rooms()) != 0 {
		t.Fatalf("a refused admin join left a room: %+v", n.srv.Rooms().Rooms())
	}
}

func TestBadRequests(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n.must("POST", "/api/v1/rooms", map[string]any{"name": "summit"}, http.StatusCreated)
	n.dial(ctx, "summit", "head-a", everyone...)

	type bad struct {
		method, path string
		body         any
		status       int
		code         string
		mention      string // the message must name this (the field at fault)
	}
	for _, b := range []bad{
		{"POST", "/api/v1/rooms", `{"name": "x",`, 400, "bad_request", "malformed JSON"},
		{"POST", "/api/v1/rooms", `{"name": 5}`, 400, "bad_request", `"name"`},
		{"POST", "/api/v1/rooms", `["summit"]`, 400, "bad_request", "object"},
		{"POST", "/api/v1/rooms", `{"name": "x"} {"name": "y"}`, 400, "bad_request", "after the JSON object"},
		{"POST", "/api/v1/rooms", ``, 400, "bad_request", "JSON body"},
		{"POST", "/api/v1/rooms", `{"nmae": "x"}`, 400, "bad_request", "nmae"},
		{"POST", "/api/v1/rooms", `{"settings": {}}`, 400, "bad_request", `"name"`},
		{"POST", "/api/v1/rooms", `{"name": "no spaces"}`, 400, "bad_request", "room name"},
		{"POST", "/api/v1/rooms", `{"name": "x", "settings": {"codec": "h265"}}`, 400, "bad_request", "codec"},
		{"POST", "/api/v1/rooms", `{"name": "x", "settings": {"languages": ["english"]}}`, 400, "bad_request", "languages"},
		{"POST", "/api/v1/rooms", `{"name": "x", "settings": {"languages": ["en", "en"]}}`, 400, "bad_request", "languages"},
		{"POST", "/api/v1/rooms", `{"name": "x", "settings": {"max_participants": -1}}`, 400, "bad_request", "max_participants"},
		{"POST", "/api/v1/rooms", `{"name": "x", "settings": {"record": "yes"}}`, 400, "bad_request", "record"},
		{"POST", "/api/v1/rooms", `{"name": "x", "settings": {"colour": "red"}}`, 400, "bad_request", "colour"},
		{"POST", "/api/v1/rooms", map[string]any{"name": "summit"}, 409, "room_exists", "summit"},
		{"PATCH", "/api/v1/rooms/summit", `{}`, 400, "bad_request", `"settings"`},
		{"PATCH", "/api/v1/rooms/summit", `{"settings": {"codec": "mpeg2"}}`, 400, "bad_request", "codec"},
		{"PATCH", "/api/v1/rooms/summit", `{"name": "other", "settings": {}}`, 400, "bad_request", "name"},
		{"GET", "/api/v1/rooms/nowhere", nil, 404, "room_not_found", ""},
		{"PATCH", "/api/v1/rooms/nowhere", `{"settings": {}}`, 404, "room_not_found", ""},
		{"DELETE", "/api/v1/rooms/nowhere", nil, 404, "room_not_found", ""},
		{"GET", "/api/v1/rooms/nowhere/participants", nil, 404, "room_not_found", ""},
		{"POST", "/api/v1/rooms/nowhere/recording", nil, 404, "room_not_found", ""},
		{"DELETE", "/api/v1/rooms/nowhere/recording", nil, 404, "room_not_found", ""},
		{"DELETE", "/api/v1/rooms/summit/participants/nobody", nil, 404, "participant_not_found", ""},
		{"POST", "/api/v1/rooms/summit/participants/nobody/mute", `{"source": "mic", "muted": true}`, 404, "participant_not_found", ""},
		{"PATCH", "/api/v1/rooms/summit/participants/nobody", `{"grants": ["join"]}`, 404, "participant_not_found", ""},
		{"DELETE", "/api/v1/rooms/summit/participants/head-a?ban=maybe", nil, 400, "bad_request", "ban"},
		{"POST", "/api/v1/rooms/summit/participants/head-a/mute", `{"source": "nose", "muted": true}`, 400, "bad_request", "nose"},
		{"POST", "/api/v1/rooms/summit/participants/head-a/mute", `{"source": "mic"}`, 400, "bad_request", `"muted"`},
		{"POST", "/api/v1/rooms/summit/participants/head-a/mute", `{"muted": true}`, 400, "bad_request", `"source"`},
		{"PATCH", "/api/v1/rooms/summit/participants/head-a", `{"grants": ["join", "admin"]}`, 400, "bad_request", "admin"},
		{"PATCH", "/api/v1/rooms/summit/participants/head-a", `{"grants": ["publish"]}`, 400, "bad_request", "join"},
		{"PATCH", "/api/v1/rooms/summit/participants/head-a", `{"grants": "join"}`, 400, "bad_request", "grants"},
		{"PATCH", "/api/v1/rooms/summit/participants/head-a", `{}`, 400, "bad_request", `"grants"`},
		{"DELETE", "/api/v1/rooms/summit/recording", nil, 409, "not_recording", ""},
		{"PUT", "/api/v1/rooms", `{}`, 405, "method_not_allowed", "GET, POST"},
		{"GET", "/api/v1/rooms/summit/nothing", nil, 404, "not_found", ""},
		{"GET", "/api/v1/", nil, 404, "not_found", ""},
	} {
		a := n.call(b.method, b.path, n.admin, b.body)
		if a.status != b.status || a.errCode() != b.code {
			t.Errorf("%s %s %v: %d %s, want %d %s", b.method, b.path, b.body, a.status, a.raw, b.status, b.code)
			continue
		}
		if !strings.Contains(a.errMessage(), b.mention) {
			t.Errorf("%s %s %v: message %q does not mention %s", b.method, b.path, b.body, a.errMessage(), b.mention)
		}
	}
	if a := n.call("PUT", "/api/v1/rooms", n.admin, `{}`); a.header.Get("Allow") != "GET, POST" {
		t.Errorf("405 Allow = %q, want GET, POST", a.header.Get("Allow"))
	}

	// A body over 64 KiB is refused whole, and nothing changes.
	big := `{"name": "big", "settings": {"languages": ["` + strings.Repeat("x", 70<<10) + `"]}}`
	n.fails("POST", "/api/v1/rooms", big, http.StatusRequestEntityTooLarge, "body_too_large")
	n.fails("PATCH", "/api/v1/rooms/summit", `{"settings": {"codec": "`+strings.Repeat("v", 70<<10)+`"}}`, http.StatusRequestEntityTooLarge, "body_too_large")
	n.fails("GET", "/api/v1/rooms/big", nil, http.StatusNotFound, "room_not_found")

	// None of the refusals changed the room or its participant.
	a := n.must("GET", "/api/v1/rooms/summit", nil, http.StatusOK)
	if s := a.body["settings"].(map[string]any); s["codec"] != "" || a.body["participants"] != 1.0 {
		t.Fatalf("refused requests changed the room: %s", a.raw)
	}
	if p := n.participantsOf("summit")["head-a"]; len(p.Grants) != 3 {
		t.Fatalf("refused requests changed the grants: %v", p)
	}
}
