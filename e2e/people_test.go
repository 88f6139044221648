package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/server"
)

// startViewer opens a WHEP player (Pion) watching identity in room.
func startViewer(t *testing.T, srv *server.Server, room, watcher, identity string) *webrtc.PeerConnection {
	t.Helper()
	api, err := client.NewAPI()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	tok, err := srv.Signer().Mint(auth.Claims{Subject: watcher, Room: room, Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe},
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", srv.URL()+"/whep/"+room+"/"+identity, strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP: %d %s", resp.StatusCode, body)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		t.Fatal(err)
	}
	return pc
}

// The people panel shows each participant's key fingerprint as parley
// verify prints it, and a moderator sees who watches from outside the room
// and can end it.
func TestPeoplePanelShowsKeysAndViewers(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	host := newTab(t, browser)
	guest := newTab(t, browser)
	if err := chromedp.Do(host, chromedp.Navigate(roomURL(t, srv, "summit", "host", auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe, auth.GrantModerate))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(guest, chromedp.Navigate(roomURL(t, srv, "summit", "guest", auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe))); err != nil {
		t.Fatal(err)
	}
	for _, tab := range []context.Context{host, guest} {
		if err := waitJoined(ctx, tab); err != nil {
			t.Fatal(err)
		}
	}
	guestKey, err := chromedp.Run(guest, chromedp.Evaluate[string](`window.parleyTest.publicKey()`, chromedp.EvalAwaitPromise))
	if err != nil || len(guestKey) < 16 {
		t.Fatalf("the guest's key: %q %v", guestKey, err)
	}
	want := "Key " + guestKey[0:4] + " " + guestKey[4:8] + " " + guestKey[8:12] + " " + guestKey[12:16]
	if err := chromedp.Do(host, chromedp.Click(chromedp.ID("btn-people"))); err != nil {
		t.Fatal(err)
	}
	rowText := func(sel string) func() (bool, string) {
		return func() (bool, string) {
			s, err := chromedp.Run(host, chromedp.Evaluate[string](`Array.from(document.querySelectorAll(`+"`"+sel+"`"+`)).map(e => e.innerText).join(" | ")`))
			return err == nil && s != "", s
		}
	}
	waitFor(t, ctx, "the guest's key in the host's people panel", func() (bool, string) {
		ok, s := rowText(`#people-list .person .person-key`)()
		return ok && strings.Contains(s, want), s
	})

	startViewer(t, srv, "summit", "press", "guest")
	waitFor(t, ctx, "the viewer in the host's people panel", func() (bool, string) {
		ok, s := rowText(`#viewers-list .person`)()
		return ok && strings.Contains(s, "press") && strings.Contains(s, "Watching guest"), s
	})
	if dir := os.Getenv("PARLEY_SCREENSHOTS"); dir != "" {
		if png, err := chromedp.Run(host, chromedp.CaptureScreenshot()); err == nil {
			_ = os.WriteFile(dir+"/people-panel.png", png, 0o644)
		}
	}
	// A real mouse click: the panel is redrawn as people's state changes, and
	// must not lose a click to that.
	// A real mouse click, once nothing covers the button (tiles move as
	// tracks arrive; a click on what covers it would not reach it).
	waitFor(t, ctx, "the viewer's end button to be clickable", func() (bool, string) {
		top, err := chromedp.Run(host, chromedp.Evaluate[string](`(() => {
			const b = document.querySelector('#viewers-list button');
			const r = b.getBoundingClientRect();
			const e = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
			return b.contains(e) ? '' : (e ? e.tagName + '.' + e.className : 'nothing') + ' at ' + Math.round(r.x) + ',' + Math.round(r.y);
		})()`))
		return err == nil && top == "", top
	})
	if err := chromedp.Do(host, chromedp.Click(`#viewers-list button`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the viewer to be gone", func() (bool, string) {
		vs, err := srv.Rooms().Viewers(ctx, "summit")
		hidden, _ := chromedp.Run(host, chromedp.Evaluate[bool](`document.getElementById('viewers-section').hidden`))
		return err == nil && len(vs) == 0 && hidden, ""
	})
}
