package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/auth"
)

// TestRoomCodecPreference: an operator makes a room whose preferred video
// codec is VP9 (or H.264); browsers in it send the camera in that codec, and
// the viewer decodes it.
func TestRoomCodecPreference(t *testing.T) {
	srv := startServer(t)
	admin, err := srv.Signer().Mint(auth.Claims{
		Subject: "operator", Room: auth.AdminRoom, Grants: []auth.Grant{auth.GrantAdmin},
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	browser := newBrowser(t)
	for _, c := range []struct{ setting, mime string }{{"vp9", "video/VP9"}, {"h264", "video/H264"}} {
		t.Run(c.setting, func(t *testing.T) {
			room := "codec-" + c.setting
			body := fmt.Sprintf(`{"name":%q,"settings":{"codec":%q}}`, room, c.setting)
			req, err := http.NewRequest("POST", srv.URL()+"/api/v1/rooms", bytes.NewBufferString(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+admin)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("creating the room: %s", resp.Status)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			grants := []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}
			pub, view := newTab(t, browser), newTab(t, browser)
			if err := chromedp.Do(pub, chromedp.Navigate(roomURL(t, srv, room, "speaker", grants...))); err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(view, chromedp.Navigate(roomURL(t, srv, room, "viewer", grants...))); err != nil {
				t.Fatal(err)
			}
			for _, tab := range []context.Context{pub, view} {
				if err := waitJoined(ctx, tab); err != nil {
					t.Fatal(err)
				}
			}
			var got inbound
			waitFor(t, ctx, "video decoded in the room's codec", func() (bool, string) {
				v, err := videoFrom(view, "speaker")
				if err != nil {
					t.Fatal(err)
				}
				got = v
				return strings.EqualFold(v.Codec, c.mime) && v.FramesDecoded > 10, fmt.Sprintf("codec %q, %d frames", v.Codec, v.FramesDecoded)
			})
			t.Logf("%s: %d frames of %dx%d decoded", got.Codec, got.FramesDecoded, got.FrameWidth, got.FrameHeight)
		})
	}
}
