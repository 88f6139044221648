package sfu

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Forwarder sends one stream to one subscriber. It is the subscriber's
// webrtc.TrackLocal: pion binds it when negotiation completes. Its source is
// one Receiver at a time, and can be switched (or paused) without renegotiating.
type Forwarder struct {
	id       string
	streamID string
	label    string
	kind     webrtc.RTPCodecType
	codec    webrtc.RTPCodecParameters // what Bind looks for among the subscriber's codecs
	sender   *webrtc.RTPSender

	bound atomic.Pointer[binding] // nil until negotiated

	// mu serialises writes: packets of an old and a new source may overlap
	// during a switch, and retransmissions come from the RTCP goroutine.
	mu       sync.Mutex
	src      *Receiver // nil: paused
	selector           // the layer sent and chosen, and the outgoing numbering
	hdr      rtp.Header
	nbuf     []byte
	pbuf     []byte // a forwarded payload whose picture numbering was rewritten
	npkt     rtp.Packet
	exts     []rtp.Extension // backing for hdr.Extensions, reused
	// levelIn is the source's audio level extension id, passed on to
	// another node (relay peers only); 0 drops the level.
	levelIn uint8
	// pinned is the one simulcast layer a relay forwarder sends (the other
	// node chooses among the layers for its own subscribers); -1: chosen
	// by the allocation.
	pinned int
	level  [1]byte
	tcc    [2]byte
	rtxSeq uint16      // sequence of the RTX stream
	resent [256]resend // recent retransmissions, by sequence number
	rtxBuf []byte      // original sequence number + payload of one retransmission
	// For the stream's sender reports (sendreport.go): the RTP time of the
	// last new packet sent and when, and what the stream carried.
	srTS      uint32
	srAt      int64
	srPackets uint32
	srOctets  uint32

	// Set by the peer that owns the forwarder (nil in tests): the downlink's
	// bandwidth estimator, a nudge to re-choose layers, and the subscriber's
	// send queue (nil: written from the caller's goroutine).
	q       *sendQueue
	bwe     *estimator
	realloc func()
	viewW   atomic.Int32 // how big the subscriber draws this video, device pixels; -1: not told
	viewH   atomic.Int32

	sent        atomic.Uint64
	retransmits atomic.Uint64
	lost        atomic.Uint32 // last fraction lost the subscriber reported (0-255)
	stats       *counters     // the engine's

	closed atomic.Bool
}

// resend remembers when a packet was last retransmitted, and how often.
type resend struct {
	seq   uint16
	times uint8
	at    int64
}

// resendsBeforeKeyframe: a packet asked for this many times has been lost on
// its way to the subscriber again and again (at 10% loss each way, one packet
// in a hundred and fifty gets here). Its frame is several round trips late and
// nothing after it decodes; the decoder would wait seconds before it asks
// for a keyframe itself, so the server asks for one now, unless the link is
// congested (see congested).
const resendsBeforeKeyframe = 3

// resendGap is the least time between two retransmissions of one packet: a
// subscriber that repeats a NACK within it (the first copy is still on its
// way) must not make the server amplify its traffic.
const resendGap = 100e6

type binding struct {
	ssrc    uint32
	pt      uint8
	tccID   uint8  // transport-cc header extension id, 0 when not negotiated
	levelID uint8  // audio level header extension id, 0 when not negotiated
	rtxSSRC uint32 // RFC 4588 retransmission stream, 0 when not negotiated
	rtxPT   uint8
	writer  webrtc.TrackLocalWriter
}

var errNoCodec = errors.New("subscriber does not support the publisher's codec")

func newForwarder(id string, kind webrtc.RTPCodecType, codec webrtc.RTPCodecParameters, streamID, label string, stats *counters) *Forwarder {
	f := &Forwarder{
		id: id, kind: kind, codec: codec, streamID: streamID, label: label, stats: stats,
		selector: selector{cur: -1, m: munger{clock: codec.ClockRate}},
		exts:     make([]rtp.Extension, 0, 2),
		pinned:   -1,
	}
	f.viewW.Store(-1)
	f.viewH.Store(-1)
	return f
}

