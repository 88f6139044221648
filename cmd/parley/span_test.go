package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/cluster/redistest"
	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/server/servertest"
	"github.com/parleyhq/parley/signal"
)

// TestKilledNodeSeatsAndRecordCarryOver: two nodes as processes, a recorded
// room spanning them, its owner killed with SIGKILL. Its participant joins
// again through the other node within 10 s and keeps its seat (participant
// id and identity), the survivor continues the record in a new one linked
// to the crashed one, and parley verify --previous checks the link.
func TestKilledNodeSeatsAndRecordCarryOver(t *testing.T) {
	bin := buildParley(t)
	rd := redistest.Start(t)
	key, keyFile := servertest.ClusterKey(t)
	node := func(id string) (string, string, *exec.Cmd) {
		data := t.TempDir()
		servertest.ShareKey(t, data, keyFile)
		url, _, cmd := serveBinaryIn(t, bin, data, "--redis", rd.URL(), "--node-id", id, "--span-rooms",
			"--record-all", "--checkpoint-interval", "300ms", "--reconnect-grace", "30s")
		return url, data, cmd
	}
	urlA, dataA, procA := node("node-a")
	urlB, dataB, _ := node("node-b")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, u := range []string{urlA, urlB} { // each sees the other
		for !strings.Contains(readyz(u), `"nodes":"2"`) {
			select {
			case <-ctx.Done():
				t.Fatalf("%s never saw the other node: %s", u, readyz(u))
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	signer := auth.NewSigner(key)
	mint := func(id string) string {
		tok, err := signer.Mint(auth.Claims{Subject: id, Room: "summit", Grants: []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe},
			IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	keys := map[string]ed25519.PrivateKey{}
	join := func(url, id, resume string) *client.Client {
		if keys[id] == nil {
			_, keys[id], _ = ed25519.GenerateKey(rand.Reader)
		}
		c, err := client.Dial(ctx, client.Options{URL: url, Room: "summit", Token: mint(id), Key: keys[id], Resume: resume})
		if err != nil {
			t.Fatalf("%s joins at %s: %v", id, url, err)
		}
		t.Cleanup(c.Close)
		if c.URL() != url {
			t.Fatalf("%s was sent to %s, want %s", id, c.URL(), url)
		}
		return c
	}
	headA := join(urlA, "head-a", "")
	headB := join(urlB, "head-b", "") // A holds the room: B opens a part of it
	for id, c := range map[string]*client.Client{"head-a": headA, "head-b": headB} {
		if err := servertest.PublishAV(ctx, c, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := servertest.WaitInbound(ctx, headB, 2, 2000); err != nil {
		t.Fatalf("head-b never received head-a through the relay: %v", err)
	}
	if !slices.Contains(headA.Welcome().Nodes, urlB) {
		t.Errorf("head-a's welcome names %v as other nodes, want %s", headA.Welcome().Nodes, urlB)
	}
	seat, resume := headA.Welcome().Self.ID, headA.Welcome().Resume
	time.Sleep(1500 * time.Millisecond) // checkpoints of the record, heard by B

	if err := procA.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = procA.Wait()
	killed := time.Now()
	recA := onlyRecordIn(t, dataA)

	// head-a's client finds its node gone and joins again through B.
	headA.Close()
	back := join(urlB, "head-a", resume)
	took := time.Since(killed)
	if got := back.Welcome().Self.ID; got != seat {
		t.Errorf("head-a came back as %s, want its seat %s", got, seat)
	}
	if took > 10*time.Second {
		t.Errorf("head-a was back in the room %s after the kill, want within 10 s", took)
	}
	t.Logf("head-a back in the room through B %s after the kill", took.Round(time.Millisecond))
	if _, err := headB.WaitFor(ctx, func(typ string, raw []byte) bool {
		return typ == "participant-updated" && bytes.Contains(raw, []byte(seat)) && bytes.Contains(raw, []byte(`"state":"active"`))
	}); err != nil {
		t.Fatalf("head-b never saw head-a back: %v", err)
	}
	if err := servertest.PublishAV(ctx, back, "head-a"); err != nil {
		t.Fatal(err)
	}

	// B takes the room's claim once A's registration expires, and goes on
	// recording in a record linked to A's.
	var recB string
	for recB == "" {
		if rs, _ := filepath.Glob(filepath.Join(dataB, "records", "*")); len(rs) == 1 {
			if rep, err := record.Verify(rs[0], record.VerifyOptions{}); err == nil && rep.Continues != nil {
				recB = rs[0]
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("B never continued the record")
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Logf("B continues the record %s after the kill", time.Since(killed).Round(time.Millisecond))
	time.Sleep(time.Second)
	for _, c := range []*client.Client{back, headB} {
		if err := c.Send(&signal.Leave{Type: "leave"}); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := exec.Command(bin, "key", "export", "--data", dataB).Output()
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for { // sealed and ended once the last participant left
		out, err = exec.Command(bin, "verify", recB, "--previous", recA, "--server-key", strings.TrimSpace(string(pub))).CombinedOutput()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("parley verify --previous never passed: %v\n%s", err, out)
		case <-time.After(300 * time.Millisecond):
		}
	}
	for _, want := range []string{"INCOMPLETE: INTACT UP TO ITS LAST CHECKPOINT", "continues record", "link: INTACT"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
}

// onlyRecordIn is the one record in a node's data folder.
func onlyRecordIn(t *testing.T, data string) string {
	t.Helper()
	recs, _ := filepath.Glob(filepath.Join(data, "records", "*"))
	if len(recs) != 1 {
		t.Fatalf("records: %v", recs)
	}
	return recs[0]
}

// readyz is a node's /readyz body ("" when it does not answer).
func readyz(url string) string {
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
