package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/transcribe/testengine"
)

// speechAvailable says whether the transcript engine can run here (as
// testengine.Require checks, without failing the test: the player's tests
// leave speech out where it cannot run, and test the rest).
func speechAvailable() bool {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return false
	}
	if _, err := os.Stat(testengine.Speech); err != nil {
		return false
	}
	if _, err := os.Stat("/usr/share/pocketsphinx/model/en-us/en-us.lm.bin"); err != nil {
		return false
	}
	return exec.Command(testengine.Python, "-c", "import pocketsphinx").Run() == nil
}

// recordedCall is a meeting recorded for the player's tests.
type recordedCall struct {
	srv    *server.Server
	dir    string // the record's folder
	id     string
	speech bool   // the record has transcript events
	link   string // "Open the record" as head-a's call offered it
	// browser is the call's: its profile holds the participants' keys (the ones
	// that countersigned the record, and that sign their readouts).
	browser context.Context
}

// recordPlayerCall records a meeting with the things a player shows: head-a
// (moderator, room languages en and ru) and head-b on camera and microphone,
// interp-b interpreting into ru, chat from both sides, a mute, speech (and
// its transcript, where the engine runs; a tone where it does not).
func recordPlayerCall(t *testing.T) recordedCall {
	t.Helper()
	speech := speechAvailable()
	var dataDir string
	var asr *testengine.Engine
	if speech {
		asr = testengine.Start(t, 0)
	}
	srv := startServer(t, func(c *config.Config) {
		c.RecordAll = true
		c.CheckpointInterval = 2 * time.Second
		dataDir = c.DataDir
		if asr != nil {
			c.ASRURL, c.ASRModel, c.ASRLanguage = asr.URL, "pocketsphinx-en-us", "en"
		}
	})
	audio := toneWAV(t, 440)
	if speech {
		audio = testengine.SpeechWAV(t, 3*time.Second)
	}
	browser := newBrowser(t, chromedp.Flag("use-file-for-fake-audio-capture", audio))
	// Generous: three tabs, a recogniser and the seal, on cores shared with other tests.
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()

	const room = "summit"
	people := []auth.Claims{
		{Subject: "head-a", Name: "Head of delegation A", Room: room, Languages: []string{"en", "ru"},
			Grants: []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe, auth.GrantModerate, auth.GrantRecord}},
		{Subject: "head-b", Name: "Head of delegation B", Room: room, Grants: []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}},
		{Subject: "interp-b", Name: "Interpreter B", Room: room, Interpret: []string{"en>ru"},
			Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe, auth.GrantInterpret}},
	}
	tabs := map[string]context.Context{}
	for _, c := range people {
		tab := newTab(t, browser)
		link := claimsURL(t, srv, c)
		if speech {
			link = originalSound(link)
		}
		if err := chromedp.Do(tab, chromedp.Navigate(link)); err != nil {
			t.Fatal(err)
		}
		if err := waitJoined(ctx, tab); err != nil {
			t.Fatalf("%s: %v", c.Subject, err)
		}
		tabs[c.Subject] = tab
	}
	if err := evalVoid(tabs["interp-b"], `window.parleyTest.interpret("ru")`); err != nil {
		t.Fatal(err)
	}
	waitFlowing(t, ctx, tabs["head-a"], "head-a", []string{"head-b"})
	waitFlowing(t, ctx, tabs["head-b"], "head-b", []string{"head-a"})
	send := func(id string, msg string) {
		t.Helper()
		if err := evalVoid(tabs[id], `window.parleyTest.sendRaw(`+msg+`)`); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3 * time.Second)
	send("head-b", `{type: 'chat', text: 'The agenda has three items.'}`)
	time.Sleep(3 * time.Second)
	send("head-a", `{type: 'mute', source: 'mic', muted: true}`)
	time.Sleep(2 * time.Second)
	send("head-a", `{type: 'mute', source: 'mic', muted: false}`)
	send("head-a", `{type: 'chat', text: 'Agreed; item one first.'}`)
	recs, _ := filepath.Glob(filepath.Join(dataDir, record.Dir, "*"))
	if len(recs) != 1 {
		t.Fatalf("records: %v", recs)
	}
	// The call offers its record's player to the holder of the record grant, and to nobody else.
	link, err := chromedp.Run(tabs["head-a"], chromedp.Evaluate[string](`document.getElementById('rec-open').href`))
	if err != nil || !strings.HasPrefix(link, srv.URL()+"/records/"+filepath.Base(recs[0])+"#token=") {
		t.Fatalf("head-a's link to the record: %q %v", link, err)
	}
	if hidden, err := chromedp.Run(tabs["head-b"], chromedp.Evaluate[bool](`document.getElementById('rec-open-row').hidden`)); err != nil || !hidden {
		t.Errorf("head-b, without the record grant, is offered the record: %v", err)
	}
	if speech {
		// Three voices into one slow recogniser on two shared cores: it falls behind and
		// drops segments. The player shows what it wrote; a record it wrote nothing into
		// within a minute is tested without speech.
		deadline := time.Now().Add(60 * time.Second)
		for len(transcripts(t, recs[0])) == 0 && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(500 * time.Millisecond)
		}
		if len(transcripts(t, recs[0])) == 0 {
			t.Log("the recogniser wrote no transcript within a minute: the player is tested without speech")
		}
	} else {
		t.Log("the transcript engine cannot run here (apt-get install -y pocketsphinx pocketsphinx-en-us pocketsphinx-testdata python3-pocketsphinx): the record has no speech")
		time.Sleep(4 * time.Second)
	}
	for _, id := range []string{"interp-b", "head-b", "head-a"} {
		if err := evalVoid(tabs[id], `window.parleyTest.leave()`); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for the end marker, then verify once: a record verified while it is written can
	// show a chunk whose bytes the verifier's look at the file preceded (see the report).
	waitFor(t, ctx, "the record's end marker", func() (bool, string) {
		b, err := os.ReadFile(filepath.Join(recs[0], record.LogFile))
		return err == nil && strings.Contains(string(b), `"type":"record-end"`), fmt.Sprint(err)
	})
	rep, err := record.Verify(recs[0], record.VerifyOptions{ServerKey: srv.Signer().PublicKey(), RequireEnd: true})
	if err != nil {
		t.Fatalf("the record does not verify: %v", err)
	}
	if keep := os.Getenv("PARLEY_KEEP_RECORD"); keep != "" {
		// For working on the player: a real record to open with parley open.
		if out, err := exec.Command("cp", "-r", recs[0], keep).CombinedOutput(); err != nil {
			t.Logf("keeping the record: %v %s", err, out)
		}
	}
	return recordedCall{srv: srv, dir: recs[0], id: rep.Record, speech: speech && len(transcripts(t, recs[0])) > 0, link: link, browser: browser}
}