// Bind implements webrtc.TrackLocal: pick the source's codec among those the
// subscriber negotiated, so packets pass through unchanged but for the header.
func (f *Forwarder) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	want := f.codec
	var match *webrtc.RTPCodecParameters
	for _, c := range ctx.CodecParameters() {
		if !strings.EqualFold(c.MimeType, want.MimeType) {
			continue
		}
		if c.SDPFmtpLine == want.SDPFmtpLine {
			match = &c
			break
		}
		if match == nil {
			match = &c
		}
	}
	if match == nil {
		return webrtc.RTPCodecParameters{}, errNoCodec
	}
	b := &binding{ssrc: uint32(ctx.SSRC()), pt: uint8(match.PayloadType), writer: ctx.WriteStream()}
	for _, e := range ctx.HeaderExtensions() {
		switch e.URI {
		case sdp.TransportCCURI:
			b.tccID = uint8(e.ID)
		case sdp.AudioLevelURI:
			b.levelID = uint8(e.ID)
		}
	}
	if rtx := uint32(ctx.SSRCRetransmission()); rtx != 0 {
		apt := fmt.Sprintf("apt=%d", match.PayloadType)
		for _, c := range ctx.CodecParameters() {
			if strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) && c.SDPFmtpLine == apt {
				b.rtxSSRC, b.rtxPT = rtx, uint8(c.PayloadType)
			}
		}
	}
	f.bound.Store(b)
	f.mu.Lock()
	src, l := f.src, f.target
	f.mu.Unlock()
	if src != nil {
		src.forceKeyframe(src.layer(l))
	}
	return *match, nil
}

// Unbind implements webrtc.TrackLocal.
func (f *Forwarder) Unbind(webrtc.TrackLocalContext) error {
	f.bound.Store(nil)
	return nil
}

// ID implements webrtc.TrackLocal.
func (f *Forwarder) ID() string { return f.id }

// RID implements webrtc.TrackLocal.
func (f *Forwarder) RID() string { return "" }

// StreamID implements webrtc.TrackLocal.
func (f *Forwarder) StreamID() string { return f.streamID }

// Kind implements webrtc.TrackLocal.
func (f *Forwarder) Kind() webrtc.RTPCodecType { return f.kind }

// Label is the caller's name for this subscription.
func (f *Forwarder) Label() string { return f.label }

// Source is the receiver currently forwarded, or nil when paused.
func (f *Forwarder) Source() *Receiver {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.src
}

// Stats returns packets sent and retransmitted, and the last reported fraction lost (0-255).
func (f *Forwarder) Stats() (sent, retransmits uint64, fractionLost uint8) {
	return f.sent.Load(), f.retransmits.Load(), uint8(f.lost.Load())
}

// SwitchTo makes r the forwarder's source; nil pauses it. The subscriber's
// stream continues without renegotiation: sequence numbers and timestamps run
// on across the switch.
func (f *Forwarder) SwitchTo(r *Receiver) {
	if f.closed.Load() {
		return
	}
	f.mu.Lock()
	old := f.src
	if old == r {
		f.mu.Unlock()
		return
	}
	f.src = r
	// Video starts on a keyframe, or the decoder would apply the new
	// source's frames to the old one's pictures.
	f.sourceChanged(r != nil && r.startsOnKey())
	f.mu.Unlock()
	if old != nil {
		old.removeForwarder(f)
	}
	if r != nil {
		r.addForwarder(f)
		r.requestKeyframe(r.layer(0))
	}
	if f.realloc != nil {
		f.realloc()
	}
}

// SetViewport tells how large the subscriber draws this video (device
// pixels); 0x0 means not shown (the lowest layer will do). Until it is told,
// bandwidth alone chooses the layer. A thumbnail never pulls a layer much
// larger than itself.
func (f *Forwarder) SetViewport(w, h int) {
	w, h = max(-1, min(w, 1<<14)), max(-1, min(h, 1<<14))
	oldW, oldH := f.viewW.Swap(int32(w)), f.viewH.Swap(int32(h))
	if oldW == int32(w) && oldH == int32(h) {
		return
	}
	if f.realloc != nil {
		f.realloc()
	}
}

// Layer returns the simulcast layer being sent (-1 while waiting for a
// keyframe) and the one chosen.
func (f *Forwarder) Layer() (cur, target int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur, f.target
}

