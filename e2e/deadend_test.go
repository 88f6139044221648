package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/auth"
)

// shownJS is whether the element sel is displayed (not hidden, not display:none).
func shownJS(sel string) string {
	return `(() => { const e = document.querySelector(` + jsString(sel) + `);
	  return !!e && !e.closest('[hidden]') && getComputedStyle(e).display !== 'none' && e.getClientRects().length > 0; })()`
}

func shown(t *testing.T, tab context.Context, sel string) bool {
	t.Helper()
	ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](shownJS(sel)))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// A link that cannot work offers nothing that pretends it can: the lobby says
// what is wrong and what to do, without a Join button, and so does the error
// page of a link that joins at once, without Try again. An empty name says why
// it did not join, and an unknown address gets a page with a way home.
func TestLinksThatCannotWorkOfferNoJoin(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	mint := func(c auth.Claims) string {
		t.Helper()
		if c.IssuedAt == 0 {
			c.IssuedAt, c.ExpiresAt = time.Now().Unix(), time.Now().Add(time.Hour).Unix()
		}
		tok, err := srv.Signer().Mint(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	grants := []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}
	expired := mint(auth.Claims{Subject: "late", Room: "summit", Grants: grants,
		IssuedAt: time.Now().Add(-2 * time.Hour).Unix(), ExpiresAt: time.Now().Add(-time.Hour).Unix()})
	otherRoom := mint(auth.Claims{Subject: "lost", Room: "elsewhere", Grants: grants})
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	forged, err := auth.NewSigner(stranger).Mint(auth.Claims{Subject: "forger", Room: "summit", Grants: grants,
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	page := func(tok, extra string) string {
		u := srv.URL() + "/r/summit?quality=low" + extra
		if tok != "" {
			u += "&token=" + url.QueryEscape(tok)
		}
		return u
	}

	// In the lobby: what is wrong, what to do, and no Join button.
	for _, c := range []struct{ name, url, title string }{
		{"expired", page(expired, ""), "This link has expired"},
		{"another room", page(otherRoom, ""), "This link is for another meeting"},
		{"no token", page("", ""), "This link is incomplete"},
		{"damaged", page("not-a-token", ""), "This link is not valid"},
	} {
		tab := newTab(t, browser)
		if err := chromedp.Do(tab, chromedp.Navigate(c.url)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, c.name+": the lobby's notice", func() (bool, string) {
			s, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('token-notice').innerText`))
			return err == nil && strings.Contains(s, c.title) && strings.Contains(s, "Ask the organiser"), s
		})
		if shown(t, tab, "#join-btn") {
			t.Errorf("%s: the lobby offers Join now", c.name)
		}
		screenshot(t, tab, "lobby-"+strings.ReplaceAll(c.name, " ", "-"))
	}

	// Links that join at once: the error page, with the fix and without Try again.
	for _, c := range []struct{ name, url, title, detail string }{
		{"expired", page(expired, "&autojoin=1"), "This link has expired", ""},
		{"forged", page(forged, "&autojoin=1"), "This link is not valid", "signature"},
	} {
		tab := newTab(t, browser)
		if err := chromedp.Do(tab, chromedp.Navigate(c.url)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, c.name+": the error page", func() (bool, string) {
			s, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.dataset.state + ' | ' + document.getElementById('end-title').textContent + ' | ' + document.getElementById('end-text').textContent`))
			return err == nil && strings.HasPrefix(s, "error") && strings.Contains(s, c.title) && strings.Contains(s, "Ask the organiser"), s
		})
		screenshot(t, tab, "error-"+c.name)
		if shown(t, tab, "#rejoin-btn") {
			t.Errorf("%s: the error page offers Try again, which cannot work", c.name)
		}
		if !shown(t, tab, "#end-home") {
			t.Errorf("%s: the error page has no way home", c.name)
		}
		text, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('end-text').textContent`))
		if strings.Contains(text, "signature") || strings.Contains(text, "token") {
			t.Errorf("%s: the error page's sentence is technical: %q", c.name, text)
		}
		if c.detail != "" {
			// The server's own words are behind Details, once.
			detail, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('end-detail-text').textContent`))
			if !shown(t, tab, "#end-details summary") || !strings.Contains(detail, c.detail) {
				t.Errorf("%s: details %q, want the server's sentence behind a toggle", c.name, detail)
			}
			body := pageText(tab)
			if n := strings.Count(strings.ToLower(body), "signature"); n > 1 {
				t.Errorf("%s: the page says it %d times: %q", c.name, n, body)
			}
		}
	}

	// An invite link with no name: the page says why it did not join.
	tab := newTab(t, browser)
	invite := mint(auth.Claims{Subject: "guests", Room: "summit", Invite: true, Grants: grants})
	if err := chromedp.Do(tab, chromedp.Navigate(page(invite, ""))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the name field", func() (bool, string) { return shown(t, tab, "#name-input"), "" })
	if err := evalVoid(tab, `document.getElementById('name-input').value = ''; document.getElementById('name-input').dispatchEvent(new Event('input'))`); err != nil {
		t.Fatal(err)
	}
	click(t, tab, "#join-btn")
	waitFor(t, ctx, "the reason", func() (bool, string) {
		s, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.dataset.state + ' | ' + document.getElementById('name-error').innerText + ' | ' + document.getElementById('name-input').getAttribute('aria-invalid')`))
		return err == nil && strings.HasPrefix(s, "lobby | Enter your name") && strings.HasSuffix(s, "true"), s
	})
	screenshot(t, tab, "lobby-no-name")

	// An address with nothing there: a page that says so, with a way home.
	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL()+"/nothing/here")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the not-found page", func() (bool, string) {
		s := pageText(tab)
		return strings.Contains(s, "There is nothing at this address") && shown(t, tab, `a[href="/"].btn`), fmt.Sprint(s)
	})
	screenshot(t, tab, "not-found")
}
