package gateway_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/record"
)

// playerRecord writes a small sealed record under root: head-a joins with
// 2 s of Opus from its microphone, says something in chat and leaves. It
// returns the record's folder and its one media file (media/NAME.webm).
func playerRecord(t *testing.T, root, room string, key ed25519.PrivateKey) (string, string) {
	t.Helper()
	rec, err := record.Start(record.Options{Root: root, Room: room, Key: key, CheckpointEvery: time.Hour, ChunkEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rec.Event("join", "PA_1", "head-a", map[string]string{"name": "Head A"}, now)
	rec.Event("publish", "PA_1", "head-a", map[string]string{"track": "PA_1-T1", "source": "mic", "kind": "audio"}, now)
	tr, err := rec.Track(record.TrackInfo{ID: "PA_1-T1", Participant: "PA_1", Identity: "head-a", Source: "mic", MimeType: "audio/opus", ClockRate: 48000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(i), Timestamp: uint32(i * 960), SSRC: 1, Marker: true},
			Payload: bytes.Repeat([]byte{byte(i)}, 60)}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		tr.WriteRTP(b)
	}
	rec.CloseTrack(tr)
	rec.Event("chat", "PA_1", "head-a", map[string]string{"text": "agreed"}, time.Now())
	rec.Event("leave", "PA_1", "head-a", map[string]string{"reason": "left"}, time.Now())
	if _, err := rec.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(rec.Dir(), record.MediaDir, "*.webm"))
	if len(files) != 1 {
		t.Fatalf("media: %v", files)
	}
	return rec.Dir(), record.MediaDir + "/" + filepath.Base(files[0])
}

// request makes a request with headers given as "Name: value" pairs.
func request(t *testing.T, method, url string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no redirects followed
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestPlayerData: the player's data routes admit the record and the readout
// grant of the record's room and nobody else; the log comes back whole or
// without the types asked away, and a record that does not exist is 404
// whatever the token.
func TestPlayerData(t *testing.T) {
	var dataDir string
	srv := startServer(t, func(c *config.Config) { dataDir = c.DataDir })
	_, key, _ := ed25519.GenerateKey(nil)
	dir, _ := playerRecord(t, filepath.Join(dataDir, record.Dir), "summit", key)
	id := filepath.Base(dir)
	base := srv.URL() + "/records/" + id

	for _, g := range []auth.Grant{auth.GrantRecord, auth.GrantReadout} {
		tok := mint(t, srv, "summit", "clerk", auth.GrantJoin, g)
		resp, body := request(t, "GET", base+"/log", "Authorization: Bearer "+tok)
		var l record.Log
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &l) != nil || l.Record != id || l.End == "" {
			t.Fatalf("log with the %s grant: %d %.200s", g, resp.StatusCode, body)
		}
		if !hasType(l, record.TypeChunk) || !hasType(l, "chat") {
			t.Errorf("the whole log lacks chunks or chat")
		}
		resp, body = request(t, "GET", base+"/log?without=chunk,file-end", "Authorization: Bearer "+tok)
		var short record.Log
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &short) != nil || hasType(short, record.TypeChunk) ||
			hasType(short, record.TypeFileEnd) || !hasType(short, "chat") {
			t.Errorf("log without chunks: %d %.200s", resp.StatusCode, body)
		}
		// Every line kept is the same line, with its own hash.
		for _, ln := range short.Lines {
			if full, ok := l.Line(ln.Seq); !ok || full.Hash != ln.Hash {
				t.Fatalf("line %d changed when others were left out", ln.Seq)
			}
		}
	}
	tok := mint(t, srv, "summit", "clerk", auth.GrantJoin, auth.GrantRecord)
	if resp, _ := request(t, "GET", base+"/log?without="+strings.Repeat("x,", 16)+"x", "Authorization: Bearer "+tok); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("17 types left out: %d", resp.StatusCode)
	}
	for name, c := range map[string]struct {
		header string
		want   int
	}{
		"no token":             {"", http.StatusUnauthorized},
		"a guest's token":      {"Authorization: Bearer " + mint(t, srv, "summit", "guest", auth.GrantJoin, auth.GrantSubscribe), http.StatusForbidden},
		"another room's token": {"Authorization: Bearer " + mint(t, srv, "other", "clerk", auth.GrantJoin, auth.GrantRecord), http.StatusUnauthorized},
		"a forged token":       {"Authorization: Bearer " + tamper(tok), http.StatusUnauthorized},
	} {
		for _, path := range []string{"/log", "/verify", "/media/x.webm", "/transcript"} {
			var hs []string
			if c.header != "" {
				hs = append(hs, c.header)
			}
			if resp, body := request(t, "GET", base+path, hs...); resp.StatusCode != c.want {
				t.Errorf("%s, GET %s: %d %.80q, want %d", name, path, resp.StatusCode, body, c.want)
			}
		}
	}
	for _, path := range []string{"/log", "/verify", "/media/x.webm"} {
		if resp, _ := request(t, "GET", srv.URL()+"/records/summit-20261205T100000Z-00000000"+path, "Authorization: Bearer "+tok); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s of no record: %d", path, resp.StatusCode)
		}
	}
}

