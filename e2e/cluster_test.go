package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/adminclient"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/cluster/redistest"
	"github.com/parleyhq/parley/server/servertest"
)

// TestBrowserFollowsClusterRedirect: a page opened on node B of a cluster,
// for a room that node A hosts, is redirected by B's signaling and ends up in
// the call on A, where it sees and hears someone who joined A directly.
func TestBrowserFollowsClusterRedirect(t *testing.T) {
	r := redistest.Start(t)
	nodes := servertest.StartCluster(t, r.URL(), []string{"node-a", "node-b"})
	a, b := nodes[0], nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// B's pages may connect to A once B knows A.
	for len(b.Cluster().Peers()) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("B never saw A")
		case <-time.After(50 * time.Millisecond):
		}
	}
	op := &adminclient.Client{URL: a.URL() + "/", Token: servertest.Mint(t, a, auth.AdminRoom, "operator", auth.GrantAdmin)}
	if _, err := op.CreateRoom(ctx, "summit", adminclient.SettingsInput{}); err != nil {
		t.Fatal(err)
	}

	browser := newBrowser(t)
	grants := []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}
	onB, onA := newTab(t, browser), newTab(t, browser)
	if err := chromedp.Do(onB, chromedp.Navigate(roomURL(t, b, "summit", "head-b", grants...))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(onA, chromedp.Navigate(roomURL(t, a, "summit", "head-a", grants...))); err != nil {
		t.Fatal(err)
	}
	for name, tab := range map[string]context.Context{"head-b": onB, "head-a": onA} {
		if err := waitJoined(ctx, tab); err != nil {
			t.Fatalf("%s never joined: %v", name, err)
		}
	}
	// The page stays B's, its call is on A.
	if page, err := chromedp.Run(onB, chromedp.Evaluate[string](`location.origin`)); err != nil || page != b.URL() {
		t.Errorf("the page's origin is %q (%v), want B's %s", page, err, b.URL())
	}
	if rs := a.Rooms().Rooms(); len(rs) != 1 || rs[0].Name != "summit" || rs[0].Participants != 2 {
		t.Errorf("A hosts %+v, want summit with both", rs)
	}
	if rs := b.Rooms().Rooms(); len(rs) != 0 {
		t.Errorf("B hosts %+v, want nothing: it redirects", rs)
	}
	waitFlowing(t, ctx, onB, "head-b", []string{"head-a"})
	waitFlowing(t, ctx, onA, "head-a", []string{"head-b"})
}
