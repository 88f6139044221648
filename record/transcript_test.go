package record

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// transcribedRecord is a sealed record of a call with two utterances on the
// floor, one on the Russian channel, and a chat line; it returns its folder.
func transcribedRecord(t *testing.T) string {
	t.Helper()
	began := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	now := began
	rec, err := Start(Options{Root: t.TempDir(), Room: "summit", Key: newKey(t), CheckpointEvery: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	say := func(pid, who, ch, lang, text string, from, to time.Duration) {
		now = began.Add(to + time.Second)
		rec.Event(TypeTranscript, pid, who, map[string]string{
			"track": "T1", "channel": ch, "language": lang, "text": text,
			"start": began.Add(from).Format(time.RFC3339Nano), "end": began.Add(to).Format(time.RFC3339Nano),
			"engine": "pocketsphinx", "model": "en-us",
		}, now)
	}
	say("PA_1", "head-a", "floor", "en", "go forward ten meters", 2*time.Second, 4500*time.Millisecond)
	rec.Event("chat", "PA_2", "head-b", map[string]string{"text": "noted"}, now)
	say("PA_3", "irina", "ru", "ru", "вперёд на десять метров", 3*time.Second, 5*time.Second)
	say("PA_2", "head-b", "floor", "en", "agreed <with> item 3\n--> next", 61*time.Second, 63*time.Second)
	if _, err := rec.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return rec.Dir()
}

func TestTranscriptFromTheRecordAlone(t *testing.T) {
	dir := transcribedRecord(t)
	tr, err := ReadTranscript(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Room != "summit" || len(tr.Utterance) != 3 || tr.Utterance[0].Text != "go forward ten meters" ||
		tr.Utterance[1].Channel != "ru" || tr.Utterance[0].Identity != "head-a" || tr.Utterance[0].End.Sub(tr.Began) != 4500*time.Millisecond {
		t.Fatalf("transcript: %+v", tr)
	}
	if n := len(tr.Channel("floor").Utterance); n != 2 {
		t.Fatalf("%d floor utterances, want 2", n)
	}

	var vtt bytes.Buffer
	if err := tr.WriteVTT(&vtt); err != nil {
		t.Fatal(err)
	}
	v := vtt.String()
	for _, want := range []string{
		"WEBVTT",
		"00:00:02.000 --> 00:00:04.500\n<v head-a>[floor, en] go forward ten meters\n",
		"<v irina>[ru] вперёд на десять метров",
		"00:01:01.000 --> 00:01:03.000\n<v head-b>[floor, en] agreed &lt;with&gt; item 3 --&gt; next\n",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("WebVTT lacks %q:\n%s", want, v)
		}
	}
	if strings.Count(v, "-->") != 3 {
		t.Errorf("a cue's text made a cue of its own:\n%s", v)
	}
	var floor bytes.Buffer
	if err := tr.Channel("ru").WriteVTT(&floor); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(floor.String(), "<v irina>вперёд") {
		t.Errorf("one channel's WebVTT names its channel in every cue:\n%s", floor.String())
	}

	var txt bytes.Buffer
	if err := tr.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt.String(), "0:00:02  head-a (floor, en): go forward ten meters\n") ||
		!strings.Contains(txt.String(), "0:01:01  head-b (floor, en): agreed <with> item 3 --> next\n") {
		t.Errorf("text:\n%s", txt.String())
	}
	b, err := json.Marshal(tr)
	if err != nil || !strings.Contains(string(b), `"text":"go forward ten meters"`) {
		t.Errorf("JSON: %s (%v)", b, err)
	}
}

// TestTranscriptOfAnEditedLog: a transcript line changed in the log no longer
// chains, and the transcript is refused rather than shown.
func TestTranscriptOfAnEditedLog(t *testing.T) {
	dir := transcribedRecord(t)
	path := filepath.Join(dir, LogFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), "go forward ten meters", "go back ten meters", 1)
	if edited == string(b) {
		t.Fatal("the line to edit is not in the log")
	}
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTranscript(dir); err == nil || !strings.Contains(err.Error(), "was changed") {
		t.Fatalf("an edited log: %v", err)
	}
}
