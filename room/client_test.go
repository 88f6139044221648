package room

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
)

// These tests drive rooms through the Client and Session interfaces alone:
// fake clients, a real media engine on loopback, no WebSocket.

func clientTestManager(t *testing.T) *Manager {
	t.Helper()
	m := NewManager(Config{Engine: testEngine(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(m.Close)
	return m
}

type joinOpt func(*auth.Claims, *JoinRequest)

func grants(gs ...auth.Grant) joinOpt {
	return func(c *auth.Claims, _ *JoinRequest) { c.Grants = append([]auth.Grant{auth.GrantJoin}, gs...) }
}

func joinAs(t *testing.T, m *Manager, identity string, opts ...joinOpt) (*Participant, *fakeClient) {
	t.Helper()
	fc := &fakeClient{}
	claims := &auth.Claims{Subject: identity, Room: "summit",
		Grants:    []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe},
		ExpiresAt: time.Now().Add(time.Hour).Unix()}
	req := JoinRequest{Claims: claims, Client: fc}
	for _, o := range opts {
		o(claims, &req)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := m.Join(ctx, req)
	if err != nil {
		t.Fatalf("%s joins: %v", identity, err)
	}
	return p, fc
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestClientJoinsChatsAndLeaves(t *testing.T) {
	m := clientTestManager(t)
	a, ac := joinAs(t, m, "head-a")
	w := ac.all("Joined")[0].(Welcome)
	if w.Self.ID != a.ID() || w.Self.Identity != "head-a" || len(w.Others) != 0 || w.Resume == "" || w.Room.Name != "summit" {
		t.Fatalf("a's welcome: %+v", w)
	}
	b, bc := joinAs(t, m, "head-b")
	if w := bc.all("Joined")[0].(Welcome); len(w.Others) != 1 || w.Others[0].ID != a.ID() {
		t.Fatalf("b's welcome names %+v, want a", w.Others)
	}
	ac.await(t, "ParticipantJoined", func(v any) bool { return v.(ParticipantView).ID == b.ID() })
	if len(bc.all("ParticipantJoined")) != 0 {
		t.Error("b was told of its own join")
	}

	if err := b.Chat(ctx(t), "good morning"); err != nil {
		t.Fatal(err)
	}
	// Chat waits for the room, so both have been told by now.
	for _, c := range []*fakeClient{ac, bc} {
		msgs := c.all("Chat")
		if len(msgs) != 1 || msgs[0].(ChatMessage).Text != "good morning" || msgs[0].(ChatMessage).From.ID != b.ID() {
			t.Fatalf("chat as told: %+v", msgs)
		}
	}

	b.Leave()
	ac.await(t, "ParticipantLeft", func(v any) bool {
		l := v.([]any)
		return l[0] == b.ID() && l[2] == ReasonLeft
	})
	if got := bc.closedFor(); got != ReasonLeft {
		t.Fatalf("b's client closed for %q, want %q", got, ReasonLeft)
	}
	if err := b.Chat(ctx(t), "still here?"); !errors.Is(err, ErrGone) {
		t.Fatalf("a request after leaving: %v, want ErrGone", err)
	}
	if late := bc.toldAfterClose(); len(late) != 0 {
		t.Fatalf("the room told b after closing it: %v", late)
	}
}

func TestClientListensToALanguage(t *testing.T) {
	m := clientTestManager(t)
	mod, mc := joinAs(t, m, "chair", func(c *auth.Claims, _ *JoinRequest) {
		c.Grants = append(c.Grants, auth.GrantModerate)
		c.Languages = []string{"en", "ru"}
	})
	in, _ := joinAs(t, m, "interp", grants(auth.GrantSubscribe, auth.GrantInterpret), func(c *auth.Claims, _ *JoinRequest) {
		c.Interpret = []string{"ru>en"}
	})
	deaf, _ := joinAs(t, m, "deaf", grants())

	if w := mc.all("Joined")[0].(Welcome); !slices.Equal(w.Room.Languages, []string{"en", "ru"}) {
		t.Fatalf("room languages %v", w.Room.Languages)
	}
	if err := mod.Listen(ctx(t), "en"); err != nil {
		t.Fatal(err)
	}
	if got := mc.all("ParticipantChanged"); len(got) == 0 || got[len(got)-1].(ParticipantView).Listening != "en" {
		t.Fatalf("the chair's change as told: %+v", got)
	}
	if err := mod.Listen(ctx(t), "fr"); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "no channel \"fr\"") {
		t.Fatalf("listening to a channel the room lacks: %v", err)
	}
	if err := deaf.Listen(ctx(t), "en"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("listening without subscribe: %v", err)
	}
	if err := mod.Interpret(ctx(t), "en"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("interpreting without the grant: %v", err)
	}
	if err := in.Interpret(ctx(t), "ru"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("interpreting into a language the token does not allow: %v", err)
	}
	if err := in.Interpret(ctx(t), "en"); err != nil {
		t.Fatal(err)
	}
	rooms := mc.all("RoomChanged")
	if len(rooms) == 0 || rooms[len(rooms)-1].(RoomView).Channels["en"].Interpreter != in.ID() {
		t.Fatalf("the en channel as told: %+v", rooms)
	}
	st, err := m.RoomState(ctx(t), "summit")
	if err != nil || !slices.Equal(st.Languages, []string{"en", "ru"}) {
		t.Fatalf("state %+v, %v", st, err)
	}
}

func TestClientE2EERelay(t *testing.T) {
	m := clientTestManager(t)
	e2ee := func(_ *auth.Claims, r *JoinRequest) { r.E2EE = true }
	a, ac := joinAs(t, m, "a", e2ee)
	b, bc := joinAs(t, m, "b", e2ee)
	plain, pc := joinAs(t, m, "plain")
	if err := a.SendE2EE(ctx(t), "", "hello"); err != nil {
		t.Fatal(err)
	}
	if err := b.SendE2EE(ctx(t), a.ID(), "to a"); err != nil {
		t.Fatal(err)
	}
	if err := b.SendE2EE(ctx(t), plain.ID(), "to plain"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("to a client that does not encrypt: %v", err)
	}
	if err := plain.SendE2EE(ctx(t), "", "from plain"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("from a client that does not encrypt: %v", err)
	}
	data := func(c *fakeClient) (out []string) {
		for _, v := range c.all("E2EE") {
			out = append(out, v.([]any)[1].(string))
		}
		return out
	}
	if got := data(ac); !slices.Equal(got, []string{"to a"}) {
		t.Errorf("a got %q", got)
	}
	if got := data(bc); !slices.Equal(got, []string{"hello"}) {
		t.Errorf("b got %q", got)
	}
	if got := data(pc); len(got) != 0 {
		t.Errorf("plain got %q", got)
	}
}

func TestClientReplacedBySecondJoin(t *testing.T) {
	m := clientTestManager(t)
	_, other := joinAs(t, m, "other")
	first, fc := joinAs(t, m, "head-a")
	if err := first.Listen(ctx(t), Floor); err != nil {
		t.Fatal(err)
	}
	second, sc := joinAs(t, m, "head-a", func(_ *auth.Claims, r *JoinRequest) {
		r.Resume = fc.all("Joined")[0].(Welcome).Resume
	})
	if fc.closedFor() != ReasonReplaced {
		t.Fatalf("the first connection closed for %q, want replaced", fc.closedFor())
	}
	if second.ID() != first.ID() {
		t.Fatalf("the seat moved from %s to %s", first.ID(), second.ID())
	}
	if len(sc.all("Joined")) != 1 {
		t.Fatal("the second connection was not welcomed")
	}
	other.await(t, "ParticipantChanged", func(v any) bool { return v.(ParticipantView).ID == first.ID() })
	if err := first.Chat(ctx(t), "old tab"); !errors.Is(err, ErrGone) {
		t.Fatalf("the replaced connection's request: %v", err)
	}
}

func TestClientModerates(t *testing.T) {
	m := clientTestManager(t)
	mod, _ := joinAs(t, m, "chair", grants(auth.GrantSubscribe, auth.GrantModerate))
	guest, gc := joinAs(t, m, "guest")
	if err := guest.Moderate(ctx(t), Moderation{Action: ModerateRemove, Target: mod.ID()}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a guest removes the chair: %v", err)
	}
	if err := mod.Moderate(ctx(t), Moderation{Action: ModerateMute, Target: guest.ID(), Source: SourceMic}); err != nil {
		t.Fatal(err)
	}
	if got := gc.all("Muted"); len(got) != 1 || got[0].([]any)[0] != SourceMic || got[0].([]any)[1].(Ref).ID != mod.ID() {
		t.Fatalf("muted as told: %+v", got)
	}
	if err := mod.Moderate(ctx(t), Moderation{Action: ModerateRemove, Target: "PA_nobody"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing nobody: %v", err)
	}
	if err := mod.Moderate(ctx(t), Moderation{Action: ModerateRemove, Target: guest.ID(), Ban: true}); err != nil {
		t.Fatal(err)
	}
	if got := gc.all("Removed"); len(got) != 1 || gc.closedFor() != ReasonRemoved {
		t.Fatalf("removed as told: %+v, closed for %q", got, gc.closedFor())
	}
	claims := &auth.Claims{Subject: "guest", Room: "summit", Grants: []auth.Grant{auth.GrantJoin}}
	if _, err := m.Join(ctx(t), JoinRequest{Claims: claims, Client: &fakeClient{}}); !errors.Is(err, ErrRevoked) {
		t.Fatalf("a banned guest joins again: %v", err)
	}
}

// Publish answers an offer (the answer returned, not sent), refuses a
// client without the grant, and trickles the server's candidates for it
// through the loop.
func TestClientPublishes(t *testing.T) {
	m := clientTestManager(t)
	pub, pc := joinAs(t, m, "speaker")
	answer, err := pub.Publish(ctx(t), chromeOffer, map[string]string{"0": SourceMic, "1": SourceCamera})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(answer, "v=0") || !strings.Contains(answer, "a=mid:1") {
		t.Fatalf("the answer:\n%s", answer)
	}
	pc.await(t, "Candidate", func(v any) bool { return v.([]any)[0] == RolePub })
	if got := pc.all("Error"); len(got) != 0 {
		t.Fatalf("errors: %v", got)
	}

	listener, _ := joinAs(t, m, "listener", grants(auth.GrantSubscribe))
	if _, err := listener.Publish(ctx(t), chromeOffer, map[string]string{"0": SourceMic}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("publishing without the grant: %v", err)
	}
	if _, err := pub.Publish(ctx(t), "v=0\r\ngarbage", nil); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("a malformed offer: %v", err)
	}
	if _, err := pub.Publish(ctx(t), chromeOffer, map[string]string{"0": "hologram"}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("an unknown source: %v", err)
	}
}
