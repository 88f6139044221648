package sfu

import "github.com/pion/rtp"

// munger keeps one outgoing stream continuous while its source changes (an
// interpreter hands over a language channel; later, a simulcast layer switch):
// the subscriber's decoder must see one SSRC with sequence numbers and
// timestamps that run on without jumps or repeats.
type munger struct {
	clock    uint32 // RTP clock rate of the outgoing stream
	started  bool
	pending  bool   // the source changed: re-anchor on its next packet
	srcSSRC  uint32 // SSRC of the current source
	seqOff   uint16
	tsOff    uint32
	lastSeq  uint16 // highest sequence number sent
	lastTS   uint32
	lastAt   int64  // arrival time (ns) of the packet that set lastSeq
	firstSeq uint16 // first outgoing sequence number of the current source
}

// switched marks that the next packet comes from a new source.
func (m *munger) switched() { m.pending = true }

// rewrite maps h's sequence number and timestamp onto the outgoing stream.
// now is the packet's arrival time in nanoseconds. ok is false for a packet
// that must not be sent (it predates the current source's first packet).
func (m *munger) rewrite(h *rtp.Header, now int64) (seq uint16, ts uint32, ok bool) {
	switch {
	case !m.started:
		m.started, m.pending = true, false
		m.srcSSRC, m.seqOff, m.tsOff = h.SSRC, 0, 0
		m.firstSeq = h.SequenceNumber
		m.lastSeq, m.lastTS, m.lastAt = h.SequenceNumber-1, h.Timestamp, now
	case m.pending || h.SSRC != m.srcSSRC:
		// Continue where the last source stopped, advancing the clock by the
		// wall time that passed, so playout timing stays true.
		ticks := uint32(1)
		if gap := now - m.lastAt; gap > 0 {
			ticks = max(uint32(gap*int64(m.clock)/1e9), 1)
		}
		m.pending = false
		m.srcSSRC = h.SSRC
		m.seqOff = m.lastSeq + 1 - h.SequenceNumber
		m.tsOff = m.lastTS + ticks - h.Timestamp
		m.firstSeq = m.lastSeq + 1
	}
	seq = h.SequenceNumber + m.seqOff
	ts = h.Timestamp + m.tsOff
	if int16(seq-m.firstSeq) < 0 {
		return 0, 0, false // older than the switch: it belongs to no stream the subscriber knows
	}
	if d := int16(seq - m.lastSeq); d > 0 {
		m.lastSeq, m.lastTS, m.lastAt = seq, ts, now
		// Keep the switch point within reach of 16-bit arithmetic: long after
		// a switch nothing can predate it, and a stale firstSeq would one day
		// look like the future (32768 packets in) and stall the stream.
		if uint16(m.lastSeq-m.firstSeq) > 16384 {
			m.firstSeq = m.lastSeq - 16384
		}
	}
	return seq, ts, true
}

// source maps an outgoing sequence number back to the current source's, for
// retransmission. ok is false when seq was sent before the current source,
// and while a switch waits for the new source's first packet (until then no
// number of ours belongs to it).
func (m *munger) source(seq uint16) (uint16, bool) {
	if !m.started || m.pending || int16(seq-m.firstSeq) < 0 || int16(seq-m.lastSeq) > 0 {
		return 0, false
	}
	return seq - m.seqOff, true
}
