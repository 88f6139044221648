package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/auth"
)

// watchRosterJS records, in a page, every roster message its WebSocket
// receives, before the app's own handlers see it.
const watchRosterJS = `(() => {
  const seen = window.__roster = [];
  const Orig = window.WebSocket;
  class WatchedSocket extends Orig {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (ev) => {
        let m;
        try { m = JSON.parse(ev.data); } catch { return; }
        if (!m || !/^participant-(joined|updated|left)$/.test(m.type)) return;
        const p = m.participant || {};
        seen.push({type: m.type, id: m.id || p.id || '', identity: p.identity || '', state: p.state || '', reason: m.reason || ''});
      });
    }
  }
  window.WebSocket = WatchedSocket;
})();`

// rosterEvent is one entry of window.__roster.
type rosterEvent struct {
	Type     string `json:"type"`
	ID       string `json:"id"`
	Identity string `json:"identity"`
	State    string `json:"state"`
	Reason   string `json:"reason"`
}

// videoByMid is what tab has decoded of identity's video, per receiving mid.
func videoByMid(tab context.Context, identity string) (map[string]int64, error) {
	in, err := readInbound(tab)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, e := range in {
		if e.Identity == identity && e.Kind == "video" {
			out[e.Mid] += e.FramesDecoded
		}
	}
	return out, nil
}

// decodedSince reports whether frames were decoded between two samples.
// framesDecoded only grows for one stream, but a new stream on the same mid
// starts again from zero, so any change to a non-zero count is new frames.
func decodedSince(before, now map[string]int64) bool {
	for mid, n := range now {
		if n > 0 && n != before[mid] {
			return true
		}
	}
	return false
}

