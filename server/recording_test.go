package server_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/signal"
)

// recordedCall is a recorded call between head-a and head-b, two Go clients
// with keys of their own, publishing audio and video: say runs once both
// receive each other (chat goes there), then head-a leaves, then head-b, whose
// leaving seals the record. It returns the record's folder once it verifies
// sealed with both signers, the server's private key, the heads' keys and
// their receipts.
func recordedCall(t *testing.T, say func(a, b *client.Client)) (string, ed25519.PrivateKey, map[string]ed25519.PrivateKey, map[string]record.Receipt) {
	t.Helper()
	var dataDir string
	srv := startServer(t, func(c *config.Config) {
		c.RecordAll = true
		c.CheckpointInterval = 300 * time.Millisecond
		dataDir = c.DataDir
	})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	keys := map[string]ed25519.PrivateKey{}
	var cs []*client.Client
	for _, id := range []string{"head-a", "head-b"} {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		keys[id] = k
		c, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "summit", Key: k,
			Token: mint(t, srv, "summit", id, auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if !c.Welcome().Room.Recording.Active {
			t.Fatalf("%s: welcome does not say the room records", id)
		}
		if err := publishAV(ctx, c, id); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	for _, c := range cs {
		if err := waitInbound(ctx, c, 2, 20000); err != nil {
			t.Fatal(err)
		}
	}
	say(cs[0], cs[1])
	time.Sleep(time.Second)
	// head-a leaves cleanly: it countersigns a last checkpoint on the way out.
	if err := cs[0].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cs[1].WaitFor(ctx, func(typ string, raw []byte) bool { return typ == "participant-left" }); err != nil {
		t.Fatal(err)
	}
	if err := cs[1].Send(&signal.Leave{Type: "leave"}); err != nil {
		t.Fatal(err)
	}

	dir := onlyRecord(t, dataDir)
	pub := func(id string) ed25519.PublicKey { return keys[id].Public().(ed25519.PublicKey) }
	opts := record.VerifyOptions{
		ServerKey:  srv.Signer().PublicKey(),
		Signers:    map[string]ed25519.PublicKey{"head-a": pub("head-a"), "head-b": pub("head-b")},
		RequireEnd: true,
	}
	for { // head-b leaves last: the record is sealed and head-b countersigns the seal
		rep, err := record.Verify(dir, opts)
		if err == nil && rep.Ended && rep.SignedUpTo["head-b"] == rep.LastSigned-1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the record never verified sealed: %v, %+v", err, rep)
		case <-time.After(200 * time.Millisecond):
		}
	}
	serverKey, err := auth.LoadKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	receipts := map[string]record.Receipt{}
	for i, id := range []string{"head-a", "head-b"} {
		rs := cs[i].Receipts()
		if len(rs) != 1 || rs[0].Identity != id || rs[0].Check() != nil {
			t.Fatalf("%s's receipts: %+v", id, rs)
		}
		receipts[id] = rs[0]
	}
	return dir, serverKey, keys, receipts
}

func TestRecordedCallVerifies(t *testing.T) {
	dir, serverKey, keys, receipts := recordedCall(t, func(a, _ *client.Client) {
		if err := a.Send(&signal.ChatSend{Type: "chat", Text: "the agenda: https://example.org/agenda"}); err != nil {
			t.Fatal(err)
		}
	})
	rep, err := record.Verify(dir, record.VerifyOptions{ServerKey: serverKey.Public().(ed25519.PublicKey), RequireEnd: true,
		Signers:  map[string]ed25519.PublicKey{"head-a": keys["head-a"].Public().(ed25519.PublicKey), "head-b": keys["head-b"].Public().(ed25519.PublicKey)},
		Receipts: []record.Receipt{receipts["head-a"], receipts["head-b"]}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Files) != 4 {
		t.Errorf("%d media files, want 4 (two participants, audio and video): %v", len(rep.Files), rep.Files)
	}
	for f, n := range rep.Files {
		if n < 2000 {
			t.Errorf("%s has only %d bytes", f, n)
		}
	}
	if rep.SignedUpTo["head-a"] == 0 || rep.SignedUpTo["head-b"] == 0 {
		t.Errorf("countersignatures: %v", rep.SignedUpTo)
	}
	for _, a := range rep.Attested {
		if !a.Given || a.UpTo < a.Needed && (len(a.Gap) > 0 || a.GapTo.Sub(a.GapFrom) > 2*time.Second) {
			t.Errorf("%s's attestation: %+v", a.Identity, a)
		}
	}
}

// onlyRecord waits for the single record folder in dataDir.
func onlyRecord(t *testing.T, dataDir string) string {
	t.Helper()
	ms, _ := filepath.Glob(filepath.Join(dataDir, record.Dir, "*"))
	if len(ms) != 1 {
		t.Fatalf("records: %v", ms)
	}
	if _, err := os.Stat(filepath.Join(ms[0], record.LogFile)); err != nil {
		t.Fatal(err)
	}
	return ms[0]
}

func TestRecordDownloadNeedsTheRecordGrant(t *testing.T) {
	var dataDir string
	srv := startServer(t, func(c *config.Config) { c.RecordAll = true; dataDir = c.DataDir })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dial(t, ctx, srv, "summit", "head-a", allGrants...)
	c.Close()
	id := filepath.Base(onlyRecord(t, dataDir))
	get := func(path, tok string) (int, []byte) {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL()+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, _ := get("/records/"+id, ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	if code, _ := get("/records/"+id, mint(t, srv, "summit", "aide", auth.GrantJoin)); code != http.StatusForbidden {
		t.Errorf("token without record grant: %d", code)
	}
	if code, _ := get("/records/"+id, mint(t, srv, "other", "x", auth.GrantJoin, auth.GrantRecord)); code != http.StatusUnauthorized {
		t.Errorf("record grant for another room: %d", code)
	}
	code, body := get("/records/"+id, mint(t, srv, "summit", "clerk", auth.GrantJoin, auth.GrantRecord))
	if code != http.StatusOK {
		t.Fatalf("download: %d %s", code, body)
	}
	tr := tar.NewReader(bytes.NewReader(body))
	found := false
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		found = found || h.Name == record.LogFile
	}
	if !found {
		t.Fatal("the download has no event log")
	}
	code, body = get("/records?room=summit", mint(t, srv, "summit", "clerk", auth.GrantJoin, auth.GrantRecord))
	if code != http.StatusOK || !bytes.Contains(body, []byte(id)) {
		t.Fatalf("list: %d %s", code, body)
	}
}
