package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/parleyhq/parley/server/servertest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/bench"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server"
)

// startServer runs a node on free loopback ports with a fresh data folder.
func startServer(t *testing.T) (*server.Server, string) {
	t.Helper()
	var dir string
	srv := servertest.Start(t, func(c *config.Config) { dir = c.DataDir })
	return srv, dir
}

// documentedFields are the report's JSON fields as BENCHMARKS.md lists them.
var documentedFields = []string{
	"scenario", "rooms", "participants_per_room", "video_bitrate_bps",
	"clients", "joined", "failed", "failures",
	"window_seconds", "streams_published", "streams_expected", "streams_received",
	"published_packets_per_second", "published_bytes_per_second",
	"forwarded_packets_per_second", "forwarded_bytes_per_second",
	"packets_expected", "packets_lost", "loss_percent", "packets_reordered",
	"join_ms", "latency_ms", "server",
	"client_cpu_utilisation", "client_sched_latency_p99_ms", "client_udp_drops", "other_cpu_utilisation",
	"warnings",
}

var distributionFields = []string{"count", "median", "p95", "p99", "max"}

var serverFields = []string{
	"pid", "cpu_seconds", "cpu_utilisation", "stream_seconds",
	"cpu_seconds_per_stream_second", "cpu_us_per_forwarded_packet", "peak_rss_bytes", "vm_hwm_bytes", "udp_drops", "udp_drops_joining",
}

func TestMeetingRun(t *testing.T) {
	srv, data := startServer(t)
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
	defer cancel()
	start := time.Now()
	rep, err := bench.Run(ctx, bench.Config{
		Scenario: bench.Meeting, URL: srv.URL(), DataDir: data,
		Participants: 4, Duration: 5 * time.Second, Ramp: 20,
		// Modest video keeps the race detector on a busy 2-core machine ahead of the stream.
		Bitrate:   300_000,
		ServerPID: os.Getpid(), // the server runs in this process
		Progress:  &progress,
	})
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, progress.String())
	}
	t.Logf("run took %s\n%s", time.Since(start).Round(time.Millisecond), progress.String())
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text.String())
	if !strings.Contains(progress.String(), "bench: measuring") {
		t.Errorf("no progress lines:\n%s", progress.String())
	}

	// The JSON parses and carries every documented field.
	var out bytes.Buffer
	if err := rep.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, out.String())
	}
	hasAll := func(where string, obj map[string]any, fields []string) {
		for _, f := range fields {
			if _, ok := obj[f]; !ok {
				t.Errorf("%s: field %q missing", where, f)
			}
		}
	}
	hasAll("report", m, documentedFields)
	for _, d := range []string{"join_ms", "latency_ms"} {
		obj, _ := m[d].(map[string]any)
		hasAll(d, obj, distributionFields)
	}
	srvObj, _ := m["server"].(map[string]any)
	hasAll("server", srvObj, serverFields)
	if len(m) != len(documentedFields) {
		t.Errorf("report has %d fields, %d are documented: update BENCHMARKS.md and this test together", len(m), len(documentedFields))
	}

	// Everyone joined and hears everyone, with little loss.
	if rep.Clients != 4 || rep.Joined != 4 || rep.Failed != 0 {
		t.Errorf("clients %d, joined %d, failed %d (%v); want 4 joined", rep.Clients, rep.Joined, rep.Failed, rep.Failures)
	}
	if rep.StreamsExpected != 4*3*2 || rep.StreamsReceived != rep.StreamsExpected {
		t.Errorf("streams: %d of %d expected arrive; want 24", rep.StreamsReceived, rep.StreamsExpected)
	}
	if rep.LossPercent >= 1 {
		t.Errorf("loss %.2f%% (%d of %d), want < 1%%", rep.LossPercent, rep.PacketsLost, rep.PacketsExpected)
	}
	// Sane values.
	if rep.WindowSeconds < 4.5 || rep.WindowSeconds > 10 {
		t.Errorf("window %.2f s, want about 5", rep.WindowSeconds)
	}
	if rep.ForwardedPacketsPerSecond <= 0 || rep.ForwardedBytesPerSecond <= 0 || rep.PublishedPacketsPerSecond <= 0 {
		t.Errorf("rates: forwarded %.0f packets/s, %.0f B/s; published %.0f packets/s",
			rep.ForwardedPacketsPerSecond, rep.ForwardedBytesPerSecond, rep.PublishedPacketsPerSecond)
	}
	// Each of 4 publishers sends about 50 audio + 60 video packets/s to 3 others.
	if want := 4 * 3 * 100.0; rep.ForwardedPacketsPerSecond < want/2 {
		t.Errorf("forwarded %.0f packets/s, want about %.0f or more", rep.ForwardedPacketsPerSecond, want)
	}
	if l := rep.LatencyMs; l.Count == 0 || l.Median <= 0 || l.P99 < l.Median || l.Max < l.P99 || l.Max > 5000 {
		t.Errorf("latency %+v: want 0 < median <= p99 <= max < 5 s", l)
	}
	if j := rep.JoinMs; j.Count != 3 || j.Median <= 0 || j.P95 < j.Median || j.Max > 15000 {
		t.Errorf("join time %+v: want 3 samples (the first in the room has nobody to hear), 0 < median <= p95", j)
	}
	if s := rep.Server; s == nil || s.CPUSeconds <= 0 || s.CPUSecondsPerStreamSecond <= 0 || s.PeakRSSBytes == 0 ||
		s.StreamSeconds <= 0 || s.CPUMicrosPerPacket <= 0 {
		t.Errorf("server stats %+v: want positive CPU and memory", s)
	}
	if rep.ClientCPUUtilisation <= 0 {
		t.Errorf("client CPU %.3f, want > 0", rep.ClientCPUUtilisation)
	}
}