// setTarget chooses the layer to send; the switch happens on its next keyframe.
func (f *Forwarder) setTarget(src *Receiver, idx int) {
	f.mu.Lock()
	if f.src != src {
		f.mu.Unlock()
		return
	}
	if f.target != idx {
		f.target, f.targetAt = idx, nowNanos()
	}
	waiting := f.cur != idx
	f.mu.Unlock()
	if waiting {
		src.requestKeyframe(src.layer(idx))
	}
}

// writeRTP forwards one packet of layer l of source r; called from the
// layer's read loop. key marks the first packet of a keyframe.
func (f *Forwarder) writeRTP(r *Receiver, l *layer, h *rtp.Header, payload []byte, now int64, key bool) {
	b := f.bound.Load()
	if b == nil {
		return
	}
	f.mu.Lock()
	wantKey := f.forward(r, l, b, h, payload, now, key)
	f.mu.Unlock()
	if wantKey != nil {
		r.requestKeyframe(wantKey)
	}
}

// forward is writeRTP's work under f.mu: the decision (translate), then the
// payload's picture numbering and the send. It returns the layer to ask a
// keyframe of, when the subscriber's queue overflowed and video must start
// again from one.
func (f *Forwarder) forward(r *Receiver, l *layer, b *binding, h *rtp.Header, payload []byte, now int64, key bool) *layer {
	if f.src != r {
		return nil // a packet of the previous source, still in flight
	}
	t := f.translate(h, l.idx, key, r.startsOnKey(), f.q != nil && f.q.full(), now)
	if t.layerSwitch {
		f.stats.layerSwitches.Add(1)
	}
	switch t.verdict {
	case send:
	case overflowed:
		return f.overflowed(r, t)
	default:
		return nil
	}
	if r.family == codecVP8 || r.family == codecVP9 {
		if f.pbuf == nil {
			f.pbuf = make([]byte, maxPacket) // video forwarders only
		}
		payload = f.pics.rewrite(r.family, payload, f.pbuf)
	}
	if !f.send(h, b, t.seq, t.ts, payload, now, &f.sent) && f.q != nil {
		// The queue filled between the decision and the push.
		return f.overflowed(r, f.translate(h, l.idx, key, r.startsOnKey(), true, now))
	}
	return nil
}

// overflowed counts a packet the subscriber's queue had no room for and
// returns the layer whose keyframe restarts video; f.mu is held.
func (f *Forwarder) overflowed(r *Receiver, t translation) *layer {
	f.stats.queueDrops.Add(1)
	if !t.restart {
		return nil
	}
	return r.layer(f.target)
}

// send writes one packet to the subscriber, or queues it for its writer; f.mu
// is held. It returns false when the queue had no room.
func (f *Forwarder) send(h *rtp.Header, b *binding, seq uint16, ts uint32, payload []byte, now int64, count *atomic.Uint64) bool {
	if f.q != nil && f.q.full() {
		return false // before taking a transport-wide number that would never be sent
	}
	f.fill(h, b, seq, ts)
	var tseq uint16
	if b.tccID != 0 && f.bwe != nil {
		tseq = f.bwe.nextSeq()
		f.tcc[0], f.tcc[1] = byte(tseq>>8), byte(tseq)
		f.hdr.Extensions = f.exts[:0]
		_ = f.hdr.SetExtension(b.tccID, f.tcc[:])
	}
	if f.levelIn != 0 && b.levelID != 0 {
		if lv := h.GetExtension(f.levelIn); len(lv) > 0 {
			f.level[0] = lv[0]
			if f.hdr.Extensions == nil {
				f.hdr.Extensions = f.exts[:0]
			}
			_ = f.hdr.SetExtension(b.levelID, f.level[:])
		}
	}
	if f.q != nil && !f.q.direct.Load() {
		var extID uint8
		if b.tccID != 0 && f.bwe != nil {
			extID = b.tccID
		}
		if !f.q.push(b.writer, &f.hdr, extID, f.tcc[:], payload) {
			return false
		}
	} else if _, err := b.writer.WriteRTP(&f.hdr, payload); err != nil {
		return true // the connection's fault, not the queue's
	}
	count.Add(1)
	if b.rtxSSRC == 0 || b.ssrc != b.rtxSSRC { // not the RTX stream
		if count == &f.sent {
			// A retransmission carries an old timestamp: only new packets
			// tell what RTP time it is now.
			f.srTS, f.srAt = ts, now
		}
		f.srPackets++
		f.srOctets += uint32(len(payload))
	}
	size := f.hdr.MarshalSize() + len(payload)
	f.stats.packetsOut.Add(1)
	f.stats.bytesOut.Add(uint64(size))
	if b.tccID != 0 && f.bwe != nil {
		f.bwe.onSent(tseq, size, now)
	}
	return true
}

