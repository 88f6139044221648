package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/signal"
)

// buildParley compiles the command once per test run.
func buildParley(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "parley")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serveBinary starts the compiled server with a fresh data folder and the
// arguments given, and returns its URL, its data folder and the process.
func serveBinary(t *testing.T, bin string, args ...string) (string, string, *exec.Cmd) {
	t.Helper()
	return serveBinaryIn(t, bin, t.TempDir(), args...)
}

// serveBinaryIn is serveBinary on a data folder the test prepared.
func serveBinaryIn(t *testing.T, bin, data string, args ...string) (string, string, *exec.Cmd) {
	t.Helper()
	srv := exec.Command(bin, append([]string{"serve", "--data", data, "--listen", "127.0.0.1:0", "--udp-port", "0"}, args...)...)
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	url := ""
	sc := bufio.NewScanner(stderr)
	re := regexp.MustCompile(`http=(http://127\.0\.0\.1:\d+)`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
			break
		}
	}
	if url == "" {
		t.Fatal("the server did not say where it serves")
	}
	go func() { // keep draining so the server never blocks on its log
		for sc.Scan() {
		}
	}()
	return url, data, srv
}

// kill9 ends the server as a crash would, and returns its one record.
func kill9(t *testing.T, srv *exec.Cmd, data string) string {
	t.Helper()
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = srv.Wait()
	recs, _ := filepath.Glob(filepath.Join(data, "records", "*"))
	if len(recs) != 1 {
		t.Fatalf("records after the crash: %v", recs)
	}
	return recs[0]
}

