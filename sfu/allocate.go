package sfu

import (
	"slices"

	"github.com/pion/webrtc/v4"
)

// allocInterval spaces the layer choices that feedback triggers: feedback
// comes every 50-100 ms per subscriber, a choice need not.
const allocInterval = 100e6

// audioRate is budgeted for an audio track not yet measured.
const audioRate = 40_000

// upHold is the least time between a forwarder's layer change and its next climb.
const upHold = 2e9

// reallocate re-chooses layers soon: now, unless a choice was made within
// allocInterval (the next feedback will trigger another).
func (p *Peer) reallocate() {
	now := nowNanos()
	last := p.allocAt.Load()
	if now-last < allocInterval || !p.allocAt.CompareAndSwap(last, now) {
		return
	}
	p.allocate(now)
}

type layerChoice struct {
	f      *Forwarder
	src    *Receiver
	layers []*layer // flowing, low to high
	limit  int      // highest index into layers the tile calls for
	has    int      // index into layers chosen before
	at     int      // index into layers chosen now
	area   int64
}

// allocate chooses each simulcast forwarder's layer: every video gets its
// lowest layer, then the remaining estimate buys steps up, biggest tiles
// first, one step per video per round, never past what the tile needs.
// Climbing beyond the layer a video has needs 15% headroom, so a choice near
// the estimate does not flap.
func (p *Peer) allocate(now int64) {
	p.allocMu.Lock()
	defer p.allocMu.Unlock()
	p.mu.Lock()
	fwds := make([]*Forwarder, 0, len(p.forwarders))
	for f := range p.forwarders {
		fwds = append(fwds, f)
	}
	p.mu.Unlock()

	budget := float64(p.bwe.Target())
	var cs []layerChoice
	for _, f := range fwds {
		src := f.Source()
		if src == nil {
			continue
		}
		if f.pinned >= 0 {
			if l := src.layer(f.pinned); l != nil && now-l.lastPacket.Load() < 2e9 {
				budget -= float64(l.bitrate())
			}
			f.setTarget(src, f.pinned)
			continue
		}
		if !src.simulcast {
			if l := src.layer(0); l != nil && now-l.lastPacket.Load() < 2e9 {
				rate := l.bitrate()
				if src.kind == webrtc.RTPCodecTypeAudio && l.rate.Load() == 0 {
					rate = audioRate
				}
				budget -= float64(rate)
			}
			continue
		}
		layers := src.activeLayers(now, nil)
		if len(layers) == 0 {
			continue
		}
		f.mu.Lock()
		target, since := f.target, f.targetAt
		f.mu.Unlock()
		c := layerChoice{f: f, src: src, layers: layers, limit: viewportLimit(f, layers)}
		for i, l := range layers {
			if l.idx == target {
				c.has = i
			}
		}
		// Each switch costs a keyframe: climb at most once per upHold;
		// stepping down (congestion, a smaller tile) is never held back.
		if now-since < upHold {
			c.limit = min(c.limit, c.has)
		}
		w, h := int64(f.viewW.Load()), int64(f.viewH.Load())
		c.area = w * h
		if w < 0 || h < 0 {
			c.area = 1 << 40 // size not told: treat as the largest
		}
		cs = append(cs, c)
	}
	slices.SortStableFunc(cs, func(a, b layerChoice) int {
		switch {
		case a.area > b.area:
			return -1
		case a.area < b.area:
			return 1
		}
		return 0
	})
	for i := range cs {
		budget -= float64(cs[i].layers[0].bitrate())
	}
	for progress := true; progress; {
		progress = false
		for i := range cs {
			c := &cs[i]
			if c.at >= c.limit {
				continue
			}
			extra := float64(c.layers[c.at+1].bitrate()) - float64(c.layers[c.at].bitrate())
			need := extra
			if c.at+1 > c.has {
				need = extra / 0.85
			}
			if need <= budget {
				budget -= extra
				c.at++
				progress = true
			}
		}
	}
	for _, c := range cs {
		if _, was := c.f.Layer(); was != c.layers[c.at].idx && p.eng.log != nil {
			q, loss, acked := p.bwe.state()
			p.eng.log.Debug("simulcast layer chosen", "peer", p.id, "track", c.f.label, "layer", c.layers[c.at].idx, "was", was,
				"estimate", p.bwe.Target(), "delivered", int(acked), "queue_ms", int(q), "loss", loss, "flowing", len(c.layers), "tile_limit", c.limit)
		}
		c.f.setTarget(c.src, c.layers[c.at].idx)
	}
}

// viewportLimit is the index of the smallest flowing layer at least about as
// large as the subscriber's tile (3/4 of it in both directions), or the top
// one; with no tile size told, the top one; for a video not shown, the lowest.
func viewportLimit(f *Forwarder, layers []*layer) int {
	w, h := int(f.viewW.Load()), int(f.viewH.Load())
	top := len(layers) - 1
	switch {
	case w < 0 || h < 0:
		return top
	case w == 0 && h == 0:
		return 0
	}
	// Sizes come from keyframes where the codec tells; else assume each layer
	// halves the one above, under a 1280x720 top.
	tw, th := int(layers[top].width.Load()), int(layers[top].height.Load())
	if tw == 0 || th == 0 {
		tw, th = 1280, 720
	}
	for i, l := range layers {
		lw, lh := int(l.width.Load()), int(l.height.Load())
		if lw == 0 || lh == 0 {
			shift := layers[top].idx - l.idx
			lw, lh = tw>>shift, th>>shift
		}
		if 4*lw >= 3*w && 4*lh >= 3*h {
			return i
		}
	}
	return top
}

// subscriberStats describes the peer's downlink; ok is false when it receives nothing.
func (p *Peer) subscriberStats() (SubscriberStats, bool) {
	p.mu.Lock()
	fwds := make([]*Forwarder, 0, len(p.forwarders))
	for f := range p.forwarders {
		fwds = append(fwds, f)
	}
	p.mu.Unlock()
	if len(fwds) == 0 {
		return SubscriberStats{}, false
	}
	s := SubscriberStats{Peer: p.id, Tracks: len(fwds)}
	var worst uint32
	for _, f := range fwds {
		worst = max(worst, f.lost.Load())
		if src := f.Source(); src != nil && src.simulcast {
			cur, target := f.Layer()
			ls := LayerState{Track: f.label, Current: cur, Target: target, ViewW: int(f.viewW.Load()), ViewH: int(f.viewH.Load())}
			for i := range maxLayers {
				if l := src.layer(i); l != nil {
					ls.SourceRates[i] = l.rate.Load()
				}
			}
			s.Layers = append(s.Layers, ls)
		}
	}
	s.FractionLost = float64(worst) / 256
	if p.bwe.hasFeedback() {
		s.EstimatedBitrate = p.bwe.Target()
	}
	return s, true
}
