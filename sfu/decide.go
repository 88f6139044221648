package sfu

import "github.com/pion/rtp"

// The forwarding decision apart from its I/O (as LiveKit's
// Forwarder.GetTranslationParams): for one packet and one subscriber, whether
// it is sent, and as which sequence number and timestamp. It touches no
// connection, no lock and no receiver, so its rules are tested on their own
// (decide_test.go) and the forwarder around it only does what it says.

// verdict is what becomes of one packet for one subscriber.
type verdict uint8

const (
	send        verdict = iota
	waitLayer           // another layer than the one sent, and not the keyframe that switches to the chosen one
	beforeStart         // older than the current source's first packet
	overflowed          // the subscriber's queue is full
)

// translation is the decision for one packet.
type translation struct {
	verdict verdict
	seq     uint16 // the outgoing numbering, when sent
	ts      uint32
	// switched: this packet begins the layer it is of (a keyframe of the
	// chosen layer); layerSwitch: and another layer was being sent before.
	switched, layerSwitch bool
	// restart: video stops until a keyframe of the chosen layer, which the
	// caller asks the publisher for.
	restart bool
}

// selector is a forwarder's per-subscriber stream state: the layer sent and
// the one chosen, and the numbering that keeps the outgoing stream one
// stream across sources and layers. The forwarder holds it under its lock.
type selector struct {
	cur      int   // layer being sent; -1 waits for target's keyframe
	target   int   // layer chosen for this subscriber
	targetAt int64 // when target last changed (ns)
	m        munger
	pics     pictureMunger // VP8/VP9 picture numbering, kept continuous like m's
}

// translate decides packet h of layer idx (key: it starts a keyframe)
// arriving at now. startsOnKey: the stream must begin on a keyframe (video:
// simulcast, or a codec whose keyframes are known); audio begins anywhere.
// full: the subscriber's queue has no room.
func (s *selector) translate(h *rtp.Header, idx int, key, startsOnKey, full bool, now int64) translation {
	if full {
		// Video cannot go on from a hole: it stops until the chosen layer's
		// next keyframe, its numbering running on across the gap as across
		// a layer switch (the subscriber sees no loss to NACK). Audio loses
		// this packet only.
		if startsOnKey {
			s.cur = -1
			return translation{verdict: overflowed, restart: true}
		}
		return translation{verdict: overflowed}
	}
	var t translation
	if idx != s.cur {
		// Another layer becomes ours only where the decoder can start: on a
		// keyframe of the layer chosen.
		if idx != s.target || !key {
			return translation{verdict: waitLayer}
		}
		t.switched, t.layerSwitch = true, s.cur >= 0
		s.cur = idx
		s.m.switched()
		s.pics.switched()
	}
	seq, ts, ok := s.m.rewrite(h, now)
	if !ok {
		return translation{verdict: beforeStart, switched: t.switched, layerSwitch: t.layerSwitch}
	}
	t.seq, t.ts = seq, ts
	return t
}

// sourceChanged begins a new source: audio from its next packet, video from
// its lowest layer's keyframe (the lowest arrives soonest; the allocation
// climbs from there).
func (s *selector) sourceChanged(startsOnKey bool) {
	s.m.switched()
	s.pics.switched()
	s.cur, s.target = 0, 0
	if startsOnKey {
		s.cur = -1
	}
}
