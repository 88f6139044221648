package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/signal"
)

// rawJoin joins over a bare WebSocket with the given join fields and returns
// the server's first answer (welcome or error); the socket closes at test end.
func rawJoin(t *testing.T, ctx context.Context, n *testNode, join map[string]any) map[string]any {
	t.Helper()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(n.srv.URL(), "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = ws.CloseNow() })
	join["type"], join["version"] = "join", signal.Version
	b, _ := json.Marshal(join)
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("no answer to join: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		if m["type"] == "welcome" || m["type"] == "error" {
			return m
		}
	}
}

func TestRoomLifecycleWithSettings(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	settings := map[string]any{"languages": []string{"en", "ru"}, "max_participants": 2, "codec": "vp9"}
	a := n.must("POST", "/api/v1/rooms", map[string]any{"name": "summit", "settings": settings}, http.StatusCreated)
	if loc := a.header.Get("Location"); loc != "/api/v1/rooms/summit" {
		t.Errorf("Location %q", loc)
	}
	if a.body["persistent"] != true || a.body["participants"] != 0.0 {
		t.Errorf("created room: %s", a.raw)
	}

	// Empty, it stays open (rooms made by a join vanish when empty).
	list := n.must("GET", "/api/v1/rooms", nil, http.StatusOK)
	rooms := list.body["rooms"].([]any)
	if len(rooms) != 1 || rooms[0].(map[string]any)["name"] != "summit" {
		t.Fatalf("rooms: %s", list.raw)
	}

	// The first join sees the settings: channels open, codec announced.
	head := n.dial(ctx, "summit", "head-a", everyone...)
	w := head.Welcome()
	if !slices.Equal(w.Room.Languages, []string{"en", "ru"}) || w.Room.Codec != "vp9" || w.Room.E2EERequired {
		t.Fatalf("welcome room: %+v", w.Room)
	}
	n.dial(ctx, "summit", "head-b", everyone...)

	// max_participants caps the room below the node's (unlimited) limit.
	_, err := client.Dial(ctx, client.Options{URL: n.srv.URL(), Room: "summit", Token: n.roomToken("summit", "third", everyone...)})
	var se *signal.Error
	if !errors.As(err, &se) || se.Code != signal.CodeRoomFull {
		t.Fatalf("third join: %v, want %s", err, signal.CodeRoomFull)
	}

	// The list shows who is in.
	list = n.must("GET", "/api/v1/rooms", nil, http.StatusOK)
	if got := list.body["rooms"].([]any)[0].(map[string]any)["participants"]; got != 2.0 {
		t.Fatalf("participants %v, want 2", got)
	}

	// A change of settings reaches the clients, and only the fields given change.
	a = n.must("PATCH", "/api/v1/rooms/summit", map[string]any{"settings": map[string]any{
		"codec": "av1", "e2ee_required": true, "max_participants": 3, "languages": []string{"en", "ru", "fr"}}}, http.StatusOK)
	s := a.body["settings"].(map[string]any)
	if s["codec"] != "av1" || s["e2ee_required"] != true || s["max_participants"] != 3.0 || s["record"] != false {
		t.Fatalf("patched settings: %s", a.raw)
	}
	upd := waitMsg(t, ctx, head, "room-updated", func(raw []byte) bool {
		var m signal.RoomUpdated
		return json.Unmarshal(raw, &m) == nil && m.Room.Codec == "av1"
	})
	var ru signal.RoomUpdated
	_ = json.Unmarshal(upd, &ru)
	if !ru.Room.E2EERequired || !slices.Contains(ru.Room.Languages, "fr") {
		t.Fatalf("room-updated: %s", upd)
	}
	if got := n.must("GET", "/api/v1/rooms/summit", nil, http.StatusOK).body["languages"]; len(got.([]any)) != 3 {
		t.Fatalf("languages after the patch: %v", got)
	}

	// e2ee_required is enforced: a join without e2ee is refused, with it admitted.
	tok := n.roomToken("summit", "third", everyone...)
	ans := rawJoin(t, ctx, n, map[string]any{"room": "summit", "token": tok})
	if ans["type"] != "error" || ans["code"] != signal.CodeE2EERequired {
		t.Fatalf("plain join to an e2ee room: %v", ans)
	}
	ans = rawJoin(t, ctx, n, map[string]any{"room": "summit", "token": tok, "e2ee": true})
	if ans["type"] != "welcome" {
		t.Fatalf("e2ee join: %v", ans)
	}
	if room := ans["room"].(map[string]any); room["e2ee_required"] != true || room["codec"] != "av1" {
		t.Fatalf("welcome room: %v", room)
	}
	eventually(t, "three are in", func() bool { return len(n.participantsOf("summit")) == 3 })

	// Close: everyone is removed by the operator, and the room ends.
	a = n.must("DELETE", "/api/v1/rooms/summit", nil, http.StatusOK)
	if a.body["removed"] != 3.0 {
		t.Fatalf("close: %s", a.raw)
	}
	raw := waitMsg(t, ctx, head, "removed", nil)
	var rm signal.Removed
	if err := json.Unmarshal(raw, &rm); err != nil || rm.By.Name != "Operator" || rm.By.ID != "" {
		t.Fatalf("removed: %s", raw)
	}
	if _, err := head.WaitFor(ctx, func(string, []byte) bool { return false }); err == nil || ctx.Err() != nil {
		t.Fatalf("the removed client's socket stayed open: %v", err)
	}
	eventually(t, "the room is gone", func() bool {
		return n.call("GET", "/api/v1/rooms/summit", n.admin, nil).status == http.StatusNotFound
	})
	if got := n.must("GET", "/api/v1/rooms", nil, http.StatusOK).body["rooms"]; len(got.([]any)) != 0 {
		t.Fatalf("rooms after close: %v", got)
	}
	// The name is free again, with default settings.
	a = n.must("POST", "/api/v1/rooms", map[string]any{"name": "summit"}, http.StatusCreated)
	if s := a.body["settings"].(map[string]any); s["codec"] != "" || s["e2ee_required"] != false || len(a.body["languages"].([]any)) != 0 {
		t.Fatalf("recreated room: %s", a.raw)
	}
}

