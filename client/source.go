package client

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// SourceConfig shapes a Source's stream. Zero fields take the defaults noted.
type SourceConfig struct {
	// Bitrate is the video payload rate in bits per second (default 1 Mbit/s).
	Bitrate int
	// FPS is the video frame rate (default 30).
	FPS int
	// KeyframeInterval is the time between video keyframes (default 2 s).
	KeyframeInterval time.Duration
	// MaxPacket bounds one RTP packet, header included (default 1200 bytes).
	MaxPacket int
	// AudioBytes is the payload of one 20 ms audio packet (default 80, about 32 kbit/s).
	AudioBytes int
	// Pacing spreads a video frame's packets as a browser's pacer does: they
	// leave at Pacing times the bitrate (default 2.5, as in libwebrtc). A
	// negative value sends each frame in one burst.
	Pacing float64
}

// SendTimeBytes is the size of the send time every Source packet carries in
// its last bytes (Unix nanoseconds, big endian).
const SendTimeBytes = 8

const rtpHeaderBytes = 12

// vp8KeyframeFactor: a keyframe carries this many times the bytes of a delta frame.
const vp8KeyframeFactor = 3

// Source is a synthetic publisher for load runs: Opus-sized audio at 50
// packets/s, or VP8-shaped video at a target bitrate, split into packets that
// fit the MTU, with a VP8 payload descriptor and frame header on each frame
// and a keyframe at an interval. Every packet ends with its send time, so a
// receiver on the same machine can compute how long the packet took.
type Source struct {
	track *webrtc.TrackLocalStaticRTP
	video bool
	cfg   SourceConfig

	packets   atomic.Uint64
	bytes     atomic.Uint64
	errors    atomic.Uint64
	keyframes atomic.Uint64
	keyNow    atomic.Bool // a keyframe was asked for
}

// NewSource returns a source of the given kind; run it with Run once the
// track has been published.
func NewSource(kind webrtc.RTPCodecType, id, streamID string, cfg SourceConfig) (*Source, error) {
	if cfg.Bitrate <= 0 {
		cfg.Bitrate = 1_000_000
	}
	if cfg.FPS <= 0 {
		cfg.FPS = 30
	}
	if cfg.KeyframeInterval <= 0 {
		cfg.KeyframeInterval = 2 * time.Second
	}
	if cfg.MaxPacket <= 0 {
		cfg.MaxPacket = 1200
	}
	if cfg.AudioBytes <= 0 {
		cfg.AudioBytes = 80
	}
	if cfg.Pacing == 0 {
		cfg.Pacing = 2.5
	}
	if cfg.MaxPacket < rtpHeaderBytes+minVideoPayload || cfg.MaxPacket > 1500 {
		return nil, errors.New("client: SourceConfig.MaxPacket must be between 32 and 1500 bytes")
	}
	if cfg.AudioBytes < SendTimeBytes+1 || cfg.AudioBytes > 1400 {
		return nil, errors.New("client: SourceConfig.AudioBytes must be between 9 and 1400")
	}
	t, err := SyntheticTrack(kind, id, streamID)
	if err != nil {
		return nil, err
	}
	return &Source{track: t, video: kind == webrtc.RTPCodecTypeVideo, cfg: cfg}, nil
}

// SourceTrack is a Source's track: what to publish. Publishing code that
// reads the sender's RTCP calls RequestKeyframe on a picture loss report,
// as an encoder does.
type SourceTrack struct {
	*webrtc.TrackLocalStaticRTP
	src *Source
}

// RequestKeyframe makes the source's next video frame a keyframe.
func (t SourceTrack) RequestKeyframe() { t.src.keyNow.Store(true) }

// KeyframeRequester is a published track that can be asked for a keyframe.
type KeyframeRequester interface{ RequestKeyframe() }

// Track is what to publish.
func (s *Source) Track() SourceTrack { return SourceTrack{s.track, s} }

// Kind is audio or video.
func (s *Source) Kind() webrtc.RTPCodecType { return s.track.Kind() }

// SourceStats counts what a Source has written.
type SourceStats struct {
	Packets, Bytes, WriteErrors, Keyframes uint64
}

// Stats returns what has been written so far (bytes are RTP payload plus header).
func (s *Source) Stats() SourceStats {
	return SourceStats{Packets: s.packets.Load(), Bytes: s.bytes.Load(), WriteErrors: s.errors.Load(), Keyframes: s.keyframes.Load()}
}

// minVideoPayload: descriptor (1) + keyframe header (10) + send time (8) + 1.
const minVideoPayload = 1 + 10 + SendTimeBytes + 1