// playerMedia is one entry of window.parleyPlayer.media().
type playerMedia struct {
	File        string  `json:"file"`
	Kind        string  `json:"kind"`
	Identity    string  `json:"identity"`
	Offset      float64 `json:"offset"`
	Duration    float64 `json:"duration"`
	Active      bool    `json:"active"`
	Ready       bool    `json:"ready"`
	Paused      bool    `json:"paused"`
	CurrentTime float64 `json:"currentTime"`
	Volume      float64 `json:"volume"`
	Frames      int     `json:"frames"`
}

func playerNow(t *testing.T, tab context.Context) float64 {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[float64](`window.parleyPlayer.now()`))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func playerMediaOf(t *testing.T, tab context.Context) []playerMedia {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[[]playerMedia](`window.parleyPlayer.media()`))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// openPlayer loads url in a new tab of browser and waits for the player to show the record.
func openPlayer(t *testing.T, ctx, browser context.Context, url string) context.Context {
	t.Helper()
	tab := newTab(t, browser)
	if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the player to show the record", func() (bool, string) {
		state, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.dataset.state + ' ' + (document.body.dataset.state === 'ready' ? '' : document.body.innerText.slice(0, 200))`))
		return strings.HasPrefix(state, "ready"), state + fmt.Sprint(err)
	})
	return tab
}

// checkPlays starts playback and waits until the clock and the media advance:
// every video active now decodes frames, its time moving with the clock.
func checkPlays(t *testing.T, ctx, tab context.Context) {
	t.Helper()
	if err := evalVoid(tab, `window.parleyPlayer.play()`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "playback with decoded video", func() (bool, string) {
		now := playerNow(t, tab)
		var state []string
		playing := 0
		for _, m := range playerMediaOf(t, tab) {
			if m.Kind == "video" && m.Active && !m.Paused && m.Frames > 0 && m.CurrentTime > 0.5 {
				playing++
			}
			state = append(state, fmt.Sprintf("%s active=%v paused=%v t=%.1f frames=%d", filepath.Base(m.File), m.Active, m.Paused, m.CurrentTime, m.Frames))
		}
		return now > 2 && playing > 0, fmt.Sprintf("clock %.2f; %s", now, strings.Join(state, "; "))
	})
	// And it goes on: a video's own time and frames advance beyond the first look (however
	// slowly a loaded machine decodes).
	first := playerMediaOf(t, tab)
	waitFor(t, ctx, "a video to advance", func() (bool, string) {
		second := playerMediaOf(t, tab)
		for i := range second {
			if second[i].Active && second[i].Kind == "video" && second[i].CurrentTime > first[i].CurrentTime+0.3 && second[i].Frames > first[i].Frames {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v then %+v", first, second)
	})
}

// TestRecordPlayer: a recorded call (chat, a mute, an interpreter, speech
// where the transcript engine runs) opens in the player from the link the
// call offered its record-grant holder; it plays (the clock and the videos'
// time advance, frames decode); a click on a chat line's mark on the
// timeline puts playback there; the speaking-time chart names every
// participant; the badge says the record is intact. Then a copy of the
// folder, served by parley open's handler with no node behind it, plays too.
// And readouts are written on it, published, verified and compared
// (checkReadouts).
func TestRecordPlayer(t *testing.T) {
	call := recordPlayerCall(t)
	browser := newBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	// Without a token in the address, the page asks for one, and opens the record with it.
	asks := newTab(t, browser)
	if err := chromedp.Do(asks, chromedp.Navigate(strings.Split(call.link, "#")[0])); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the token form", func() (bool, string) {
		s, err := chromedp.Run(asks, chromedp.Evaluate[string](`document.body.dataset.state`))
		return s == "token", s + fmt.Sprint(err)
	})
	screenshot(t, asks, "player-token")
	tok, _ := url.QueryUnescape(strings.SplitN(call.link, "#token=", 2)[1])
	if err := chromedp.Do(asks, chromedp.SendKeys(`#pl-token-input`, "not a token")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(asks, chromedp.Click(`#pl-token-form button[type="submit"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the token refused", func() (bool, string) {
		s, err := chromedp.Run(asks, chromedp.Evaluate[string](`document.body.dataset.state === 'token' ? document.getElementById('pl-token-error').textContent : ''`))
		return strings.Contains(s, "refused"), s + fmt.Sprint(err)
	})
	if err := evalVoid(asks, `document.getElementById('pl-token-input').value = `+jsString(tok)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(asks, chromedp.Click(`#pl-token-form button[type="submit"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the record opened with the pasted token", func() (bool, string) {
		s, err := chromedp.Run(asks, chromedp.Evaluate[string](`document.body.dataset.state`))
		return s == "ready", s + fmt.Sprint(err)
	})

	tab := openPlayer(t, ctx, browser, call.link)
	if hash, err := chromedp.Run(tab, chromedp.Evaluate[string](`location.hash`)); err != nil || strings.Contains(hash, "token") {
		t.Errorf("the token stays in the address: %q %v", hash, err)
	}
	checkPlays(t, ctx, tab)

	// Seeking by the timeline: pause, click the mark of head-b's chat line.
	if err := evalVoid(tab, `window.parleyPlayer.pause()`); err != nil {
		t.Fatal(err)
	}
	const chatMark = `.tl-ev[data-type="chat"]`
	at, err := chromedp.Run(tab, chromedp.Evaluate[float64](`Number(document.querySelector('`+chatMark+`').dataset.t)`))
	if err != nil || at <= 0 {
		t.Fatalf("chat mark at %v: %v", at, err)
	}
	if err := chromedp.Do(tab, chromedp.Click(chatMark)); err != nil {
		t.Fatal(err)
	}
	if now := playerNow(t, tab); now < at-0.5 || now > at+0.5 {
		t.Errorf("after clicking the chat mark at %.2f s, playback is at %.2f s", at, now)
	}
	// The videos follow: every one active is within 0.5 s of the mark. (An audio file can end
	// before the span the log gives it: a sender that goes silent sends nothing.)
	waitFor(t, ctx, "the videos at the mark", func() (bool, string) {
		var state []string
		ok, active := true, 0
		for _, m := range playerMediaOf(t, tab) {
			if !m.Active || m.Kind != "video" {
				state = append(state, fmt.Sprintf("%s %s active %v (ready %v, %.2f s from %.2f)", m.Kind, filepath.Base(m.File), m.Active, m.Ready, m.Duration, m.Offset))
				continue
			}
			active++
			if d := m.Offset + m.CurrentTime - at; d < -0.5 || d > 0.5 {
				ok = false
			}
			state = append(state, fmt.Sprintf("%s at %.2f", filepath.Base(m.File), m.Offset+m.CurrentTime))
		}
		return ok && active > 0, strings.Join(state, "; ")
	})
	screenshot(t, tab, "player-desktop")

	// The speaking-time chart names every participant.
	if err := chromedp.Do(tab, chromedp.Click(`#pl-tab-speaking`)); err != nil {
		t.Fatal(err)
	}
	names, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#pl-chart section:first-of-type .pl-bar-label')].map((e) => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"Head of delegation A", "Head of delegation B", "Interpreter B"} {
		if !slices.Contains(names, who) {
			t.Errorf("the speaking-time chart shows %q, not %s", names, who)
		}
	}
	screenshot(t, tab, "player-speaking")
	// The transcript holds the chat, and the speech where it was transcribed.
	rows, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#pl-tr .pl-tr-row')].map((e) => e.dataset.channel)`))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.Join(rows, " "), "chat"); n != 2 {
		t.Errorf("transcript rows %v: %d chat lines, want 2", rows, n)
	}
	if call.speech && !slices.Contains(rows, "floor") {
		t.Errorf("transcript rows %v: no speech on the floor", rows)
	}
	// The verification badge and the interpretation channel.
	waitFor(t, ctx, "the verification badge", func() (bool, string) {
		s, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('pl-badge').dataset.status`))
		return s == "intact", s + fmt.Sprint(err)
	})
	if err := chromedp.Do(tab, chromedp.Click(`#pl-badge`)); err != nil {
		t.Fatal(err)
	}
	howto, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector('#pl-verify .pl-cmd:last-child code').textContent`))
	if err != nil || !strings.HasPrefix(howto, "parley verify "+call.id+" --server-key ") {
		t.Errorf("how to verify: %q %v", howto, err)
	}
	screenshot(t, tab, "player-verification")
	if chans, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#pl-channel option')].map((o) => o.value)`)); err != nil || !slices.Equal(chans, []string{"floor", "ru"}) {
		t.Errorf("channels %v %v", chans, err)
	}
	if err := chromedp.Do(tab, emulate(viewport{"phone", 390, 844, true})); err != nil {
		t.Fatal(err)
	}
	screenshot(t, tab, "player-phone")

	// Offline: a copy of the folder, served by parley open's handler alone.
	dir := filepath.Join(t.TempDir(), call.id)
	if out, err := exec.Command("cp", "-r", call.dir, dir).CombinedOutput(); err != nil {
		t.Fatalf("copying the record: %v %s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := &http.Server{Handler: gateway.OpenRecord(dir, call.srv.Signer().PublicKey()), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = open.Serve(ln) }()
	t.Cleanup(func() { _ = open.Close() })
	off := openPlayer(t, ctx, browser, "http://"+ln.Addr().String()+"/")
	checkPlays(t, ctx, off)
	waitFor(t, ctx, "the offline verification badge", func() (bool, string) {
		s, err := chromedp.Run(off, chromedp.Evaluate[string](`document.getElementById('pl-badge').dataset.status`))
		return s == "intact", s + fmt.Sprint(err)
	})
	screenshot(t, off, "player-offline")

	checkReadouts(t, call)
}
