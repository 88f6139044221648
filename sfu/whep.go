package sfu

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/sdpoffer"
)

// The answering side of a "sub" connection, for players that offer (WHEP):
// a Parley client receives on a connection the server offers, a WHEP player
// offers a recvonly connection and the server answers it. Everything after
// the answer is the usual forwarding: the forwarders live on the peer's "sub"
// connection, share its bandwidth estimate and its simulcast allocation.

// ErrBadOffer wraps every reason a player's offer cannot be answered.
var ErrBadOffer = errors.New("the offer cannot be answered")

// ViewerTrack asks AnswerViewer for one outgoing stream.
type ViewerTrack struct {
	ID   string
	Kind webrtc.RTPCodecType
	// Codec is what every source the stream will follow sends: the
	// forwarder binds to it among the codecs the player accepts.
	Codec    webrtc.RTPCodecParameters
	StreamID string
	Label    string
}

// OfferedCodecs lists, by kind, the codecs this server can send that an
// offer's first receiving section of that kind accepts, in the offer's order
// of preference. Kinds the offerer does not receive are absent.
func (e *Engine) OfferedCodecs(offer *sdpoffer.Offer) map[webrtc.RTPCodecType][]webrtc.RTPCodecParameters {
	out := map[webrtc.RTPCodecType][]webrtc.RTPCodecParameters{}
	for _, s := range offer.Sections {
		// Kinds as pion reads them (any case), for the section pion will
		// pair the forwarder with.
		kind := webrtc.NewRTPCodecType(s.Kind)
		if kind == 0 || !s.Receiving() {
			continue
		}
		if _, seen := out[kind]; seen {
			continue // one stream per kind: later sections are left inactive
		}
		var codecs []webrtc.RTPCodecParameters
		for _, oc := range s.Codecs {
			mime := strings.ToLower(s.Kind + "/" + oc.Name)
			for _, c := range e.subCodecs {
				if strings.EqualFold(c.MimeType, mime) && c.ClockRate == oc.ClockRate && !strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) {
					codecs = append(codecs, c)
					break
				}
			}
		}
		out[kind] = codecs
	}
	return out
}

// AnswerViewer answers a player's offer on this peer's "sub" connection: one
// forwarder per track, each on the first section of its kind the offer
// receives on, with no source until SwitchTo. It waits (within ctx) for ICE
// gathering, so the answer carries the server's candidates: WHEP players
// need not trickle. A peer answers one offer in its life; on error the
// caller closes the peer.
func (p *Peer) AnswerViewer(ctx context.Context, offer string, tracks []ViewerTrack) (string, []*Forwarder, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return "", nil, ErrClosed
	}
	if p.sub != nil {
		p.mu.Unlock()
		return "", nil, errors.New("this peer has answered an offer already")
	}
	pc, err := p.newPC(RoleSub)
	if err != nil {
		p.mu.Unlock()
		return "", nil, err
	}
	p.sub = pc
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: p.admitLocked(RoleSub, offer)}); err != nil {
		p.mu.Unlock()
		return "", nil, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	p.flushCandidates(RoleSub, pc)
	fwds := make([]*Forwarder, 0, len(tracks))
	for _, t := range tracks {
		f := newForwarder(t.ID, t.Kind, t.Codec, t.StreamID, t.Label, p.eng.stats)
		// The transceivers the offer made (sendonly on our side) take the
		// tracks; the offer's own payload types stay, as an answer must.
		sender, err := pc.AddTrack(f)
		if err != nil {
			p.mu.Unlock()
			return "", nil, fmt.Errorf("%w: %v", ErrBadOffer, err)
		}
		f.sender = sender
		f.bwe = p.bwe
		f.q = p.sendQueueLocked()
		f.realloc = p.reallocate
		p.forwarders[f] = struct{}{}
		go f.readRTCP() // ends when the sender stops (Close)
		fwds = append(fwds, f)
		if !offeredSection(pc, sender) {
			p.mu.Unlock()
			return "", nil, fmt.Errorf("%w: it has no %s section to receive on", ErrBadOffer, t.Kind)
		}
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		p.mu.Unlock()
		return "", nil, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		p.mu.Unlock()
		return "", nil, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	p.describedLocked(RoleSub)
	p.mu.Unlock()
	// Replaces newPC's handler, keeping what it does.
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateFailed:
			p.h.Failed(RoleSub)
		case webrtc.PeerConnectionStateConnected:
			// The sources were asked for a keyframe when the forwarders were
			// pointed at them, before the player could receive it, and the
			// ask of Bind came within keyframeInterval, so it was swallowed.
			// Browsers ask again when they cannot decode; some players
			// (aiortc) never do, and would wait for the encoder's next
			// keyframe, minutes away.
			time.AfterFunc(keyframeInterval, func() {
				for _, f := range fwds {
					if src := f.Source(); src != nil {
						src.RequestKeyframe()
					}
				}
			})
		}
	})
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", nil, fmt.Errorf("gathering candidates: %w", ctx.Err())
	}
	return pc.LocalDescription().SDP, fwds, nil
}

// offeredSection reports whether sender took a section of the remote offer
// (and so appears in the answer) rather than a section of its own.
func offeredSection(pc *webrtc.PeerConnection, sender *webrtc.RTPSender) bool {
	for _, t := range pc.GetTransceivers() {
		if t.Sender() == sender {
			return t.Mid() != ""
		}
	}
	return false
}

// LocalDescription returns the local description of role's connection once
// ICE gathering has completed (or ctx ends), so it lists every candidate of
// the server: for clients that do not trickle (WHIP answers).
func (p *Peer) LocalDescription(ctx context.Context, role string) (string, error) {
	p.mu.Lock()
	pc := p.pub
	if role == RoleSub {
		pc = p.sub
	}
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return "", ErrClosed
	}
	if pc == nil || pc.LocalDescription() == nil {
		return "", fmt.Errorf("the %s connection has no local description", role)
	}
	select {
	case <-webrtc.GatheringCompletePromise(pc):
	case <-ctx.Done():
		return "", fmt.Errorf("gathering candidates: %w", ctx.Err())
	}
	if d := pc.LocalDescription(); d != nil {
		return d.SDP, nil
	}
	return "", ErrClosed
}