// TestCrashMidRecordingLeavesAVerifiableRecord kills the server with SIGKILL
// during a recorded call: the record must verify up to its last checkpoint and
// say where it stops.
func TestCrashMidRecordingLeavesAVerifiableRecord(t *testing.T) {
	bin := buildParley(t)
	url, data, srv := serveBinary(t, bin, "--record-all", "--checkpoint-interval", "300ms")

	key, err := auth.LoadKey(data)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.NewSigner(key).Mint(auth.Claims{Subject: "head-a", Room: "summit", Grants: []auth.Grant{auth.GrantJoin, auth.GrantPublish},
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{URL: url, Room: "summit", Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, _ := client.SyntheticTrack(webrtc.RTPCodecTypeAudio, "a", "s")
	v, _ := client.SyntheticTrack(webrtc.RTPCodecTypeVideo, "v", "s")
	if err := c.Publish(ctx, map[webrtc.TrackLocal]string{a: signal.SourceMic, v: signal.SourceCamera}); err != nil {
		t.Fatal(err)
	}
	go client.Pump(ctx, a)
	go client.Pump(ctx, v)
	time.Sleep(4 * time.Second) // several checkpoints and media chunks (the synthetic camera sends a keyframe every 2 s)

	recs := []string{kill9(t, srv, data)}
	pub, err := exec.Command(bin, "key", "export", "--data", data).Output()
	if err != nil {
		t.Fatal(err)
	}
	// By default a record must end: this one cannot prove its end.
	out, err := exec.Command(bin, "verify", recs[0], "--server-key", strings.TrimSpace(string(pub))).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("verify of a crashed record, exit %v, want 1:\n%s", err, out)
	}
	for _, want := range []string{"INCOMPLETE (no end marker)", "last verifiable entry: event ", "--allow-unsealed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
	// Accepted as incomplete, it verifies up to its last checkpoint.
	out, err = exec.Command(bin, "verify", "--allow-unsealed", recs[0], "--server-key", strings.TrimSpace(string(pub))).CombinedOutput()
	if err != nil {
		t.Fatalf("verify --allow-unsealed after a crash: %v\n%s", err, out)
	}
	for _, want := range []string{"INCOMPLETE: INTACT UP TO ITS LAST CHECKPOINT", "not sealed", "checkpoints, the last covering event", "note: incomplete:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}

	// And a byte flipped in a committed part of the media still fails it.
	media, _ := filepath.Glob(filepath.Join(recs[0], "media", "*camera*"))
	if len(media) != 1 {
		t.Fatalf("camera files: %v", media)
	}
	b, _ := os.ReadFile(media[0])
	b[100] ^= 0xff
	os.WriteFile(media[0], b, 0o600)
	out, err = exec.Command(bin, "verify", recs[0], "--allow-unsealed").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "ALTERED") || !strings.Contains(string(out), "altered") {
		t.Fatalf("verify of an altered crashed record: %v\n%s", err, out)
	}
}

// TestVerifyRequiresTheEndMarker runs parley verify on records written in
// process: complete, cut at its end marker, cut before its seal, altered.
func TestVerifyRequiresTheEndMarker(t *testing.T) {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := base64.RawURLEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	rec, err := record.Start(record.Options{Root: t.TempDir(), Room: "summit", Key: key, CheckpointEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rec.Event("join", "PA_1", "head-a", nil, time.Now())
	if _, err := rec.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	rec.Event("chat", "PA_1", "head-a", map[string]string{"text": "agreed"}, time.Now())
	if _, err := rec.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	logText, err := os.ReadFile(filepath.Join(rec.Dir(), record.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	ls := strings.SplitAfter(string(logText), "\n") // start, join, checkpoint, chat, stop, seal, end, ""
	if len(ls) != 8 {
		t.Fatalf("log:\n%s", logText)
	}
	run := func(t *testing.T, log string, args ...string) (int, string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(rec.Dir(), record.LogFile), []byte(log), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errb strings.Builder
		err := verify(append(args, "--server-key", pub), &out, &errb)
		var ee exitError
		switch {
		case err == nil:
			return 0, out.String()
		case errors.As(err, &ee):
			return ee.code, out.String()
		}
		t.Fatalf("verify: %v\n%s", err, errb.String())
		return 0, ""
	}
	cases := []struct {
		name string
		log  string
		args []string
		code int
		want []string
	}{
		{"complete", string(logText), nil, 0, []string{": INTACT\n", "the end marker signs all 7 events"}},
		{"without its end marker", strings.Join(ls[:6], ""), nil, 1,
			[]string{"INCOMPLETE (no end marker)", "last verifiable entry: event 6", "sealed but has no end marker", "--allow-unsealed"}},
		{"without its end marker, allowed", strings.Join(ls[:6], ""), []string{"--allow-unsealed"}, 0,
			[]string{"INCOMPLETE: INTACT UP TO ITS SEAL (no end marker)", "note: incomplete"}},
		{"cut before its seal", strings.Join(ls[:4], ""), nil, 1,
			[]string{"INCOMPLETE (no end marker)", "last verifiable entry: event 3"}},
		{"cut before its seal, allowed", strings.Join(ls[:4], ""), []string{"--allow-unsealed"}, 0,
			[]string{"INCOMPLETE: INTACT UP TO ITS LAST CHECKPOINT (not sealed)", "verified up to event 3"}},
		{"its end respelled, allowed", strings.Join(ls[:6], "") + strings.Replace(ls[6], `,"`, `, "`, 1), []string{"--allow-unsealed"}, 1,
			[]string{"ALTERED", "first problem: event 7: altered"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out := run(t, c.log, append(c.args, rec.Dir())...)
			if code != c.code {
				t.Errorf("exit %d, want %d", code, c.code)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// mintFor signs a token for identity in room with the server's key in data.
func mintFor(t *testing.T, data, room, identity string, grants ...auth.Grant) string {
	t.Helper()
	key, err := auth.LoadKey(data)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.NewSigner(key).Mint(auth.Claims{Subject: identity, Room: room, Grants: grants,
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestCrashJustAfterATrackStarts: a kill -9 at any moment around a track's
// start (its media file is created then) leaves a record that verifies as
// incomplete, never one with an "added" file.
func TestCrashJustAfterATrackStarts(t *testing.T) {
	bin := buildParley(t)
	for _, after := range []time.Duration{0, 30 * time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond} {
		url, data, srv := serveBinary(t, bin, "--record-all")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c, err := client.Dial(ctx, client.Options{URL: url, Room: "summit", Token: mintFor(t, data, "summit", "head-a", auth.GrantJoin, auth.GrantPublish)})
		if err != nil {
			t.Fatal(err)
		}
		a, _ := client.SyntheticTrack(webrtc.RTPCodecTypeAudio, "a", "s")
		v, _ := client.SyntheticTrack(webrtc.RTPCodecTypeVideo, "v", "s")
		go client.Pump(ctx, a)
		go client.Pump(ctx, v)
		if err := c.Publish(ctx, map[webrtc.TrackLocal]string{a: signal.SourceMic, v: signal.SourceCamera}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(after)
		dir := kill9(t, srv, data)
		c.Close()
		cancel()
		out, err := exec.Command(bin, "verify", "--allow-unsealed", dir).CombinedOutput()
		if err != nil || strings.Contains(string(out), "ALTERED") {
			t.Fatalf("killed %s after publishing: verify --allow-unsealed: %v\n%s", after, err, out)
		}
	}
}

// TestCrashMidChatBurst: a kill -9 in the middle of a chat burst leaves a
// record that verifies as incomplete, whose signed part reaches to within
// about a second of the crash (a room event is checkpointed within a second,
// whatever the checkpoint interval), and whose last line is whole.
func TestCrashMidChatBurst(t *testing.T) {
	bin := buildParley(t)
	url, data, srv := serveBinary(t, bin, "--record-all", "--checkpoint-interval", "30s")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, k, _ := ed25519.GenerateKey(nil)
	c, err := client.Dial(ctx, client.Options{URL: url, Room: "summit", Key: k, Token: mintFor(t, data, "summit", "head-a", auth.GrantJoin)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sent := 0
	start := time.Now()
	for time.Since(start) < 3500*time.Millisecond { // not a whole number of seconds: the kill falls between checkpoints
		if err := c.Send(&signal.ChatSend{Type: "chat", Text: strings.Repeat("word ", 20)}); err != nil {
			t.Fatal(err)
		}
		sent++
		time.Sleep(10 * time.Millisecond)
	}
	killedAt := time.Now()
	dir := kill9(t, srv, data)
	rep, err := record.Verify(dir, record.VerifyOptions{})
	if err != nil {
		t.Fatalf("verify of a record killed mid-burst: %v", err)
	}
	if rep.End.IsZero() || killedAt.Sub(rep.End) > 2*time.Second {
		t.Errorf("the signed part ends at %v, %s before the crash: a crash lost more than about a second of it",
			rep.End, killedAt.Sub(rep.End))
	}
	t.Logf("%d chat lines sent in 3.5 s; the log holds %d entries, the last checkpoint signs %d of them and ends %s before the kill", sent, rep.Entries, rep.LastSigned-1, killedAt.Sub(rep.End).Round(time.Millisecond))
}