func hasType(l record.Log, typ string) bool {
	for _, ln := range l.Lines {
		if ln.Type == typ {
			return true
		}
	}
	return false
}

// TestPlayerMedia: a media file the log announces is served in ranges to the
// bearer token, and to the cookie the page trades its token for (an element
// cannot send the header); nothing the log does not name is served, whatever
// the name.
func TestPlayerMedia(t *testing.T) {
	var dataDir string
	srv := startServer(t, func(c *config.Config) { dataDir = c.DataDir })
	_, key, _ := ed25519.GenerateKey(nil)
	dir, file := playerRecord(t, filepath.Join(dataDir, record.Dir), "summit", key)
	want, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	base := srv.URL() + "/records/" + filepath.Base(dir)
	url := base + "/" + file
	tok := mint(t, srv, "summit", "clerk", auth.GrantJoin, auth.GrantReadout)

	resp, body := request(t, "GET", url, "Authorization: Bearer "+tok)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) || resp.Header.Get("Content-Type") != "video/webm" {
		t.Fatalf("whole file: %d, %d bytes of %d, %s", resp.StatusCode, len(body), len(want), resp.Header.Get("Content-Type"))
	}
	resp, body = request(t, "GET", url, "Authorization: Bearer "+tok, "Range: bytes=10-19")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, want[10:20]) ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 10-19/%d", len(want)) {
		t.Fatalf("range: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Range"), body)
	}
	if resp, _ := request(t, "GET", url); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no credentials: %d", resp.StatusCode)
	}

	// The cookie: HttpOnly, strict, for this record's media alone, and no
	// longer than the token lasts.
	if resp, _ := request(t, "POST", base+"/media-access"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("media-access without a token: %d", resp.StatusCode)
	}
	guest := mint(t, srv, "summit", "guest", auth.GrantJoin, auth.GrantSubscribe)
	if resp, _ := request(t, "POST", base+"/media-access", "Authorization: Bearer "+guest); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Errorf("media-access for a guest: %d %v", resp.StatusCode, resp.Cookies())
	}
	resp, _ = request(t, "POST", base+"/media-access", "Authorization: Bearer "+tok)
	cs := resp.Cookies()
	if resp.StatusCode != http.StatusNoContent || len(cs) != 1 {
		t.Fatalf("media-access: %d %v", resp.StatusCode, cs)
	}
	c := cs[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/records/"+filepath.Base(dir)+"/media/" || c.MaxAge <= 0 || c.MaxAge > 3600 {
		t.Errorf("cookie %+v", c)
	}
	resp, body = request(t, "GET", url, "Cookie: "+c.Name+"="+c.Value, "Range: bytes=0-3")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, want[:4]) {
		t.Errorf("with the cookie: %d %q", resp.StatusCode, body)
	}
	if resp, _ := request(t, "GET", base+"/log", "Cookie: "+c.Name+"="+c.Value); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the cookie opened the log: %d", resp.StatusCode)
	}

	// A file in media/ that the log never names, the log itself, paths.
	if err := os.WriteFile(filepath.Join(dir, record.MediaDir, "planted.webm"), []byte("not in the record"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/media/planted.webm", "/media/..%2Fevents.log", "/media/%2E%2E", "/media/" + strings.Repeat("a", 300),
		"/media/x%5C..%5Cevents.log", "/media/" + strings.TrimPrefix(file, "media/") + "%2F"} {
		if resp, body := request(t, "GET", base+p, "Authorization: Bearer "+tok); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d %.80q, want 404", p, resp.StatusCode, body)
		}
	}
}

