package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/server/servertest"
)

// TestProfilesNeedTheAdminToken: /debug/pprof answers an admin token with the
// runtime's profiles, and nobody else.
func TestProfilesNeedTheAdminToken(t *testing.T) {
	srv := servertest.Start(t)
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL()+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	admin := mint(t, srv, auth.AdminRoom, "operator", auth.GrantAdmin)
	room := mint(t, srv, "summit", "head-a", auth.GrantJoin, auth.GrantModerate)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine?debug=1"} {
		if code, _ := get(path, ""); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401", path, code)
		}
		if code, _ := get(path, room); code != http.StatusForbidden {
			t.Errorf("%s with a room token: %d, want 403", path, code)
		}
	}
	if code, body := get("/debug/pprof/goroutine?debug=1", admin); code != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("goroutine profile with the admin token: %d %.80q", code, body)
	}
	if code, body := get("/debug/pprof/heap?debug=1", admin); code != http.StatusOK || !strings.Contains(body, "heap profile:") {
		t.Errorf("heap profile with the admin token: %d %.80q", code, body)
	}
}
