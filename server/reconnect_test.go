package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/signal"
)

// participantState reads a participant-updated message.
func participantState(raw []byte) (id, state string) {
	var m signal.ParticipantEvent
	_ = json.Unmarshal(raw, &m)
	return m.Participant.ID, m.Participant.State
}

func TestDroppedConnectionKeepsTheSeat(t *testing.T) {
	srv := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tokA := mint(t, srv, "summit", "head-a", allGrants...)
	a, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "summit", Token: tokA})
	if err != nil {
		t.Fatal(err)
	}
	if err := publishAV(ctx, a, "head-a"); err != nil {
		t.Fatal(err)
	}
	b := dial(t, ctx, srv, "summit", "head-b", allGrants...)
	if err := waitInbound(ctx, b, 2, 3000); err != nil {
		t.Fatal(err)
	}
	seat := a.Welcome().Self.ID
	old := map[*client.Inbound]bool{} // head-a's first tracks: they stop with the drop
	for _, in := range b.Inbound() {
		old[in] = true
	}

	a.Close() // the network drops: no leave
	if _, err := b.WaitFor(ctx, func(typ string, raw []byte) bool {
		id, st := participantState(raw)
		return typ == "participant-updated" && id == seat && st == "reconnecting"
	}); err != nil {
		t.Fatalf("the others were not told head-a is reconnecting: %v", err)
	}

	// head-a comes back with the same token and the resume secret.
	a2, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "summit", Token: tokA})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a2.Close)
	if a2.Welcome().Self.ID != seat {
		t.Errorf("head-a came back as %s, not in seat %s", a2.Welcome().Self.ID, seat)
	}
	if err := publishAV(ctx, a2, "head-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitFor(ctx, func(typ string, raw []byte) bool {
		id, st := participantState(raw)
		return typ == "participant-updated" && id == seat && st == "active"
	}); err != nil {
		t.Fatal(err)
	}
	// b receives head-a's new tracks, and never saw head-a leave.
	for {
		// Count only the tracks that came after the drop: an old one may
		// have stopped at exactly the threshold the first wait accepted.
		n := 0
		for _, in := range b.Inbound() {
			if !old[in] && in.Identity == "head-a" && in.Bytes.Load() > 3000 {
				n++
			}
		}
		if n >= 2 {
			break
		}
		select {
		case <-ctx.Done():
			var got []string
			for _, in := range b.Inbound() {
				got = append(got, fmt.Sprintf("%s/%s/%s %d bytes", in.Identity, in.Source, in.Kind, in.Bytes.Load()))
			}
			t.Fatalf("head-a's media did not come back to head-b; head-b receives %v", got)
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, m := range b.Messages() {
		if typeIs(m, "participant-left") || typeIs(m, "participant-joined") {
			t.Fatalf("head-b saw head-a leave or join again: %s", m)
		}
	}
}

func TestReconnectGraceEnds(t *testing.T) {
	srv := startServer(t, func(c *config.Config) { c.ReconnectGrace = 300 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := dial(t, ctx, srv, "r", "a", auth.GrantJoin)
	b := dial(t, ctx, srv, "r", "b", auth.GrantJoin)
	a.Close()
	raw, err := b.WaitFor(ctx, func(typ string, _ []byte) bool { return typ == "participant-left" })
	if err != nil {
		t.Fatal(err)
	}
	var m signal.ParticipantLeft
	_ = json.Unmarshal(raw, &m)
	if m.Identity != "a" || m.Reason != signal.ReasonDisconnected {
		t.Fatalf("left: %s", raw)
	}
}

func TestInviteGuestResumesWithTheSecret(t *testing.T) {
	srv := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	inv := mintClaims(t, srv, auth.Claims{Subject: "guest", Room: "demo", Invite: true, Grants: []auth.Grant{auth.GrantJoin}})
	g1, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "demo", Token: inv, Name: "Anna"})
	if err != nil {
		t.Fatal(err)
	}
	other := dial(t, ctx, srv, "demo", "host", auth.GrantJoin)
	w := g1.Welcome()
	g1.Close()
	g2, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "demo", Token: inv, Name: "Anna", Resume: w.Resume})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g2.Close)
	if g2.Welcome().Self.ID != w.Self.ID || g2.Welcome().Self.Identity != w.Self.Identity {
		t.Fatalf("the guest came back as %s/%s, not %s/%s", g2.Welcome().Self.ID, g2.Welcome().Self.Identity, w.Self.ID, w.Self.Identity)
	}
	// Without the secret, the same invite is a new guest.
	g3, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "demo", Token: inv, Name: "Ben"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g3.Close)
	if g3.Welcome().Self.ID == w.Self.ID {
		t.Fatal("a second guest took the first guest's seat")
	}
	_ = other
}

// A participant who takes their seat back is logged as resumed, not as a
// second "participant joined".
func TestResumedSeatIsLoggedAsResumed(t *testing.T) {
	cfg := config.Default()
	cfg.Listen, cfg.UDPPort, cfg.DataDir = "127.0.0.1:0", 0, t.TempDir()
	var logs lockedBuffer
	srv, err := server.Start(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok := mint(t, srv, "summit", "head-a", auth.GrantJoin)
	a, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "summit", Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	b := dial(t, ctx, srv, "summit", "head-b", auth.GrantJoin)
	seat := a.Welcome().Self.ID
	a.Close() // the network drops: no leave
	if _, err := b.WaitFor(ctx, func(typ string, raw []byte) bool {
		id, st := participantState(raw)
		return typ == "participant-updated" && id == seat && st == "reconnecting"
	}); err != nil {
		t.Fatal(err)
	}
	a2, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "summit", Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	if a2.Welcome().Self.ID != seat {
		t.Fatalf("head-a came back as %s, not in seat %s", a2.Welcome().Self.ID, seat)
	}
	// The room logs the seat after it has welcomed its holder back: wait for the line.
	for !strings.Contains(logs.String(), `msg="participant resumed"`) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	var joined, resumed int
	for _, line := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(line, "identity=head-a") {
			continue
		}
		if strings.Contains(line, `msg="participant joined"`) {
			joined++
		}
		if strings.Contains(line, `msg="participant resumed"`) {
			resumed++
		}
	}
	if joined != 1 || resumed != 1 {
		t.Fatalf("head-a logged as joined %d times and resumed %d times, want once each:\n%s", joined, resumed, logs.String())
	}
}