// TestPlayerVerify: the verification is record.Verify's with the node's own
// key, says how to check it independently, and follows the record's files:
// an altered byte changes the answer.
func TestPlayerVerify(t *testing.T) {
	var dataDir string
	srv := startServer(t, func(c *config.Config) { dataDir = c.DataDir })
	key, err := auth.LoadKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	dir, file := playerRecord(t, filepath.Join(dataDir, record.Dir), "summit", key)
	id := filepath.Base(dir)
	tok := mint(t, srv, "summit", "clerk", auth.GrantJoin, auth.GrantRecord)
	type answer struct {
		Status    string `json:"status"`
		Problem   string `json:"problem"`
		KeySource string `json:"keySource"`
		Howto     string `json:"howto"`
		Download  string `json:"download"`
		Report    struct {
			Record   string `json:"record"`
			Ended    bool   `json:"ended"`
			Attested []struct {
				Identity string `json:"identity"`
				UpTo     uint64 `json:"upTo"`
			} `json:"attested"`
			Warnings []string `json:"warnings"`
		} `json:"report"`
	}
	verify := func() answer {
		t.Helper()
		resp, body := request(t, "GET", srv.URL()+"/records/"+id+"/verify", "Authorization: Bearer "+tok)
		var a answer
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &a) != nil {
			t.Fatalf("verify: %d %s", resp.StatusCode, body)
		}
		return a
	}
	a := verify()
	pub := base64.RawURLEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	if a.Status != "intact" || a.KeySource != "server" || !a.Report.Ended || a.Report.Record != id ||
		a.Howto != "parley verify "+id+" --server-key "+pub || !strings.Contains(a.Download, "/records/"+id) {
		t.Fatalf("intact record: %+v", a)
	}
	if len(a.Report.Attested) != 1 || a.Report.Attested[0].Identity != "head-a" || a.Report.Attested[0].UpTo != 0 {
		t.Errorf("attested: %+v", a.Report.Attested)
	}
	// The reader's own run of the command agrees with the page.
	rep, err := record.Verify(dir, record.VerifyOptions{ServerKey: key.Public().(ed25519.PublicKey), RequireEnd: true})
	if err != nil || len(rep.Warnings) != len(a.Report.Warnings) {
		t.Errorf("parley verify: %v, %d warnings; the page: %d", err, len(rep.Warnings), len(a.Report.Warnings))
	}

	path := filepath.Join(dir, file)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	a = verify()
	if a.Status != "altered" || !strings.Contains(a.Problem, file) {
		t.Fatalf("altered record: %+v", a)
	}
}

