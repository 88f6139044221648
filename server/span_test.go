package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/adminclient"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/cluster"
	"github.com/parleyhq/parley/cluster/redistest"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/room"
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

// startPair runs two nodes whose rooms span them, once B sees A, on the
// Redis it returns.
func startPair(t *testing.T, ctx context.Context) (a, b *server.Server, r *redistest.Server) {
	t.Helper()
	r = redistest.Start(t)
	nodes := servertest.StartCluster(t, r.URL(), []string{"node-a", "node-b"}, spanning)
	a, b = nodes[0], nodes[1]
	until(t, ctx, "B sees A", func() bool { return len(b.Cluster().Peers()) == 1 })
	return a, b, r
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

// TestRoomSpansThreeNodes: participants on three nodes publish and receive
// each other through the relay, an interpreter on one node reaches a
// listener on another, chat and the roster cross, and each track crosses to
// each other node once.
func TestRoomSpansThreeNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := startSpanning(t, ctx)
	a, b, c := nodes[0], nodes[1], nodes[2]
	const summit = "summit"
	all := []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}
	head := dialOn(t, ctx, a, auth.Claims{Subject: "head-a", Room: summit, Languages: []string{"en", "ru"},
		Grants: append(slices.Clone(all), auth.GrantModerate)})
	guest := dialOn(t, ctx, b, auth.Claims{Subject: "head-b", Room: summit, Grants: all})
	interp := dialOn(t, ctx, a, auth.Claims{Subject: "interp-a", Room: summit, Interpret: []string{"ru>en"},
		Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe, auth.GrantInterpret}})
	listener := dialOn(t, ctx, c, auth.Claims{Subject: "aide-c", Room: summit, Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe}})

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

	// Each track crosses to each other node once: every part relays its
	// own tracks to each other part, and nothing it received.
	want := map[string][]room.PartLink{
		"node-a": {{Node: "node-b", Remote: 1, Sent: 3, Received: 2}, {Node: "node-c", Remote: 1, Sent: 3, Received: 0}},
		"node-b": {{Node: "node-a", Remote: 2, Sent: 2, Received: 3}, {Node: "node-c", Remote: 1, Sent: 2, Received: 0}},
		"node-c": {{Node: "node-a", Remote: 2, Sent: 0, Received: 3}, {Node: "node-b", Remote: 1, Sent: 0, Received: 2}},
	}
	// The cluster view: each node lists the room with the other nodes
	// holding parts of it.
	for _, n := range nodes {
		id := n.Cluster().ID()
		until(t, ctx, id+" lists the room's other parts", func() bool {
			list, err := admin(t, n).RoomList(ctx)
			if err != nil || len(list.Rooms) != 1 {
				return false
			}
			var others []string
			for _, o := range []string{"node-a", "node-b", "node-c"} {
				if o != id {
					others = append(others, o)
				}
			}
			return list.Rooms[0].Node == id && slices.Equal(list.Rooms[0].Parts, others)
		})
	}
	for _, n := range nodes {
		id := n.Cluster().ID()
		until(t, ctx, id+" relays each track once", func() bool {
			got, err := n.Rooms().Parts(ctx, summit)
			return err == nil && slices.Equal(got, want[id])
		})
	}
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

// records lists the record folders in a node's data folder.
func records(dataDir string) []string {
	ms, _ := filepath.Glob(filepath.Join(dataDir, record.Dir, "*"))
	return ms
}

