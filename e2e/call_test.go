package e2e

import (
	"context"
	"fmt"
	"github.com/parleyhq/parley/server/servertest"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server"
)

func startServer(t *testing.T, tweaks ...func(*config.Config)) *server.Server {
	t.Helper()
	return servertest.Start(t, tweaks...)
}

// startRecordingServer runs a node that records every room, checkpointing
// every 2 s; it returns the node and its data folder.
func startRecordingServer(t *testing.T) (*server.Server, string) {
	t.Helper()
	var dir string
	srv := startServer(t, func(c *config.Config) {
		c.RecordAll = true
		c.CheckpointInterval = 2 * time.Second
		dir = c.DataDir
	})
	return srv, dir
}

// roomURL is a deep link that joins at once with low-resolution capture.
func roomURL(t *testing.T, srv *server.Server, room, identity string, grants ...auth.Grant) string {
	t.Helper()
	tok, err := srv.Signer().Mint(auth.Claims{
		Subject: identity, Room: room, Name: identity, Grants: grants,
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s/r/%s?token=%s&autojoin=1&quality=low", srv.URL(), room, url.QueryEscape(tok))
}

// inbound is one entry of window.parleyTest.inbound().
type inbound struct {
	Participant     string `json:"participant"`
	Identity        string `json:"identity"`
	Source          string `json:"source"`
	Kind            string `json:"kind"`
	Mid             string `json:"mid"`
	BytesReceived   int64  `json:"bytesReceived"`
	PacketsReceived int64  `json:"packetsReceived"`
	FramesDecoded   int64  `json:"framesDecoded"`
	FrameWidth      int    `json:"frameWidth"`
	FrameHeight     int    `json:"frameHeight"`
	FreezeCount     int64  `json:"freezeCount"`
	// TotalFreezesDuration is in seconds.
	TotalFreezesDuration float64 `json:"totalFreezesDuration"`
	PacketsLost          int64   `json:"packetsLost"`
	NackCount            int64   `json:"nackCount"`
	RTXReceived          int64   `json:"rtxReceived"`
	FramesReceived       int64   `json:"framesReceived"`
	FramesDropped        int64   `json:"framesDropped"`
	KeyFramesDecoded     int64   `json:"keyFramesDecoded"`
	PLICount             int64   `json:"pliCount"`
	Codec                string  `json:"codec"` // mime type, e.g. video/VP9
}

func readInbound(ctx context.Context) ([]inbound, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[[]inbound](`window.parleyTest ? window.parleyTest.inbound() : []`, chromedp.EvalAwaitPromise))
}

type tabState struct {
	Joined       bool `json:"joined"`
	Participants []struct {
		ID       string `json:"id"`
		Identity string `json:"identity"`
	} `json:"participants"`
}

func readState(ctx context.Context) (tabState, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[tabState](`window.parleyTest ? window.parleyTest.state() : {joined:false, participants:[]}`))
}

// media sums what a tab received from one identity.
type media struct{ videoFrames, audioBytes int64 }

func byIdentity(in []inbound) map[string]media {
	out := map[string]media{}
	for _, e := range in {
		m := out[e.Identity]
		switch e.Kind {
		case "video":
			m.videoFrames += e.FramesDecoded
		case "audio":
			m.audioBytes += e.BytesReceived
		}
		out[e.Identity] = m
	}
	return out
}

// waitFlowing waits until tab decodes video and receives audio from every one
// of from, with both counters rising between two samples.
func waitFlowing(t *testing.T, ctx context.Context, tab context.Context, name string, from []string) {
	t.Helper()
	var last map[string]media
	for {
		in, err := readInbound(tab)
		if err != nil {
			t.Fatalf("%s: reading stats: %v", name, err)
		}
		now := byIdentity(in)
		ok := last != nil
		for _, id := range from {
			if !ok {
				break
			}
			a, b := last[id], now[id]
			if !(b.videoFrames > a.videoFrames && a.videoFrames > 0 && b.audioBytes > a.audioBytes && a.audioBytes > 0) {
				ok = false
			}
		}
		if ok {
			return
		}
		last = now
		select {
		case <-ctx.Done():
			t.Fatalf("%s: media from %v is not flowing; last stats %+v", name, from, now)
		case <-time.After(700 * time.Millisecond):
		}
	}
}

func TestBrowsersSeeAndHearEachOther(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	names := []string{"head-a", "head-b", "interp-a"}
	tabs := map[string]context.Context{}
	for _, n := range names {
		tab := newTab(t, browser)
		if err := chromedp.Do(tab, chromedp.Navigate(roomURL(t, srv, "summit", n, auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe))); err != nil {
			t.Fatal(err)
		}
		tabs[n] = tab
	}
	for _, n := range names {
		if err := waitJoined(ctx, tabs[n]); err != nil {
			t.Fatalf("%s never joined: %v", n, err)
		}
	}
	for _, n := range names {
		var others []string
		for _, o := range names {
			if o != n {
				others = append(others, o)
			}
		}
		waitFlowing(t, ctx, tabs[n], n, others)
	}

	// interp-a leaves: the others see it go and keep their media.
	if err := chromedp.Do(tabs["interp-a"], chromedp.Evaluate[chromedp.Void](`window.parleyTest.leave()`)); err != nil {
		t.Fatal(err)
	}
	for _, n := range names[:2] {
		for {
			s, err := readState(tabs[n])
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Participants) == 1 && s.Participants[0].Identity != "interp-a" {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s still sees %+v after interp-a left", n, s.Participants)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	waitFlowing(t, ctx, tabs["head-a"], "head-a", []string{"head-b"})
	waitFlowing(t, ctx, tabs["head-b"], "head-b", []string{"head-a"})
}

// waitJoined waits for the page to report that it has joined its room.
func waitJoined(ctx, tab context.Context) error {
	for {
		state, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.body ? (document.body.dataset.state || "") : ""`))
		if err != nil {
			return err
		}
		if state == "joined" {
			return nil
		}
		if state == "error" {
			msg, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.innerText.slice(0, 300)`))
			return fmt.Errorf("the page shows an error: %s", msg)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("page state %q: %w", state, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
