package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/readout"
	"github.com/parleyhq/parley/record"
)

// readoutRecord writes an ended record in which head-b spoke and chatted and
// countersigned the seal, and returns it with head-b's key.
func readoutRecord(t *testing.T) (string, *record.Log, ed25519.PrivateKey) {
	t.Helper()
	_, server, _ := ed25519.GenerateKey(rand.Reader)
	pubB, keyB, _ := ed25519.GenerateKey(rand.Reader)
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	now := t0
	rec, err := record.Start(record.Options{Root: t.TempDir(), Room: "summit", Key: server, CheckpointEvery: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	now = at(1)
	rec.Event("join", "p2", "head-b", map[string]string{"name": "Head B"}, now)
	rec.Key("p2", "head-b", base64.RawURLEncoding.EncodeToString(pubB))
	now = at(12)
	rec.Event("transcript", "p2", "head-b", map[string]string{"channel": "floor", "language": "en", "text": "go forward ten meters",
		"start": at(9).Format(time.RFC3339Nano), "end": at(11.5).Format(time.RFC3339Nano), "engine": "test", "model": "m"}, now)
	now = at(15)
	rec.Event("chat", "p2", "head-b", map[string]string{"text": "Agreed <b>today</b>."}, now)
	now = at(20)
	cp, err := rec.Seal()
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Countersign("p2", "head-b", pubB, cp.Seq, ed25519.Sign(keyB, cp.Statement())); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := record.ReadLog(rec.Dir())
	if err != nil {
		t.Fatal(err)
	}
	return rec.Dir(), l, keyB
}

func writeReadout(t *testing.T, l *record.Log, key ed25519.PrivateKey, change func(*readout.Body)) string {
	t.Helper()
	ref := func(seq uint64) readout.Ref {
		ln, _ := l.Line(seq)
		return readout.Ref{Seq: seq, Hash: ln.Hash}
	}
	b := readout.Body{Record: l.Record, End: l.End, Author: "head-b", Title: "Our readout", Published: l.Began.Add(time.Hour),
		Text: "Head B asked to go forward.[^1] The sides agreed.[^2] It was a good day.",
		Citations: []readout.Citation{
			{ID: "1", From: 9, To: 11.5, Channel: "floor", Events: []readout.Ref{ref(4)}, Quote: "go forward ten meters"},
			{ID: "2", From: 14.5, To: 15.5, Channel: "chat", Events: []readout.Ref{ref(5)}, Quote: "Agreed <b>today</b>."},
		}}
	if change != nil {
		change(&b)
	}
	f, err := readout.Sign(b, key)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(f)
	path := filepath.Join(t.TempDir(), "readout.json")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadoutVerifyCommand(t *testing.T) {
	recDir, l, keyB := readoutRecord(t)
	signer := "head-b=" + base64.RawURLEncoding.EncodeToString(keyB.Public().(ed25519.PublicKey))
	good := writeReadout(t, l, keyB, nil)

	code, out, errOut := runCLI("readout", "verify", good, "--record", recDir, "--signer", signer)
	if code != 0 || !strings.Contains(out, "2 citations resolve") || !strings.Contains(out, "It was a good day.") {
		t.Fatalf("a faithful readout: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := runCLI("verify", recDir, "--readout", good); code != 0 || !strings.Contains(out, "the key the record announced") {
		t.Errorf("verify --readout without a signer: exit %d\n%s", code, out)
	}

	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := readoutRecord(t)
	for name, c := range map[string]struct {
		path string
		want string
	}{
		"altered quote": {writeReadout(t, l, keyB, func(b *readout.Body) { b.Citations[0].Quote = "go back ten meters" }),
			"citation [^1]: its quote"},
		"shifted range": {writeReadout(t, l, keyB, func(b *readout.Body) { b.Citations[1].From, b.Citations[1].To = 3, 4 }),
			"citation [^2]: its range"},
		"another record": {writeReadout(t, l, keyB, func(b *readout.Body) { b.Record, b.End = other.Record, other.End }),
			"not of this record"},
		"wrong key": {writeReadout(t, l, otherKey, nil), "not with head-b's key"},
	} {
		code, out, errOut := runCLI("readout", "verify", c.path, "--record", recDir, "--signer", signer)
		if code != 1 || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d, want 1 naming %q\n%s\n%s", name, code, c.want, out, errOut)
		}
	}
	for name, args := range map[string][]string{
		"no record":      {"readout", "verify", good},
		"no readout":     {"readout", "verify", "--record", recDir},
		"missing file":   {"readout", "verify", good + ".nope", "--record", recDir},
		"no subcommand":  {"readout"},
		"unknown action": {"readout", "publish", good},
	} {
		if code, out, errOut := runCLI(args...); code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s\n%s", name, code, out, errOut)
		}
	}
}

func TestReadoutExportCommand(t *testing.T) {
	recDir, l, keyB := readoutRecord(t)
	path := writeReadout(t, l, keyB, nil)
	code, md, errOut := runCLI("readout", "export", path, "--record", recDir)
	if code != 0 || !strings.Contains(md, "[^1]: Record "+l.Record+", 0:00:09.0–0:00:11.5, floor: \"go forward ten meters\" (event 4, sha256 ") ||
		!strings.Contains(md, "parley readout verify") {
		t.Fatalf("markdown: exit %d\n%s\n%s", code, md, errOut)
	}
	code, html, _ := runCLI("readout", "export", path, "--record", recDir, "--format", "html")
	if code != 0 || strings.Contains(html, "<b>today</b>") || !strings.Contains(html, "&lt;b&gt;today&lt;/b&gt;") ||
		!strings.Contains(html, `<sup><a href="#fn-1">[1]</a></sup>`) {
		t.Fatalf("html: exit %d\n%s", code, html)
	}
}
