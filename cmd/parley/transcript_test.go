package main

import (
	"crypto/ed25519"
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

// TestTranscriptCommand: parley transcript reads a record folder alone, in
// each format, one channel or all; a folder that is not a record, or a format
// it does not know, is a usage error.
func TestTranscriptCommand(t *testing.T) {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now().UTC()
	now := began
	rec, err := record.Start(record.Options{Root: t.TempDir(), Room: "summit", Key: key, CheckpointEvery: time.Hour,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	_, headA, _ := ed25519.GenerateKey(nil)
	rec.Key("PA_head-a", "head-a", base64.RawURLEncoding.EncodeToString(headA.Public().(ed25519.PublicKey)))
	for _, u := range []struct{ id, who, ch, text string }{{"TS_1", "head-a", "floor", "go forward ten meters"}, {"TS_2", "irina", "ru", "вперёд"}} {
		rec.Event(record.TypeTranscript, "PA_"+u.who, u.who, map[string]string{"id": u.id, "channel": u.ch, "language": u.ch, "text": u.text,
			"start": began.Add(time.Second).Format(time.RFC3339Nano), "end": began.Add(3 * time.Second).Format(time.RFC3339Nano)}, time.Now())
	}
	// A machine translation of the floor's line, for listeners of es.
	rec.Event(record.TypeTranslation, "PA_head-a", "head-a", map[string]string{"channel": "es", "language": "es", "text": "va adelante diez metros",
		"source_language": "en", "source_text": "go forward ten meters", "transcript": "TS_1", "engine": "apertium 127.0.0.1:2737", "machine": "true",
		"start": began.Add(time.Second).Format(time.RFC3339Nano), "end": began.Add(3 * time.Second).Format(time.RFC3339Nano)}, time.Now())
	now = began.Add(5 * time.Second) // the record ends after what was said
	if _, err := rec.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	dir := rec.Dir()
	// head-a's signed correction of their floor line, kept beside the record.
	l, err := record.ReadLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	var line record.Line
	for _, ln := range l.Lines {
		if ln.Type == record.TypeTranscript && ln.Data["channel"] == "floor" {
			line = ln
		}
	}
	f, err := readout.Sign(readout.Body{Kind: readout.KindCorrection, Record: l.Record, End: l.End, Author: "head-a", Published: time.Now(),
		Text: "two meters", Citations: []readout.Citation{{ID: "c", From: 1, To: 3, Channel: "floor",
			Events: []readout.Ref{{Seq: line.Seq, Hash: line.Hash}}, Quote: "ten meters"}}}, headA)
	if err != nil {
		t.Fatal(err)
	}
	ro, _ := json.Marshal(f)
	parsed, err := readout.Parse(ro)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readout.Check(parsed, l, readout.Options{}); err != nil {
		t.Fatalf("the correction does not hold: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, record.ReadoutsDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, record.ReadoutsDir, parsed.ID+".json"), ro, 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI("transcript", dir)
	if code != 0 || !strings.Contains(out, "head-a (floor): go forward ten meters\n         corrected by head-a: \"ten meters\" was: two meters\n") ||
		!strings.Contains(out, "irina (ru): вперёд") {
		t.Fatalf("txt: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI("transcript", dir, "--format", "vtt", "--channel", "ru")
	if code != 0 || !strings.HasPrefix(out, "WEBVTT") || !strings.Contains(out, "<v irina>вперёд") || strings.Contains(out, "forward") {
		t.Fatalf("vtt of the ru channel: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI("transcript", dir, "--format", "vtt", "--channel", "es")
	if code != 0 || !strings.Contains(out, "<v head-a>[es, machine translation] va adelante diez metros") {
		t.Fatalf("vtt of the es channel, machine translated: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI("transcript", "--format", "json", dir)
	var tr record.Transcript
	if code != 0 || json.Unmarshal([]byte(out), &tr) != nil || len(tr.Utterance) != 3 || tr.Room != "summit" {
		t.Fatalf("json: exit %d\n%s%s", code, out, errOut)
	}
	if mt := tr.Utterance[2].Translation; mt == nil || mt.Text != "go forward ten meters" || mt.Language != "en" || mt.Transcript != "TS_1" ||
		tr.Utterance[0].Translation != nil || len(tr.Utterance[0].Corrections) != 1 || tr.Utterance[0].Corrections[0].Text != "two meters" {
		t.Errorf("json: the machine translation's source %+v", mt)
	}
	if code, _, _ := runCLI("transcript", dir, "--format", "srt"); code != 2 {
		t.Errorf("an unknown format: exit %d, want 2", code)
	}
	if code, _, _ := runCLI("transcript", t.TempDir()+"/none"); code != 2 {
		t.Errorf("a missing folder: exit %d, want 2", code)
	}
}
