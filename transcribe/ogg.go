package transcribe

import (
	"bytes"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// maxFill bounds the silence put back into one gap (48 kHz samples): a
// segment ends after a hangover of silence, so a longer gap is a clock jump
// (a restarted sender), not a pause.
const maxFill = 48000 * 3

// oggOpus wraps a segment's Opus packets, as they came in RTP, in an Ogg
// container (RFC 7845): no decoding, no re-encoding.
//
// A browser sends Opus with DTX: in a pause between words it sends nothing,
// and the RTP timestamp jumps. An Ogg page's granule position counts only the
// samples of the packets in the file, so those pauses would vanish and the
// words run together; a recogniser then hears "go forward and the person" for
// "go forward ten meters". RFC 7845 §4.1 asks a muxer to fill such gaps, so
// each is filled with empty 20 ms frames, which a decoder plays as concealment
// fading to silence.
func oggOpus(s *Segment) ([]byte, error) {
	var buf bytes.Buffer
	// One channel in the header: browsers' voice is mono in a stereo-capable
	// stream, and a decoder downmixes what is not.
	w, err := oggwriter.NewWith(&buf, 48000, 1)
	if err != nil {
		return nil, err
	}
	var (
		next    uint32 // the timestamp the previous packet ran up to
		haveTS  bool
		lastTOC byte
		pkt     rtp.Packet
	)
	for i, p := range s.Payloads {
		if len(p) == 0 {
			continue
		}
		ts := s.Timestamps[i]
		if haveTS {
			if gap := int32(ts - next); gap >= 960 && gap <= maxFill {
				// The previous packet's mode and bandwidth, one 20 ms frame of
				// no bytes: the decoder conceals, then falls silent.
				filler := []byte{fillerConfig(lastTOC)<<3 | lastTOC&0x04}
				for ; gap >= 960; gap -= 960 {
					pkt.Payload = filler
					if err := w.WriteRTP(&pkt); err != nil {
						return nil, err
					}
				}
			}
		}
		pkt.Timestamp, pkt.Payload = ts, p
		if err := w.WriteRTP(&pkt); err != nil {
			return nil, err
		}
		next, haveTS, lastTOC = ts+opusSamples(p), true, p[0]
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// fillerConfig is the TOC configuration (RFC 6716 §3.1) of a 20 ms frame in
// the same mode and bandwidth as toc's.
func fillerConfig(toc byte) byte {
	config := toc >> 3
	switch {
	case config < 12: // SILK: 4 frame sizes per bandwidth; 20 ms is the second
		return config&^3 | 1
	case config < 16: // Hybrid: 10 and 20 ms per bandwidth
		return config&^1 | 1
	default: // CELT: 2.5, 5, 10, 20 ms per bandwidth
		return config | 3
	}
}

// opusSamples is how many 48 kHz samples an Opus packet holds (RFC 6716
// §3.1-3.2), 0 when it is malformed.
func opusSamples(p []byte) uint32 {
	if len(p) == 0 {
		return 0
	}
	config := p[0] >> 3
	var frame uint32 // samples per frame
	switch {
	case config < 12:
		frame = [4]uint32{480, 960, 1920, 2880}[config&3]
	case config < 16:
		frame = [2]uint32{480, 960}[config&1]
	default:
		frame = [4]uint32{120, 240, 480, 960}[config&3]
	}
	switch p[0] & 3 {
	case 0:
		return frame
	case 1, 2:
		return 2 * frame
	default:
		if len(p) < 2 {
			return 0
		}
		return uint32(p[1]&0x3f) * frame
	}
}
