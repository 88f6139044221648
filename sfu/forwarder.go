package sfu

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
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
	mu   sync.Mutex
	src  *Receiver // nil: paused
	m    munger
	hdr  rtp.Header
	nbuf []byte
	npkt rtp.Packet

	sent        atomic.Uint64
	retransmits atomic.Uint64
	lost        atomic.Uint32 // last fraction lost the subscriber reported (0-255)

	closed atomic.Bool
}

type binding struct {
	ssrc   uint32
	pt     uint8
	writer webrtc.TrackLocalWriter
}

var errNoCodec = errors.New("subscriber does not support the publisher's codec")

func newForwarder(id string, kind webrtc.RTPCodecType, codec webrtc.RTPCodecParameters, streamID, label string) *Forwarder {
	return &Forwarder{
		id: id, kind: kind, codec: codec, streamID: streamID, label: label,
		nbuf: make([]byte, maxPacket), m: munger{clock: codec.ClockRate},
	}
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
	f.bound.Store(&binding{ssrc: uint32(ctx.SSRC()), pt: uint8(match.PayloadType), writer: ctx.WriteStream()})
	f.mu.Lock()
	src := f.src
	f.mu.Unlock()
	if src != nil {
		src.RequestKeyframe()
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
	f.m.switched()
	f.mu.Unlock()
	if old != nil {
		old.removeForwarder(f)
	}
	if r != nil {
		r.addForwarder(f)
		r.RequestKeyframe()
	}
}

// writeRTP forwards one packet of source r; called from r's read loop.
func (f *Forwarder) writeRTP(r *Receiver, h *rtp.Header, payload []byte, now int64) {
	b := f.bound.Load()
	if b == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.src != r {
		return // a packet of the previous source, still in flight
	}
	seq, ts, ok := f.m.rewrite(h, now)
	if !ok {
		return
	}
	f.fill(h, b, seq, ts)
	if _, err := b.writer.WriteRTP(&f.hdr, payload); err == nil {
		f.sent.Add(1)
	}
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
	for {
		pkts, _, err := f.sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if src := f.Source(); src != nil {
					src.RequestKeyframe()
				}
			case *rtcp.TransportLayerNack:
				for _, pair := range p.Nacks {
					pair.Range(func(seq uint16) bool {
						f.retransmit(seq)
						return true
					})
				}
			case *rtcp.ReceiverReport:
				if b := f.bound.Load(); b != nil {
					for _, rr := range p.Reports {
						if rr.SSRC == b.ssrc {
							f.lost.Store(uint32(rr.FractionLost))
						}
					}
				}
			}
		}
	}
}

// retransmit resends one packet (by the subscriber's sequence number) from the
// source's cache, if it is still there and belongs to the current source.
func (f *Forwarder) retransmit(seq uint16) {
	b := f.bound.Load()
	if b == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.src == nil {
		return
	}
	srcSeq, ok := f.m.source(seq)
	if !ok {
		return
	}
	n := f.src.cache.get(srcSeq, f.nbuf)
	if n == 0 {
		return
	}
	if err := f.npkt.Unmarshal(f.nbuf[:n]); err != nil {
		return
	}
	f.fill(&f.npkt.Header, b, seq, f.npkt.Timestamp+f.m.tsOff)
	if _, err := b.writer.WriteRTP(&f.hdr, f.npkt.Payload); err == nil {
		f.retransmits.Add(1)
	}
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
