package main

import (
	"bufio"
	"context"
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

// TestCrashMidRecordingLeavesAVerifiableRecord kills the server with SIGKILL
// during a recorded call: the record must verify up to its last checkpoint and
// say where it stops.
func TestCrashMidRecordingLeavesAVerifiableRecord(t *testing.T) {
	bin := buildParley(t)
	data := t.TempDir()
	srv := exec.Command(bin, "serve", "--data", data, "--listen", "127.0.0.1:0", "--udp-port", "0",
		"--record-all", "--checkpoint-interval", "300ms")
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
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

	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = srv.Wait()

	recs, _ := filepath.Glob(filepath.Join(data, "records", "*"))
	if len(recs) != 1 {
		t.Fatalf("records after the crash: %v", recs)
	}
	pub, err := exec.Command(bin, "key", "export", "--data", data).Output()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "verify", recs[0], "--server-key", strings.TrimSpace(string(pub))).CombinedOutput()
	if err != nil {
		t.Fatalf("verify after a crash: %v\n%s", err, out)
	}
	for _, want := range []string{"INTACT UP TO ITS LAST CHECKPOINT", "not sealed", "checkpoints, the last covering event"} {
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
	out, err = exec.Command(bin, "verify", recs[0]).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "altered") {
		t.Fatalf("verify of an altered crashed record: %v\n%s", err, out)
	}
}
