package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/parleyhq/parley/auth"
)

// viewport is a screen size the client must work at.
type viewport struct {
	name  string
	w, h  int64
	phone bool
}

// viewports: a phone (390×844, as an iPhone 12–15) and a laptop.
var viewports = []viewport{{"phone", 390, 844, true}, {"desktop", 1280, 800, false}}

// emulate sizes a tab as vp; a phone also gets touch and a mobile viewport.
func emulate(vp viewport) chromedp.Action[chromedp.Void] {
	if vp.phone {
		return chromedp.EmulateViewport(vp.w, vp.h, chromedp.EmulateScale(1), chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	return chromedp.EmulateViewport(vp.w, vp.h, chromedp.EmulateScale(1))
}

// screenshot writes a PNG of tab to $PARLEY_SCREENSHOTS/name.png when that
// variable names a folder; without it, it does nothing.
func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	dir := os.Getenv("PARLEY_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

// offScreenJS returns "" when the element sel is shown and lies wholly inside
// the viewport, else what is wrong.
const offScreenJS = `((sel) => {
  const e = document.querySelector(sel);
  if (!e) return sel + ': no such element';
  if (e.closest('[hidden]') || getComputedStyle(e).display === 'none') return sel + ': hidden';
  if (e.getAnimations().some((a) => a.playState === 'running')) return sel + ': still moving';
  const r = e.getBoundingClientRect();
  const W = document.documentElement.clientWidth, H = window.innerHeight;
  if (r.width < 1 || r.height < 1) return sel + ': has no size';
  if (r.left < 0 || r.top < 0 || r.right > W + 0.5 || r.bottom > H + 0.5) {
    return sel + ' spans ' + [r.left, r.top, r.right, r.bottom].map(Math.round).join(',') + ', the viewport is ' + W + 'x' + H;
  }
  return '';
})`

// waitOnScreen waits until sel is shown wholly inside the viewport.
func waitOnScreen(t *testing.T, ctx, tab context.Context, sel string) {
	t.Helper()
	waitFor(t, ctx, sel+" on screen", func() (bool, string) {
		s, err := chromedp.Run(tab, chromedp.Evaluate[string](offScreenJS+"("+jsString(sel)+")"))
		if err != nil {
			return false, err.Error()
		}
		return s == "", s
	})
}

// click clicks the element sel once it is shown, as a person would (a real
// mouse event at its centre, or a tap on a phone).
func click(t *testing.T, tab context.Context, sel string) {
	t.Helper()
	if err := chromedp.Do(tab, chromedp.Click(sel, chromedp.NodeVisible)); err != nil {
		t.Fatalf("clicking %s: %v", sel, err)
	}
}

// pageText is the visible text of the page.
func pageText(tab context.Context) string {
	s, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.innerText`))
	return s
}

// Every menu, popover and dialog the meeting page opens lies wholly inside
// the viewport, on a phone and on a laptop: the lobby, the language menu of a
// listener (a bottom sheet on the phone), the record and encryption popovers,
// the settings dialog and the side panels.
func TestMenusStayOnScreen(t *testing.T) {
	srv, _ := startRecordingServer(t)
	browser := newBrowser(t)
	for _, vp := range viewports {
		t.Run(vp.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			room := "summit-" + vp.name
			const pass = "#e2ee=correct-horse"
			host := newTab(t, browser)
			listener := newTab(t, browser)
			hostURL := claimsURL(t, srv, auth.Claims{Subject: "irina", Name: "Irina (interpreter)", Room: room, Languages: []string{"en", "ru"},
				Grants: []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe, auth.GrantModerate, auth.GrantRecord}})
			listenURL := strings.Replace(claimsURL(t, srv, auth.Claims{Subject: "aide", Room: room,
				Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe}}), "&autojoin=1", "", 1)
			for _, tab := range []context.Context{host, listener} {
				if err := chromedp.Do(tab, emulate(vp)); err != nil {
					t.Fatal(err)
				}
			}
			if err := chromedp.Do(host, chromedp.Navigate(hostURL+pass)); err != nil {
				t.Fatal(err)
			}
			if err := waitJoined(ctx, host); err != nil {
				t.Fatal(err)
			}

			// The listener's lobby, then the meeting.
			if err := chromedp.Do(listener, chromedp.Navigate(listenURL+pass)); err != nil {
				t.Fatal(err)
			}
			screenshot(t, listener, vp.name+"-lobby")
			// A long lobby scrolls on a phone; its button must come fully into view.
			if err := evalVoid(listener, `document.getElementById('join-btn').scrollIntoView({block: 'nearest'})`); err != nil {
				t.Fatal(err)
			}
			waitOnScreen(t, ctx, listener, "#join-btn")
			click(t, listener, "#join-btn")
			if err := waitJoined(ctx, listener); err != nil {
				t.Fatal(err)
			}
			waitFor(t, ctx, "the host's tile at the listener", func() (bool, string) {
				s := pageText(listener)
				return strings.Contains(s, "Irina (interpreter)"), s
			})
			screenshot(t, listener, vp.name+"-call")

			// The language menu.
			click(t, listener, "#btn-lang")
			waitOnScreen(t, ctx, listener, "#lang-menu")
			for _, sel := range []string{`#listen-options [role="radio"]:last-child`, "#duck"} {
				waitOnScreen(t, ctx, listener, sel)
			}
			screenshot(t, listener, vp.name+"-language")
			if err := chromedp.Do(listener, chromedp.KeyEvent("\x1b")); err != nil {
				t.Fatal(err)
			}

			// The same menu by keyboard: Escape gave the focus back to its button; Enter opens it
			// on the current choice, an arrow moves to English and Enter picks it.
			waitFor(t, ctx, "the language menu closed, its button focused", func() (bool, string) {
				s, err := chromedp.Run(listener, chromedp.Evaluate[string](`document.getElementById('lang-menu').hidden + ' ' + document.activeElement.id`))
				return err == nil && s == "true btn-lang", s
			})
			if err := chromedp.Do(listener, chromedp.KeyEvent("\r")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, ctx, "the menu open on Original audio", func() (bool, string) {
				s, err := chromedp.Run(listener, chromedp.Evaluate[string](`document.activeElement.textContent`))
				return err == nil && strings.Contains(s, "Original audio"), s
			})
			if err := chromedp.Do(listener, chromedp.KeyEvent(kb.ArrowDown)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, ctx, "English focused", func() (bool, string) {
				s, err := chromedp.Run(listener, chromedp.Evaluate[string](`document.activeElement.textContent`))
				return err == nil && strings.Contains(s, "English"), s
			})
			// The room changes while the menu is open (the host mutes): the menu is rebuilt,
			// and the keyboard focus must stay on English, or Enter falls on the page.
			click(t, host, "#btn-mic")
			waitFor(t, ctx, "the host's tile muted at the listener, English still focused", func() (bool, string) {
				s, err := chromedp.Run(listener, chromedp.Evaluate[string](`document.querySelectorAll('.tile.mic-off').length + ' ' + (document.activeElement.closest('#lang-menu') ? document.activeElement.textContent : 'outside the menu')`))
				return err == nil && strings.HasPrefix(s, "1 ") && strings.Contains(s, "English"), s
			})
			if err := chromedp.Do(listener, chromedp.KeyEvent("\r")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, ctx, "listening to English", func() (bool, string) {
				s, err := chromedp.Run(listener, chromedp.Evaluate[string](`document.getElementById('lang-code').textContent + ' ' + document.getElementById('lang-menu').hidden`))
				return err == nil && s == "EN true", s
			})

			// The host's popovers, dialog and panels.
			screenshot(t, host, vp.name+"-call-host")
			settings := "#btn-settings"
			if vp.phone {
				// A phone has no room for Settings in the toolbar: it is under More.
				settings = "#more-settings"
			}
			for _, o := range []struct{ open, shown, close string }{
				{"#rec-pill", "#rec-pop", "#rec-pill"},
				{"#e2ee-pill", "#e2ee-pop", "#e2ee-pill"},
				{settings, "#settings", "#settings-close"},
				{"#btn-people", "#panel", "#panel-close"},
				{"#btn-chat", "#panel", "#panel-close"},
			} {
				if o.open == "#more-settings" {
					click(t, host, "#btn-more")
					waitOnScreen(t, ctx, host, "#more-menu")
					screenshot(t, host, vp.name+"-more")
				}
				click(t, host, o.open)
				waitOnScreen(t, ctx, host, o.shown)
				screenshot(t, host, vp.name+"-"+strings.TrimPrefix(o.shown, "#")+"-"+strings.TrimPrefix(o.open, "#"))
				click(t, host, o.close)
				waitFor(t, ctx, o.shown+" closed", func() (bool, string) {
					s, err := chromedp.Run(host, chromedp.Evaluate[string](offScreenJS+"("+jsString(o.shown)+")"))
					return err == nil && strings.HasSuffix(s, "hidden"), fmt.Sprint(s, err)
				})
			}
			// Every control of the toolbar is on screen too.
			ids, err := chromedp.Run(host, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('.controls button')).filter((b) => !b.closest('[hidden]') && getComputedStyle(b).display !== 'none' && !b.closest('.menu')).map((b) => '#' + b.id)`))
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				waitOnScreen(t, ctx, host, id)
			}
		})
	}
}
