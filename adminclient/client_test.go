package adminclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley/adminclient"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/server/servertest"
)

func adminOf(t *testing.T, srv *server.Server) *adminclient.Client {
	t.Helper()
	return &adminclient.Client{URL: srv.URL() + "/", Token: servertest.Mint(t, srv, auth.AdminRoom, "operator", auth.GrantAdmin)}
}

// apiError fails the test unless err is an API error of status and code.
func apiError(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	var e *adminclient.Error
	if !errors.As(err, &e) || e.Status != status || e.Code != code || e.Message == "" {
		t.Fatalf("%s: %v, want an *Error %d %s", what, err, status, code)
	}
}

func TestClientAgainstANode(t *testing.T) {
	var dataDir string
	srv := servertest.Start(t, func(c *config.Config) { dataDir = c.DataDir })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := adminOf(t, srv)

	if rooms, err := c.ListRooms(ctx); err != nil || len(rooms) != 0 {
		t.Fatalf("rooms at first: %v, %v", rooms, err)
	}
	room, err := c.CreateRoom(ctx, "summit", adminclient.SettingsInput{Languages: new([]string{"en", "ru"}), Codec: new("vp9")})
	if err != nil {
		t.Fatal(err)
	}
	if room.Name != "summit" || !room.Persistent || !slices.Equal(room.Settings.Languages, []string{"en", "ru"}) || room.Settings.Codec != "vp9" {
		t.Fatalf("created: %+v", room)
	}
	_, err = c.CreateRoom(ctx, "summit", adminclient.SettingsInput{})
	apiError(t, "create twice", err, http.StatusConflict, "room_exists")
	_, err = c.CreateRoom(ctx, "other", adminclient.SettingsInput{Codec: new("h265")})
	apiError(t, "a bad codec", err, http.StatusBadRequest, "bad_request")

	// Only what is set changes; false and 0 can be set.
	if _, err := c.UpdateRoom(ctx, "summit", adminclient.SettingsInput{Record: new(true), MaxParticipants: new(5)}); err != nil {
		t.Fatal(err)
	}
	room, err = c.UpdateRoom(ctx, "summit", adminclient.SettingsInput{Record: new(false), MaxParticipants: new(0)})
	if err != nil || room.Settings.Record || room.Settings.MaxParticipants != 0 || room.Settings.Codec != "vp9" {
		t.Fatalf("update: %+v, %v", room.Settings, err)
	}

	p := servertest.Dial(t, ctx, srv, "summit", "head-a", servertest.Everyone...)
	if err := servertest.PublishAV(ctx, p, "head-a"); err != nil {
		t.Fatal(err)
	}
	var ps []adminclient.Participant
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ps, err = c.ListParticipants(ctx, "summit"); err != nil {
			t.Fatal(err)
		}
		if len(ps) == 1 && len(ps[0].Tracks) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("participants: %+v", ps)
		}
	}
	if ps[0].Identity != "head-a" || ps[0].State != "active" || !slices.Equal(ps[0].Grants, servertest.Everyone) {
		t.Fatalf("participant: %+v", ps[0])
	}
	got, err := c.MuteParticipant(ctx, "summit", "head-a", "mic", true)
	if i := slices.IndexFunc(got.Tracks, func(tr adminclient.Track) bool { return tr.Source == "mic" }); err != nil || i < 0 || !got.Tracks[i].Muted {
		t.Fatalf("mute: %+v, %v", got, err)
	}
	got, err = c.SetGrants(ctx, "summit", "head-a", []auth.Grant{auth.GrantJoin, auth.GrantSubscribe})
	if err != nil || !slices.Equal(got.Grants, []auth.Grant{auth.GrantJoin, auth.GrantSubscribe}) {
		t.Fatalf("grants: %+v, %v", got, err)
	}
	if vs, err := c.ListViewers(ctx, "summit"); err != nil || vs == nil || len(vs) != 0 {
		t.Fatalf("viewers: %v, %v", vs, err)
	}
	apiError(t, "remove an unknown viewer", c.RemoveViewer(ctx, "summit", "VW_nobody", true), http.StatusNotFound, "viewer_not_found")

	rec, err := c.StartRecording(ctx, "summit")
	if err != nil || !rec.Active || rec.Record == "" || time.Since(rec.Since) > time.Minute {
		t.Fatalf("start recording: %+v, %v", rec, err)
	}
	if room, err := c.GetRoom(ctx, "summit"); err != nil || room.Recording.Record != rec.Record || room.Participants != 1 {
		t.Fatalf("the recording room: %+v, %v", room, err)
	}
	stopped, err := c.StopRecording(ctx, "summit")
	if err != nil || stopped.Active || stopped.Record != rec.Record {
		t.Fatalf("stop recording: %+v, %v", stopped, err)
	}
	_, err = c.StopRecording(ctx, "summit")
	apiError(t, "stop twice", err, http.StatusConflict, "not_recording")
	other := servertest.FakeRecord(t, dataDir, "other", 10)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		recs, err := c.ListRecordings(ctx, "summit")
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 1 && recs[0].ID == rec.Record && recs[0].Sealed && recs[0].Bytes > 0 && recs[0].Room == "summit" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sealed record never showed: %+v", recs)
		}
	}
	if all, err := c.ListRecordings(ctx, ""); err != nil || len(all) != 2 || !slices.ContainsFunc(all, func(r adminclient.RecordInfo) bool { return r.ID == other }) {
		t.Fatalf("all records: %+v, %v", all, err)
	}

	if err := c.RemoveParticipant(ctx, "summit", "head-a", true); err != nil {
		t.Fatal(err)
	}
	apiError(t, "remove twice", c.RemoveParticipant(ctx, "summit", "head-a", false), http.StatusNotFound, "participant_not_found")
	if closed, err := c.CloseRoom(ctx, "summit"); err != nil || closed.Room != "summit" {
		t.Fatalf("close: %+v, %v", closed, err)
	}
	_, err = c.GetRoom(ctx, "summit")
	apiError(t, "a closed room", err, http.StatusNotFound, "room_not_found")
	// Names are escaped into the path, not read as more of it.
	_, err = c.GetRoom(ctx, "summit/participants")
	apiError(t, "a name with a slash", err, http.StatusNotFound, "room_not_found")

	if doc, err := c.OpenAPI(ctx); err != nil || len(doc) == 0 {
		t.Fatalf("openapi: %d bytes, %v", len(doc), err)
	}
}

