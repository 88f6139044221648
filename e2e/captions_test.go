package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/room"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/transcribe/testengine"
)

// patientStall is how long the tests let the engine take before captions
// pause: pocketsphinx, which answers in a second on an idle machine, takes
// twenty on one that runs several browsers per core. The failing engine's
// test kills it: that is noticed at once, whatever the stall.
const patientStall = 2 * time.Minute

// pausedNote is what the caption strip says while the engine does not answer.
const pausedNote = "Captions paused: the speech engine is not answering"

// captionLine is one caption on screen (window.parleyTest.captionLines()).
type captionLine struct {
	Who   string  `json:"who"`
	Lang  string  `json:"lang"`
	Text  string  `json:"text"`
	End   string  `json:"end"`   // when the speech reached the server (RFC 3339)
	Shown float64 `json:"shown"` // when the page drew it (ms since the epoch)
}

// latency is from the end of the segment (the server's clock) to the caption
// drawn (the page's): one machine, one clock.
func (c captionLine) latency() (time.Duration, error) {
	end, err := time.Parse(time.RFC3339Nano, c.End)
	if err != nil {
		return 0, err
	}
	return time.UnixMilli(int64(c.Shown)).Sub(end), nil
}

// captionGot is one caption the page got (window.parleyTest.captionsReceived()).
type captionGot struct {
	Identity string `json:"identity"`
	Channel  string `json:"channel"`
	Language string `json:"language"`
	Text     string `json:"text"`
}

func captionLines(tab context.Context) ([]captionLine, error) {
	return chromedp.Run(tab, chromedp.Evaluate[[]captionLine](`window.parleyTest.captionLines()`))
}

func captionsReceived(tab context.Context) ([]captionGot, error) {
	return chromedp.Run(tab, chromedp.Evaluate[[]captionGot](`window.parleyTest.captionsReceived()`))
}

func captionNote(tab context.Context) (string, error) {
	return chromedp.Run(tab, chromedp.Evaluate[string](`window.parleyTest.captionNote()`))
}

// waitCaption waits until tab shows a caption from who with most of the test
// speech's words, accepted by ok (nil: any), and returns it.
func waitCaption(t *testing.T, ctx, tab context.Context, name, who string, ok func(captionLine) bool) captionLine {
	t.Helper()
	var got captionLine
	waitFor(t, ctx, name+" shows a caption of "+who, func() (bool, string) {
		lines, err := captionLines(tab)
		if err != nil {
			return false, err.Error()
		}
		for _, l := range lines {
			if l.Who == who && keyWords(l.Text) >= 2 && (ok == nil || ok(l)) {
				got = l
				return true, ""
			}
		}
		return false, fmt.Sprintf("on screen: %+v", lines)
	})
	return got
}

// joinTab opens a tab on url and waits until it has joined.
func joinTab(t *testing.T, ctx, browser context.Context, url string) context.Context {
	t.Helper()
	tab := newTab(t, browser)
	if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	if err := waitJoined(ctx, tab); err != nil {
		t.Fatal(err)
	}
	return tab
}

