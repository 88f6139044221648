package e2e

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/server"
)

func claimsURL(t *testing.T, srv *server.Server, c auth.Claims) string {
	t.Helper()
	if c.Name == "" {
		c.Name = c.Subject
	}
	c.IssuedAt, c.ExpiresAt = time.Now().Unix(), time.Now().Add(time.Hour).Unix()
	tok, err := srv.Signer().Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s/r/%s?token=%s&autojoin=1&quality=low", srv.URL(), c.Room, url.QueryEscape(tok))
}

// audioBytes sums inbound audio bytes by source ("interpretation", "mic") and identity.
func audioBytes(in []inbound, identity, source string) (total int64, streams int) {
	for _, e := range in {
		if e.Kind == "audio" && (identity == "" || e.Identity == identity) && (source == "" || e.Source == source) {
			total += e.BytesReceived
			streams++
		}
	}
	return total, streams
}

func evalVoid(tab context.Context, js string) error {
	return chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](js, chromedp.EvalAwaitPromise))
}

// TestInterpretationInBrowsers plays the core of the reference scenario: a floor
// speaker, an interpreter into en, a listener on en and a listener on the floor.
func TestInterpretationInBrowsers(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const room = "summit"
	people := []auth.Claims{
		{Subject: "head-a", Room: room, Languages: []string{"en", "ru"}, Grants: []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe, auth.GrantModerate}},
		{Subject: "interp-b", Room: room, Interpret: []string{"ru>en", "en>ru"}, Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe, auth.GrantInterpret}},
		{Subject: "aide-b1", Room: room, Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe}},
		{Subject: "aide-a1", Room: room, Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe}},
	}
	tabs := map[string]context.Context{}
	for _, c := range people {
		tab := newTab(t, browser)
		if err := chromedp.Do(tab, chromedp.Navigate(claimsURL(t, srv, c))); err != nil {
			t.Fatal(err)
		}
		if err := waitJoined(ctx, tab); err != nil {
			t.Fatalf("%s: %v", c.Subject, err)
		}
		tabs[c.Subject] = tab
	}
	if err := evalVoid(tabs["interp-b"], `window.parleyTest.interpret("en")`); err != nil {
		t.Fatal(err)
	}
	if err := evalVoid(tabs["aide-b1"], `window.parleyTest.listen("en")`); err != nil {
		t.Fatal(err)
	}

	// The en listener hears the interpreter and the floor.
	waitFor(t, ctx, "aide-b1 hears interpretation and floor", func() (bool, string) {
		in, err := readInbound(tabs["aide-b1"])
		if err != nil {
			return false, err.Error()
		}
		interp, _ := audioBytes(in, "", "interpretation")
		floor, _ := audioBytes(in, "head-a", "mic")
		return interp > 5000 && floor > 5000, fmt.Sprintf("interpretation %d bytes, floor %d bytes", interp, floor)
	})
	// The floor listener hears the floor and nothing of the interpreter.
	waitFor(t, ctx, "aide-a1 hears the floor", func() (bool, string) {
		in, err := readInbound(tabs["aide-a1"])
		if err != nil {
			return false, err.Error()
		}
		floor, _ := audioBytes(in, "head-a", "mic")
		return floor > 5000, fmt.Sprintf("floor %d bytes", floor)
	})
	in, err := readInbound(tabs["aide-a1"])
	if err != nil {
		t.Fatal(err)
	}
	if b, n := audioBytes(in, "", "interpretation"); n != 0 || b != 0 {
		t.Errorf("the floor listener receives interpretation: %d streams, %d bytes", n, b)
	}
	if b, n := audioBytes(in, "interp-b", ""); n != 0 || b != 0 {
		t.Errorf("the floor listener receives the interpreter's microphone: %d streams, %d bytes", n, b)
	}

	// The en listener switches to the floor: interpreter bytes stop within 1 s.
	if err := evalVoid(tabs["aide-b1"], `window.parleyTest.listen("floor")`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	in, _ = readInbound(tabs["aide-b1"])
	before, _ := audioBytes(in, "", "interpretation")
	time.Sleep(time.Second)
	in, _ = readInbound(tabs["aide-b1"])
	after, _ := audioBytes(in, "", "interpretation")
	if after != before {
		t.Errorf("interpretation still arrives a second after switching to floor: %d more bytes", after-before)
	}
}

// waitFor polls cond until it holds or ctx ends; cond's string describes the state.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting until %s: %s", what, last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}
