package sfu

import (
	"errors"
	"strings"
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Forwarder sends one receiver's packets to one subscriber. It is the
// subscriber's webrtc.TrackLocal: pion binds it when negotiation completes.
type Forwarder struct {
	recv     *Receiver
	id       string
	streamID string
	label    string
	sender   *webrtc.RTPSender

	bound atomic.Pointer[binding] // nil until negotiated

	hdr  rtp.Header // scratch for the forwarding goroutine only
	nhdr rtp.Header // scratch for the NACK goroutine only
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

func newForwarder(r *Receiver, streamID, label string) *Forwarder {
	return &Forwarder{recv: r, id: r.id, streamID: streamID, label: label, nbuf: make([]byte, maxPacket)}
}

// Bind implements webrtc.TrackLocal: pick the publisher's codec among those the
// subscriber negotiated, so packets pass through unchanged but for the header.
func (f *Forwarder) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	want := f.recv.codec
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
	f.recv.RequestKeyframe()
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
func (f *Forwarder) Kind() webrtc.RTPCodecType { return f.recv.Kind() }

// Label is the caller's name for this subscription (the room's track key).
func (f *Forwarder) Label() string { return f.label }

// Receiver is the track this forwarder carries.
func (f *Forwarder) Receiver() *Receiver { return f.recv }

// Stats returns packets sent and retransmitted, and the last reported fraction lost (0-255).
func (f *Forwarder) Stats() (sent, retransmits uint64, fractionLost uint8) {
	return f.sent.Load(), f.retransmits.Load(), uint8(f.lost.Load())
}

// writeRTP forwards one packet; called only from the receiver's read loop.
func (f *Forwarder) writeRTP(h *rtp.Header, payload []byte) {
	b := f.bound.Load()
	if b == nil {
		return
	}
	f.rewrite(&f.hdr, h, b)
	if _, err := b.writer.WriteRTP(&f.hdr, payload); err == nil {
		f.sent.Add(1)
	}
}

// rewrite fills dst from src for this subscriber's stream. Header extensions
// are dropped: their ids were negotiated with the publisher, not the subscriber.
func (f *Forwarder) rewrite(dst, src *rtp.Header, b *binding) {
	*dst = *src
	dst.SSRC = b.ssrc
	dst.PayloadType = b.pt
	dst.Extension = false
	dst.Extensions = nil
	dst.ExtensionProfile = 0
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
				f.recv.RequestKeyframe()
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

// retransmit resends one packet from the receiver's cache, if it is still there.
func (f *Forwarder) retransmit(seq uint16) {
	b := f.bound.Load()
	if b == nil {
		return
	}
	n := f.recv.cache.get(seq, f.nbuf)
	if n == 0 {
		return
	}
	if err := f.npkt.Unmarshal(f.nbuf[:n]); err != nil {
		return
	}
	f.rewrite(&f.nhdr, &f.npkt.Header, b)
	if _, err := b.writer.WriteRTP(&f.nhdr, f.npkt.Payload); err == nil {
		f.retransmits.Add(1)
	}
}

// close detaches the forwarder from its receiver; idempotent.
func (f *Forwarder) close() {
	if f.closed.Swap(true) {
		return
	}
	f.recv.removeForwarder(f)
	f.bound.Store(nil)
}
