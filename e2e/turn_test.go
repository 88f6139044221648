package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/auth"
)

// TestBrowsersThroughTURN: two browsers with iceTransportPolicy "relay" may use
// nothing but the embedded TURN relay, and still see and hear each other.
func TestBrowsersThroughTURN(t *testing.T) {
	srv := startServer(t)
	if srv.TURNPort() == 0 {
		t.Fatal("the TURN relay is not running")
	}
	browser := newBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tabs := map[string]context.Context{}
	for _, id := range []string{"behind-a", "behind-b"} {
		tab := newTab(t, browser)
		url := roomURL(t, srv, "fw", id, auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe) + "&relay=1"
		if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
			t.Fatal(err)
		}
		if err := waitJoined(ctx, tab); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		tabs[id] = tab
	}
	waitFlowing(t, ctx, tabs["behind-a"], "behind-a", []string{"behind-b"})
	waitFlowing(t, ctx, tabs["behind-b"], "behind-b", []string{"behind-a"})
}