// TestLiveCaptions: the floor speaker's fake microphone says "go forward ten
// meters" (a human recording) again and again; a real recogniser
// (pocketsphinx behind the OpenAI-compatible adapter) transcribes it and the
// listener's page shows the words as a caption, with the speaker's name and
// the language. Screenshots at 1280x800 and 390x844 show it (with
// PARLEY_SCREENSHOTS set).
func TestLiveCaptions(t *testing.T) {
	engine := testengine.Start(t, 0)
	wav := testengine.SpeechWAV(t, 3*time.Second)
	srv := startServer(t, func(c *config.Config) {
		c.ASRURL, c.ASRModel, c.ASRLanguage = engine.URL, "pocketsphinx-en-us", "en"
		c.ASRStall = patientStall
	})
	browser := newBrowser(t, chromedp.Flag("use-file-for-fake-audio-capture", wav))
	// Bounds, not measures: on a busy machine the recogniser takes 20 s a segment, or more.
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()

	speaker := joinTab(t, ctx, browser, originalSound(roomURL(t, srv, "briefing", "head-a", auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe)))
	listener := joinTab(t, ctx, browser, roomURL(t, srv, "briefing", "listener", auth.GrantJoin, auth.GrantSubscribe))
	waitFlowing(t, ctx, listener, "listener", []string{"head-a"})

	// The link's ?sound=original takes the microphone as is, for this page only: the browser's
	// saved settings do not keep it, even once the speaker picks a device (which saves them).
	if err := evalVoid(speaker, `(() => { const s = document.getElementById('sel-speaker'); s.dispatchEvent(new Event('change')); })()`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the device choice saved", func() (bool, string) {
		s, err := chromedp.Run(speaker, chromedp.Evaluate[string](`localStorage.getItem('parley.devices') || ''`))
		return err == nil && strings.Contains(s, "speaker"), s
	})
	if s, err := chromedp.Run(speaker, chromedp.Evaluate[string](`JSON.stringify(window.parleyTest.micProcessing()) + ' ' + (localStorage.getItem('parley.devices') || '')`)); err != nil ||
		!strings.HasPrefix(s, `{"echoCancellation":false,"noiseSuppression":false,"autoGainControl":false} `) || strings.Contains(s, "original") {
		t.Errorf("the speaker's microphone and saved settings: %s %v", s, err)
	}
	c := waitCaption(t, ctx, listener, "the listener", "head-a", nil)
	lat, err := c.latency()
	if err != nil {
		t.Fatalf("caption %+v: %v", c, err)
	}
	t.Logf("the listener reads %q from %s (%s); end of the segment to the screen: %v", c.Text, c.Who, c.Lang, lat)
	if c.Lang != "EN" {
		t.Errorf("caption language %q, want EN", c.Lang)
	}
	// The speaker reads themself too, as "You".
	waitCaption(t, ctx, speaker, "the speaker", "You", nil)

	for _, vp := range viewports {
		if err := chromedp.Do(listener, emulate(vp)); err != nil {
			t.Fatal(err)
		}
		// A fresh caption, drawn at this size.
		since := time.Now()
		waitCaption(t, ctx, listener, "the listener", "head-a", func(l captionLine) bool {
			return l.Shown > float64(since.UnixMilli())
		})
		if err := evalVoid(listener, `new Promise((r) => setTimeout(r, 300))`); err != nil {
			t.Fatal(err)
		}
		// Inside the viewport, above the toolbar (its fade-out keeps an animation running:
		// offScreenJS would wait for it).
		inside, err := chromedp.Run(listener, chromedp.Evaluate[string](`(() => {
		  const r = document.querySelector('#captions-lines .caption:last-child').getBoundingClientRect();
		  const bar = document.querySelector('.controls').getBoundingClientRect();
		  return r.left >= 0 && r.right <= document.documentElement.clientWidth && r.top >= 0 && r.bottom <= bar.top
		    ? '' : [r.left, r.top, r.right, r.bottom].map(Math.round).join(',') + ' toolbar at ' + Math.round(bar.top);
		})()`))
		if err != nil || inside != "" {
			t.Errorf("%s: the caption is not on screen: %s %v", vp.name, inside, err)
		}
		screenshot(t, listener, "captions-"+vp.name)
		if vp.phone { // the captions menu, from More, as a bottom sheet
			click(t, listener, "#btn-more")
			click(t, listener, "#more-cc")
			waitOnScreen(t, ctx, listener, "#cc-menu")
			screenshot(t, listener, "captions-menu-phone")
			click(t, listener, "#cc-toggle")
			if on, err := chromedp.Run(listener, chromedp.Evaluate[string](`document.getElementById('cc-toggle').getAttribute('aria-checked')`)); err != nil || on != "false" {
				t.Errorf("the toggle says %q after turning captions off (%v)", on, err)
			}
			if err := evalVoid(listener, `window.parleyTest.captionsOn(true)`); err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(listener, chromedp.KeyEvent(kb.Escape)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestInterpretationCaptions: an interpreter into en says the test speech
// (a human recording, the browser's fake microphone); a listener on the en
// channel gets it as captions, transcribed as en. Then the floor speaker says
// it: the floor's listeners (the speaker among them) get its captions and the
// en listener none, until it asks for the floor's. One speaks at a time (the
// other's microphone is off), so that the recogniser keeps up on a busy machine.
func TestInterpretationCaptions(t *testing.T) {
	engine := testengine.Start(t, 0)
	wav := testengine.SpeechWAV(t, 3*time.Second)
	srv := startServer(t, func(c *config.Config) {
		// The floor mixes languages: the engine detects them. A channel has its own.
		c.ASRURL, c.ASRModel, c.ASRLanguage = engine.URL, "pocketsphinx-en-us", ""
		c.ASRStall = patientStall
	})
	browser := newBrowser(t, chromedp.Flag("use-file-for-fake-audio-capture", wav))
	// A bound, not a measure: on a busy machine the recogniser takes 20 s a segment.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	defer cancel()
	const room = "summit"
	tabs := map[string]context.Context{}
	for _, c := range []auth.Claims{
		{Subject: "head-b", Room: room, Languages: []string{"en", "ru"}, Grants: []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe, auth.GrantModerate}},
		{Subject: "interp-b", Room: room, Interpret: []string{"ru>en"}, Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe, auth.GrantInterpret}},
		{Subject: "aide-en", Room: room, Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe}},
	} {
		tabs[c.Subject] = joinTab(t, ctx, browser, originalSound(claimsURL(t, srv, c)))
	}
	click(t, tabs["head-b"], "#btn-mic") // the floor is quiet while the interpreter speaks
	if err := evalVoid(tabs["interp-b"], `window.parleyTest.interpret("en")`); err != nil {
		t.Fatal(err)
	}
	if err := evalVoid(tabs["aide-en"], `window.parleyTest.listen("en")`); err != nil {
		t.Fatal(err)
	}
	c := waitCaption(t, ctx, tabs["aide-en"], "the en listener", "interp-b", nil)
	t.Logf("the en listener reads %q from %s (%s)", c.Text, c.Who, c.Lang)
	if c.Lang != "EN" {
		t.Errorf("the channel's caption is in %q, want EN", c.Lang)
	}
	screenshot(t, tabs["aide-en"], "captions-channel")

	// The interpreter stops, the floor speaks.
	click(t, tabs["interp-b"], "#btn-mic")
	click(t, tabs["head-b"], "#btn-mic")
	// Two captions of the floor more: the en listener had time to get them, were they sent to it.
	floor := func() int {
		got, err := captionsReceived(tabs["head-b"])
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range got {
			if r.Identity == "head-b" {
				n++
			}
		}
		return n
	}
	before := floor()
	waitFor(t, ctx, "two more captions of the floor", func() (bool, string) {
		n := floor()
		return n >= before+2, fmt.Sprintf("%d captions of the floor, %d before", n, before)
	})
	for name, want := range map[string]captionGot{
		"aide-en": {Identity: "interp-b", Channel: "en", Language: "en"},
		"head-b":  {Identity: "head-b", Channel: "floor", Language: ""},
	} {
		got, err := captionsReceived(tabs[name])
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			if r.Identity != want.Identity || r.Channel != want.Channel || r.Language != want.Language {
				t.Errorf("%s got a caption of %s on %s (%q): %q; it follows %s", name, r.Identity, r.Channel, r.Language, r.Text, want.Channel)
			}
		}
		t.Logf("%s got %d captions, all of %s on %s", name, len(got), want.Identity, want.Channel)
	}

	// The en listener asks for the floor's captions, and gets them.
	if err := evalVoid(tabs["aide-en"], `window.parleyTest.captionsOf("floor")`); err != nil {
		t.Fatal(err)
	}
	c = waitCaption(t, ctx, tabs["aide-en"], "the en listener", "head-b", nil)
	t.Logf("asked for the floor's, the en listener reads %q from %s (%q)", c.Text, c.Who, c.Lang)
}