// Run writes packets until ctx ends. Write errors are counted, not fatal: a
// load run must see the stream continue through transient socket trouble.
// RTP timestamps follow the wall clock, so a late tick does not squeeze time.
func (s *Source) Run(ctx context.Context) {
	interval, clock := 20*time.Millisecond, 48000.0
	if s.video {
		interval, clock = time.Second/time.Duration(s.cfg.FPS), 90000.0
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(rand.Uint32()), Timestamp: rand.Uint32()}}
	buf := make([]byte, s.cfg.MaxPacket)
	tsBase := pkt.Timestamp
	start := time.Now()

	// Video frame sizes: a keyframe is vp8KeyframeFactor delta frames, and the
	// average over a keyframe interval meets the bitrate.
	perGOP := max(int(s.cfg.KeyframeInterval/interval), 1)
	avgFrame := float64(s.cfg.Bitrate) / 8 / float64(s.cfg.FPS)
	delta := int(avgFrame * float64(perGOP) / float64(perGOP-1+vp8KeyframeFactor))
	delta = max(delta, minVideoPayload)
	maxPayload := s.cfg.MaxPacket - rtpHeaderBytes
	pace := time.NewTimer(time.Hour)
	defer pace.Stop()

	for frame := 0; ; frame++ {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			pkt.Timestamp = tsBase + uint32(now.Sub(start).Seconds()*clock)
		}
		if !s.video {
			pkt.Payload = buf[:s.cfg.AudioBytes]
			pkt.Payload[0] = 0xfc // Opus TOC: CELT fullband 20 ms, stereo, one frame
			pkt.Marker = frame == 0
			s.write(pkt)
			continue
		}
		// An asked-for keyframe restarts the interval, as encoders do.
		if s.keyNow.Swap(false) {
			frame = 0
		}
		key := frame%perGOP == 0
		size := delta
		if key {
			size = delta * vp8KeyframeFactor
			s.keyframes.Add(1)
		}
		n := (size + maxPayload - 1) / maxPayload
		per := max((size+n-1)/n, minVideoPayload)
		var gap time.Duration
		if s.cfg.Pacing > 0 {
			gap = time.Duration(float64(8*(rtpHeaderBytes+per)) / (s.cfg.Pacing * float64(s.cfg.Bitrate)) * float64(time.Second))
		}
		frameStart := time.Now()
		for i := range n {
			if i > 0 && gap > 0 {
				pace.Reset(time.Until(frameStart.Add(time.Duration(i) * gap)))
				select {
				case <-ctx.Done():
					return
				case <-pace.C:
				}
			}
			p := buf[:per]
			clear(p[:min(len(p), 11)])
			if i == 0 {
				p[0] = 0x10 // VP8 payload descriptor: S (start of partition), PID 0
				// VP8 frame tag: show_frame, P (inter) bit for delta frames.
				p[1] = 0x10
				if key {
					// Keyframe start code and a 1280x720 size.
					p[4], p[5], p[6] = 0x9d, 0x01, 0x2a
					binary.LittleEndian.PutUint16(p[7:], 1280)
					binary.LittleEndian.PutUint16(p[9:], 720)
				} else {
					p[1] |= 0x01
				}
			}
			pkt.Payload = p
			pkt.Marker = i == n-1
			s.write(pkt)
		}
	}
}

func (s *Source) write(pkt *rtp.Packet) {
	p := pkt.Payload
	binary.BigEndian.PutUint64(p[len(p)-SendTimeBytes:], uint64(time.Now().UnixNano()))
	if err := s.track.WriteRTP(pkt); err != nil {
		s.errors.Add(1)
	} else {
		s.packets.Add(1)
		s.bytes.Add(uint64(rtpHeaderBytes + len(p)))
	}
	pkt.SequenceNumber++
}

// ParseRTP returns the sequence number and payload of a whole RTP packet
// (after SRTP), skipping CSRCs, header extensions and padding.
func ParseRTP(pkt []byte) (seq uint16, payload []byte, ok bool) {
	if len(pkt) < rtpHeaderBytes || pkt[0]>>6 != 2 {
		return 0, nil, false
	}
	n := rtpHeaderBytes + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 {
		if len(pkt) < n+4 {
			return 0, nil, false
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(pkt[n+2:]))
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 && end > 0 {
		end -= int(pkt[end-1])
	}
	if n > end {
		return 0, nil, false
	}
	return binary.BigEndian.Uint16(pkt[2:]), pkt[n:end], true
}

// SendTime is the send time (Unix nanoseconds) a Source wrote into payload.
func SendTime(payload []byte) (int64, bool) {
	if len(payload) < SendTimeBytes {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(payload[len(payload)-SendTimeBytes:])), true
}
