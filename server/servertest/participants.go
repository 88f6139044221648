package servertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/signal"
)

// Everyone is the grants of an ordinary participant.
var Everyone = []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}

// Mint makes a token for identity in room, valid for an hour.
func Mint(t testing.TB, srv *server.Server, room, identity string, grants ...auth.Grant) string {
	t.Helper()
	tok, err := srv.Signer().Mint(auth.Claims{
		Subject: identity, Room: room, Name: identity, Grants: grants,
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Dial joins room as identity with a Go protocol client, closed at the end of the test.
func Dial(t testing.TB, ctx context.Context, srv *server.Server, room, identity string, grants ...auth.Grant) *client.Client {
	t.Helper()
	c, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: room, Token: Mint(t, srv, room, identity, grants...)})
	if err != nil {
		t.Fatalf("%s: join: %v", identity, err)
	}
	t.Cleanup(c.Close)
	return c
}

// PublishAV publishes a synthetic microphone and camera and pumps them until ctx ends.
func PublishAV(ctx context.Context, c *client.Client, name string) error {
	a, err := client.SyntheticTrack(webrtc.RTPCodecTypeAudio, name+"-a", name)
	if err != nil {
		return err
	}
	v, err := client.SyntheticTrack(webrtc.RTPCodecTypeVideo, name+"-v", name)
	if err != nil {
		return err
	}
	if err := c.Publish(ctx, map[webrtc.TrackLocal]string{a: signal.SourceMic, v: signal.SourceCamera}); err != nil {
		return err
	}
	go client.Pump(ctx, a)
	go client.Pump(ctx, v)
	return nil
}

// WaitInbound waits until c receives at least minBytes on want tracks.
func WaitInbound(ctx context.Context, c *client.Client, want int, minBytes uint64) error {
	for {
		n := 0
		for _, in := range c.Inbound() {
			if in.Bytes.Load() >= minBytes {
				n++
			}
		}
		if n >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("media on %d of %d tracks: %w", n, want, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Call puts identities in room, each publishing a synthetic microphone and
// camera, and returns once every one receives media from all the others.
func Call(t testing.TB, ctx context.Context, srv *server.Server, room string, identities ...string) []*client.Client {
	t.Helper()
	cs := make([]*client.Client, len(identities))
	for i, id := range identities {
		cs[i] = Dial(t, ctx, srv, room, id, Everyone...)
	}
	for i, c := range cs {
		if err := PublishAV(ctx, c, identities[i]); err != nil {
			t.Fatalf("%s publishes: %v", identities[i], err)
		}
	}
	for i, c := range cs {
		if err := WaitInbound(ctx, c, 2*(len(cs)-1), 2000); err != nil {
			t.Fatalf("%s: %v", identities[i], err)
		}
	}
	return cs
}