// asrCounter reads one counter (or gauge) from the node's /metrics.
func asrCounter(t *testing.T, srv *server.Server, series string) float64 {
	t.Helper()
	resp, err := http.Get(srv.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(page)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// floorPackets is the audio packets the listener captionGot from who.
func floorPackets(t *testing.T, tab context.Context, who string) int64 {
	t.Helper()
	in, err := readInbound(tab)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range in {
		if e.Kind == "audio" && e.Identity == who {
			n += e.PacketsReceived
		}
	}
	return n
}

// TestCaptionsPauseWhenTheEngineFails: the speech engine is killed mid-call.
// The listener's caption strip says captions paused; the segments said
// meanwhile wait in a queue of 2, whose oldest are dropped and counted; the
// media goes on. The engine comes back on its port: the note goes and
// captions of new speech come again.
func TestCaptionsPauseWhenTheEngineFails(t *testing.T) {
	engine := testengine.Start(t, 0)
	wav := testengine.SpeechWAV(t, 3*time.Second)
	srv := startServer(t, func(c *config.Config) {
		c.ASRURL, c.ASRModel, c.ASRLanguage = engine.URL, "pocketsphinx-en-us", "en"
		c.ASRQueue = 2
		c.ASRStall = patientStall
		c.Metrics = true
	})
	browser := newBrowser(t, chromedp.Flag("use-file-for-fake-audio-capture", wav))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	defer cancel()

	joinTab(t, ctx, browser, originalSound(roomURL(t, srv, "briefing", "head-a", auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe)))
	listener := joinTab(t, ctx, browser, roomURL(t, srv, "briefing", "listener", auth.GrantJoin, auth.GrantSubscribe))
	waitFlowing(t, ctx, listener, "listener", []string{"head-a"})
	waitCaption(t, ctx, listener, "the listener", "head-a", nil)

	engine.Stop()
	killed := floorPackets(t, listener, "head-a")
	waitFor(t, ctx, "the listener's strip says captions paused", func() (bool, string) {
		note, err := captionNote(listener)
		return err == nil && note == pausedNote, fmt.Sprintf("note %q (%v)", note, err)
	})
	if lines, err := captionLines(listener); err != nil || len(lines) != 0 {
		t.Errorf("captions still on screen while paused: %+v (%v)", lines, err)
	}
	screenshot(t, listener, "captions-paused")
	if v := asrCounter(t, srv, "parley_asr_answering"); v != 0 {
		t.Errorf("parley_asr_answering %v while captions are paused", v)
	}
	const dropped = `parley_asr_dropped_total{stage="queue"}`
	waitFor(t, ctx, "segments dropped from the full queue", func() (bool, string) {
		n := asrCounter(t, srv, dropped)
		return n >= 1, fmt.Sprintf("%s %v", dropped, n)
	})
	paused := floorPackets(t, listener, "head-a")
	if paused <= killed {
		t.Errorf("the listener's audio from head-a stalled while the engine was down: %d packets, then %d", killed, paused)
	}

	engine = engine.Restart(t, 0)
	back := time.Now()
	waitFor(t, ctx, "the note goes", func() (bool, string) {
		note, err := captionNote(listener)
		return err == nil && note == "", fmt.Sprintf("note %q (%v)", note, err)
	})
	if v := asrCounter(t, srv, "parley_asr_answering"); v != 1 {
		t.Errorf("parley_asr_answering %v once captions are back", v)
	}
	// Captions of speech said after the engine's return, not only what waited for it.
	c := waitCaption(t, ctx, listener, "the listener", "head-a", func(l captionLine) bool {
		end, err := time.Parse(time.RFC3339Nano, l.End)
		return err == nil && end.After(back)
	})
	after := floorPackets(t, listener, "head-a")
	if after <= paused {
		t.Errorf("the listener's audio from head-a stalled after the engine came back: %d packets, then %d", paused, after)
	}
	t.Logf("captions resumed with %q; audio packets from head-a: %d at the kill, %d while down, %d after; %s %v, errors %v",
		c.Text, killed, paused, after, dropped, asrCounter(t, srv, dropped), asrCounter(t, srv, "parley_asr_errors_total"))
}

// TestCaptionLatency measures the time from the end of speech to the caption
// on screen with the test engine, over PARLEY_CAPTION_LATENCY captions (it
// skips without): a benchmark figure for BENCHMARKS.md, not an assertion.
// "End of speech" is the end of the segment less the 600 ms hangover the
// segmenter waits to be sure the speaker stopped. The speech comes every
// 12.8 s (2.8 s of it, 10 s of silence), so that each caption measures one
// request to an idle engine, not a backlog.
func TestCaptionLatency(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PARLEY_CAPTION_LATENCY"))
	if n <= 0 {
		t.Skip("set PARLEY_CAPTION_LATENCY=N to measure N captions")
	}
	engine := testengine.Start(t, 0)
	wav := testengine.SpeechWAV(t, 10*time.Second)
	srv := startServer(t, func(c *config.Config) {
		c.ASRURL, c.ASRModel, c.ASRLanguage = engine.URL, "pocketsphinx-en-us", "en"
		c.ASRStall = patientStall
		c.Metrics = true
	})
	browser := newBrowser(t, chromedp.Flag("use-file-for-fake-audio-capture", wav))
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(90+20*n)*time.Second)
	defer cancel()
	joinTab(t, ctx, browser, originalSound(roomURL(t, srv, "briefing", "head-a", auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe)))
	listener := joinTab(t, ctx, browser, roomURL(t, srv, "briefing", "listener", auth.GrantJoin, auth.GrantSubscribe))
	waitFlowing(t, ctx, listener, "listener", []string{"head-a"})

	seen := map[string]time.Duration{} // by segment end
	waitFor(t, ctx, fmt.Sprintf("%d captions", n), func() (bool, string) {
		lines, err := captionLines(listener)
		if err != nil {
			return false, err.Error()
		}
		for _, l := range lines {
			if d, err := l.latency(); err == nil && l.Who == "head-a" {
				seen[l.End] = d
			}
		}
		return len(seen) >= n, fmt.Sprintf("%d captions", len(seen))
	})
	var ds []time.Duration
	for _, d := range seen {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	const hangover = 600 * time.Millisecond
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, " %v", (d + hangover).Round(time.Millisecond))
	}
	engineMean := time.Duration(asrCounter(t, srv, "parley_asr_latency_seconds_sum") / asrCounter(t, srv, "parley_asr_latency_seconds_count") * float64(time.Second))
	t.Logf("the engine's own answer time (request to answer, decoding included), mean over its %v answers: %v",
		asrCounter(t, srv, "parley_asr_latency_seconds_count"), engineMean.Round(time.Millisecond))
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("end of speech to caption on screen over %d captions: median %v, worst %v (segment end to screen: median %v, worst %v); all:%s; load average %s",
		len(ds), (ds[len(ds)/2] + hangover).Round(time.Millisecond), (ds[len(ds)-1] + hangover).Round(time.Millisecond),
		ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond), b.String(), strings.TrimSpace(string(load)))
}

