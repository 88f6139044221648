package webhook_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/cluster/redistest"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/server/servertest"
	"github.com/parleyhq/parley/webhook"
)

// TestSpanningMeetingIsOneMeeting: a meeting spanning two nodes, each
// sending the operator's webhooks, reaches the receiver as one meeting:
// started once, each join and leave once, and finished once, at its end,
// even though the node that opened it emptied first: it keeps the room,
// empty, while the other node seats people, whether they stay a while or
// leave at once.
func TestSpanningMeetingIsOneMeeting(t *testing.T) {
	rc := newReceiver(t, nil)
	r := redistest.Start(t)
	nodes := servertest.StartCluster(t, r.URL(), []string{"node-a", "node-b"}, func(c *config.Config) {
		c.SpanRooms, c.ReconnectGrace = true, 0
		c.Webhooks = []config.Webhook{{URL: rc.URL(), Secret: secret}}
	})
	a, b := nodes[0], nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for len(b.Cluster().Peers()) != 1 || len(a.Cluster().Peers()) != 1 {
		if ctx.Err() != nil {
			t.Fatal("the nodes never saw each other")
		}
		time.Sleep(50 * time.Millisecond)
	}
	meeting(t, ctx, a, b, "summit", true)
	meeting(t, ctx, a, b, "brief", false)

	for _, room := range []string{"summit", "brief"} {
		rc.waitFor(t, ctx, room+" finished", func(reqs []request) bool {
			for _, r := range reqs {
				if r.event.Room == room && r.event.Type == webhook.RoomFinished {
					return true
				}
			}
			return false
		})
	}
	time.Sleep(time.Second) // a second room_finished, were one coming, would be queued by now
	for _, room := range []string{"summit", "brief"} {
		var got []string
		count := map[string]int{}
		for _, r := range rc.requests() {
			if r.event.Room == room {
				got = append(got, r.event.Type)
				count[r.event.Type]++
			}
		}
		for typ, want := range map[string]int{webhook.RoomStarted: 1, webhook.ParticipantJoined: 2,
			webhook.ParticipantLeft: 2, webhook.RoomFinished: 1} {
			if count[typ] != want {
				t.Errorf("%s: %d %s events, want %d (all: %v)", room, count[typ], typ, want, got)
			}
		}
		// Each node sends its own participants' events, so they may arrive
		// out of order between nodes; their times say what happened when.
		var last webhook.Event
		for _, r := range rc.requests() {
			if r.event.Room == room && !r.event.Time.Before(last.Time) {
				last = r.event
			}
		}
		if last.Type != webhook.RoomFinished {
			t.Errorf("%s: the meeting did not end last: %v, the last %+v", room, got, last)
		}

	}
}

// meeting runs one: a chair on A, a guest on B; the chair leaves first, and
// the guest a second later, or at once.
func meeting(t *testing.T, ctx context.Context, a, b *server.Server, room string, stay bool) {
	t.Helper()
	chair := dial(t, ctx, a, room, "chair")
	guest := dial(t, ctx, b, room, "guest")
	if guest.URL() != b.URL() {
		t.Fatalf("the guest was sent to %s: the room does not span", guest.URL())
	}
	// The parts are linked once the chair sees the guest.
	if _, err := chair.WaitFor(ctx, func(typ string, raw []byte) bool {
		return typ == "participant-joined" && strings.Contains(string(raw), `"guest"`)
	}); err != nil {
		t.Fatalf("the chair on A never saw the guest on B: %v", err)
	}
	leave(t, chair)
	if _, err := guest.WaitFor(ctx, func(typ string, raw []byte) bool {
		return typ == "participant-left" && strings.Contains(string(raw), `"chair"`)
	}); err != nil {
		t.Fatalf("the guest never saw the chair leave: %v", err)
	}
	if stay {
		time.Sleep(time.Second)
		// A keeps the room, and its record, with nobody of its own in it.
		if rs := a.Rooms().Rooms(); len(rs) != 1 || rs[0].Name != room || rs[0].Part || rs[0].Participants != 0 {
			t.Errorf("A, its chair gone, the guest on B: %+v, want the room held, empty", rs)
		}
	}
	leave(t, guest)
	for len(b.Rooms().Rooms())+len(a.Rooms().Rooms()) > 0 {
		if ctx.Err() != nil {
			t.Fatal("A and B never closed the room")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
