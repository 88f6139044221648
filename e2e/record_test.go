package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/record"
)

// ffprobeDuration returns a file's codec and its duration from its last packet.
func ffprobeDuration(t *testing.T, path string) (string, float64) {
	t.Helper()
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffprobe is missing: apt-get install -y ffmpeg")
		}
		t.Skip("ffprobe is missing: sudo apt-get install -y ffmpeg")
	}
	out, err := exec.Command(bin, "-v", "error", "-print_format", "json", "-show_streams", "-show_packets", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", filepath.Base(path), err)
	}
	var r struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
		} `json:"streams"`
		Packets []struct {
			PTS      string `json:"pts_time"`
			Duration string `json:"duration_time"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) != 1 || len(r.Packets) == 0 {
		t.Fatalf("ffprobe %s: %v", filepath.Base(path), err)
	}
	last := r.Packets[len(r.Packets)-1]
	pts, _ := strconv.ParseFloat(last.PTS, 64)
	d, _ := strconv.ParseFloat(last.Duration, 64)
	return r.Streams[0].CodecName, pts + d
}

// TestRecordedBrowserCall: two browsers talk for 20 s with recording on; the
// record verifies and ffprobe reads every file with the right codec and length.
func TestRecordedBrowserCall(t *testing.T) {
	srv, dataDir := startRecordingServer(t)
	browser := newBrowser(t, chromedp.Flag("use-file-for-fake-audio-capture", toneWAV(t, 440)))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	tabs := map[string]context.Context{}
	joinedAt := map[string]time.Time{}
	for _, id := range []string{"head-a", "head-b"} {
		tab := newTab(t, browser)
		if err := chromedp.Do(tab, chromedp.Navigate(roomURL(t, srv, "summit", id, auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe))); err != nil {
			t.Fatal(err)
		}
		if err := waitJoined(ctx, tab); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		joinedAt[id] = time.Now()
		tabs[id] = tab
	}
	flowingAt := map[string]time.Time{}
	waitFlowing(t, ctx, tabs["head-a"], "head-a", []string{"head-b"})
	flowingAt["head-b"] = time.Now()
	waitFlowing(t, ctx, tabs["head-b"], "head-b", []string{"head-a"})
	flowingAt["head-a"] = time.Now()
	const talk = 20 * time.Second
	time.Sleep(talk)
	leftAt := map[string]time.Time{}
	for _, id := range []string{"head-a", "head-b"} {
		if err := evalVoid(tabs[id], `window.parleyTest.leave()`); err != nil {
			t.Fatal(err)
		}
		leftAt[id] = time.Now()
	}

	recs, _ := filepath.Glob(filepath.Join(dataDir, record.Dir, "*"))
	if len(recs) != 1 {
		t.Fatalf("records: %v", recs)
	}
	rep := waitSealed(t, ctx, srv, recs[0])
	// The server heard who spoke (RFC 6464 levels from Chromium) and logged it.
	logText, err := os.ReadFile(filepath.Join(recs[0], record.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logText), `"type":"speaker"`) {
		t.Error("the record has no active-speaker event")
	}
	if len(rep.Files) != 4 {
		t.Fatalf("%d media files, want 4: %v", len(rep.Files), rep.Files)
	}
	// Each file spans its owner's media: it begins after the owner joined and
	// before the others saw the media flow, and ends when the owner leaves. The
	// truth lies between those bounds; the file must be within 10% of them.
	for f := range rep.Files {
		owner := "head-a"
		if strings.Contains(f, "head-b") {
			owner = "head-b"
		}
		longest := leftAt[owner].Sub(joinedAt[owner]).Seconds()
		shortest := leftAt[owner].Sub(flowingAt[owner]).Seconds()
		codec, dur := ffprobeDuration(t, filepath.Join(recs[0], f))
		want := "opus"
		if strings.Contains(f, "camera") {
			want = "vp8"
		}
		if codec != want {
			t.Errorf("%s: codec %s, want %s", f, codec, want)
		}
		if dur < shortest*0.9 || dur > longest*1.1 {
			t.Errorf("%s: %.1f s long; its owner's media lasted between %.1f and %.1f s", f, dur, shortest, longest)
		} else {
			t.Logf("%s: %s, %.1f s (owner's media lasted %.1f-%.1f s)", f, codec, dur, shortest, longest)
		}
	}
}
