package whepview_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/bench/whepview"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/server/servertest"
)

// counts is what a test viewer saw of one kind.
type counts struct {
	packets, clear atomic.Int64
	badTime        atomic.Int64 // decrypted packets whose send time is not a plausible one
	seen           sync.Map     // sequence numbers
}

// TestViewerReceivesAndLeaves: a light viewer connects to a real node over
// WHEP, receives the publisher's audio and video, decrypts one packet in
// Sample (each carries its send time, so a wrong key would show), and its
// Close ends the session on the server.
func TestViewerReceivesAndLeaves(t *testing.T) {
	srv := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	publishCamera(t, ctx, srv, "hall", "speaker", client.SourceConfig{Bitrate: 300_000})
	cert, reader := viewerKit(t)
	got := map[string]*counts{"audio": {}, "video": {}}
	var mu sync.Mutex
	v, err := whepview.Dial(ctx, whepview.Options{
		Endpoint: whepview.EndpointURL(srv.URL(), "hall", "speaker"),
		Token:    servertest.Mint(t, srv, "hall", "viewer", auth.GrantJoin, auth.GrantSubscribe),
		Cert:     cert,
		Reader:   reader,
		Sample:   4,
		OnTrack: func(kind string) func([]byte, int64, bool) {
			mu.Lock()
			c := got[kind]
			mu.Unlock()
			return func(pkt []byte, at int64, clear bool) {
				seq, payload, ok := client.ParseRTP(pkt)
				if !ok {
					return
				}
				c.packets.Add(1)
				c.seen.Store(seq, true)
				if clear {
					c.clear.Add(1)
					if sent, ok := client.SendTime(payload); !ok || at-sent < 0 || at-sent > int64(5*time.Second) {
						c.badTime.Add(1)
					}
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for got["audio"].packets.Load() < 100 || got["video"].packets.Load() < 100 {
		if time.Now().After(deadline) {
			t.Fatalf("after 15 s: %d audio and %d video packets", got["audio"].packets.Load(), got["video"].packets.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for kind, c := range got {
		n, clear := c.packets.Load(), c.clear.Load()
		if clear < n/4-2 || clear > n/4+2 {
			t.Errorf("%s: %d of %d packets decrypted, want one in 4", kind, clear, n)
		}
		if bad := c.badTime.Load(); bad > 0 {
			t.Errorf("%s: %d of %d decrypted packets carry no plausible send time", kind, bad, clear)
		}
	}
	if err := v.Err(); err != nil {
		t.Fatal(err)
	}
	views, err := srv.Rooms().Viewers(ctx, "hall")
	if err != nil || len(views) != 1 {
		t.Fatalf("viewers of the room while watching: %v, %v", views, err)
	}
	v.Close()
	for {
		views, err := srv.Rooms().Viewers(ctx, "hall")
		if err == nil && len(views) == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the viewer's session outlived Close: %v, %v", views, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
