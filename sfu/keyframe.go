package sfu

import "strings"

// Codec families whose RTP payload the SFU reads just far enough to find
// keyframes: a simulcast switch may only land on one, or the subscriber's
// decoder would get frames that refer to pictures it never saw.
const (
	codecOther = iota
	codecVP8
	codecVP9
	codecH264
	codecAV1
)

func codecFamily(mime string) int {
	switch {
	case strings.EqualFold(mime, "video/VP8"):
		return codecVP8
	case strings.EqualFold(mime, "video/VP9"):
		return codecVP9
	case strings.EqualFold(mime, "video/H264"):
		return codecH264
	case strings.EqualFold(mime, "video/AV1"):
		return codecAV1
	}
	return codecOther
}

// isKeyframeStart reports whether payload is the first packet of a keyframe.
// It reads only the payload descriptor and the first bytes of the frame, and
// never allocates: it runs for every video packet.
func isKeyframeStart(family int, payload []byte) bool {
	switch family {
	case codecVP8:
		return vp8Keyframe(payload)
	case codecVP9:
		return vp9Keyframe(payload)
	case codecH264:
		return h264Keyframe(payload)
	case codecAV1:
		// Aggregation header (AV1 RTP spec 4.4): N marks the first packet of a
		// coded video sequence, which starts with a keyframe. Z=0: it begins an OBU.
		return len(payload) > 0 && payload[0]&0x08 != 0 && payload[0]&0x80 == 0
	}
	return false
}

// vp8Descriptor returns the length of the VP8 payload descriptor (RFC 7741
// 4.2) and whether the packet starts partition 0 of a frame.
func vp8Descriptor(p []byte) (n int, start bool) {
	if len(p) < 1 {
		return 0, false
	}
	x, s, pid := p[0]&0x80 != 0, p[0]&0x10 != 0, p[0]&0x0f
	n = 1
	if x {
		if len(p) < 2 {
			return 0, false
		}
		i, l, t, k := p[1]&0x80 != 0, p[1]&0x40 != 0, p[1]&0x20 != 0, p[1]&0x10 != 0
		n = 2
		if i {
			if len(p) < n+1 {
				return 0, false
			}
			if p[n]&0x80 != 0 { // 15-bit picture id
				n++
			}
			n++
		}
		if l {
			n++
		}
		if t || k {
			n++
		}
	}
	if len(p) < n {
		return 0, false
	}
	return n, s && pid == 0
}

// vp8Keyframe: the frame tag's P bit (RFC 6386 9.1) is 0 for a key frame.
func vp8Keyframe(p []byte) bool {
	n, start := vp8Descriptor(p)
	return start && len(p) > n && p[n]&0x01 == 0
}

// vp8Size reads the picture size from the first packet of a VP8 keyframe; ok
// is false for any other packet.
func vp8Size(p []byte) (w, h int, ok bool) {
	n, start := vp8Descriptor(p)
	f := p[min(n, len(p)):]
	// 3-byte frame tag, start code 9d 01 2a, then 14-bit width and height.
	if !start || len(f) < 10 || f[0]&0x01 != 0 || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return 0, 0, false
	}
	w = int(f[6]) | int(f[7]&0x3f)<<8
	h = int(f[8]) | int(f[9]&0x3f)<<8
	return w, h, w > 0 && h > 0
}

// vp9Keyframe: in the VP9 payload descriptor (RFC 9628 4.2) a packet that
// begins a frame (B) which is not inter-predicted (P=0) starts a keyframe; with
// spatial layers, only the base layer's counts.
func vp9Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	i, pbit, l, b := p[0]&0x80 != 0, p[0]&0x40 != 0, p[0]&0x20 != 0, p[0]&0x08 != 0
	if pbit || !b {
		return false
	}
	if !l {
		return true
	}
	n := 1
	if i {
		if len(p) < 2 {
			return false
		}
		n = 2
		if p[1]&0x80 != 0 {
			n = 3
		}
	}
	if len(p) <= n {
		return false
	}
	return p[n]>>1&0x07 == 0 // spatial layer id 0
}

// h264Keyframe looks for an IDR slice or a sequence parameter set at the start
// of the packet: as a single NAL unit, inside a STAP-A, or in the first
// fragment of an FU-A (RFC 6184).
func h264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch t := p[0] & 0x1f; t {
	case 5, 7:
		return true
	case 24: // STAP-A: 16-bit sizes, each followed by a NAL unit
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			if size == 0 || i+2+size > len(p) {
				return false
			}
			if nt := p[i+2] & 0x1f; nt == 5 || nt == 7 {
				return true
			}
			i += 2 + size
		}
	case 28: // FU-A
		return len(p) > 1 && p[1]&0x80 != 0 && (p[1]&0x1f == 5 || p[1]&0x1f == 7)
	}
	return false
}