func TestRoomMadeByJoinIsListedAndEndsEmpty(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := n.dial(ctx, "lobby", "guest", everyone...)
	a := n.must("GET", "/api/v1/rooms/lobby", nil, http.StatusOK)
	if a.body["persistent"] != false || a.body["participants"] != 1.0 {
		t.Fatalf("room: %s", a.raw)
	}
	n.fails("POST", "/api/v1/rooms", map[string]any{"name": "lobby"}, http.StatusConflict, "room_exists")
	if err := c.Send(&signal.Leave{Type: "leave"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the empty room ends", func() bool {
		return n.call("GET", "/api/v1/rooms/lobby", n.admin, nil).status == http.StatusNotFound
	})
}

func TestParticipantsMuteAndRemove(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := n.dial(ctx, "summit", "head-a", everyone...)
	b := n.dial(ctx, "summit", "head-b", everyone...)
	publishAV(t, ctx, a, "head-a")

	eventually(t, "head-a's tracks are listed", func() bool {
		return slices.Equal(tracksOf(n.participantsOf("summit")["head-a"]), []string{"camera", "mic"})
	})
	ps := n.participantsOf("summit")
	if len(ps) != 2 || ps["head-b"].State != "active" || !strings.HasPrefix(ps["head-a"].ID, "PA_") {
		t.Fatalf("participants: %+v", ps)
	}

	// Mute: the participant hears it from the operator, everyone sees it.
	mark := a.Mark()
	p, err := n.api.MuteParticipant(ctx, "summit", "head-a", "mic", true)
	if err != nil || !slices.Equal(tracksOf(p), []string{"camera", "mic(muted)"}) {
		t.Fatalf("mute answer: %+v, %v", p, err)
	}
	raw := waitMsg(t, ctx, a, "muted", nil)
	var mu signal.Muted
	if err := json.Unmarshal(raw, &mu); err != nil || mu.Source != "mic" || mu.By.Name != "Operator" {
		t.Fatalf("muted: %s", raw)
	}
	if e := a.ErrorSince(mark); e != nil {
		t.Fatalf("error after mute: %v", e)
	}
	waitMsg(t, ctx, b, "participant-updated", func(raw []byte) bool {
		var pe signal.ParticipantEvent
		if json.Unmarshal(raw, &pe) != nil || pe.Participant.Identity != "head-a" {
			return false
		}
		for _, tr := range pe.Participant.Tracks {
			if tr.Source == "mic" && tr.Muted {
				return true
			}
		}
		return false
	})
	// Released by the operator: the server forwards again.
	p, err = n.api.MuteParticipant(ctx, "summit", "head-a", "mic", false)
	if err != nil || !slices.Equal(tracksOf(p), []string{"camera", "mic"}) {
		t.Fatalf("unmute answer: %+v, %v", p, err)
	}

	// The session id names a participant too.
	if err := n.api.RemoveParticipant(ctx, "summit", n.participantsOf("summit")["head-b"].ID, true); err != nil {
		t.Fatal(err)
	}
	raw = waitMsg(t, ctx, b, "removed", nil)
	var rm signal.Removed
	if err := json.Unmarshal(raw, &rm); err != nil || rm.By.Name != "Operator" {
		t.Fatalf("removed: %s", raw)
	}
	if _, err := b.WaitFor(ctx, func(string, []byte) bool { return false }); err == nil || ctx.Err() != nil {
		t.Fatalf("the removed client's socket stayed open: %v", err)
	}
	waitMsg(t, ctx, a, "participant-left", func(raw []byte) bool {
		var pl signal.ParticipantLeft
		return json.Unmarshal(raw, &pl) == nil && pl.Identity == "head-b" && pl.Reason == signal.ReasonRemoved
	})
	if ps := n.participantsOf("summit"); len(ps) != 1 || ps["head-a"].Identity != "head-a" {
		t.Fatalf("participants after remove: %+v", ps)
	}
	// Banned: the same identity cannot come back.
	_, err = client.Dial(ctx, client.Options{URL: n.srv.URL(), Room: "summit", Token: n.roomToken("summit", "head-b", everyone...)})
	var se *signal.Error
	if !errors.As(err, &se) || se.Code != signal.CodeTokenRevoked {
		t.Fatalf("banned rejoin: %v, want %s", err, signal.CodeTokenRevoked)
	}

	// Without ban, a removed participant may come back.
	n.must("DELETE", "/api/v1/rooms/summit/participants/head-a", nil, http.StatusNoContent)
	waitMsg(t, ctx, a, "removed", nil)
	n.dial(ctx, "summit", "head-a", everyone...)
}