// TestOneRecordAcrossNodesLinksAcrossALostOwner: in a recorded room that
// spans two nodes, the node holding the room's claim keeps the one record:
// the other node's participant's join, chat and countersignatures are in
// it, and that node keeps none. When the owner is lost, the other node takes
// the claim and continues in a new record whose first events link it, by a
// signed checkpoint, to the lost one; both verify and the link checks.
func TestOneRecordAcrossNodesLinksAcrossALostOwner(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := redistest.Start(t)
	var dirs []string
	nodes := servertest.StartCluster(t, r.URL(), []string{"node-a", "node-b"}, spanning, func(c *config.Config) {
		c.RecordAll, c.CheckpointInterval, c.ReconnectGrace = true, 300*time.Millisecond, 20*time.Second
		dirs = append(dirs, c.DataDir)
	})
	a, b := nodes[0], nodes[1]
	until(t, ctx, "B sees A", func() bool { return len(b.Cluster().Peers()) == 1 })
	keys := map[string]ed25519.PrivateKey{}
	join := func(srv *server.Server, id string) *client.Client {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		keys[id] = k
		c, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "summit", Key: k,
			Token: servertest.Mint(t, srv, "summit", id, servertest.Everyone...)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if c.URL() != srv.URL() {
			t.Fatalf("%s was sent to %s", id, c.URL())
		}
		return c
	}
	headA := join(a, "head-a")
	headB := join(b, "head-b")
	for i, c := range []*client.Client{headA, headB} {
		if err := publishAV(ctx, c, []string{"head-a", "head-b"}[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*client.Client{headA, headB} {
		if err := waitInbound(ctx, c, 2, 5000); err != nil {
			t.Fatal(err)
		}
	}
	// B's participant may join before the link: it learns of the record then.
	if _, err := headB.WaitFor(ctx, func(typ string, raw []byte) bool {
		return (typ == "welcome" || typ == "room-updated") && bytes.Contains(raw, []byte(`"recording":{"active":true`))
	}); err != nil {
		t.Error("B's participant was never told the room records")
	}
	if err := headB.Send(&signal.ChatSend{Type: "chat", Text: "said on B"}); err != nil {
		t.Fatal(err)
	}
	opts := record.VerifyOptions{ServerKey: a.Signer().PublicKey()}
	var recA string
	until(t, ctx, "A's record holds B's participant, their chat and countersignature", func() bool {
		rs := records(dirs[0])
		if len(rs) != 1 {
			return false
		}
		recA = rs[0]
		rep, err := record.Verify(recA, opts)
		return err == nil && slices.Contains(rep.Participants, "head-b") && rep.SignedUpTo["head-b"] > 0 &&
			logHas(t, recA, `"said on B"`)
	})
	if rs := records(dirs[1]); len(rs) != 0 {
		t.Fatalf("B keeps a record of its own too: %v", rs)
	}

	// A is lost: it stops beating and leaves the network.
	a.Cluster().Halt()
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	_ = a.Shutdown(sctx)
	scancel()

	var recB string
	until(t, ctx, "B continues the record", func() bool {
		rs := records(dirs[1])
		if len(rs) != 1 {
			return false
		}
		recB = rs[0]
		rep, err := record.Verify(recB, opts)
		return err == nil && rep.Continues != nil
	})
	repB, _ := record.Verify(recB, opts)
	repA, err := record.Verify(recA, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := record.CheckContinuation(repB, repA); err != nil {
		t.Fatal(err)
	}
	if repB.Continues.Record != repA.Record || repB.Continues.At > 3 {
		t.Errorf("B's record continues %+v; want A's %s, said at its start", repB.Continues, repA.Record)
	}
	t.Logf("B's record %s continues %s from entry %d", repB.Record, repA.Record, repB.Continues.Seq)
}

// logHas reports whether a record's log holds s.
func logHas(t *testing.T, dir, s string) bool {
	b, err := os.ReadFile(filepath.Join(dir, record.LogFile))
	return err == nil && bytes.Contains(b, []byte(s))
}

// TestModerationAcrossNodes: a moderator on one node mutes, then removes, a
// participant on another; the participant's own node applies it and
// everyone sees it.
func TestModerationAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b, _ := startPair(t, ctx)
	mod := dialOn(t, ctx, a, auth.Claims{Subject: "chair", Room: "summit",
		Grants: []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe, auth.GrantModerate}})
	guest := dialOn(t, ctx, b, auth.Claims{Subject: "guest", Room: "summit", Grants: servertest.Everyone})
	if err := publishAV(ctx, guest, "guest"); err != nil {
		t.Fatal(err)
	}
	waitBytes(t, ctx, "the chair receives the guest", func() uint64 { n, _ := bytesFrom(mod, "guest", ""); return n }, 4000)
	target := guest.Welcome().Self.ID

	if err := mod.Send(&signal.Moderate{Type: "moderate", Action: "mute", Target: target, Source: signal.SourceMic}); err != nil {
		t.Fatal(err)
	}
	if _, err := guest.WaitFor(ctx, func(typ string, raw []byte) bool { return typ == "muted" }); err != nil {
		t.Fatalf("the guest was not told it was muted: %v", err)
	}
	if _, err := mod.WaitFor(ctx, func(typ string, raw []byte) bool {
		return typ == "participant-updated" && bytes.Contains(raw, []byte(target)) && bytes.Contains(raw, []byte(`"muted":true`))
	}); err != nil {
		t.Fatalf("the chair never saw the guest muted: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // packets on their way
	before, _ := bytesFrom(mod, "guest", signal.SourceMic)
	time.Sleep(time.Second)
	if after, _ := bytesFrom(mod, "guest", signal.SourceMic); after != before {
		t.Errorf("the guest's microphone still reaches the chair after the mute: %d bytes", after-before)
	}

	if err := mod.Send(&signal.Moderate{Type: "moderate", Action: "remove", Target: target}); err != nil {
		t.Fatal(err)
	}
	if _, err := guest.WaitFor(ctx, func(typ string, raw []byte) bool { return typ == "removed" }); err != nil {
		t.Fatalf("the guest was not told it was removed: %v", err)
	}
	if _, err := mod.WaitFor(ctx, func(typ string, raw []byte) bool {
		return typ == "participant-left" && bytes.Contains(raw, []byte(target)) && bytes.Contains(raw, []byte(`"removed"`))
	}); err != nil {
		t.Fatalf("the chair never saw the guest leave: %v", err)
	}
}

// TestSpanningRoomSurvivesARedisRestart: the links between a room's parts
// do not go through Redis; while it is down the relay carries on, and once
// it is back (empty) the nodes claim and join their parts again, and a new
// participant through the second node is served there.
func TestSpanningRoomSurvivesARedisRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a, b, r := startPair(t, ctx)
	head := dialOn(t, ctx, a, auth.Claims{Subject: "head-a", Room: "summit", Grants: servertest.Everyone})
	guest := dialOn(t, ctx, b, auth.Claims{Subject: "head-b", Room: "summit", Grants: servertest.Everyone})
	if err := publishAV(ctx, head, "head-a"); err != nil {
		t.Fatal(err)
	}
	from := func(c *client.Client) func() uint64 {
		return func() uint64 { n, _ := bytesFrom(c, "head-a", ""); return n }
	}
	waitBytes(t, ctx, "B's participant receives A's", from(guest), 4000)

	r.Stop()
	until(t, ctx, "B's /readyz reports Redis unreachable", func() bool {
		body, status := readyz(t, b)
		return status == http.StatusServiceUnavailable && body["redis"] == "unreachable"
	})
	waitBytes(t, ctx, "the relay carries on while Redis is down", from(guest), from(guest)()+20000)
	// The part open on B still admits people.
	aide := dialOn(t, ctx, b, auth.Claims{Subject: "aide-b", Room: "summit", Grants: servertest.Everyone})
	waitBytes(t, ctx, "a participant joining B while Redis is down receives A's", from(aide), 4000)

	r.Restart() // empty: it kept nothing
	until(t, ctx, "A holds the room's claim again, B sees it", func() bool {
		return slices.Contains(b.Cluster().View().Rooms, cluster.Room{Name: "summit", Node: "node-a", Participants: 1})
	})
	late := dialOn(t, ctx, b, auth.Claims{Subject: "late-b", Room: "summit", Grants: servertest.Everyone})
	waitBytes(t, ctx, "a participant joining B after the restart receives A's", from(late), 4000)
	for _, n := range []*server.Server{a, b} {
		id := n.Cluster().ID()
		until(t, ctx, id+" still linked", func() bool {
			parts, err := n.Rooms().Parts(ctx, "summit")
			return err == nil && len(parts) == 1
		})
	}
}

// TestBanHoldsOnEveryNode: a participant removed with a ban on one node is
// refused by the others too, also after Redis restarted empty (the node
// that banned writes its bans again).
func TestBanHoldsOnEveryNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b, r := startPair(t, ctx)
	chair := dialOn(t, ctx, a, auth.Claims{Subject: "chair", Room: "summit",
		Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe, auth.GrantModerate}})
	intruder := dialOn(t, ctx, a, auth.Claims{Subject: "intruder", Room: "summit", Grants: servertest.Everyone})
	if err := chair.Send(&signal.Moderate{Type: "moderate", Action: "remove", Target: intruder.Welcome().Self.ID, Ban: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := intruder.WaitFor(ctx, func(typ string, raw []byte) bool { return typ == "removed" }); err != nil {
		t.Fatal(err)
	}
	refused := func(what string) {
		t.Helper()
		until(t, ctx, what, func() bool {
			c, err := client.Dial(ctx, client.Options{URL: b.URL(), Room: "summit",
				Token: servertest.Mint(t, b, "summit", "intruder", servertest.Everyone...)})
			if err == nil {
				c.Close()
				return false
			}
			var serr *signal.Error
			return errors.As(err, &serr) && serr.Code == signal.CodeTokenRevoked
		})
	}
	refused("the banned identity is refused by B")

	r.Stop()
	until(t, ctx, "A sees Redis gone", func() bool { _, status := readyz(t, a); return status == http.StatusServiceUnavailable })
	r.Restart() // empty
	until(t, ctx, "A writes its ban again into the new Redis", func() bool {
		banned, err := b.Cluster().Banned(ctx, "summit", []string{"identity:intruder"})
		return err == nil && banned
	})
}

// TestPartsEnforceTheRoomsSettings: a room the operator made on one node to
// admit only end-to-end encrypted clients refuses one that does not encrypt
// on another node too, from that node's first join; a change of settings
// reaches the parts open.
func TestPartsEnforceTheRoomsSettings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b, _ := startPair(t, ctx)
	yes := true
	if _, err := admin(t, a).CreateRoom(ctx, "sealed", adminclient.SettingsInput{E2EERequired: &yes}); err != nil {
		t.Fatal(err)
	}
	tok := servertest.Mint(t, b, "sealed", "clear-b", servertest.Everyone...)
	_, err := client.Dial(ctx, client.Options{URL: b.URL(), Room: "sealed", Token: tok})
	var serr *signal.Error
	if !errors.As(err, &serr) || serr.Code != signal.CodeE2EERequired {
		t.Fatalf("a client that does not encrypt, joining the room through B: %v, want %s", err, signal.CodeE2EERequired)
	}

	// A part open on B hears of a change made on A.
	if _, err := admin(t, a).CreateRoom(ctx, "open", adminclient.SettingsInput{}); err != nil {
		t.Fatal(err)
	}
	onB := dialOn(t, ctx, b, auth.Claims{Subject: "aide-b", Room: "open", Grants: servertest.Everyone})
	until(t, ctx, "the part on B is linked", func() bool {
		parts, err := b.Rooms().Parts(ctx, "open")
		return err == nil && len(parts) == 1
	})
	langs := []string{"en", "fr"}
	if _, err := admin(t, a).UpdateRoom(ctx, "open", adminclient.SettingsInput{Languages: &langs}); err != nil {
		t.Fatal(err)
	}
	until(t, ctx, "B's participant learns the languages set on A", func() bool {
		return slices.Equal(roomLanguages(onB), langs)
	})
	if s, err := b.Rooms().RoomSettings("open"); err != nil || !slices.Equal(s.Languages, langs) {
		t.Errorf("B's part's settings: %+v, %v", s, err)
	}
}

// TestBusyNodeSpillsLaterJoins: joins that keep reaching one node fill it up
// to its spill point, then go to the node that already holds a part of the
// room while it has room, then to the next; each is served where it was
// sent and hears the room.
func TestBusyNodeSpillsLaterJoins(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := redistest.Start(t)
	nodes := servertest.StartCluster(t, r.URL(), []string{"node-a", "node-b", "node-c"}, func(c *config.Config) {
		c.SpanRooms, c.SpillParticipants = true, 2
	})
	a := nodes[0]
	for _, n := range nodes {
		until(t, ctx, n.Cluster().ID()+" lists three nodes", func() bool { return len(nodesSeen(n)) == 3 })
	}
	const press = "press"
	all := []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}
	speaker := dialOn(t, ctx, a, auth.Claims{Subject: "speaker", Room: press, Grants: all})
	if err := publishAV(ctx, speaker, "speaker"); err != nil {
		t.Fatal(err)
	}
	dialOn(t, ctx, a, auth.Claims{Subject: "press-1", Room: press, Grants: all})

	// Each later join reaches A; A's view of the others' load is brought up
	// to date before the next, so that the choice is the policy's, not a
	// heartbeat's timing.
	wantNode := []string{"node-b", "node-b", "node-c"}
	byNode := map[string]int{}
	var last *client.Client
	for i, want := range wantNode {
		who := "press-" + string(rune('2'+i))
		cl := dialClaims(t, ctx, a, auth.Claims{Subject: who, Room: press, Grants: all})
		got := ""
		for _, n := range nodes {
			if cl.URL() == n.URL() {
				got = n.Cluster().ID()
			}
		}
		if got != want {
			t.Fatalf("%s, joining through busy A, was served by %q, want %s", who, got, want)
		}
		byNode[got]++
		until(t, ctx, "A sees "+who+" on "+got, func() bool {
			for _, n := range a.Cluster().View().Nodes {
				if n.ID == got {
					return n.Load.Participants == byNode[got]
				}
			}
			return false
		})
		last = cl
	}
	waitBytes(t, ctx, "the last, on C, receives the speaker on A", func() uint64 { n, _ := bytesFrom(last, "speaker", ""); return n }, 6000)
	until(t, ctx, "the last sees the five", func() bool { return len(roster(last)) == 5 })

	// The load tool's client follows the redirect as well.
	until(t, ctx, "A sees C's participant", func() bool {
		for _, n := range a.Cluster().View().Nodes {
			if n.ID == "node-c" {
				return n.Load.Participants == 1
			}
		}
		return false
	})
	tok := mintClaims(t, a, auth.Claims{Subject: "observer", Room: press, Grants: all})
	obs, err := client.DialObserved(ctx, client.Options{URL: a.URL(), Room: press, Token: tok}, func(*client.Inbound) func([]byte, int64) { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	if obs.URL() != nodes[2].URL() {
		t.Errorf("the observed client, joining through busy A, was served at %s, want C at %s", obs.URL(), nodes[2].URL())
	}

	// Every node busy now: a join is served where it arrives.
	dialOn(t, ctx, nodes[2], auth.Claims{Subject: "press-on-c", Room: press, Grants: all})

	// Each node's metrics count the participants connected to it, so the
	// cluster's total is their sum: A 2, B 2, C 3.
	for i, want := range []int{2, 2, 3} {
		page := metricsPage(t, nodes[i])
		if line := "parley_participants " + strconv.Itoa(want); !strings.Contains(page, "\n"+line+"\n") {
			t.Errorf("%s's /metrics lacks %q", nodes[i].Cluster().ID(), line)
		}
	}
}

// TestOperatorActsOnEveryNode: the admin API of one node lists, mutes,
// regrants and removes (with a ban) a participant connected to another, and
// closing the room there ends it on every node.
func TestOperatorActsOnEveryNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b, _ := startPair(t, ctx)
	chair := dialOn(t, ctx, a, auth.Claims{Subject: "chair", Room: "summit", Grants: servertest.Everyone})
	guest := dialOn(t, ctx, b, auth.Claims{Subject: "guest", Room: "summit", Grants: servertest.Everyone})
	aide := dialOn(t, ctx, b, auth.Claims{Subject: "aide", Room: "summit", Grants: servertest.Everyone})
	if err := publishAV(ctx, guest, "guest"); err != nil {
		t.Fatal(err)
	}
	waitBytes(t, ctx, "the chair receives the guest", func() uint64 { n, _ := bytesFrom(chair, "guest", ""); return n }, 4000)
	op := admin(t, a)

	var listed adminclient.Participant
	until(t, ctx, "A lists the guest, on node-b, with its tracks", func() bool {
		ps, err := op.ListParticipants(ctx, "summit")
		if err != nil {
			return false
		}
		for _, p := range ps {
			if p.Identity == "guest" {
				listed = p
			}
		}
		return listed.Node == "node-b" && len(listed.Tracks) == 2
	})

	got, err := op.MuteParticipant(ctx, "summit", "guest", signal.SourceMic, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(got.Tracks, func(tr adminclient.Track) bool { return tr.Source == signal.SourceMic && tr.Muted }) {
		t.Errorf("the answer to the mute: %+v", got)
	}
	if _, err := guest.WaitFor(ctx, func(typ string, raw []byte) bool { return typ == "muted" }); err != nil {
		t.Fatalf("the guest on B was not told the operator muted it: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // packets on their way
	before, _ := bytesFrom(chair, "guest", signal.SourceMic)
	time.Sleep(time.Second)
	if after, _ := bytesFrom(chair, "guest", signal.SourceMic); after != before {
		t.Errorf("the guest's microphone still reaches A after the operator's mute: %d bytes", after-before)
	}

	if _, err := op.SetGrants(ctx, "summit", "guest", []auth.Grant{auth.GrantJoin, auth.GrantSubscribe}); err != nil {
		t.Fatal(err)
	}
	if _, err := guest.WaitFor(ctx, func(typ string, raw []byte) bool {
		return typ == "participant-updated" && bytes.Contains(raw, []byte(`"guest"`)) && !bytes.Contains(raw, []byte(`"publish"`))
	}); err != nil {
		t.Fatalf("the guest on B never lost the publish grant: %v", err)
	}

	if err := op.RemoveParticipant(ctx, "summit", "guest", true); err != nil {
		t.Fatal(err)
	}
	if _, err := guest.WaitFor(ctx, func(typ string, raw []byte) bool { return typ == "removed" }); err != nil {
		t.Fatalf("the guest on B was not told the operator removed it: %v", err)
	}
	tok := servertest.Mint(t, b, "summit", "guest", servertest.Everyone...)
	_, err = client.Dial(ctx, client.Options{URL: b.URL(), Room: "summit", Token: tok})
	var serr *signal.Error
	if !errors.As(err, &serr) || serr.Code != signal.CodeTokenRevoked {
		t.Fatalf("the banned guest coming back through B: %v, want %s", err, signal.CodeTokenRevoked)
	}

	closed, err := op.CloseRoom(ctx, "summit")
	if err != nil {
		t.Fatal(err)
	}
	if closed.Removed != 2 {
		t.Errorf("closing the room removed %d, want the chair and the aide", closed.Removed)
	}
	if _, err := aide.WaitFor(ctx, func(typ string, raw []byte) bool { return typ == "removed" }); err != nil {
		t.Fatalf("the aide on B was not removed when the room closed on A: %v", err)
	}
}