func TestClientCredentials(t *testing.T) {
	srv := servertest.Start(t)
	ctx := t.Context()
	_, err := (&adminclient.Client{URL: srv.URL()}).ListRooms(ctx)
	apiError(t, "no token", err, http.StatusUnauthorized, "unauthorized")
	_, err = (&adminclient.Client{URL: srv.URL(), Token: servertest.Mint(t, srv, "summit", "x", auth.GrantJoin)}).ListRooms(ctx)
	apiError(t, "a room token", err, http.StatusForbidden, "forbidden")
	other := servertest.Start(t)
	_, err = (&adminclient.Client{URL: srv.URL(), Token: servertest.Mint(t, other, auth.AdminRoom, "operator", auth.GrantAdmin)}).ListRooms(ctx)
	apiError(t, "another node's admin token", err, http.StatusUnauthorized, "unauthorized")
}

// An answer that is not the API's (a proxy in front of the node) is an
// *Error too, with what it said.
func TestClientErrorOfAnotherServer(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream is down", http.StatusBadGateway)
	}))
	defer hs.Close()
	_, err := (&adminclient.Client{URL: hs.URL, Token: "x", HTTP: hs.Client()}).ListRooms(t.Context())
	var e *adminclient.Error
	if !errors.As(err, &e) || e.Status != http.StatusBadGateway || e.Code != "http" || e.Message != "upstream is down" {
		t.Fatalf("%#v", err)
	}

	hs2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html>not the API</html>"))
	}))
	defer hs2.Close()
	if _, err := (&adminclient.Client{URL: hs2.URL}).ListRooms(t.Context()); err == nil || errors.As(err, &e) {
		t.Fatalf("an answer that is no JSON: %v", err)
	}
}