// lastSubOffer returns the tracks map of the newest "sub" offer c received.
func lastSubOffer(c *client.Client) (map[string]signal.SubTrack, bool) {
	msgs := c.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		var o signal.SubOffer
		if json.Unmarshal(msgs[i], &o) == nil && o.Type == "offer" && o.PC == signal.PCSub {
			return o.Tracks, true
		}
	}
	return nil, false
}

// forwardedFrom counts the tracks of identity in c's newest sub offer.
func forwardedFrom(c *client.Client, identity string) int {
	tracks, _ := lastSubOffer(c)
	n := 0
	for _, t := range tracks {
		if t.Identity == identity {
			n++
		}
	}
	return n
}

func TestGrantsAreEnforced(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := n.dial(ctx, "summit", "head-a", everyone...)
	b := n.dial(ctx, "summit", "head-b", everyone...)
	publishAV(t, ctx, a, "head-a")
	eventually(t, "head-b receives head-a's media", func() bool {
		got := 0
		for _, in := range b.Inbound() {
			if in.Identity == "head-a" && in.Packets.Load() > 5 {
				got++
			}
		}
		return got == 2
	})

	// Losing subscribe: what head-b received is taken away, and it is told.
	res := n.must("PATCH", "/api/v1/rooms/summit/participants/head-b", map[string]any{"grants": []string{"join", "publish"}}, http.StatusOK)
	if got := res.body["grants"].([]any); len(got) != 2 || got[1] != "publish" {
		t.Fatalf("grants answer: %s", res.raw)
	}
	waitMsg(t, ctx, b, "participant-updated", func(raw []byte) bool {
		var pe signal.ParticipantEvent
		return json.Unmarshal(raw, &pe) == nil && pe.Participant.Identity == "head-b" &&
			slices.Equal(pe.Participant.Grants, []string{"join", "publish"})
	})
	eventually(t, "head-b's sub offer drops head-a's tracks", func() bool { return forwardedFrom(b, "head-a") == 0 })
	// And it cannot choose what to hear any more.
	mark := b.Mark()
	if err := b.Send(&signal.Listen{Type: "listen", Channel: "floor"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "listen is refused", func() bool { e := b.ErrorSince(mark); return e != nil && e.Code == signal.CodeForbidden })

	// Subscribe again: the tracks come back.
	n.must("PATCH", "/api/v1/rooms/summit/participants/head-b", map[string]any{"grants": everyone}, http.StatusOK)
	eventually(t, "head-b's sub offer carries head-a's tracks again", func() bool { return forwardedFrom(b, "head-a") == 2 })

	// Losing publish: head-a's tracks stop for everyone.
	p, err := n.api.SetGrants(ctx, "summit", "head-a", []auth.Grant{auth.GrantJoin, auth.GrantSubscribe})
	if err != nil || len(tracksOf(p)) != 0 {
		t.Fatalf("head-a still publishes: %+v, %v", p, err)
	}
	waitMsg(t, ctx, a, "participant-updated", func(raw []byte) bool {
		var pe signal.ParticipantEvent
		return json.Unmarshal(raw, &pe) == nil && pe.Participant.Identity == "head-a" && len(pe.Participant.Tracks) == 0 &&
			!slices.Contains(pe.Participant.Grants, string(auth.GrantPublish))
	})
	eventually(t, "head-b's sub offer drops head-a's tracks", func() bool { return forwardedFrom(b, "head-a") == 0 })
	if ts := tracksOf(n.participantsOf("summit")["head-a"]); len(ts) != 0 {
		t.Fatalf("head-a's tracks after losing publish: %v", ts)
	}
	// A new offer to publish is refused.
	mark = a.Mark()
	if err := a.Send(&signal.Offer{Type: "offer", PC: signal.PCPub, SDP: "v=0\r\n", Tracks: map[string]string{"0": "mic"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "publishing is refused", func() bool { e := a.ErrorSince(mark); return e != nil && e.Code == signal.CodeForbidden })
}
