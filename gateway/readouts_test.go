package gateway_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/readout"
	"github.com/parleyhq/parley/record"
)

// readoutRecord writes an ended record of room summit under dataDir in which
// head-b (with key) chatted, and returns its folder.
func readoutRecord(t *testing.T, dataDir string, key ed25519.PrivateKey) string {
	t.Helper()
	_, server, _ := ed25519.GenerateKey(nil)
	rec, err := record.Start(record.Options{Root: filepath.Join(dataDir, record.Dir), Room: "summit", Key: server, CheckpointEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rec.Event("join", "p2", "head-b", map[string]string{"name": "Head B"}, time.Now())
	rec.Key("p2", "head-b", base64.RawURLEncoding.EncodeToString(key.Public().(ed25519.PublicKey)))
	rec.Event("chat", "p2", "head-b", map[string]string{"text": "We agree on the <b>text</b>."}, time.Now())
	if _, err := rec.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return rec.Dir()
}

func signedReadout(t *testing.T, dir string, key ed25519.PrivateKey, quote string) []byte {
	t.Helper()
	l, err := record.ReadLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	chat, _ := l.Line(4)
	at := l.Since(chat.Time).Seconds()
	f, err := readout.Sign(readout.Body{Record: l.Record, End: l.End, Author: "head-b", Title: "Our readout", Published: time.Now(),
		Text: "The sides agreed.[^1] The weather was fine.",
		Citations: []readout.Citation{{ID: "1", From: at, To: at, Channel: "chat",
			Events: []readout.Ref{{Seq: 4, Hash: chat.Hash}}, Quote: quote}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(f)
	return b
}

func postWith(t *testing.T, url, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), "POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestPublishReadout: a participant with the readout grant publishes a
// readout signed with the key the record has for them; it is kept beside the
// record, listed, served with its check and exported, and the record still
// verifies. What would fail parley readout verify is refused with the reason.
func TestPublishReadout(t *testing.T) {
	var dataDir string
	srv := startServer(t, func(c *config.Config) { dataDir = c.DataDir })
	_, keyB, _ := ed25519.GenerateKey(nil)
	dir := readoutRecord(t, dataDir, keyB)
	id := filepath.Base(dir)
	url := srv.URL() + "/records/" + id + "/readouts"
	author := mint(t, srv, "summit", "head-b", auth.GrantJoin, auth.GrantReadout)
	good := signedReadout(t, dir, keyB, "agree on the <b>text</b>.")

	refused := map[string]struct {
		token string
		body  []byte
		code  int
		want  string
	}{
		"someone else's readout": {mint(t, srv, "summit", "head-a", auth.GrantJoin, auth.GrantReadout), good, http.StatusForbidden, "own name"},
		"no readout grant":       {mint(t, srv, "summit", "head-b", auth.GrantJoin, auth.GrantRecord), good, http.StatusForbidden, "publishing readouts"},
		"another room's token":   {mint(t, srv, "other", "head-b", auth.GrantJoin, auth.GrantReadout), good, http.StatusUnauthorized, ""},
		"a quote nobody wrote":   {author, signedReadout(t, dir, keyB, "disagree on the text."), http.StatusUnprocessableEntity, "citation [^1]: its quote"},
		"a key the record lacks": {author, signedReadout(t, dir, func() ed25519.PrivateKey { _, k, _ := ed25519.GenerateKey(nil); return k }(), "agree"),
			http.StatusUnprocessableEntity, "never announced"},
		"not a readout": {author, []byte(`{"format":"parley-readout-v1"`), http.StatusBadRequest, "not a readout"},
		"too large":     {author, bytes.Repeat([]byte(" "), readout.MaxSize+10), http.StatusRequestEntityTooLarge, ""},
	}
	for name, c := range refused {
		code, body := postWith(t, url, c.token, c.body)
		if code != c.code || !strings.Contains(string(body), c.want) {
			t.Errorf("%s: %d %q, want %d naming %q", name, code, body, c.code, c.want)
		}
	}
	if have, _ := os.ReadDir(filepath.Join(dir, record.ReadoutsDir)); len(have) != 0 {
		t.Fatalf("refused readouts were kept: %v", have)
	}

	code, body := postWith(t, url, author, good)
	var made struct{ ID, URL string }
	if code != http.StatusCreated || json.Unmarshal(body, &made) != nil || made.URL != "/records/"+id+"/readouts/"+made.ID {
		t.Fatalf("publish: %d %s", code, body)
	}
	if code, _ := postWith(t, url, author, good); code != http.StatusCreated {
		t.Errorf("publishing the same readout again: %d", code)
	}

	reader := mint(t, srv, "summit", "clerk", auth.GrantJoin, auth.GrantRecord)
	code, body = getWith(t, url, reader)
	var list []struct {
		ID, Author, Title string
		Citations         int
	}
	if code != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list) != 1 || list[0].ID != made.ID || list[0].Citations != 1 {
		t.Fatalf("list: %d %s", code, body)
	}
	code, body = getWith(t, srv.URL()+made.URL, reader)
	var view struct {
		Problem   string
		Uncited   []string
		Footnotes map[string]string
	}
	if code != http.StatusOK || json.Unmarshal(body, &view) != nil || view.Problem != "" ||
		len(view.Uncited) != 1 || !strings.Contains(view.Footnotes["1"], "chat") {
		t.Fatalf("readout: %d %s", code, body)
	}
	if code, body := getWith(t, srv.URL()+made.URL+"?format=html", reader); code != http.StatusOK ||
		strings.Contains(string(body), "<b>text</b>") || !strings.Contains(string(body), "&lt;b&gt;text") {
		t.Errorf("html export: %d %s", code, body)
	}
	code, body = getWith(t, srv.URL()+made.URL+"?format=file", reader)
	if ro, err := readout.Parse(body); code != http.StatusOK || err != nil || ro.ID != made.ID {
		t.Errorf("the signed file: %d %v", code, err)
	}
	for _, path := range []string{"/readouts/0123456789abcdef", "/readouts/..%2F..%2Fevents.log", "/readouts/" + strings.ToUpper(made.ID)} {
		if code, _ := getWith(t, srv.URL()+"/records/"+id+path, reader); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
	if code, _ := getWith(t, url, mint(t, srv, "summit", "guest", auth.GrantJoin)); code != http.StatusForbidden {
		t.Errorf("listing without a grant: %d", code)
	}
	rep, err := record.Verify(dir, record.VerifyOptions{RequireEnd: true})
	if err != nil || strings.Contains(strings.Join(rep.Warnings, "\n"), record.ReadoutsDir) {
		t.Errorf("the record beside its readouts: %v, warnings %q", err, rep.Warnings)
	}
}
