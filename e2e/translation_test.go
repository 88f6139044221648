package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/transcribe/testengine"
	mtengine "github.com/parleyhq/parley/translate/testengine"
)

// TestMachineTranslatedCaptions: the floor speaks English (the test speech,
// recognised by pocketsphinx); a listener who chose Spanish, a channel no
// interpreter is on, reads the caption machine translated by a real engine
// (apertium-apy, English to Spanish), marked as machine translation with the
// English it came from; a floor listener reads the English only.
func TestMachineTranslatedCaptions(t *testing.T) {
	engine := testengine.Start(t, 0)
	mt := mtengine.Start(t)
	wav := testengine.SpeechWAV(t, 3*time.Second)
	srv := startServer(t, func(c *config.Config) {
		c.ASRURL, c.ASRModel, c.ASRLanguage = engine.URL, "pocketsphinx-en-us", "en"
		c.ASRStall = patientStall
		c.TranslateURL, c.TranslateKind = mt, "apertium"
	})
	browser := newBrowser(t, chromedp.Flag("use-file-for-fake-audio-capture", wav))
	// A bound, not a measure: on a busy machine the recogniser takes 20 s a segment.
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()
	const room = "briefing"
	speaker := joinTab(t, ctx, browser, claimsURL(t, srv, auth.Claims{Subject: "head-a", Room: room, Languages: []string{"en", "es"},
		Grants: []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe, auth.GrantModerate}}))
	listener := joinTab(t, ctx, browser, claimsURL(t, srv, auth.Claims{Subject: "oyente", Room: room,
		Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe}}))
	if err := evalVoid(listener, `window.parleyTest.listen("es")`); err != nil {
		t.Fatal(err)
	}
	// The speaker turns Original sound on in Settings, mid-call: the microphone restarts
	// without the browser's voice processing, and the publishing connection sends the new track.
	click(t, speaker, "#btn-settings")
	waitOnScreen(t, ctx, speaker, "#original-sound")
	click(t, speaker, "#original-sound")
	waitFor(t, ctx, "the speaker sends original sound", func() (bool, string) {
		s, err := chromedp.Run(speaker, chromedp.Evaluate[string](`JSON.stringify(window.parleyTest.micProcessing())`))
		return err == nil && s == `{"echoCancellation":false,"noiseSuppression":false,"autoGainControl":false}`, s + fmt.Sprint(err)
	})
	screenshot(t, speaker, "settings-original-sound")
	click(t, speaker, "#settings-close")

	type shown struct {
		Lang, Text, MT, Title string
	}
	var got shown
	waitFor(t, ctx, "the Spanish listener reads a machine translated caption", func() (bool, string) {
		lines, err := chromedp.Run(listener, chromedp.Evaluate[[]shown](`[...document.querySelectorAll('#captions-lines .caption')].map((c) => ({
		  Lang: c.querySelector('.caption-lang')?.textContent || '',
		  Text: c.querySelector('.caption-text')?.textContent || '',
		  MT: c.querySelector('.caption-mt')?.textContent || '',
		  Title: c.querySelector('.caption-mt')?.getAttribute('title') || '',
		}))`))
		if err != nil {
			return false, err.Error()
		}
		for _, l := range lines {
			if strings.Contains(strings.ToLower(l.Text), "diez metros") {
				got = l
				return true, ""
			}
		}
		return false, fmt.Sprintf("on screen: %+v", lines)
	})
	t.Logf("the Spanish listener reads %+v", got)
	if got.Lang != "ES" || got.MT != "Machine translation" || !strings.Contains(got.Title, "from English") || !strings.Contains(got.Title, "ten meters") {
		t.Errorf("the caption is not marked as machine translation from the English said: %+v", got)
	}
	screenshot(t, listener, "captions-machine-translated")

	// The floor (the speaker reads themself) gets the English, never a translation.
	waitCaption(t, ctx, speaker, "the speaker", "You", nil)
	rs, err := chromedp.Run(speaker, chromedp.Evaluate[[]struct {
		Channel    string
		Translated any
	}](`window.parleyTest.captionsReceived().map((c) => ({Channel: c.channel, Translated: c.translated}))`))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Channel != "floor" || r.Translated != nil {
			t.Errorf("the floor got %+v", r)
		}
	}
}
