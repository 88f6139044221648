package api_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/adminclient"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/signal"
)

// recordingsOf lists the records through the API, by id: room's, or all
// for "".
func (n *testNode) recordingsOf(room string) map[string]adminclient.RecordInfo {
	n.t.Helper()
	recs, err := n.api.ListRecordings(n.ctx(), room)
	if err != nil {
		n.t.Fatalf("recordings: %v", err)
	}
	out := map[string]adminclient.RecordInfo{}
	for _, r := range recs {
		out[r.ID] = r
	}
	return out
}

func TestRecordingStartStop(t *testing.T) {
	data := t.TempDir()
	n := startNode(t, func(c *config.Config) {
		c.DataDir = data
		c.CheckpointInterval = 200 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if got := n.recordingsOf(""); len(got) != 0 {
		t.Fatalf("records before any: %v", got)
	}
	n.must("POST", "/api/v1/rooms", map[string]any{"name": "summit"}, http.StatusCreated)
	a := n.dial(ctx, "summit", "head-a", everyone...)
	publishAV(t, ctx, a, "head-a")

	res := n.must("POST", "/api/v1/rooms/summit/recording", nil, http.StatusOK)
	id, _ := res.body["record"].(string)
	if res.body["active"] != true || id == "" || res.body["since"] == nil {
		t.Fatalf("start: %s", res.raw)
	}
	n.fails("POST", "/api/v1/rooms/summit/recording", nil, http.StatusConflict, "already_recording")
	if rec := n.must("GET", "/api/v1/rooms/summit", nil, http.StatusOK).body["recording"].(map[string]any); rec["record"] != id {
		t.Fatalf("room's recording: %v", rec)
	}
	// The clients are told, as when a participant starts it.
	waitMsg(t, ctx, a, "room-updated", func(raw []byte) bool { return bytes.Contains(raw, []byte(id)) })
	// Some media reaches the record before it is sealed.
	eventually(t, "media is recorded", func() bool {
		files, _ := os.ReadDir(filepath.Join(data, record.Dir, id, record.MediaDir))
		return len(files) > 0
	})

	res = n.must("DELETE", "/api/v1/rooms/summit/recording", nil, http.StatusOK)
	if res.body["active"] != false || res.body["record"] != id {
		t.Fatalf("stop: %s", res.raw)
	}
	n.fails("DELETE", "/api/v1/rooms/summit/recording", nil, http.StatusConflict, "not_recording")

	// The record is in the data folder, sealed, and verifies.
	eventually(t, "the record is listed as sealed", func() bool {
		r := n.recordingsOf("")[id]
		return r.Sealed && r.Room == "summit" && r.Bytes > 0
	})
	rep, err := record.Verify(filepath.Join(data, record.Dir, id), record.VerifyOptions{ServerKey: n.srv.Signer().PublicKey()})
	if err != nil || !rep.Sealed {
		t.Fatalf("verify: %v (sealed %v)", err, rep != nil && rep.Sealed)
	}
	if got := n.recordingsOf("elsewhere"); len(got) != 0 {
		t.Fatalf("room filter: %v", got)
	}
	if got := n.recordingsOf("summit"); len(got) != 1 {
		t.Fatalf("room filter: %v", got)
	}
}

func TestRecordSettingAndCloseSeal(t *testing.T) {
	data := t.TempDir()
	n := startNode(t, func(c *config.Config) { c.DataDir = data })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n.must("POST", "/api/v1/rooms", map[string]any{"name": "summit", "settings": map[string]any{"record": true}}, http.StatusCreated)
	// Nobody yet: nothing is recorded.
	if rec := n.must("GET", "/api/v1/rooms/summit", nil, http.StatusOK).body["recording"].(map[string]any); rec["active"] != false {
		t.Fatalf("recording before the first join: %v", rec)
	}
	c := n.dial(ctx, "summit", "head-a", everyone...)
	if !c.Welcome().Room.Recording.Active {
		t.Fatalf("the first join found no recording: %+v", c.Welcome().Room.Recording)
	}
	first := c.Welcome().Room.Recording.Record
	if r, ok := n.recordingsOf("")[first]; !ok || r.Sealed {
		t.Fatalf("the running record: %v", r)
	}
	// A record covers one meeting: when the room empties it is sealed, and
	// the room stays for the next meeting, which gets a record of its own.
	if err := c.Send(&signal.Leave{Type: "leave"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the empty room's record is sealed", func() bool {
		return n.recordingsOf("")[first].Sealed
	})
	n.fails("POST", "/api/v1/rooms/summit/recording", nil, http.StatusConflict, "room_empty")
	c = n.dial(ctx, "summit", "head-b", everyone...)
	second := c.Welcome().Room.Recording.Record
	if !c.Welcome().Room.Recording.Active || second == first {
		t.Fatalf("the second meeting's recording: %+v", c.Welcome().Room.Recording)
	}
	// Closing the room seals its record.
	n.must("DELETE", "/api/v1/rooms/summit", nil, http.StatusOK)
	eventually(t, "closing seals the record", func() bool {
		return n.recordingsOf("")[second].Sealed
	})
}
