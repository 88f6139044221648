package server_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/signal"
)

func mintClaims(t *testing.T, srv *server.Server, c auth.Claims) string {
	t.Helper()
	c.IssuedAt, c.ExpiresAt = time.Now().Unix(), time.Now().Add(time.Hour).Unix()
	tok, err := srv.Signer().Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func dialClaims(t *testing.T, ctx context.Context, srv *server.Server, c auth.Claims) *client.Client {
	t.Helper()
	cl, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: c.Room, Token: mintClaims(t, srv, c)})
	if err != nil {
		t.Fatalf("%s: join: %v", c.Subject, err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// bytesFrom sums what c received on tracks matching identity and source ("" matches any).
func bytesFrom(c *client.Client, identity, source string) (total uint64, tracks int) {
	for _, in := range c.Inbound() {
		if (identity == "" || in.Identity == identity) && (source == "" || in.Source == source) {
			total += in.Bytes.Load()
			tracks++
		}
	}
	return total, tracks
}

func waitBytes(t *testing.T, ctx context.Context, what string, f func() uint64, min uint64) {
	t.Helper()
	for f() < min {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: got %d bytes, want at least %d", what, f(), min)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestInterpretationReachesOnlyItsListeners(t *testing.T) {
	srv := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	const room = "summit"
	head := dialClaims(t, ctx, srv, auth.Claims{Subject: "head-a", Room: room, Languages: []string{"en", "ru"},
		Grants: []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe, auth.GrantModerate}})
	interp := dialClaims(t, ctx, srv, auth.Claims{Subject: "interp-b", Room: room, Interpret: []string{"ru>en"},
		Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe, auth.GrantInterpret}})
	enListener := dialClaims(t, ctx, srv, auth.Claims{Subject: "aide-b1", Room: room, Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe}})
	floorListener := dialClaims(t, ctx, srv, auth.Claims{Subject: "aide-a1", Room: room, Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe}})

	if w := enListener.Welcome(); len(w.Room.Languages) != 2 {
		t.Fatalf("room languages in welcome: %v, want en and ru", w.Room.Languages)
	}
	if err := publishAV(ctx, head, "head-a"); err != nil {
		t.Fatal(err)
	}
	// The interpreter has no publish grant: a microphone is all it may send.
	mic, _ := client.SyntheticTrack(webrtc.RTPCodecTypeAudio, "interp-mic", "interp-b")
	if err := interp.Publish(ctx, map[webrtc.TrackLocal]string{mic: signal.SourceMic}); err != nil {
		t.Fatalf("interpreter publishing a mic: %v", err)
	}
	go client.Pump(ctx, mic)
	if err := interp.Send(&signal.Interpret{Type: "interpret", Channel: "en"}); err != nil {
		t.Fatal(err)
	}
	if err := enListener.Send(&signal.Listen{Type: "listen", Channel: "en"}); err != nil {
		t.Fatal(err)
	}

	waitBytes(t, ctx, "en listener: interpretation", func() uint64 { b, _ := bytesFrom(enListener, "", signal.SourceInterpretation); return b }, 3000)
	waitBytes(t, ctx, "en listener: floor", func() uint64 { b, _ := bytesFrom(enListener, "head-a", signal.SourceMic); return b }, 3000)
	waitBytes(t, ctx, "floor listener: floor", func() uint64 { b, _ := bytesFrom(floorListener, "head-a", ""); return b }, 6000)
	waitBytes(t, ctx, "interpreter hears the floor", func() uint64 { b, _ := bytesFrom(interp, "head-a", signal.SourceMic); return b }, 3000)

	for name, c := range map[string]*client.Client{"floor listener": floorListener, "en listener": enListener, "head": head} {
		if b, n := bytesFrom(c, "interp-b", ""); n != 0 || b != 0 {
			t.Errorf("%s receives the interpreter's microphone as a floor track (%d tracks, %d bytes)", name, n, b)
		}
	}
	if b, n := bytesFrom(floorListener, "", signal.SourceInterpretation); n != 0 || b != 0 {
		t.Errorf("floor listener receives interpretation: %d streams, %d bytes", n, b)
	}

	// Back to the floor: interpretation stops arriving at once.
	if err := enListener.Send(&signal.Listen{Type: "listen", Channel: signal.Floor}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let packets already in flight land
	before, _ := bytesFrom(enListener, "", signal.SourceInterpretation)
	time.Sleep(time.Second)
	after, _ := bytesFrom(enListener, "", signal.SourceInterpretation)
	if after != before {
		t.Errorf("interpretation kept arriving after switching to floor: %d more bytes", after-before)
	}
	// And back to en: it resumes without renegotiation.
	offers := countType(enListener, "offer")
	if err := enListener.Send(&signal.Listen{Type: "listen", Channel: "en"}); err != nil {
		t.Fatal(err)
	}
	waitBytes(t, ctx, "interpretation resumes", func() uint64 { b, _ := bytesFrom(enListener, "", signal.SourceInterpretation); return b }, after+2000)
	if n := countType(enListener, "offer"); n != offers {
		t.Errorf("switching channels renegotiated (%d new offers)", n-offers)
	}
}

func countType(c *client.Client, typ string) int {
	n := 0
	for _, m := range c.Messages() {
		if typeIs(m, typ) {
			n++
		}
	}
	return n
}

func TestInterpretNeedsTheGrant(t *testing.T) {
	srv := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dialClaims(t, ctx, srv, auth.Claims{Subject: "head-a", Room: "r", Languages: []string{"en", "ru"},
		Grants: []auth.Grant{auth.GrantJoin, auth.GrantModerate}})
	interp := dialClaims(t, ctx, srv, auth.Claims{Subject: "interp-a", Room: "r", Interpret: []string{"en>ru"},
		Grants: []auth.Grant{auth.GrantJoin, auth.GrantInterpret}})
	aide := dialClaims(t, ctx, srv, auth.Claims{Subject: "aide", Room: "r", Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe}})
	for _, c := range []struct {
		cl      *client.Client
		channel string
	}{{aide, "en"}, {interp, "en"}} { // no grant at all; a direction the token does not name
		mark := len(c.cl.Messages())
		if err := c.cl.Send(&signal.Interpret{Type: "interpret", Channel: c.channel}); err != nil {
			t.Fatal(err)
		}
		raw, err := c.cl.WaitFor(ctx, func(typ string, _ []byte) bool { return typ == "error" })
		if err != nil {
			t.Fatal(err)
		}
		e := c.cl.ErrorSince(mark)
		if e == nil || e.Code != signal.CodeForbidden || e.Ref != "interpret" {
			t.Fatalf("interpret without the grant: %s", raw)
		}
	}
	// The allowed direction works and is announced.
	if err := interp.Send(&signal.Interpret{Type: "interpret", Channel: "ru"}); err != nil {
		t.Fatal(err)
	}
	if _, err := aide.WaitFor(ctx, func(typ string, raw []byte) bool {
		return typ == "participant-updated" && bytesContains(raw, `"channel":"ru"`)
	}); err != nil {
		t.Fatal(errors.New("the interpreter's move into ru was not announced"))
	}
}