func TestRefusesWhatItMustNotDo(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		cfg  bench.Config
		want string
	}{
		{"remote host", bench.Config{Scenario: bench.Meeting, URL: "http://192.0.2.1:7880", Participants: 2, Duration: time.Second}, "loopback"},
		{"remote name", bench.Config{Scenario: bench.Meeting, URL: "http://example.com", Participants: 2, Duration: time.Second}, "loopback"},
		{"unknown scenario", bench.Config{Scenario: "party", URL: "http://127.0.0.1:1", Participants: 2, Duration: time.Second}, "unknown scenario"},
		{"lonely meeting", bench.Config{Scenario: bench.Meeting, URL: "http://127.0.0.1:1", Participants: 1, Duration: time.Second}, "at least 2"},
		{"no key", bench.Config{Scenario: bench.Webinar, URL: "http://127.0.0.1:1", DataDir: t.TempDir(), Participants: 1, Duration: time.Second}, "no signing key"},
	} {
		_, err := bench.Run(ctx, c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	_, err := bench.Run(ctx, bench.Config{Scenario: bench.Interpretation, URL: "http://127.0.0.1:1", Participants: 4, Duration: time.Second})
	if !errors.Is(err, bench.ErrNotYet) {
		t.Errorf("interpretation: %v, want ErrNotYet", err)
	}
	for _, ok := range []string{"http://127.0.0.1:7880", "http://localhost:7880", "http://[::1]:7880", "https://127.0.0.2"} {
		if err := bench.CheckLoopback(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// TestWHEPRun: the whep scenario publishes two cameras with WHIP and plays
// each to every viewer over its own light WHEP session; every stream
// arrives, and the sampled latency is measured.
func TestWHEPRun(t *testing.T) {
	srv, data := startServer(t)
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
	defer cancel()
	rep, err := bench.Run(ctx, bench.Config{
		Scenario: bench.WHEP, URL: srv.URL(), DataDir: data,
		Publishers: 2, Participants: 3, Duration: 3 * time.Second, Ramp: 20,
		Bitrate: 300_000, Sample: 4, Progress: &progress,
	})
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, progress.String())
	}
	if rep.Clients != 5 || rep.Joined != 5 || rep.Failed != 0 {
		t.Errorf("clients %d, joined %d, failed %d (%v); want 5 joined", rep.Clients, rep.Joined, rep.Failed, rep.Failures)
	}
	// 3 viewers x 2 cameras x (audio, video).
	if rep.StreamsExpected != 12 || rep.StreamsReceived != 12 {
		t.Errorf("streams: %d of %d expected arrive; want 12", rep.StreamsReceived, rep.StreamsExpected)
	}
	if rep.LossPercent >= 1 {
		t.Errorf("loss %.2f%% (%d of %d), want < 1%%", rep.LossPercent, rep.PacketsLost, rep.PacketsExpected)
	}
	// About a quarter of the packets are decrypted for their send time.
	expected := float64(rep.PacketsExpected)
	if l := rep.LatencyMs; float64(l.Count) < expected/8 || float64(l.Count) > expected/2 || l.Median <= 0 || l.Max > 5000 {
		t.Errorf("latency %+v of %.0f packets: want about one in 4 measured, 0 < median, max < 5 s", l, expected)
	}
}