// TestRecordPageOrDownload: a browser navigating to /records/ID gets the
// player's page (which holds nothing of the record, so it needs no token);
// a program with a token gets the tar as before.
func TestRecordPageOrDownload(t *testing.T) {
	var dataDir string
	srv := startServer(t, func(c *config.Config) { dataDir = c.DataDir })
	_, key, _ := ed25519.GenerateKey(nil)
	dir, _ := playerRecord(t, filepath.Join(dataDir, record.Dir), "summit", key)
	url := srv.URL() + "/records/" + filepath.Base(dir)
	const nav = "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	resp, body := request(t, "GET", url, nav)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `src="/assets/player/main.js"`) ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") || strings.Contains(string(body), "head-a") {
		t.Fatalf("page: %d %s %.200s", resp.StatusCode, resp.Header.Get("Content-Security-Policy"), body)
	}
	tok := mint(t, srv, "summit", "clerk", auth.GrantJoin, auth.GrantRecord)
	for _, hs := range [][]string{{"Authorization: Bearer " + tok}, {"Authorization: Bearer " + tok, nav}} {
		resp, body := request(t, "GET", url, hs...)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-tar" || len(body) < 1024 {
			t.Errorf("download %v: %d %s, %d bytes", hs, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	resp, body = request(t, "GET", srv.URL()+"/player/config")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"mode":"node","token":true`) {
		t.Errorf("config: %d %s", resp.StatusCode, body)
	}
}

// TestOpenRecord: parley open's handler serves one folder's page, log,
// media and verification with no token, writes nothing, answers only at a
// loopback name, and serves nothing of a node.
func TestOpenRecord(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	otherKey, _, _ := ed25519.GenerateKey(nil)
	dir, file := playerRecord(t, t.TempDir(), "summit", key)
	id := filepath.Base(dir)
	srv := httptest.NewServer(gateway.OpenRecord(dir, nil))
	defer srv.Close()

	resp, _ := request(t, "GET", srv.URL+"/")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/records/"+id {
		t.Errorf("/: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := request(t, "GET", srv.URL+"/player/config")
	if resp.StatusCode != http.StatusOK || string(body) != `{"mode":"open","token":false,"record":"`+id+`"}`+"\n" {
		t.Errorf("config: %d %s", resp.StatusCode, body)
	}
	for path, want := range map[string]string{
		"/records/" + id:                        "player/main.js",
		"/records/" + id + "/log?without=chunk": `"type":"chat"`,
		"/records/" + id + "/transcript":        `"utterances":[]`,
		"/records/" + id + "/verify":            `"keySource":"record"`,
		"/assets/player/main.js":                "parleyPlayer",
		"/records/" + id + "/" + file:           "",
	} {
		resp, body := request(t, "GET", srv.URL+path)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %.120s", path, resp.StatusCode, body)
		}
	}
	resp, body = request(t, "GET", srv.URL+"/records/"+id+"/"+file, "Range: bytes=4-7")
	if resp.StatusCode != http.StatusPartialContent || len(body) != 4 {
		t.Errorf("media range: %d %d bytes", resp.StatusCode, len(body))
	}
	for path, want := range map[string]int{
		"/records/other-20261205T100000Z-00000000/log": http.StatusNotFound,
		"/records/" + id + "/media/planted.webm":       http.StatusNotFound,
		"/r/summit":                                    http.StatusNotFound,
		"/ws":                                          http.StatusNotFound,
		"/records?room=summit":                         http.StatusNotFound,
	} {
		if resp, _ := request(t, "GET", srv.URL+path); resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		if resp, _ := request(t, m, srv.URL+"/records/"+id+"/log"); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d", m, resp.StatusCode)
		}
	}
	// A page elsewhere whose name was made to resolve to 127.0.0.1 sends its own Host.
	req, _ := http.NewRequest("GET", srv.URL+"/records/"+id+"/log", nil)
	req.Host = "attacker.example:80"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("another host: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// With the server's key given, the record is checked with it (and this
	// one was signed by another key).
	keyed := httptest.NewServer(gateway.OpenRecord(dir, otherKey))
	defer keyed.Close()
	resp, body = request(t, "GET", keyed.URL+"/records/"+id+"/verify")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"status":"altered"`) || !strings.Contains(string(body), `"keySource":"server"`) {
		t.Errorf("verify with another key: %d %.300s", resp.StatusCode, body)
	}

	// A symlink in media/ that the log announces still cannot lead outside the folder.
	evil := t.TempDir()
	if err := os.WriteFile(filepath.Join(evil, record.LogFile), []byte(
		`{"seq":1,"time":"2026-12-05T10:00:00Z","prev":"`+strings.Repeat("0", 64)+`","type":"record-start","format":"parley-record-v2","record":"evil-20261205T100000Z-00000000","room":"evil"}`+"\n"+
			`{"seq":2,"time":"2026-12-05T10:00:01Z","prev":"x","type":"file-start","file":"media/link.webm"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(evil, record.MediaDir), 0o700); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(evil, record.MediaDir, "link.webm")); err != nil {
		t.Fatal(err)
	}
	esrv := httptest.NewServer(gateway.OpenRecord(evil, nil))
	defer esrv.Close()
	if resp, body := request(t, "GET", esrv.URL+"/records/evil-20261205T100000Z-00000000/media/link.webm"); resp.StatusCode != http.StatusNotFound || strings.Contains(string(body), "secret") {
		t.Errorf("symlink out of the folder: %d %q", resp.StatusCode, body)
	}
}
