package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/auth"
)

// axeSource is axe-core's browser build, as npm ci in web/ installs it (pinned in
// web/package-lock.json). Outside CI a missing copy skips the test with
// instructions; under CI=true it fails the run.
func axeSource(t *testing.T) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(here), "..", "web", "node_modules", "axe-core", "axe.min.js")
	b, err := os.ReadFile(path)
	if err != nil {
		msg := "axe-core is not installed; run: (cd web && npm ci)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return string(b)
}

// axeViolation is one rule that failed, as axe.run reports it.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

// checkAxe runs axe-core over the page as it is now and fails on any serious
// or critical violation.
func checkAxe(t *testing.T, tab context.Context, src, what string) {
	t.Helper()
	if err := evalVoid(tab, `if (!window.axe) (0, eval)(`+jsString(src)+`); undefined`); err != nil {
		t.Fatalf("%s: loading axe-core: %v", what, err)
	}
	vs, err := chromedp.Run(tab, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ['violations']}).then((r) => r.violations)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: axe.run: %v", what, err)
	}
	for _, v := range vs {
		if v.Impact != "serious" && v.Impact != "critical" {
			continue
		}
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprint(n.Target, " ", n.HTML))
		}
		t.Errorf("%s: %s (%s): %s at %s", what, v.ID, v.Impact, v.Help, strings.Join(where, ", "))
	}
}

// The lobby, the call, the language menu and the record popover have no
// serious or critical accessibility violation that axe-core finds.
func TestAccessibilityAxe(t *testing.T) {
	src := axeSource(t)
	srv, _ := startRecordingServer(t)
	browser := newBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, vp := range viewports {
		t.Run(vp.name, func(t *testing.T) {
			room := "axe-" + vp.name
			tab := newTab(t, browser)
			if err := chromedp.Do(tab, emulate(vp)); err != nil {
				t.Fatal(err)
			}
			u := strings.Replace(claimsURL(t, srv, auth.Claims{Subject: "head-a", Name: "Irina (interpreter)", Room: room, Languages: []string{"en", "ru"},
				Grants: []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe, auth.GrantModerate, auth.GrantRecord}}), "&autojoin=1", "", 1)
			if err := chromedp.Do(tab, chromedp.Navigate(u)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, ctx, "the lobby", func() (bool, string) { return shown(t, tab, "#join-btn"), "" })
			checkAxe(t, tab, src, vp.name+" lobby")
			if err := evalVoid(tab, `document.getElementById('join-btn').scrollIntoView({block: 'nearest'})`); err != nil {
				t.Fatal(err)
			}
			click(t, tab, "#join-btn")
			if err := waitJoined(ctx, tab); err != nil {
				t.Fatal(err)
			}
			waitOnScreen(t, ctx, tab, "#rec-pill")
			checkAxe(t, tab, src, vp.name+" call")
			click(t, tab, "#btn-lang")
			waitOnScreen(t, ctx, tab, "#lang-menu")
			checkAxe(t, tab, src, vp.name+" language menu")
			if err := chromedp.Do(tab, chromedp.KeyEvent("\x1b")); err != nil {
				t.Fatal(err)
			}
			click(t, tab, "#rec-pill")
			waitOnScreen(t, ctx, tab, "#rec-pop")
			checkAxe(t, tab, src, vp.name+" record popover")
		})
	}
}
