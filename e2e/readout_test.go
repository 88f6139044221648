package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
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

// checkReadouts: on the recorded call (TestRecordPlayer's, which it shares to
// record one call, not two), each head of delegation writes a readout in the
// player, in the browser that countersigned the record: text with citations
// taken from the transcript's chat lines and a span of the timeline, signed
// and published. The published readout shows its check, `parley readout
// verify` passes it with the author's key taken from their own browser (and
// fails it once altered), and the compare view shows both readouts, with the
// moments only one side cites marked.
func checkReadouts(t *testing.T, call recordedCall) {
	parleyCommand(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	tokenFor := func(who string) string {
		tok, err := call.srv.Signer().Mint(auth.Claims{Subject: who, Room: "summit", Name: who,
			Grants: []auth.Grant{auth.GrantJoin, auth.GrantRecord, auth.GrantReadout}, IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	chats := func(tab context.Context) []float64 {
		v, err := chromedp.Run(tab, chromedp.Evaluate[[]float64](`[...document.querySelectorAll('#pl-tr li[data-channel="chat"] [data-t]')].map((b) => Number(b.dataset.t))`))
		if err != nil || len(v) != 2 {
			t.Fatalf("the transcript's chat lines: %v %v", v, err)
		}
		return v
	}
	type written struct{ id, key string }
	readouts := map[string]written{}
	for _, who := range []string{"head-a", "head-b"} {
		tab := openPlayer(t, ctx, call.browser, call.srv.URL()+"/records/"+call.id+"#token="+url.QueryEscape(tokenFor(who)))
		if err := chromedp.Do(tab, chromedp.Click(`#pl-tab-readouts`), chromedp.WaitVisible(`[data-action="write"]`), chromedp.Click(`[data-action="write"]`),
			chromedp.WaitVisible(`.ro-text`)); err != nil {
			t.Fatalf("%s opens the editor: %v", who, err)
		}
		typeText := func(text string) {
			t.Helper()
			if err := evalVoid(tab, `(() => { const ta = document.querySelector('.ro-text'); ta.value += `+jsString(text)+`; ta.selectionStart = ta.selectionEnd = ta.value.length; })()`); err != nil {
				t.Fatal(err)
			}
		}
		// The editor is in the Readouts tab, the lines to cite in the Transcript tab.
		cite := func(selector string) {
			t.Helper()
			if err := chromedp.Do(tab, chromedp.Click(`#pl-tab-transcript`), chromedp.ScrollIntoView(selector), chromedp.Click(selector),
				chromedp.Click(`#pl-tab-readouts`)); err != nil {
				t.Fatalf("%s cites %s: %v", who, selector, err)
			}
		}
		if err := evalVoid(tab, `document.querySelector('.ro-input').value = `+jsString("Readout of the summit by "+who)); err != nil {
			t.Fatal(err)
		}
		typeText("## What was agreed\n\nThe agenda has three items.")
		cite(`#pl-tr li[data-channel="chat"] .pl-cite`) // the first chat line, head-b's
		typeText(" Item one comes first.")
		if who == "head-a" {
			// head-a cites head-a's own chat line.
			if err := evalVoid(tab, `document.querySelectorAll('#pl-tr li[data-channel="chat"] .pl-cite')[1].click()`); err != nil {
				t.Fatal(err)
			}
		} else {
			// head-b cites a span of the timeline well after the chat lines instead.
			at := chats(tab)[1] + 3
			if err := evalVoid(tab, fmt.Sprintf(`window.parleyPlayer.seek(%f)`, at)); err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(tab, chromedp.Click(`.pl-cite-range button:first-child`)); err != nil {
				t.Fatal(err)
			}
			if err := evalVoid(tab, fmt.Sprintf(`window.parleyPlayer.seek(%f)`, at+1)); err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(tab, chromedp.Click(`.pl-cite-range button:last-child`)); err != nil {
				t.Fatal(err)
			}
		}
		typeText(" Both sides found the talks useful.")
		text, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector('.ro-text').value`))
		if err != nil || !strings.Contains(text, "items.[^1]") || !strings.Contains(text, "first.[^2]") {
			t.Fatalf("%s's text after citing: %q %v", who, text, err)
		}
		screenshot(t, tab, "readout-editor-"+who)
		if err := chromedp.Do(tab, chromedp.Click(`[data-action="publish"]`)); err != nil {
			t.Fatal(err)
		}
		var id string
		waitFor(t, ctx, who+"'s readout published and shown", func() (bool, string) {
			s, err := chromedp.Run(tab, chromedp.Evaluate[string](`location.pathname + ' ' + ((document.querySelector('.ro-check') || {}).className || '') + ' ' + ((document.querySelector('.ro-problem') || {}).textContent || '')`))
			parts := strings.Fields(s)
			if len(parts) > 0 && strings.Contains(parts[0], "/readouts/") {
				id = filepath.Base(parts[0])
			}
			return id != "" && strings.Contains(s, "ro-check ok"), s + fmt.Sprint(err)
		})
		if n, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll('.ro-body .ro-uncited').length`)); err != nil || n != 1 {
			t.Errorf("%s's readout marks %d statements uncited, want 1 (%v)", who, n, err)
		}
		screenshot(t, tab, "readout-"+who)
		key, err := chromedp.Run(tab, chromedp.Evaluate[string](`import('/assets/keys.js').then((m) => m.participantKey({sub: `+jsString(who)+`, invite: false})).then((r) => r.key.publicKey)`, chromedp.EvalAwaitPromise))
		if err != nil || key == "" {
			t.Fatalf("%s's key in their browser: %v", who, err)
		}
		readouts[who] = written{id, key}
	}

	// The CLI checks head-b's readout, downloaded as a signed file, against the record, with
	// the key from head-b's own browser (--allow-gaps: the record's signers left by closing
	// their tabs, which is the record's matter, not the readout's).
	req, _ := http.NewRequestWithContext(ctx, "GET", call.srv.URL()+"/records/"+call.id+"/readouts/"+readouts["head-b"].id+"?format=file", nil)
	req.Header.Set("Authorization", "Bearer "+tokenFor("head-a"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	file, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	path := filepath.Join(t.TempDir(), "readout.json")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	verify := func(path, signer string) (int, string) {
		out, err := exec.Command(parleyCommand(t), "readout", "verify", path, "--record", call.dir, "--signer", signer,
			"--server-key", base64.RawURLEncoding.EncodeToString(call.srv.Signer().PublicKey()), "--allow-gaps").CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := verify(path, "head-b="+readouts["head-b"].key); code != 0 || !strings.Contains(out, "2 citations resolve") {
		t.Fatalf("parley readout verify on head-b's readout: exit %d\n%s", code, out)
	}
	// Another key given as the author's: the record already refuses it (it never
	// countersigned for head-b), before the readout's own check would.
	if code, out := verify(path, "head-b="+readouts["head-a"].key); code != 1 || !strings.Contains(out, "head-b") {
		t.Errorf("with head-a's key given as head-b's: exit %d\n%s", code, out)
	}
	altered := filepath.Join(t.TempDir(), "altered.json")
	if err := os.WriteFile(altered, []byte(strings.Replace(string(file), "three items", "two items", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := verify(altered, "head-b="+readouts["head-b"].key); code != 1 || !strings.Contains(out, "signature does not verify") {
		t.Errorf("an altered readout: exit %d\n%s", code, out)
	}

	// The compare view: both readouts side by side, head-b's span marked as cited by one side only.
	tab := openPlayer(t, ctx, call.browser, call.srv.URL()+"/records/"+call.id+"?compare="+readouts["head-a"].id+","+readouts["head-b"].id+
		"#token="+url.QueryEscape(tokenFor("head-a")))
	waitFor(t, ctx, "the compare view", func() (bool, string) {
		s, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelectorAll('.ro-compare .ro-doc').length + ' docs, ' +
			document.querySelectorAll('.ro-lane .ro-moment').length + ' moments, ' + document.querySelectorAll('.ro-moment[data-only="true"]').length + ' only'`))
		return s == "2 docs, 4 moments, 2 only", s + fmt.Sprint(err)
	})
	screenshot(t, tab, "readout-compare")

	// A correction: head-b says a word of head-a's first floor line was heard wrong. It is
	// signed in head-b's browser, shown under the line (which stays as recorded), and the
	// transcript the server serves carries it beside the line.
	tab = openPlayer(t, ctx, call.browser, call.srv.URL()+"/records/"+call.id+"#token="+url.QueryEscape(tokenFor("head-b")))
	var seq string
	waitFor(t, ctx, "a floor line with words to correct", func() (bool, string) {
		s, err := chromedp.Run(tab, chromedp.Evaluate[string](`(() => {
		  document.getElementById('pl-tab-transcript').click();
		  const li = [...document.querySelectorAll('#pl-tr li[data-channel="floor"]')].find((l) => l.querySelector('.pl-correct') && !/nothing recognised/.test(l.querySelector('.pl-tr-text').textContent));
		  if (!li) return '';
		  li.querySelector('.pl-correct').click();
		  return li.dataset.seq;
		})()`))
		seq = s
		return err == nil && s != "", fmt.Sprint(err)
	})
	if err := evalVoid(tab, `(() => {
	  const f = document.querySelector('.pl-correct-form');
	  const [heard, said] = f.querySelectorAll('input');
	  heard.value = heard.value.split(' ')[0];
	  said.value = 'two meters';
	  f.requestSubmit();
	})()`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "head-b's correction under the line", func() (bool, string) {
		s, err := chromedp.Run(tab, chromedp.Evaluate[string](`(document.querySelector('#pl-tr li[data-seq="`+seq+`"] .pl-correction') || {}).textContent || document.querySelector('.pl-correct-status')?.textContent || ''`))
		return strings.HasPrefix(s, "head-b corrects") && strings.HasSuffix(s, "“two meters”"), s + fmt.Sprint(err)
	})
	screenshot(t, tab, "transcript-correction")
	req, _ = http.NewRequestWithContext(ctx, "GET", call.srv.URL()+"/records/"+call.id+"/transcript?format=json", nil)
	req.Header.Set("Authorization", "Bearer "+tokenFor("head-a"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tr record.Transcript
	err = json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, u := range tr.Utterance {
		if strconv.FormatUint(u.Seq, 10) == seq {
			found = len(u.Corrections) == 1 && u.Corrections[0].By == "head-b" && u.Corrections[0].Text == "two meters" &&
				strings.HasPrefix(u.Text, u.Corrections[0].Quote)
		}
	}
	if !found {
		t.Errorf("the served transcript has no correction of line %s: %+v", seq, tr.Utterance)
	}
	// Corrections are not readouts: the Readouts tab still lists the two.
	if err := chromedp.Do(tab, chromedp.Click(`#pl-tab-readouts`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the readouts list without the correction", func() (bool, string) {
		n, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll('.ro-list .ro-item').length`))
		return err == nil && n == 2, fmt.Sprint(n, err)
	})
}
