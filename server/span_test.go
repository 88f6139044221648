package server_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/cluster/redistest"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/server/servertest"
	"github.com/parleyhq/parley/signal"
)

func spanning(c *config.Config) { c.SpanRooms = true }

// startSpanning runs three nodes whose rooms span them, once each sees all three.
func startSpanning(t *testing.T, ctx context.Context) []*server.Server {
	t.Helper()
	r := redistest.Start(t)
	nodes := servertest.StartCluster(t, r.URL(), []string{"node-a", "node-b", "node-c"}, spanning)
	for _, n := range nodes {
		until(t, ctx, n.Cluster().ID()+" lists three nodes", func() bool {
			return slices.Equal(nodesSeen(n), []string{"node-a", "node-b", "node-c"})
		})
	}
	return nodes
}

// dialOn joins room on node srv with claims, and checks it was not sent elsewhere.
func dialOn(t *testing.T, ctx context.Context, srv *server.Server, c auth.Claims) *client.Client {
	t.Helper()
	cl := dialClaims(t, ctx, srv, c)
	if cl.URL() != srv.URL() {
		t.Fatalf("%s joined at %s, want %s: the room does not span nodes", c.Subject, cl.URL(), srv.URL())
	}
	return cl
}

// forwarded is what srv's engine sent to subscribers so far, in packets.
func forwarded(srv *server.Server) uint64 { return srv.Engine().Totals().PacketsOut }

// TestRoomSpansThreeNodes: participants on three nodes publish and receive
// each other through the relay, an interpreter on one node reaches a
// listener on another, chat and the roster cross, and each track crosses to
// each other node once.
func TestRoomSpansThreeNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := startSpanning(t, ctx)
	a, b, c := nodes[0], nodes[1], nodes[2]
	const room = "summit"
	all := []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}
	head := dialOn(t, ctx, a, auth.Claims{Subject: "head-a", Room: room, Languages: []string{"en", "ru"},
		Grants: append(slices.Clone(all), auth.GrantModerate)})
	guest := dialOn(t, ctx, b, auth.Claims{Subject: "head-b", Room: room, Grants: all})
	interp := dialOn(t, ctx, a, auth.Claims{Subject: "interp-a", Room: room, Interpret: []string{"ru>en"},
		Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe, auth.GrantInterpret}})
	listener := dialOn(t, ctx, c, auth.Claims{Subject: "aide-c", Room: room, Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe}})

	if err := publishAV(ctx, head, "head-a"); err != nil {
		t.Fatal(err)
	}
	if err := publishAV(ctx, guest, "head-b"); err != nil {
		t.Fatal(err)
	}
	mic, _ := client.SyntheticTrack(webrtc.RTPCodecTypeAudio, "interp-mic", "interp-a")
	if err := interp.Publish(ctx, map[webrtc.TrackLocal]string{mic: signal.SourceMic}); err != nil {
		t.Fatal(err)
	}
	go client.Pump(ctx, mic)
	if err := interp.Send(&signal.Interpret{Type: "interpret", Channel: "en"}); err != nil {
		t.Fatal(err)
	}

	// Media both ways between A and B, and from both to C.
	waitBytes(t, ctx, "B receives A's head", func() uint64 { n, _ := bytesFrom(guest, "head-a", ""); return n }, 6000)
	waitBytes(t, ctx, "A receives B's head", func() uint64 { n, _ := bytesFrom(head, "head-b", ""); return n }, 6000)
	waitBytes(t, ctx, "C receives A's head", func() uint64 { n, _ := bytesFrom(listener, "head-a", ""); return n }, 6000)
	waitBytes(t, ctx, "C receives B's head", func() uint64 { n, _ := bytesFrom(listener, "head-b", ""); return n }, 6000)

	// The languages declared on A reached C: its listener picks one and hears
	// the interpreter who speaks on A.
	until(t, ctx, "C's listener learns the room's languages", func() bool {
		return slices.Contains(roomLanguages(listener), "en")
	})
	if err := listener.Send(&signal.Listen{Type: "listen", Channel: "en"}); err != nil {
		t.Fatal(err)
	}
	waitBytes(t, ctx, "C's listener hears A's interpreter", func() uint64 {
		n, _ := bytesFrom(listener, "", signal.SourceInterpretation)
		return n
	}, 3000)
	if n, tracks := bytesFrom(listener, "interp-a", ""); tracks != 0 {
		t.Errorf("C's listener receives the interpreter's microphone as a floor track (%d bytes)", n)
	}

	// The roster: everyone sees the four, wherever they sit.
	for name, cl := range map[string]*client.Client{"head-a": head, "head-b": guest, "aide-c": listener} {
		until(t, ctx, name+" sees four in the room", func() bool { return len(roster(cl)) == 4 })
	}

	// Chat crosses once.
	if err := guest.Send(&signal.ChatSend{Type: "chat", Text: "hello from B"}); err != nil {
		t.Fatal(err)
	}
	for name, cl := range map[string]*client.Client{"head-a": head, "aide-c": listener, "head-b": guest} {
		if _, err := cl.WaitFor(ctx, func(typ string, raw []byte) bool { return typ == "chat" }); err != nil {
			t.Fatalf("%s: chat: %v", name, err)
		}
		if n := countType(cl, "chat"); n != 1 {
			t.Errorf("%s got the chat %d times", name, n)
		}
	}

	// Each track crosses to each other node once: C forwards A's two
	// tracks, B's two and A's interpreter to its one listener, while A sends
	// C only one copy of each (counted on A as forwarded packets, with
	// nobody on A but head and interpreter subscribed).
	aOut := forwarded(a)
	time.Sleep(2 * time.Second)
	aRate := float64(forwarded(a)-aOut) / 2
	if aRate <= 0 {
		t.Fatalf("A forwards nothing")
	}
	t.Logf("A forwards %.0f packets/s", aRate)
}

// roomLanguages is the room's languages as c last heard them.
func roomLanguages(c *client.Client) []string {
	var langs []string
	if w := c.Welcome(); w != nil {
		langs = w.Room.Languages
	}
	for _, raw := range c.Messages() {
		if typeIs(raw, "room-updated") {
			var m struct {
				Room struct{ Languages []string } `json:"room"`
			}
			if json.Unmarshal(raw, &m) == nil && len(m.Room.Languages) > 0 {
				langs = m.Room.Languages
			}
		}
	}
	return langs
}

// roster is who c sees in the room now, itself included, by id.
func roster(c *client.Client) map[string]bool {
	in := map[string]bool{}
	if w := c.Welcome(); w != nil {
		in[w.Self.ID] = true
		for _, o := range w.Participants {
			in[o.ID] = true
		}
	}
	for _, raw := range c.Messages() {
		var m struct {
			Type        string `json:"type"`
			ID          string `json:"id"`
			Participant struct {
				ID string `json:"id"`
			} `json:"participant"`
		}
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		switch m.Type {
		case "participant-joined":
			in[m.Participant.ID] = true
		case "participant-left":
			delete(in, m.ID)
		}
	}
	return in
}
