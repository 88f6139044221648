package e2e

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/record"
)

// downloadReceipt clicks "Download my receipt" in the record popover of tab,
// as a person would, and returns the file the browser saved in dir.
func downloadReceipt(t *testing.T, ctx, tab context.Context, dir string) record.Receipt {
	t.Helper()
	if _, err := chromedp.CallBrowser(tab, browser.SetDownloadBehavior,
		browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tab,
		chromedp.Click(chromedp.ID("rec-pill")),
		chromedp.WaitVisible(chromedp.ID("rec-receipt")),
		chromedp.Click(chromedp.ID("rec-receipt")),
	); err != nil {
		t.Fatal(err)
	}
	// The file appears as the download starts: until the browser has written
	// all of it, it is not yet JSON (one run in twenty read it empty).
	var r record.Receipt
	waitFor(t, ctx, "the receipt's download", func() (bool, string) {
		ms, _ := filepath.Glob(filepath.Join(dir, "receipt-*.json"))
		if len(ms) != 1 {
			return false, strings.Join(ms, ", ")
		}
		var err error
		r, err = record.ReadReceipt(ms[0])
		return err == nil, fmt.Sprintf("%s: %v", ms[0], err)
	})
	_ = chromedp.Do(tab, chromedp.Click(chromedp.ID("rec-pill"))) // close the popover
	return r
}

// TestBrowsersAttestTheRecord: two browsers chat in a recorded room. head-a
// closes its tab abruptly right after a chat line; head-b leaves by the
// button. Verified with both as signers, each attests the record up to their
// departure: head-b entirely, head-a but for a gap of about 2 s at most (its
// last line, if its tab had no time to countersign it). The receipts
// downloaded from the pages verify against the record.
func TestBrowsersAttestTheRecord(t *testing.T) {
	var dataDir string
	srv := startServer(t, func(c *config.Config) {
		c.RecordAll = true
		c.CheckpointInterval = 2 * time.Second
		c.ReconnectGrace = 2 * time.Second
		dataDir = c.DataDir
	})
	b := newBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	tabs := map[string]context.Context{}
	keys := map[string]ed25519.PublicKey{}
	for _, id := range []string{"head-a", "head-b"} {
		tab := newTab(t, b)
		if err := chromedp.Do(tab, chromedp.Navigate(roomURL(t, srv, "summit", id, auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe))); err != nil {
			t.Fatal(err)
		}
		if err := waitJoined(ctx, tab); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		k, err := chromedp.Run(tab, chromedp.Evaluate[string](`window.parleyTest.publicKey()`, chromedp.EvalAwaitPromise))
		if err != nil || k == "" {
			t.Fatalf("%s has no key: %v", id, err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(k)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			t.Fatalf("%s's key %q", id, k)
		}
		keys[id] = raw
		tabs[id] = tab
	}
	waitFlowing(t, ctx, tabs["head-a"], "head-a", []string{"head-b"})
	waitFlowing(t, ctx, tabs["head-b"], "head-b", []string{"head-a"})
	chat := func(id, text string) {
		t.Helper()
		if err := evalVoid(tabs[id], `window.parleyTest.sendRaw({type: 'chat', text: `+jsString(text)+`})`); err != nil {
			t.Fatal(err)
		}
	}
	countersigned := func(id string) int {
		n, err := chromedp.Run(tabs[id], chromedp.Evaluate[int](`window.parleyTest.countersigned`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	chat("head-b", "the agenda has three items")
	waitFor(t, ctx, "both browsers countersigning", func() (bool, string) {
		a, b := countersigned("head-a"), countersigned("head-b")
		return a >= 2 && b >= 2, ""
	})
	receipts := map[string]record.Receipt{"head-a": downloadReceipt(t, ctx, tabs["head-a"], t.TempDir())}

	// head-a's last line, and at once its tab is gone: no leave, no goodbye.
	chat("head-a", "I object to item 3")
	if err := chromedp.Cancel(tabs["head-a"]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	chat("head-b", "noted")
	before := countersigned("head-b")
	waitFor(t, ctx, "head-b countersigning its own line", func() (bool, string) { return countersigned("head-b") > before, "" })
	receipts["head-b"] = downloadReceipt(t, ctx, tabs["head-b"], t.TempDir())
	if err := chromedp.Do(tabs["head-b"], chromedp.Click(chromedp.ID("btn-leave"))); err != nil {
		t.Fatal(err)
	}

	recs, _ := filepath.Glob(filepath.Join(dataDir, record.Dir, "*"))
	if len(recs) != 1 {
		t.Fatalf("records: %v", recs)
	}
	opts := record.VerifyOptions{ServerKey: srv.Signer().PublicKey(), RequireEnd: true, Signers: keys, AllowGaps: true,
		Receipts: []record.Receipt{receipts["head-a"], receipts["head-b"]}}
	var rep *record.Report
	waitFor(t, ctx, "the record to end and verify", func() (bool, string) {
		r, err := record.Verify(recs[0], opts)
		rep = r
		if err != nil {
			return false, err.Error()
		}
		return r.Ended, "not ended"
	})
	att := map[string]record.Attestation{}
	for _, a := range rep.Attested {
		att[a.Identity] = a
		t.Logf("%s attests events 1-%d of the %d they had to; gap %v over %s", a.Identity, a.UpTo, a.Needed, a.Gap, a.GapTo.Sub(a.GapFrom))
	}
	if a := att["head-b"]; !a.Given || a.UpTo == 0 || len(a.Gap) != 0 {
		t.Errorf("head-b left by the button and must attest all but its own departure: %+v", a)
	}
	a := att["head-a"]
	if !a.Given || a.UpTo == 0 || a.Needed <= a.UpTo {
		t.Fatalf("head-a closed its tab abruptly: %+v", a)
	}
	if d := a.GapTo.Sub(a.GapFrom); d > 3*time.Second {
		t.Errorf("head-a's gap spans %s, want about 2 s at most (checkpoints follow every event within a second)", d)
	}
	// What happened in the moment before the tab went (its last line, a
	// speaker change, the other's line) may or may not have been
	// countersigned by it: the checkpoint after an event comes within a
	// second. Whatever its gap holds, strict verification (no --allow-gaps)
	// fails naming the gap's first event, and passes when the gap holds only
	// the departure.
	strict := opts
	strict.AllowGaps = false
	_, err := record.Verify(recs[0], strict)
	switch {
	case len(a.Gap) == 0 && a.GapTo.Sub(a.GapFrom) <= 2*time.Second && err != nil:
		t.Errorf("head-a's gap holds only its departure, yet verification without --allow-gaps fails: %v", err)
	case len(a.Gap) > 0 && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("event %d (%s", a.Gap[0].Seq, a.Gap[0].Type))):
		t.Errorf("head-a's gap begins with event %d (%s), yet verification without --allow-gaps says: %v", a.Gap[0].Seq, a.Gap[0].Type, err)
	}
	if _, err := os.Stat(filepath.Join(recs[0], record.LogFile)); err != nil {
		t.Fatal(err)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}
