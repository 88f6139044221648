package server_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/signal"
)

// TestTrackKindMustMatchSource: video declared as a microphone is stopped with
// a clear error and reaches nobody, while the honest audio track flows.
func TestTrackKindMustMatchSource(t *testing.T) {
	srv := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	watcher := dial(t, ctx, srv, "kinds", "watcher", allGrants...)
	liar := dial(t, ctx, srv, "kinds", "liar", allGrants...)
	v, err := client.SyntheticTrack(webrtc.RTPCodecTypeVideo, "liar-v", "liar")
	if err != nil {
		t.Fatal(err)
	}
	a, err := client.SyntheticTrack(webrtc.RTPCodecTypeAudio, "liar-a", "liar")
	if err != nil {
		t.Fatal(err)
	}
	if err := liar.Publish(ctx, map[webrtc.TrackLocal]string{v: signal.SourceMic, a: signal.SourceScreenAudio}); err != nil {
		t.Fatal(err)
	}
	go client.Pump(ctx, v)
	go client.Pump(ctx, a)
	if _, err := liar.WaitFor(ctx, func(typ string, raw []byte) bool {
		return typ == "error" && bytes.Contains(raw, []byte("a mic track must be audio"))
	}); err != nil {
		t.Fatalf("no error about the mislabelled track: %v", err)
	}
	if err := waitInbound(ctx, watcher, 1, 2000); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	in := watcher.Inbound()
	if len(in) != 1 || in[0].Kind != "audio" {
		kinds := []string{}
		for _, i := range in {
			kinds = append(kinds, i.Kind)
		}
		t.Fatalf("the watcher receives %v, want only the audio track", kinds)
	}
}
