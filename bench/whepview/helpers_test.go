package whepview_test

import (
	"context"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/bench/whepview"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/server/servertest"
	"github.com/parleyhq/parley/signal"
)

// publishCamera joins identity to room and publishes a synthetic microphone
// and camera shaped by cfg, sending until ctx ends.
func publishCamera(t *testing.T, ctx context.Context, srv *server.Server, room, identity string, cfg client.SourceConfig) {
	t.Helper()
	pub := servertest.Dial(t, ctx, srv, room, identity, servertest.Everyone...)
	tracks := map[webrtc.TrackLocal]string{}
	var sources []*client.Source
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		s, err := client.NewSource(kind, identity+"-"+kind.String(), identity, cfg)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, s)
		name := signal.SourceMic
		if kind == webrtc.RTPCodecTypeVideo {
			name = signal.SourceCamera
		}
		tracks[s.Track()] = name
	}
	if err := pub.Publish(ctx, tracks); err != nil {
		t.Fatal(err)
	}
	for _, s := range sources {
		go s.Run(ctx)
	}
}

// viewerKit is what viewers share: a certificate and a reader, closed at
// the end of the test.
func viewerKit(t *testing.T) (*whepview.Certificate, *whepview.Reader) {
	t.Helper()
	cert, err := whepview.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	reader, err := whepview.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reader.Close)
	return cert, reader
}