// TestNoCaptionsInEncryptedRooms: in a room that requires end-to-end
// encryption the server cannot hear the speech, so there are no captions,
// and the captions menu says why rather than offer a switch that does nothing.
func TestNoCaptionsInEncryptedRooms(t *testing.T) {
	// Nothing is ever sent to the engine here: it need not run.
	srv := startServer(t, func(c *config.Config) {
		c.ASRURL = "http://127.0.0.1:9/v1/audio/transcriptions"
	})
	if err := srv.Rooms().CreateRoom("sealed", room.Settings{E2EERequired: true}); err != nil {
		t.Fatal(err)
	}
	browser := newBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tab := joinTab(t, ctx, browser, e2eeURL(t, srv, "sealed", "head-a", e2eeRight))
	click(t, tab, "#btn-cc")
	waitOnScreen(t, ctx, tab, "#cc-menu")
	type menu struct {
		Note     string `json:"note"`
		Disabled bool   `json:"disabled"`
		Label    string `json:"label"`
	}
	m, err := chromedp.Run(tab, chromedp.Evaluate[menu](`({
	  note: document.getElementById('cc-note').hidden ? '' : document.getElementById('cc-note').textContent,
	  disabled: document.getElementById('cc-toggle').disabled,
	  label: document.getElementById('btn-cc').getAttribute('aria-label'),
	})`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Note, "end-to-end encrypted") || !m.Disabled || m.Label != "Captions: off" {
		t.Errorf("the captions menu of an encrypted room: %+v", m)
	}
	screenshot(t, tab, "captions-e2ee")
}
