package whip_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server/servertest"
)

// TestWhipWhepPostsAreJoins: every WHIP or WHEP POST makes a media session,
// so it counts against the per-address join limit like a WebSocket join;
// once over it, the answer is 429 with a JSON error and nothing is made.
func TestWhipWhepPostsAreJoins(t *testing.T) {
	srv := servertest.Start(t, func(c *config.Config) { c.JoinsPerMinute = 3 })
	post := func(path string) (int, string) {
		req, err := http.NewRequest("POST", srv.URL()+path, bytes.NewBufferString("v=0\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/sdp")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Error.Code
	}
	for i, path := range []string{"/whip/r", "/whep/r/someone", "/whip/r"} {
		if status, _ := post(path); status != http.StatusUnauthorized {
			t.Fatalf("POST %d (%s) within the limit: %d, want 401 (no token)", i+1, path, status)
		}
	}
	for _, path := range []string{"/whip/r", "/whep/r/someone"} {
		status, code := post(path)
		if status != http.StatusTooManyRequests || code != "rate_limited" {
			t.Fatalf("POST %s over the limit: %d %q, want 429 rate_limited", path, status, code)
		}
	}
	// The limit is on making sessions: an OPTIONS preflight still answers.
	req, _ := http.NewRequest("OPTIONS", srv.URL()+"/whip/r", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		t.Fatal("an OPTIONS request was rate limited")
	}
}
