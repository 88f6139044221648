package gateway_test

import (
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/server/servertest"
)

// A room may be named with 64 characters: its record's id is longer than a
// room name may be, and is listed and downloaded all the same.
func TestRecordsOfTheLongestRoomName(t *testing.T) {
	var dataDir string
	srv := startServer(t, func(c *config.Config) { dataDir = c.DataDir })
	room := strings.Repeat("r", 64)
	id := servertest.FakeRecord(t, dataDir, room, 1<<10)
	servertest.FakeRecord(t, dataDir, "other", 1<<10)
	tok := mint(t, srv, room, "clerk", auth.GrantJoin, auth.GrantRecord)

	code, body := getWith(t, srv.URL()+"/records?room="+room, tok)
	var items []struct{ ID, Room string }
	if err := json.Unmarshal(body, &items); code != http.StatusOK || err != nil {
		t.Fatalf("list: %d %s", code, body)
	}
	if len(items) != 1 || items[0].ID != id || items[0].Room != room {
		t.Fatalf("list: %s, want only %s", body, id)
	}
	if code, body := getWith(t, srv.URL()+"/records/"+id, tok); code != http.StatusOK || len(body) < 1<<10 {
		t.Fatalf("download: %d, %d bytes", code, len(body))
	}
}

// Ids that are paths, or name no record, find nothing, whatever the token.
// (A plain /records/.. never gets here: the mux cleans it first.)
func TestRecordDownloadRefusesPathTricks(t *testing.T) {
	var dataDir string
	srv := startServer(t, func(c *config.Config) { dataDir = c.DataDir })
	id := servertest.FakeRecord(t, dataDir, "summit", 1<<10)
	tok := mint(t, srv, "summit", "clerk", auth.GrantJoin, auth.GrantRecord)
	for _, path := range []string{
		"/records/..%2F" + id, "/records/" + id + "%2Fmedia", "/records/%2E%2E",
		"/records/..%2F..%2Fkey.pem", "/records/summit-20261205T100000Z-00000000",
	} {
		if code, body := getWith(t, srv.URL()+path, tok); code != http.StatusNotFound {
			t.Errorf("GET %s: %d %.80q, want 404", path, code, body)
		}
	}
}

func getWith(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// TestRecordTranscript: GET /records/ID/transcript serves the record's
// transcript to the record grant of its room, as JSON, WebVTT of one channel,
// and a page in which what was said is text, never markup.
func TestRecordTranscript(t *testing.T) {
	var dataDir string
	srv := startServer(t, func(c *config.Config) { dataDir = c.DataDir })
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.Start(record.Options{Root: filepath.Join(dataDir, record.Dir), Room: "summit", Key: key, CheckpointEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC()
	for _, u := range []struct{ who, ch, text string }{{"head-a", "floor", "go forward <script>alert(1)</script>"}, {"irina", "ru", "вперёд"}} {
		rec.Event(record.TypeTranscript, "PA_"+u.who, u.who, map[string]string{"channel": u.ch, "language": u.ch, "text": u.text,
			"start": at.Format(time.RFC3339Nano), "end": at.Add(2 * time.Second).Format(time.RFC3339Nano)}, time.Now())
	}
	if _, err := rec.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	url := srv.URL() + "/records/" + rec.ID() + "/transcript"
	tok := mint(t, srv, "summit", "clerk", auth.GrantJoin, auth.GrantRecord)

	code, body := getWith(t, url, tok)
	var tr record.Transcript
	if code != http.StatusOK || json.Unmarshal(body, &tr) != nil || len(tr.Utterance) != 2 {
		t.Fatalf("json: %d %s", code, body)
	}
	if code, body := getWith(t, url+"?format=vtt&channel=ru", tok); code != http.StatusOK ||
		!strings.HasPrefix(string(body), "WEBVTT") || !strings.Contains(string(body), "<v irina>вперёд") || strings.Contains(string(body), "forward") {
		t.Fatalf("vtt of ru: %d %s", code, body)
	}
	code, body = getWith(t, url+"?format=html", tok)
	if code != http.StatusOK || !strings.Contains(string(body), "go forward &lt;script&gt;") || strings.Contains(string(body), "<script>") ||
		!strings.Contains(string(body), `<td class="time">0:00:0`) {
		t.Fatalf("html: %d %s", code, body)
	}
	// Without the record grant, or for another room, nothing.
	for _, other := range []string{
		mint(t, srv, "summit", "guest", auth.GrantJoin, auth.GrantSubscribe),
		mint(t, srv, "other", "clerk", auth.GrantJoin, auth.GrantRecord),
	} {
		if code, body := getWith(t, url, other); code != http.StatusForbidden && code != http.StatusUnauthorized {
			t.Errorf("another token: %d %.80q", code, body)
		}
	}
}
