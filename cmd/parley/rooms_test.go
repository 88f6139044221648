package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/adminclient"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/cluster/redistest"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server/servertest"
	"github.com/parleyhq/parley/signal"
)

// runCLI runs the command in process and returns its exit code and output.
func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRoomsCommand(t *testing.T) {
	data := t.TempDir()
	srv := servertest.Start(t, func(c *config.Config) { c.DataDir = data })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := []string{"--url", srv.URL(), "--data", data}
	rooms := func(want int, args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(append(append([]string{"rooms"}, args...), conn...)...)
		if code != want {
			t.Fatalf("parley rooms %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out + errOut
	}

	if out := rooms(0, "list"); !strings.Contains(out, "no rooms") {
		t.Fatalf("list: %s", out)
	}
	out := rooms(0, "create", "summit", "--languages", "en,ru", "--max-participants", "5", "--codec", "vp9")
	if !strings.Contains(out, "summit") || !strings.Contains(out, "en,ru") || !strings.Contains(out, "vp9") {
		t.Fatalf("create: %s", out)
	}
	if out := rooms(1, "create", "summit"); !strings.Contains(out, "room_exists") {
		t.Fatalf("create twice: %s", out)
	}
	if out := rooms(1, "create", "other", "--codec", "h265"); !strings.Contains(out, "codec") {
		t.Fatalf("bad codec: %s", out)
	}
	// Flags go before or after the arguments.
	out = rooms(0, "--json", "update", "summit", "--e2ee-required=false", "--record")
	var room adminclient.Room
	if err := json.Unmarshal([]byte(out), &room); err != nil || !room.Settings.Record || room.Settings.Codec != "vp9" || room.Settings.MaxParticipants != 5 {
		t.Fatalf("update --json: %v\n%s", err, out)
	}

	tok, err := srv.Signer().Mint(auth.Claims{Subject: "head-a", Name: "Head A", Room: "summit",
		Grants:   []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe},
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "summit", Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mic, err := client.SyntheticTrack(webrtc.RTPCodecTypeAudio, "a", "head-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, map[webrtc.TrackLocal]string{mic: signal.SourceMic}); err != nil {
		t.Fatal(err)
	}
	go client.Pump(ctx, mic)

	if out := rooms(0, "list"); !strings.Contains(out, "summit") || !strings.Contains(out, " 1 ") {
		t.Fatalf("list with one participant: %s", out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for out = rooms(0, "participants", "summit"); !strings.Contains(out, "mic"); out = rooms(0, "participants", "summit") {
		if time.Now().After(deadline) {
			t.Fatalf("participants never showed the mic: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out, "head-a") || !strings.Contains(out, "Head A") {
		t.Fatalf("participants: %s", out)
	}

	if out := rooms(0, "mute", "summit", "head-a"); !strings.Contains(out, "mic (muted)") {
		t.Fatalf("mute: %s", out)
	}
	if _, err := c.WaitFor(ctx, func(typ string, _ []byte) bool { return typ == "muted" }); err != nil {
		t.Fatalf("the client never heard it was muted: %v", err)
	}
	if out := rooms(0, "grants", "summit", "head-a", "join,subscribe"); !strings.Contains(out, "join,subscribe") || strings.Contains(out, "mic") {
		t.Fatalf("grants: %s", out)
	}
	if out := rooms(2, "grants", "summit", "head-a", "join,fly"); !strings.Contains(out, "fly") {
		t.Fatalf("unknown grant: %s", out)
	}

	// The record setting started a record at the join.
	if out := rooms(1, "record", "summit", "start"); !strings.Contains(out, "already_recording") {
		t.Fatalf("record start while recording: %s", out)
	}
	if out := rooms(0, "record", "summit", "stop"); !strings.Contains(out, "sealed") {
		t.Fatalf("record stop: %s", out)
	}
	out = rooms(0, "record", "summit", "start")
	if !strings.Contains(out, "recording summit") {
		t.Fatalf("record start: %s", out)
	}
	rooms(0, "record", "summit", "stop")
	deadline = time.Now().Add(20 * time.Second)
	for out = rooms(0, "recordings", "--room", "summit"); strings.Count(out, " yes ") < 2; out = rooms(0, "recordings", "--room", "summit") {
		if time.Now().After(deadline) {
			t.Fatalf("two sealed records never showed: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// --json prints the API's answer, the list in its envelope.
	var recs adminclient.RecordList
	if err := json.Unmarshal([]byte(rooms(0, "recordings", "--room", "summit", "--json")), &recs); err != nil || len(recs.Recordings) != 2 {
		t.Fatalf("recordings --json: %+v, %v", recs, err)
	}

	if out := rooms(0, "remove", "summit", "head-a", "--ban"); !strings.Contains(out, "removed") {
		t.Fatalf("remove: %s", out)
	}
	if _, err := c.WaitFor(ctx, func(typ string, _ []byte) bool { return typ == "removed" }); err != nil {
		t.Fatalf("the client never heard it was removed: %v", err)
	}
	if out := rooms(1, "remove", "summit", "head-a"); !strings.Contains(out, "participant_not_found") {
		t.Fatalf("remove twice: %s", out)
	}
	if out := rooms(0, "close", "summit"); !strings.Contains(out, "closed") {
		t.Fatalf("close: %s", out)
	}
	if out := rooms(1, "get", "nowhere"); !strings.Contains(out, "room_not_found") {
		t.Fatalf("get unknown: %s", out)
	}

	// Usage errors exit 2 without calling the server.
	for _, args := range [][]string{{"mute", "summit"}, {"record", "summit", "pause"}, {"frobnicate"}, {"update", "summit"}} {
		rooms(2, args...)
	}
	// A room token does not pass for an admin token.
	roomTok, _ := srv.Signer().Mint(auth.Claims{Subject: "x", Room: "summit", Grants: []auth.Grant{auth.GrantJoin},
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix()})
	if code, _, errOut := runCLI("rooms", "list", "--url", srv.URL(), "--token", roomTok); code != 1 || !strings.Contains(errOut, "forbidden") {
		t.Fatalf("room token: exit %d: %s", code, errOut)
	}
}

func TestTokenAdmin(t *testing.T) {
	data := t.TempDir()
	srv := servertest.Start(t, func(c *config.Config) { c.DataDir = data })
	code, out, errOut := runCLI("token", "--admin", "--data", data, "--ttl", "10m")
	if code != 0 {
		t.Fatalf("token --admin: exit %d: %s", code, errOut)
	}
	c, err := auth.NewVerifier(srv.Signer().PublicKey()).VerifyAdmin(strings.TrimSpace(out))
	if err != nil || c.Subject != "operator" {
		t.Fatalf("the minted admin token: %+v, %v", c, err)
	}
	if code, out, _ := runCLI("rooms", "list", "--url", srv.URL(), "--token", strings.TrimSpace(out)); code != 0 || !strings.Contains(out, "no rooms") {
		t.Fatalf("rooms list with the minted token: exit %d: %s", code, out)
	}
	if code, _, errOut := runCLI("token", "--admin", "--room", "summit", "--data", data); code != 2 || !strings.Contains(errOut, "--room") {
		t.Fatalf("token --admin --room: exit %d: %s", code, errOut)
	}
}

// TestRoomsListInACluster: any node lists every node's rooms, with their node.
func TestRoomsListInACluster(t *testing.T) {
	r := redistest.Start(t)
	var dirs []string
	nodes := servertest.StartCluster(t, r.URL(), []string{"node-a", "node-b"}, func(c *config.Config) { dirs = append(dirs, c.DataDir) })
	if code, out, errOut := runCLI("rooms", "create", "summit", "--url", nodes[0].URL(), "--data", dirs[0]); code != 0 {
		t.Fatalf("create on A: %d %s %s", code, out, errOut)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out, errOut := runCLI("rooms", "list", "--url", nodes[1].URL(), "--data", dirs[1])
		if code != 0 {
			t.Fatalf("list on B: %d %s %s", code, out, errOut)
		}
		if strings.Contains(out, "NODE") && strings.Contains(out, "summit") && strings.Contains(out, "node-a") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B never lists summit on node-a:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, out, _ := runCLI("rooms", "list", "--url", nodes[0].URL(), "--data", dirs[0])
	if !strings.Contains(out, "node-a (this)") {
		t.Errorf("A's own list does not mark its rooms:\n%s", out)
	}
}