// fill prepares the outgoing header. Header extensions are dropped: their ids
// were negotiated with the publisher, not with the subscriber.
func (f *Forwarder) fill(src *rtp.Header, b *binding, seq uint16, ts uint32) {
	f.hdr = *src
	f.hdr.SSRC = b.ssrc
	f.hdr.PayloadType = b.pt
	f.hdr.SequenceNumber = seq
	f.hdr.Timestamp = ts
	f.hdr.Extension = false
	f.hdr.Extensions = nil
	f.hdr.ExtensionProfile = 0
}

// readRTCP serves the subscriber's feedback until its sender stops.
func (f *Forwarder) readRTCP() {
	buf := make([]byte, maxPacket)
	for {
		n, _, err := f.sender.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || f.closed.Load() {
				return
			}
			continue // one unreadable compound packet must not end the feedback loop
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		f.handleRTCP(pkts, nowNanos())
	}
}

// handleRTCP acts on one compound RTCP packet from the subscriber.
func (f *Forwarder) handleRTCP(pkts []rtcp.Packet, now int64) {
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			f.stats.plis.Add(1)
			f.mu.Lock()
			src, l := f.src, f.cur
			if l < 0 {
				l = f.target
			}
			f.mu.Unlock()
			if src != nil {
				src.requestKeyframe(src.layer(l))
			}
		case *rtcp.TransportLayerNack:
			// Keyframe packets first: until a keyframe is whole, nothing
			// after it decodes.
			for _, pair := range p.Nacks {
				f.stats.nacks.Add(uint64(nackCount(pair)))
			}
			for _, keys := range [2]bool{true, false} {
				for _, pair := range p.Nacks {
					f.retransmit(pair.PacketID, now, keys)
					for i := range uint16(16) {
						if pair.LostPackets&(1<<i) != 0 {
							f.retransmit(pair.PacketID+i+1, now, keys)
						}
					}
				}
			}
		case *rtcp.ReceiverReport:
			if b := f.bound.Load(); b != nil {
				for _, rr := range p.Reports {
					if rr.SSRC == b.ssrc {
						f.lost.Store(uint32(rr.FractionLost))
						if f.bwe != nil {
							f.bwe.onReceiverLoss(float64(rr.FractionLost)/256, now)
						}
					}
				}
			}
		case *rtcp.TransportLayerCC:
			if f.bwe != nil {
				f.bwe.onTWCC(p, now)
				if f.realloc != nil {
					f.realloc()
				}
			}
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			if f.bwe != nil {
				f.bwe.onREMB(float64(p.Bitrate), now)
				if f.realloc != nil {
					f.realloc()
				}
			}
		}
	}
}

// congested reports whether the subscriber's downlink shows a queue: there a
// packet lost again and again is the link overflowing, and a keyframe (several
// times a frame's size) would only make it overflow more; repair goes on, and
// the allocator steps the layer down.
func (f *Forwarder) congested() bool {
	if f.bwe == nil {
		return false
	}
	q, _, _ := f.bwe.state()
	return q*1e6 > clearDelay
}

// nackCount is how many packets one NACK entry asks for.
func nackCount(p rtcp.NackPair) int {
	n := 1
	for m := p.LostPackets; m != 0; m &= m - 1 {
		n++
	}
	return n
}