// TestBrowserReconnectsAfterBlock: a participant whose network dies for 10 s
// is back, sending and receiving, within seconds of the network returning;
// the others see it reconnecting, never leaving.
func TestBrowserReconnectsAfterBlock(t *testing.T) {
	srv := startServer(t)
	path := newImpairedPath(t, srv, 7)
	browser := newBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 58*time.Second)
	defer cancel()
	grants := []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}

	a := newTab(t, browser)
	if err := addScript(a, watchRosterJS, chromedp.Navigate(roomURL(t, srv, "flaky", "steady-a", grants...))); err != nil {
		t.Fatal(err)
	}
	b := newTab(t, browser)
	if err := path.open(b, roomURL(t, srv, "flaky", "wobbly-b", grants...)); err != nil {
		t.Fatal(err)
	}
	for name, tab := range map[string]context.Context{"steady-a": a, "wobbly-b": b} {
		if err := waitJoined(ctx, tab); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	waitFlowing(t, ctx, a, "steady-a", []string{"wobbly-b"})
	waitFlowing(t, ctx, b, "wobbly-b", []string{"steady-a"})
	path.carried(t, b, "wobbly-b")
	selfID, err := chromedp.Run(b, chromedp.Evaluate[string](`window.parleyTest.state().self.id`))
	if err != nil || selfID == "" {
		t.Fatalf("wobbly-b's own id: %q, %v", selfID, err)
	}

	// a must list b at every look, from the block until b is back.
	var missing []string
	checkRoster := func(when string) {
		s, err := readState(a)
		if err != nil {
			t.Fatalf("reading steady-a's state: %v", err)
		}
		for _, p := range s.Participants {
			if p.Identity == "wobbly-b" {
				return
			}
		}
		missing = append(missing, fmt.Sprintf("%s: %+v", when, s.Participants))
	}

	const outage = 10 * time.Second
	path.block(true)
	blockedAt := time.Now()
	t.Log("wobbly-b's network is down")
	var midBlockA, midBlockB map[string]int64
	for time.Since(blockedAt) < outage {
		select {
		case <-ctx.Done():
			t.Fatal("timed out during the outage")
		case <-time.After(250 * time.Millisecond):
		}
		checkRoster(fmt.Sprintf("%.2f s into the outage", time.Since(blockedAt).Seconds()))
		// From 3 s in, nothing may arrive from or at b: the block is real.
		if midBlockA == nil && time.Since(blockedAt) > 3*time.Second {
			if midBlockA, err = videoByMid(a, "wobbly-b"); err != nil {
				t.Fatal(err)
			}
			if midBlockB, err = videoByMid(b, "steady-a"); err != nil {
				t.Fatal(err)
			}
		}
	}
	endA, err := videoByMid(a, "wobbly-b")
	if err != nil {
		t.Fatal(err)
	}
	endB, err := videoByMid(b, "steady-a")
	if err != nil {
		t.Fatal(err)
	}
	if decodedSince(midBlockA, endA) || decodedSince(midBlockB, endB) {
		t.Fatalf("video kept flowing through the block: steady-a %v -> %v, wobbly-b %v -> %v", midBlockA, endA, midBlockB, endB)
	}
	during := path.udp.stats()
	if during.ToServer.Blocked == 0 {
		t.Errorf("the UDP proxy blocked nothing: %s", during)
	}

	path.block(false)
	unblockedAt := time.Now()
	t.Log("wobbly-b's network is back")
	var aBack, bBack time.Duration // a decodes b again; b decodes a again
	for aBack == 0 || bBack == 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("wobbly-b is not back %.1f s after the network returned (publishing back after %v, receiving after %v)",
				time.Since(unblockedAt).Seconds(), aBack, bBack)
		case <-time.After(100 * time.Millisecond):
		}
		checkRoster(fmt.Sprintf("%.2f s after the outage", time.Since(unblockedAt).Seconds()))
		if aBack == 0 {
			now, err := videoByMid(a, "wobbly-b")
			if err != nil {
				t.Fatal(err)
			}
			if decodedSince(endA, now) {
				aBack = time.Since(unblockedAt)
			}
		}
		if bBack == 0 {
			now, err := videoByMid(b, "steady-a")
			if err != nil {
				t.Fatal(err)
			}
			if decodedSince(endB, now) {
				bBack = time.Since(unblockedAt)
			}
		}
	}
	t.Logf("after the network returned: steady-a decodes wobbly-b again after %v, wobbly-b decodes steady-a again after %v", aBack, bBack)
	// The product's promise: back within 5 s of the network returning. The
	// client retries about every second while its seat is held (an attempt
	// caught in the outage fails after the proxy's 1 s hold), and a rejoin
	// over loopback takes well under a second (the server accepts a relayed
	// pair after 200 ms, not pion's default 2 s).
	const promise = 5 * time.Second
	if aBack > promise || bBack > promise {
		t.Errorf("wobbly-b took %v to publish again and %v to receive again; want both within %v", aBack, bBack, promise)
	}
	// And it stays back: media keeps flowing both ways.
	waitFlowing(t, ctx, a, "steady-a", []string{"wobbly-b"})
	waitFlowing(t, ctx, b, "wobbly-b", []string{"steady-a"})
	path.carried(t, b, "wobbly-b")
	checkRoster("when media flows again")
	if len(missing) > 0 {
		t.Errorf("steady-a's list lacked wobbly-b %d times: %v", len(missing), missing)
	}

	// b took its seat back rather than joining anew, and a saw it happen as the
	// protocol says: reconnecting, then active, never left or joined.
	after, err := chromedp.Run(b, chromedp.Evaluate[string](`window.parleyTest.state().self.id`))
	if err != nil {
		t.Fatal(err)
	}
	if after != selfID {
		t.Errorf("wobbly-b came back as %q, was %q", after, selfID)
	}
	events, err := chromedp.Run(a, chromedp.Evaluate[[]rosterEvent](`window.__roster || []`))
	if err != nil {
		t.Fatal(err)
	}
	var wentReconnecting, cameBack bool
	for _, e := range events {
		if e.ID != selfID {
			continue
		}
		switch {
		case e.Type == "participant-left":
			t.Errorf("steady-a was told wobbly-b left (%s)", e.Reason)
		case e.Type == "participant-joined" && wentReconnecting:
			t.Errorf("steady-a was told wobbly-b joined again")
		case e.Type == "participant-updated" && e.State == "reconnecting":
			wentReconnecting = true
		case e.Type == "participant-updated" && wentReconnecting && e.State == "active":
			cameBack = true
		}
	}
	if !wentReconnecting || !cameBack {
		t.Errorf("steady-a did not see wobbly-b go reconnecting and come back: %+v", events)
	}
	if accepted, refused := path.tcp.stats(); refused == 0 {
		t.Errorf("no connection met the blocked TCP proxy (%d forwarded): did wobbly-b retry during the outage?", accepted)
	}
}

