package client

import (
	"context"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// SyntheticTrack returns a track that Pump can feed: Opus for audio, VP8 for
// video. The server forwards without decoding, so the payload only needs the
// right size and rhythm.
func SyntheticTrack(kind webrtc.RTPCodecType, id, streamID string) (*webrtc.TrackLocalStaticRTP, error) {
	codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	if kind == webrtc.RTPCodecTypeVideo {
		codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	}
	return webrtc.NewTrackLocalStaticRTP(codec, id, streamID)
}

// Pump writes packets to t until ctx ends: audio 50 packets/s of 80 bytes,
// video 30 frames/s of ~1000 bytes (about 250 kbit/s), with a VP8 payload
// descriptor marking a keyframe every 2 s.
func Pump(ctx context.Context, t *webrtc.TrackLocalStaticRTP) {
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	interval, size, tsStep := 20*time.Millisecond, 80, uint32(960)
	if video {
		interval, size, tsStep = 33*time.Millisecond, 1000, 3000
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	payload := make([]byte, size)
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true}}
	var frame int
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if video {
			payload[0] = 0x10 // VP8 descriptor: start of partition
			payload[1] = 0x01 // inter frame
			if frame%60 == 0 {
				payload[1] = 0x00 // keyframe (P bit clear)
			}
		}
		pkt.Payload = payload
		pkt.SequenceNumber++
		pkt.Timestamp += tsStep
		frame++
		if err := t.WriteRTP(pkt); err != nil {
			return
		}
	}
}
