package transcribe

import "encoding/binary"

// parseRTP reads what a track's segmenter needs from one RTP packet: the
// timestamp, the payload (a slice of raw, padding removed) and the audio level
// (RFC 6464) in the header extension levelID (0: none). level is -1 when the
// packet carries none. It runs on the media path for every packet, so it
// allocates nothing (pion's rtp.Header.Unmarshal makes the CSRC and extension
// slices anew each time).
func parseRTP(raw []byte, levelID uint8) (ts uint32, payload []byte, level int, ok bool) {
	level = -1
	if len(raw) < 12 || raw[0]>>6 != 2 {
		return 0, nil, -1, false
	}
	ts = binary.BigEndian.Uint32(raw[4:8])
	off := 12 + 4*int(raw[0]&0x0f)
	if len(raw) < off {
		return 0, nil, -1, false
	}
	if raw[0]&0x10 != 0 { // header extension
		if len(raw) < off+4 {
			return 0, nil, -1, false
		}
		profile := binary.BigEndian.Uint16(raw[off:])
		n := 4 * int(binary.BigEndian.Uint16(raw[off+2:]))
		if len(raw) < off+4+n {
			return 0, nil, -1, false
		}
		if levelID != 0 {
			level = extLevel(profile, raw[off+4:off+4+n], levelID)
		}
		off += 4 + n
	}
	payload = raw[off:]
	if raw[0]&0x20 != 0 { // padding: its length is the last byte
		if len(payload) == 0 {
			return 0, nil, -1, false
		}
		pad := int(payload[len(payload)-1])
		if pad == 0 || pad > len(payload) {
			return 0, nil, -1, false
		}
		payload = payload[:len(payload)-pad]
	}
	return ts, payload, level, true
}

// extLevel finds element id in a header extension block (RFC 8285, one-byte
// or two-byte form) and reads an audio level from it: -1 when absent.
func extLevel(profile uint16, ext []byte, id uint8) int {
	switch {
	case profile == 0xBEDE: // one-byte headers: 4 bits id, 4 bits length-1
		for i := 0; i < len(ext); {
			b := ext[i]
			if b == 0 { // padding
				i++
				continue
			}
			eid, n := b>>4, int(b&0x0f)+1
			if eid == 15 { // reserved: stop reading
				return -1
			}
			if i+1+n > len(ext) {
				return -1
			}
			if eid == id {
				return int(ext[i+1] & 0x7f)
			}
			i += 1 + n
		}
	case profile&0xfff0 == 0x1000: // two-byte headers: id, length
		for i := 0; i < len(ext); {
			if ext[i] == 0 { // padding
				i++
				continue
			}
			if i+2 > len(ext) {
				return -1
			}
			eid, n := ext[i], int(ext[i+1])
			if i+2+n > len(ext) {
				return -1
			}
			if eid == id && n > 0 {
				return int(ext[i+2] & 0x7f)
			}
			i += 2 + n
		}
	}
	return -1
}
