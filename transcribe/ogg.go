package transcribe

import (
	"bytes"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// oggOpus wraps a segment's Opus packets, as they came in RTP, in an Ogg
// container (RFC 7845): no decoding, no re-encoding. The granule positions
// follow each packet's own duration (from its TOC byte), so a pause the
// sender left out (DTX) is not in the file either.
func oggOpus(s *Segment) ([]byte, error) {
	var buf bytes.Buffer
	// One channel in the header: browsers' voice is mono in a stereo-capable
	// stream, and a decoder downmixes what is not.
	w, err := oggwriter.NewWith(&buf, 48000, 1)
	if err != nil {
		return nil, err
	}
	for i, p := range s.Payloads {
		if len(p) == 0 {
			continue
		}
		pkt := &rtp.Packet{Header: rtp.Header{Timestamp: s.Timestamps[i]}, Payload: p}
		if err := w.WriteRTP(pkt); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
