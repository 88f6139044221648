package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/auth"
)

// videoFrom returns what tab receives of identity's camera.
func videoFrom(tab context.Context, identity string) (inbound, error) {
	in, err := readInbound(tab)
	if err != nil {
		return inbound{}, err
	}
	for _, e := range in {
		if e.Identity == identity && e.Kind == "video" && e.Source == "camera" {
			return e, nil
		}
	}
	return inbound{}, nil
}

// TestSimulcastFollowsTileSize: a 720p camera goes out in three layers; a
// viewer who draws it large gets a large layer, and when the viewer's window
// shrinks to a thumbnail the server switches it to the small layer, without
// renegotiating and without the video stopping.
func TestSimulcastFollowsTileSize(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	grants := []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}
	pub := newTab(t, browser)
	if err := chromedp.Do(pub, chromedp.Navigate(strings.Replace(roomURL(t, srv, "layers", "presenter", grants...), "quality=low", "quality=high", 1))); err != nil {
		t.Fatal(err)
	}
	if err := waitJoined(ctx, pub); err != nil {
		t.Fatal(err)
	}
	view := newTab(t, browser)
	if err := chromedp.Do(view, chromedp.Navigate(roomURL(t, srv, "layers", "viewer", grants...))); err != nil {
		t.Fatal(err)
	}
	if err := waitJoined(ctx, view); err != nil {
		t.Fatal(err)
	}
	waitFlowing(t, ctx, view, "viewer", []string{"presenter"})

	// The camera offers three layers; the server's answer takes them, and
	// asks for Opus with in-band FEC and DTX.
	type descriptions struct{ Local, Remote string }
	sdp, err := chromedp.Run(pub, chromedp.Evaluate[descriptions](`window.parleyTest.sdp('pub')`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a=simulcast:send q;h;f", "a=rid:f send"} {
		if !strings.Contains(sdp.Local, want) {
			t.Errorf("publisher's offer lacks %q", want)
		}
	}
	for _, want := range []string{"a=simulcast:recv q;h;f", "useinbandfec=1", "usedtx=1"} {
		if !strings.Contains(sdp.Remote, want) {
			t.Errorf("the answer the publisher applied lacks %q", want)
		}
	}
	// The viewer's connection: one video codec with its RTX stream, transport-wide
	// congestion control, and nothing else to bloat the description.
	sub, err := chromedp.Run(view, chromedp.Evaluate[descriptions](`window.parleyTest.sdp('sub')`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rtx/90000", "transport-cc", "transport-wide-cc"} {
		if !strings.Contains(sub.Local, want) {
			t.Errorf("the viewer's answer lacks %q", want)
		}
	}
	if !strings.Contains(sub.Remote, "a=ssrc-group:FID") {
		t.Error("the server's offer names no RTX stream")
	}
	if n := strings.Count(sub.Remote, "a=rtpmap:"); n > 4 {
		t.Errorf("the server offers %d codecs for one audio and one video track", n)
	}

	big := waitVideo(t, ctx, view, "presenter", "a large layer for a large tile", func(v inbound) bool { return v.FrameWidth >= 640 })
	t.Logf("large tile: %dx%d", big.FrameWidth, big.FrameHeight)

	// A thumbnail-sized window: the tile is now about 300 px wide.
	if err := chromedp.Do(view, chromedp.EmulateViewport(300, 220)); err != nil {
		t.Fatal(err)
	}
	trace := newMediaTrace(srv, nil, big)
	defer func() {
		if t.Failed() {
			in, _ := readInbound(view)
			t.Logf("the viewer's inbound streams: %+v\ntrace of the switch to the thumbnail, every 0.3 s:\n%s", in, trace)
		}
	}()
	var small inbound
	waitFor(t, ctx, "the small layer for a thumbnail", func() (bool, string) {
		v, err := videoFrom(view, "presenter")
		if err != nil {
			t.Fatal(err)
		}
		trace.sample(fmt.Sprint(len(trace.rows)+1), v)
		small = v
		return v.FrameWidth > 0 && v.FrameWidth <= 320, fmt.Sprintf("frame width %d", v.FrameWidth)
	})
	t.Logf("thumbnail: %dx%d", small.FrameWidth, small.FrameHeight)
	// The stream went on through both switches.
	before := small.FramesDecoded
	waitVideo(t, ctx, view, "presenter", "frames after the switch", func(v inbound) bool { return v.FramesDecoded > before+10 })
	st, err := readState(view)
	if err != nil || !st.Joined {
		t.Fatalf("viewer state %+v, %v", st, err)
	}
}

// waitVideo waits until the video tab receives from identity is as ok
// wants it, and returns it.
func waitVideo(t *testing.T, ctx, tab context.Context, identity, what string, ok func(inbound) bool) inbound {
	t.Helper()
	var got inbound
	waitFor(t, ctx, what, func() (bool, string) {
		v, err := videoFrom(tab, identity)
		if err != nil {
			t.Fatal(err)
		}
		got = v
		return ok(v), fmt.Sprintf("%dx%d, %d frames decoded", v.FrameWidth, v.FrameHeight, v.FramesDecoded)
	})
	return got
}