// TestBrowserNoticesASilentNetwork: the network dies without a word for 15 s:
// no connection is reset, TCP bytes are only held, media is dropped. The
// client must notice by itself (signaling that stays silent, media that stays
// down) and be back within 5 s of the network returning, in its own seat;
// the others never see it leave.
func TestBrowserNoticesASilentNetwork(t *testing.T) {
	srv := startServer(t)
	path := newImpairedPath(t, srv, 11)
	browser := newBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 58*time.Second)
	defer cancel()
	grants := []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}

	a := newTab(t, browser)
	if err := addScript(a, watchRosterJS, chromedp.Navigate(roomURL(t, srv, "quiet", "steady-a", grants...))); err != nil {
		t.Fatal(err)
	}
	b := newTab(t, browser)
	if err := path.open(b, roomURL(t, srv, "quiet", "silent-b", grants...)); err != nil {
		t.Fatal(err)
	}
	for name, tab := range map[string]context.Context{"steady-a": a, "silent-b": b} {
		if err := waitJoined(ctx, tab); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	waitFlowing(t, ctx, a, "steady-a", []string{"silent-b"})
	waitFlowing(t, ctx, b, "silent-b", []string{"steady-a"})
	path.carried(t, b, "silent-b")
	selfID, err := chromedp.Run(b, chromedp.Evaluate[string](`window.parleyTest.state().self.id`))
	if err != nil || selfID == "" {
		t.Fatalf("silent-b's own id: %q, %v", selfID, err)
	}
	acceptedBefore, _ := path.tcp.stats()

	path.silence(true)
	time.Sleep(15 * time.Second)
	endA, err := videoByMid(a, "silent-b")
	if err != nil {
		t.Fatal(err)
	}
	endB, err := videoByMid(b, "steady-a")
	if err != nil {
		t.Fatal(err)
	}
	path.silence(false)
	back := time.Now()

	var aBack, bBack time.Duration
	for aBack == 0 || bBack == 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("silent-b is not back %.1f s after the network returned (publishing after %v, receiving after %v)", time.Since(back).Seconds(), aBack, bBack)
		case <-time.After(100 * time.Millisecond):
		}
		if now, err := videoByMid(a, "silent-b"); err == nil && aBack == 0 && decodedSince(endA, now) {
			aBack = time.Since(back)
		}
		if now, err := videoByMid(b, "steady-a"); err == nil && bBack == 0 && decodedSince(endB, now) {
			bBack = time.Since(back)
		}
	}
	t.Logf("after a 15 s silent outage: steady-a decodes silent-b again after %v, silent-b decodes steady-a again after %v", aBack, bBack)
	if aBack > 5*time.Second || bBack > 5*time.Second {
		t.Errorf("silent-b took %v to publish again and %v to receive again; want both within 5 s", aBack, bBack)
	}
	// It noticed by itself: it opened new signaling during the silence (a
	// client that waited for a reset would still be on its old socket).
	if accepted, _ := path.tcp.stats(); accepted == acceptedBefore {
		t.Error("silent-b opened no new connection: it did not notice the silence")
	}
	after, err := chromedp.Run(b, chromedp.Evaluate[string](`window.parleyTest.state().self.id`))
	if err != nil || after != selfID {
		t.Errorf("silent-b came back as %q (%v), was %q", after, err, selfID)
	}
	events, err := chromedp.Run(a, chromedp.Evaluate[[]rosterEvent](`window.__roster || []`))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.ID == selfID && e.Type == "participant-left" {
			t.Errorf("steady-a was told silent-b left (%s)", e.Reason)
		}
	}
}
