package sfu

// Each simulcast layer of a VP8 or VP9 track numbers its pictures on its own:
// a picture id (RFC 7741 4.2, RFC 9628 4.2) and a TL0PICIDX that counts base
// temporal layer pictures. A receiver such as Chrome builds its reference
// graph from them, so a stream that jumps from one layer's numbering to
// another's at a switch looks to it like a stream whose past was lost: it
// decodes the keyframe and a few frames after it, then holds every later
// frame for a reference it believes is missing, and asks for a keyframe only
// after three seconds of nothing decodable. The forwarder therefore renumbers
// them so that each switch continues the numbering the subscriber has seen.

// vpxFields locates the picture id and TL0PICIDX in a VP8 or VP9 payload.
type vpxFields struct {
	pid  int  // offset of the picture id, -1 when absent
	wide bool // 15-bit picture id (M bit set), else 7-bit
	tl0  int  // offset of TL0PICIDX, -1 when absent
}

// findVPXFields parses the payload descriptor of family's codec; ok is false
// for other codecs and for a descriptor cut short. It never allocates: it runs
// for every packet of a VP8 or VP9 subscription.
func findVPXFields(family int, p []byte) (f vpxFields, ok bool) {
	f.pid, f.tl0 = -1, -1
	switch family {
	case codecVP8:
		// X R N S R PID | I L T K RSV | picture id | TL0PICIDX | TID Y KEYIDX
		if len(p) < 1 || p[0]&0x80 == 0 {
			return f, len(p) > 0
		}
		if len(p) < 2 {
			return f, false
		}
		i, l := p[1]&0x80 != 0, p[1]&0x40 != 0
		n := 2
		if i {
			if n, ok = f.readPictureID(p, n); !ok {
				return f, false
			}
		}
		if l {
			f.tl0 = n
			n++
		}
		return f, len(p) >= n
	case codecVP9:
		// I P L F B E V Z | picture id | TID U SID D | TL0PICIDX (non-flexible mode)
		if len(p) < 1 {
			return f, false
		}
		i, l, flex := p[0]&0x80 != 0, p[0]&0x20 != 0, p[0]&0x10 != 0
		n := 1
		if i {
			if n, ok = f.readPictureID(p, n); !ok {
				return f, false
			}
		}
		if l {
			n++ // layer indices
			if !flex {
				f.tl0 = n
				n++
			}
		}
		return f, len(p) >= n
	}
	return f, false
}

// readPictureID notes the picture id at p[n], 7 or 15 bits as its M bit
// says, and returns the offset after it.
func (f *vpxFields) readPictureID(p []byte, n int) (int, bool) {
	if len(p) < n+1 {
		return n, false
	}
	f.pid, f.wide = n, p[n]&0x80 != 0
	if f.wide {
		return n + 2, true
	}
	return n + 1, true
}

func (f vpxFields) pictureID(p []byte) uint16 {
	if f.wide {
		return uint16(p[f.pid]&0x7f)<<8 | uint16(p[f.pid+1])
	}
	return uint16(p[f.pid] & 0x7f)
}

func (f vpxFields) setPictureID(p []byte, id uint16) {
	if f.wide {
		p[f.pid], p[f.pid+1] = 0x80|byte(id>>8)&0x7f, byte(id)
		return
	}
	p[f.pid] = byte(id) & 0x7f
}

// pidMask is the range of a picture id of the packet's width.
func (f vpxFields) pidMask() uint16 {
	if f.wide {
		return 0x7fff
	}
	return 0x7f
}

// pictureMunger keeps one outgoing VP8 or VP9 stream's picture ids and
// TL0PICIDX continuous while its source changes, as munger does for sequence
// numbers and timestamps. The forwarder's lock guards it.
type pictureMunger struct {
	started bool
	pending bool   // the source changed: re-anchor on its next packet
	pidOff  uint16 // added to the source's picture id (modulo its width)
	tl0Off  uint8  // added to the source's TL0PICIDX
	lastPid uint16 // newest picture id sent, and whether there was one
	hasPid  bool
	lastTl0 uint8
	hasTl0  bool
}

// switched marks that the next packet comes from a new source.
func (m *pictureMunger) switched() { m.pending = true }

// rewrite returns payload as the subscriber must see it: unchanged while the
// numbering needs no offset (no switch yet), else copied into buf and
// renumbered. The first packet after a switch (a keyframe, which starts a
// new base-layer picture) gets the picture id and TL0PICIDX after the newest
// ones sent.
func (m *pictureMunger) rewrite(family int, payload, buf []byte) []byte {
	f, ok := findVPXFields(family, payload)
	if !ok {
		return payload
	}
	if !m.started || m.pending {
		m.pidOff, m.tl0Off = 0, 0
		if m.started {
			if f.pid >= 0 && m.hasPid {
				m.pidOff = (m.lastPid + 1 - f.pictureID(payload)) & 0x7fff
			}
			if f.tl0 >= 0 && m.hasTl0 {
				m.tl0Off = m.lastTl0 + 1 - payload[f.tl0]
			}
		}
		m.started, m.pending = true, false
	}
	out := payload
	if (m.pidOff != 0 && f.pid >= 0) || (m.tl0Off != 0 && f.tl0 >= 0) {
		if len(payload) > len(buf) {
			return payload
		}
		out = buf[:copy(buf, payload)]
		m.apply(f, out)
	}
	if f.pid >= 0 {
		id := f.pictureID(out)
		if mask := f.pidMask(); !m.hasPid || newer(id, m.lastPid&mask, mask) {
			m.lastPid, m.hasPid = id, true
		}
	}
	if f.tl0 >= 0 {
		if t := out[f.tl0]; !m.hasTl0 || int8(t-m.lastTl0) > 0 {
			m.lastTl0, m.hasTl0 = t, true
		}
	}
	return out
}

// renumber applies the current offsets to a packet of the current source
// being retransmitted, in place; the newest numbers sent do not change.
func (m *pictureMunger) renumber(family int, p []byte) {
	if f, ok := findVPXFields(family, p); ok {
		m.apply(f, p)
	}
}

func (m *pictureMunger) apply(f vpxFields, p []byte) {
	if f.pid >= 0 {
		f.setPictureID(p, (f.pictureID(p)+m.pidOff)&f.pidMask())
	}
	if f.tl0 >= 0 {
		p[f.tl0] += m.tl0Off
	}
}

// newer reports whether a comes after b in a sequence that wraps at mask+1.
func newer(a, b, mask uint16) bool {
	d := (a - b) & mask
	return d != 0 && d <= mask/2
}
