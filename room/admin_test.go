package room_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/room"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/server/servertest"
	"github.com/parleyhq/parley/signal"
)

func dial(t *testing.T, ctx context.Context, srv *server.Server, roomName, identity string) *client.Client {
	t.Helper()
	tok, err := srv.Signer().Mint(auth.Claims{Subject: identity, Room: roomName,
		Grants:   []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe},
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: roomName, Token: tok})
	if err != nil {
		t.Fatalf("%s joins: %v", identity, err)
	}
	t.Cleanup(c.Close)
	return c
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCreatedRoomOutlivesItsParticipants(t *testing.T) {
	srv := servertest.Start(t)
	m := srv.Rooms()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.CreateRoom("summit", room.Settings{Languages: []string{"en"}}); err != nil {
		t.Fatal(err)
	}
	if err := m.CreateRoom("summit", room.Settings{}); !errors.Is(err, room.ErrRoomExists) {
		t.Fatalf("second create: %v", err)
	}
	c := dial(t, ctx, srv, "summit", "head-a")
	if err := c.Send(&signal.Leave{Type: "leave"}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the participant has left", func() bool {
		ps, err := m.Participants(ctx, "summit")
		return err == nil && len(ps) == 0
	})
	// Another round trip through the loop: the empty room is still there.
	st, err := m.RoomState(ctx, "summit")
	if err != nil || !st.Persistent || !slices.Equal(st.Languages, []string{"en"}) {
		t.Fatalf("state %+v, %v", st, err)
	}
	// A room made by a join is not persistent, and ends when empty.
	c = dial(t, ctx, srv, "lobby", "guest")
	if st, err := m.RoomState(ctx, "lobby"); err != nil || st.Persistent {
		t.Fatalf("lobby %+v, %v", st, err)
	}
	if err := c.Send(&signal.Leave{Type: "leave"}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the lobby ends", func() bool {
		_, err := m.RoomState(ctx, "lobby")
		return errors.Is(err, room.ErrNoRoom)
	})

	n, err := m.CloseRoom(ctx, "summit")
	if err != nil || n != 0 {
		t.Fatalf("close: %d, %v", n, err)
	}
	poll(t, "the closed room ends", func() bool {
		_, err := m.RoomState(ctx, "summit")
		return errors.Is(err, room.ErrNoRoom)
	})
	if _, err := m.CloseRoom(ctx, "summit"); !errors.Is(err, room.ErrNoRoom) {
		t.Fatalf("closing twice: %v", err)
	}
}

// A node with empty rooms the operator made must still shut down.
func TestShutdownEndsCreatedRooms(t *testing.T) {
	srv := servertest.Start(t)
	for i := range 3 {
		if err := srv.Rooms().CreateRoom(fmt.Sprint("r", i), room.Settings{Record: true}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("shutdown hangs on empty created rooms")
	}
	if err := srv.Rooms().CreateRoom("late", room.Settings{}); !errors.Is(err, room.ErrShuttingDown) {
		t.Fatalf("create after shutdown: %v", err)
	}
}

func TestCreateRoomLimitsAndValidation(t *testing.T) {
	srv := servertest.Start(t, func(c *config.Config) { c.MaxRooms = 1 })
	m := srv.Rooms()
	if err := m.CreateRoom("a b", room.Settings{}); !errors.Is(err, room.ErrInvalidRoom) {
		t.Fatalf("bad name: %v", err)
	}
	if err := m.CreateRoom("a", room.Settings{Codec: "mp4"}); !errors.Is(err, room.ErrInvalidSettings) {
		t.Fatalf("bad codec: %v", err)
	}
	if err := m.CreateRoom("a", room.Settings{}); err != nil {
		t.Fatal(err)
	}
	if err := m.CreateRoom("b", room.Settings{}); !errors.Is(err, room.ErrServerFull) {
		t.Fatalf("over max rooms: %v", err)
	}
}

// Updates run on the room's loop: concurrent ones never lose each other, and
// reads from any goroutine are safe (run with -race).
func TestConcurrentAdminRequests(t *testing.T) {
	srv := servertest.Start(t)
	m := srv.Rooms()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := m.CreateRoom("summit", room.Settings{}); err != nil {
		t.Fatal(err)
	}
	langs := []string{"en", "ru", "fr", "de", "es", "it", "pt", "zh"}
	var wg sync.WaitGroup
	for _, l := range langs {
		wg.Go(func() {
			_, err := m.UpdateSettings(ctx, "summit", func(s *room.Settings) { s.Languages = append(s.Languages, l) })
			if err != nil {
				t.Error(err)
			}
		})
	}
	// Meanwhile people come and go, and the operator looks.
	for i := range 3 {
		wg.Go(func() {
			c := dial(t, ctx, srv, "summit", fmt.Sprint("p", i))
			c.Close()
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if _, err := m.ListRooms(ctx); err != nil {
					t.Error(err)
				}
				if _, err := m.Participants(ctx, "summit"); err != nil {
					t.Error(err)
				}
				_ = srv.Rooms().Rooms()
				if s, err := m.RoomSettings("summit"); err != nil || len(s.Languages) > len(langs) {
					t.Error(s, err)
				}
			}
		})
	}
	wg.Wait()
	s, err := m.RoomSettings("summit")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(s.Languages)
	want := slices.Sorted(slices.Values(langs))
	if !slices.Equal(s.Languages, want) {
		t.Fatalf("languages %v, want %v: an update was lost", s.Languages, want)
	}
	st, err := m.RoomState(ctx, "summit")
	if err != nil || len(st.Languages) != len(langs) {
		t.Fatalf("channels %v, %v", st.Languages, err)
	}
	// An invalid update changes nothing.
	if _, err := m.UpdateSettings(ctx, "summit", func(s *room.Settings) { s.Codec = "x" }); !errors.Is(err, room.ErrInvalidSettings) {
		t.Fatalf("invalid update: %v", err)
	}
	if s2, _ := m.RoomSettings("summit"); s2.Codec != "" || len(s2.Languages) != len(langs) {
		t.Fatalf("an invalid update changed the settings: %+v", s2)
	}
}
