package server_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/relay"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/server/servertest"
	"github.com/parleyhq/parley/signal"
)

func TestMediaThroughTheEmbeddedTURNRelay(t *testing.T) {
	srv := startServer(t)
	if srv.TURNPort() == 0 {
		t.Fatal("the TURN relay is not running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "r", RelayOnly: true, Token: mint(t, srv, "r", "behind-firewall", allGrants...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	ice := pub.Welcome().ICEServers
	if len(ice) != 1 || !strings.HasPrefix(ice[0].URLs[0], "turn:127.0.0.1:") || ice[0].Username == "" || ice[0].Credential == "" {
		t.Fatalf("welcome ICE servers: %+v", ice)
	}
	if !strings.HasSuffix(ice[0].Username, ":"+pub.Welcome().Self.ID) {
		t.Errorf("TURN username %q is not bound to the participant", ice[0].Username)
	}
	if err := publishAV(ctx, pub, "behind-firewall"); err != nil {
		t.Fatal(err)
	}
	sub, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "r", RelayOnly: true, Token: mint(t, srv, "r", "also-behind", allGrants...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	if err := waitInbound(ctx, sub, 2, 5000); err != nil {
		t.Fatalf("media through the relay: %v", err)
	}
}

// turnAllocate asks the node's relay for an allocation with ice's credentials, from a socket of its own.
// metricsPage is the node's /metrics text.
func metricsPage(t *testing.T, srv *server.Server) string {
	t.Helper()
	resp, err := http.Get(srv.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Issue 13: a join-only participant's credentials kept allocating after it
// left. Now they hold a few allocations at most, and nothing once it leaves.
func TestTURNCredentialsEndWithTheSession(t *testing.T) {
	srv := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := dial(t, ctx, srv, "r", "join-only", auth.GrantJoin)
	ice := c.Welcome().ICEServers[0]
	for i := range relay.PerParticipant {
		if _, err := servertest.TURNAllocate(t, ice); err != nil {
			t.Fatalf("allocation %d: %v", i+1, err)
		}
	}
	if _, err := servertest.TURNAllocate(t, ice); err == nil {
		t.Fatal("an allocation beyond the session's quota was granted")
	}
	if st := srv.TURNStats(); st.Allocations != relay.PerParticipant || st.RefusedQuota != 1 || st.Sessions != 1 {
		t.Fatalf("TURN stats while the session lives: %+v", st)
	}
	page := metricsPage(t, srv)
	for _, want := range []string{
		"parley_turn_allocations " + strconv.Itoa(relay.PerParticipant) + "\n",
		`parley_turn_allocations_refused_total{reason="quota"} 1` + "\n",
		`parley_turn_allocations_refused_total{reason="node_cap"} 0` + "\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	left := time.Now()
	if err := c.Send(&signal.Leave{Type: "leave"}); err != nil {
		t.Fatal(err)
	}
	for srv.TURNStats().Allocations != 0 {
		if time.Since(left) > time.Second {
			t.Fatalf("a second after the participant left its credentials still hold: %+v", srv.TURNStats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("allocations closed %v after the leave was sent", time.Since(left).Round(time.Millisecond))
	if _, err := servertest.TURNAllocate(t, ice); err == nil {
		t.Fatal("the credentials of a participant that left were accepted")
	}
	if st := srv.TURNStats(); st.Revoked != relay.PerParticipant || st.RefusedRevoked != 1 || st.Sessions != 0 {
		t.Errorf("TURN stats after the leave: %+v", st)
	}
	page = metricsPage(t, srv)
	for _, want := range []string{
		"parley_turn_allocations 0\n",
		"parley_turn_allocations_revoked_total " + strconv.Itoa(relay.PerParticipant) + "\n",
		`parley_turn_allocations_refused_total{reason="revoked"} 1` + "\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// A participant that takes its seat back (same id, from another tab) gets new
// credentials; the replaced connection's stop working.
func TestTURNCredentialsOfAReplacedSessionAreRefused(t *testing.T) {
	srv := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := dial(t, ctx, srv, "r", "two-tabs", auth.GrantJoin)
	old := first.Welcome().ICEServers[0]
	if _, err := servertest.TURNAllocate(t, old); err != nil {
		t.Fatal(err)
	}
	second := dial(t, ctx, srv, "r", "two-tabs", auth.GrantJoin)
	if second.Welcome().Self.ID != first.Welcome().Self.ID {
		t.Fatalf("the seat was not taken back: ids %s and %s", first.Welcome().Self.ID, second.Welcome().Self.ID)
	}
	fresh := second.Welcome().ICEServers[0]
	if fresh.Username == old.Username {
		t.Fatalf("the new session got the old credentials %q", old.Username)
	}
	if st := srv.TURNStats(); st.Allocations != 0 || st.Revoked != 1 {
		t.Errorf("the replaced session's allocation: %+v", st)
	}
	if _, err := servertest.TURNAllocate(t, old); err == nil {
		t.Error("the replaced session's credentials were accepted")
	}
	if _, err := servertest.TURNAllocate(t, fresh); err != nil {
		t.Errorf("the new session's credentials were refused: %v", err)
	}
}