// retransmit resends one packet (by the subscriber's sequence number) from the
// source's cache, if it belongs to the current source and layer and is a
// keyframe packet exactly when keys is true (handleRTCP makes two passes).
// Where the subscriber cannot decode on without a keyframe (the packet is
// gone, or has been lost again and again), it asks the publisher for one at
// once rather than leave the decoder to notice after seconds.
func (f *Forwarder) retransmit(seq uint16, now int64, keys bool) {
	b := f.bound.Load()
	if b == nil {
		return
	}
	src, l, needKey := f.resend(b, seq, now, keys)
	if needKey {
		src.requestKeyframe(l)
	}
}

// resend does retransmit's work under f.mu; it returns the layer to ask a
// keyframe of, if one is needed.
func (f *Forwarder) resend(b *binding, seq uint16, now int64, keys bool) (src *Receiver, l *layer, needKey bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	src = f.src
	if src != nil {
		l = src.layer(f.cur)
	}
	srcSeq, ok := f.m.source(seq)
	if l == nil || !ok {
		// Not of the current source: sent before it (which began on a
		// keyframe, so the decoder needs nothing older), or never sent.
		if keys {
			f.stats.resendsMissed.Add(1)
		}
		return nil, nil, false
	}
	key, cached := l.cache.isKey(srcSeq)
	if !cached {
		if keys {
			f.stats.resendsMissed.Add(1)
			return src, l, true
		}
		return nil, nil, false
	}
	if key != keys {
		return nil, nil, false
	}
	r := &f.resent[seq%uint16(len(f.resent))]
	again := r.seq == seq && r.at != 0
	if again && now-r.at < resendGap {
		f.stats.resendsHeld.Add(1)
		return nil, nil, false
	}
	if f.nbuf == nil {
		// Made at the first retransmission, not with every forwarder: most
		// audio forwarders never retransmit (3 KB each otherwise).
		f.nbuf, f.rtxBuf = make([]byte, maxPacket), make([]byte, maxPacket+2)
	}
	n := l.cache.get(srcSeq, f.nbuf)
	if n == 0 {
		f.stats.resendsMissed.Add(1)
		return src, l, true
	}
	if err := f.npkt.Unmarshal(f.nbuf[:n]); err != nil || f.npkt.SSRC != f.m.srcSSRC {
		f.stats.resendsMissed.Add(1)
		return nil, nil, false
	}
	if f.bwe != nil && !f.bwe.spendRetransmit(n+2, now) {
		// Over the link's retransmission budget: nothing is recorded, so
		// the subscriber's next NACK of it tries again, by when the link
		// may have room.
		f.stats.resendsLimited.Add(1)
		return nil, nil, false
	}
	if again {
		r.times = min(r.times+1, 255)
	} else {
		r.seq, r.times = seq, 1
	}
	r.at = max(now, 1)
	needKey = r.times == resendsBeforeKeyframe+1 && !f.congested()
	f.stats.retransmits.Add(1)
	payload := f.npkt.Payload
	if b.rtxSSRC != 0 {
		// RFC 4588: the RTX stream carries the original sequence number
		// first, then the payload, under its own SSRC, payload type and
		// numbering.
		f.rtxBuf[0], f.rtxBuf[1] = byte(seq>>8), byte(seq)
		payload = f.rtxBuf[:2+copy(f.rtxBuf[2:], payload)]
	}
	if src.family == codecVP8 || src.family == codecVP9 {
		f.pics.renumber(src.family, payload[len(payload)-len(f.npkt.Payload):])
	}
	if b.rtxSSRC == 0 {
		f.send(&f.npkt.Header, b, seq, f.npkt.Timestamp+f.m.tsOff, payload, now, &f.retransmits)
		return src, l, needKey
	}
	rb := *b
	rb.ssrc, rb.pt = b.rtxSSRC, b.rtxPT
	f.rtxSeq++
	f.send(&f.npkt.Header, &rb, f.rtxSeq, f.npkt.Timestamp+f.m.tsOff, payload, now, &f.retransmits)
	return src, l, needKey
}

// close detaches the forwarder from its source; idempotent.
func (f *Forwarder) close() {
	if f.closed.Swap(true) {
		return
	}
	f.mu.Lock()
	src := f.src
	f.src = nil
	f.mu.Unlock()
	if src != nil {
		src.removeForwarder(f)
	}
	f.bound.Store(nil)
}

// nowNanos is the arrival clock of the forwarding path.
func nowNanos() int64 { return time.Now().UnixNano() }
