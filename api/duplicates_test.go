package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestDuplicateKeysAreRefused: a body that gives a key twice, at any depth or
// in another case, is refused with the key named, and changes nothing.
func TestDuplicateKeysAreRefused(t *testing.T) {
	n := startNode(t)
	if a := n.call("POST", "/api/v1/rooms", n.admin, `{"name":"summit","settings":{"codec":"vp8"}}`); a.status != http.StatusCreated {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	for _, c := range []struct{ method, path, body, want string }{
		{"POST", "/api/v1/rooms", `{"name":"lobby","name":"summit"}`,
			`duplicate key "name": give each key once`},
		{"POST", "/api/v1/rooms", `{"name":"lobby","settings":{"codec":"vp8","max_participants":2,"codec":"h264"}}`,
			`duplicate key "codec" (at settings.codec): give each key once`},
		{"POST", "/api/v1/rooms", `{"name":"lobby","Name":"summit"}`,
			`duplicate key "Name": keys are matched without regard to case, and "name" came first`},
		{"PATCH", "/api/v1/rooms/summit", `{"settings":{"e2ee_required":false,"e2ee_required":true}}`,
			`duplicate key "e2ee_required" (at settings.e2ee_required)`},
		{"PATCH", "/api/v1/rooms/summit", `{"settings":{"languages":["en"]},"settings":{"languages":["ru"]}}`,
			`duplicate key "settings"`},
	} {
		a := n.call(c.method, c.path, n.admin, c.body)
		if a.status != http.StatusBadRequest || a.errCode() != "bad_request" || !strings.Contains(a.errMessage(), c.want) {
			t.Errorf("%s %s %s: %d %s; want 400 bad_request saying %q", c.method, c.path, c.body, a.status, a.raw, c.want)
		}
	}
	if a := n.call("GET", "/api/v1/rooms/lobby", n.admin, nil); a.status != http.StatusNotFound {
		t.Errorf("a refused create made the room: %d %s", a.status, a.raw)
	}
	a := n.call("GET", "/api/v1/rooms/summit", n.admin, nil)
	settings, _ := a.body["settings"].(map[string]any)
	if settings["e2ee_required"] != false || len(settings["languages"].([]any)) != 0 {
		t.Errorf("a refused update changed the room: %s", a.raw)
	}
	// The same keys in different objects are not duplicates.
	if a := n.call("PATCH", "/api/v1/rooms/summit", n.admin, `{"settings":{"languages":["en"],"codec":"vp8"}}`); a.status != http.StatusOK {
		t.Errorf("an update without duplicates: %d %s", a.status, a.raw)
	}
}
