package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/transcribe/testengine"
)

// transcripts reads the transcript entries of a record's event log.
func transcripts(t *testing.T, dir string) []record.Entry {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, record.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []record.Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e record.Entry
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Type == "transcript" {
			out = append(out, e)
		}
	}
	return out
}

// keyWords counts the test speech's words in text; pocketsphinx mishears
// now and then, so tests ask for most of them, not all.
// originalSound asks a meeting link for the microphone without the browser's voice
// processing, as an interpreter's booth link does: Chromium's noise suppressor and gain
// control garble the test recording's first repetitions ("go for current and the person"),
// so a recogniser only hears it right after several.
func originalSound(link string) string { return link + "&sound=original" }

func keyWords(text string) int {
	n := 0
	for _, w := range []string{"forward", "ten", "meters"} {
		if strings.Contains(" "+text+" ", " "+w+" ") {
			n++
		}
	}
	return n
}

// TestTranscribedBrowserCall: the floor speaker's fake microphone says "go
// forward ten meters" (a human recording from pocketsphinx-testdata) again
// and again; a real recogniser (pocketsphinx behind the OpenAI-compatible
// adapter) hears it, the record gets transcript events with the words, the
// speaker and the channel, and the record verifies with them in its chain.
func TestTranscribedBrowserCall(t *testing.T) {
	engine := testengine.Start(t, 0)
	wav := testengine.SpeechWAV(t, 3*time.Second)
	var dataDir string
	srv := startServer(t, func(c *config.Config) {
		c.RecordAll = true
		c.CheckpointInterval = 2 * time.Second
		c.ASRURL, c.ASRModel, c.ASRLanguage = engine.URL, "pocketsphinx-en-us", "en"
		dataDir = c.DataDir
	})
	browser := newBrowser(t, chromedp.Flag("use-file-for-fake-audio-capture", wav))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	speaker := newTab(t, browser)
	if err := chromedp.Do(speaker, chromedp.Navigate(originalSound(roomURL(t, srv, "briefing", "head-a", auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe)))); err != nil {
		t.Fatal(err)
	}
	if err := waitJoined(ctx, speaker); err != nil {
		t.Fatal(err)
	}
	listener := newTab(t, browser)
	if err := chromedp.Do(listener, chromedp.Navigate(roomURL(t, srv, "briefing", "listener", auth.GrantJoin, auth.GrantSubscribe))); err != nil {
		t.Fatal(err)
	}
	if err := waitJoined(ctx, listener); err != nil {
		t.Fatal(err)
	}
	waitFlowing(t, ctx, listener, "listener", []string{"head-a"})

	recs, _ := filepath.Glob(filepath.Join(dataDir, record.Dir, "*"))
	if len(recs) != 1 {
		t.Fatalf("records: %v", recs)
	}
	// The speech repeats every 5.8 s; wait for a transcript that has it.
	var heard record.Entry
	for heard.Seq == 0 {
		for _, e := range transcripts(t, recs[0]) {
			if keyWords(e.Data["text"]) >= 2 {
				heard = e
			}
		}
		if heard.Seq != 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no transcript with the words; the record has %+v", transcripts(t, recs[0]))
		case <-time.After(500 * time.Millisecond):
		}
	}
	end, err := time.Parse(time.RFC3339Nano, heard.Data["end"])
	if err != nil {
		t.Fatalf("end %q: %v", heard.Data["end"], err)
	}
	t.Logf("heard %q from %s on %s (%s) by %s/%s; end of speech to event: %v",
		heard.Data["text"], heard.Identity, heard.Data["channel"], heard.Data["language"], heard.Data["engine"], heard.Data["model"], heard.Time.Sub(end))
	if heard.Identity != "head-a" || heard.Data["channel"] != "floor" || heard.Data["language"] != "en" ||
		heard.Data["model"] != "pocketsphinx-en-us" || heard.Data["engine"] == "" || heard.Data["track"] == "" {
		t.Errorf("transcript labels: %+v", heard)
	}
	start, err := time.Parse(time.RFC3339Nano, heard.Data["start"])
	if err != nil || !start.Before(end) || end.Sub(start) > 15*time.Second {
		t.Errorf("segment %s to %s (%v)", heard.Data["start"], heard.Data["end"], err)
	}

	for _, tab := range []context.Context{listener, speaker} {
		if err := evalVoid(tab, `window.parleyTest.leave()`); err != nil {
			t.Fatal(err)
		}
	}
	rep := waitSealed(t, ctx, srv, recs[0])
	if heard.Seq >= rep.LastSigned {
		t.Errorf("transcript %d is not covered by the last signature (%d)", heard.Seq, rep.LastSigned)
	}
	all := transcripts(t, recs[0])
	t.Logf("%d transcript events; the record verifies (%d entries, sealed)", len(all), rep.Entries)
}
