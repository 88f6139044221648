package whip_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server/servertest"
)

// slowRead reads like a client on a slow link: 64 KiB every 10 ms.
func slowRead(r io.Reader) (int64, error) {
	var total int64
	for {
		n, err := io.CopyN(io.Discard, r, 64<<10)
		total += n
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return total, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A ban ends what the banned token opened: its WHEP player, its TURN
// allocation and its record download stop, and new attempts are refused.
func TestBanEndsWhatTheTokenOpened(t *testing.T) {
	var dataDir string
	srv := servertest.Start(t, func(c *config.Config) { dataDir = c.DataDir; c.TURN = true })
	id := servertest.FakeRecord(t, dataDir, "hall", 64<<20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	speaker := dial(t, ctx, srv, "hall", "speaker", all...)
	publishAV(t, ctx, speaker, "speaker")

	grants := []auth.Grant{auth.GrantJoin, auth.GrantSubscribe, auth.GrantRecord}
	token := mint(t, srv, "hall", "guest", grants...)
	guest := dial(t, ctx, srv, "hall", "guest", grants...)
	// …holds a TURN allocation…
	ice := guest.Welcome().ICEServers
	if len(ice) == 0 {
		t.Fatal("no TURN credentials in the welcome")
	}
	if _, err := servertest.TURNAllocate(t, ice[0]); err != nil {
		t.Fatalf("the guest's TURN allocation: %v", err)
	}
	turnBefore := srv.TURNStats() // the clients' own connections may hold allocations too

	// The guest's token also watches the speaker over WHEP…
	player := newPeer(t)
	player.receiveAV(t)
	resp, body := request(t, "POST", srv.URL()+"/whep/hall/speaker", token, "application/sdp", []byte(player.offer(t, true)))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP: %d %s", resp.StatusCode, body)
	}
	player.answer(t, string(body))
	poll(t, "the player to receive video", func() bool { return player.received("video") > 20 })
	vs, err := srv.Rooms().Viewers(ctx, "hall")
	if err != nil || len(vs) != 1 || vs[0].Watcher != "guest" || vs[0].Watched != "speaker" {
		t.Fatalf("viewers: %+v, %v", vs, err)
	}

	// …and downloads the record, slowly.
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL()+"/records/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	dl, err := http.DefaultClient.Do(req)
	if err != nil || dl.StatusCode != http.StatusOK {
		t.Fatalf("download: %v %v", dl, err)
	}
	defer dl.Body.Close()
	rd := bufio.NewReaderSize(dl.Body, 64<<10)
	if _, err := io.CopyN(io.Discard, rd, 1<<20); err != nil {
		t.Fatalf("the download's first MiB: %v", err)
	}

	if err := srv.Rooms().RemoveParticipant(ctx, "hall", "guest", true); err != nil {
		t.Fatal(err)
	}
	banned := time.Now()

	// The room forgets the viewer, and the relay the guest's allocation, at once.
	if vs, _ := srv.Rooms().Viewers(ctx, "hall"); len(vs) != 0 {
		t.Errorf("viewers after the ban: %+v", vs)
	}
	if st := srv.TURNStats(); st.Revoked < turnBefore.Revoked+1 || st.Allocations >= turnBefore.Allocations {
		t.Errorf("TURN after the ban: %+v (before: %+v)", st, turnBefore)
	}
	// The download is cut: the client reads what the sockets' buffers held
	// (a few MiB on loopback), then the connection ends, short of the record.
	n, err := slowRead(rd)
	if err == nil || n >= 32<<20 {
		t.Fatalf("the download went on after the ban: %d more bytes (%v)", n, err)
	}
	t.Logf("download ended %v after the ban, %d bytes after it (%v)", time.Since(banned).Round(time.Millisecond), n, err)
	poll(t, "the WHEP player's connection to end", func() bool { return !player.connected() })
	t.Logf("player disconnected %v after the ban", time.Since(banned).Round(time.Millisecond))

	// New attempts with the same token and credentials are refused.
	if _, err := servertest.TURNAllocate(t, ice[0]); err == nil {
		t.Error("the banned guest's TURN credentials still allocate")
	}
	again := newPeer(t)
	again.receiveAV(t)
	resp, body = request(t, "POST", srv.URL()+"/whep/hall/speaker", token, "application/sdp", []byte(again.offer(t, true)))
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("WHEP after the ban: %d %s", resp.StatusCode, body)
	}
	for _, path := range []string{"/records/" + id, "/records?room=hall"} {
		resp, body = request(t, "GET", srv.URL()+path, token, "", nil)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "revoked") {
			t.Errorf("GET %s after the ban: %d %s", path, resp.StatusCode, body)
		}
	}
}
