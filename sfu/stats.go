package sfu

import "sync/atomic"

// counters count an engine's media work. Every receiver and forwarder holds
// its engine's, so that engines in one process (the nodes of a test) count
// apart; Prometheus reads them through the engine a node serves.
type counters struct {
	packetsIn, bytesIn   atomic.Uint64
	packetsOut, bytesOut atomic.Uint64
	nacks, retransmits   atomic.Uint64            // NACKed packets asked for; packets resent from the cache
	plis                 atomic.Uint64            // keyframe requests (PLI/FIR) from subscribers
	keyframeRequests     atomic.Uint64            // keyframe requests sent to publishers, after aggregation
	keyframesThrottled   atomic.Uint64            // keyframe requests not sent: one went up within keyframeInterval
	keyframesIn          [maxLayers]atomic.Uint64 // keyframes arriving from publishers, by simulcast layer
	layerSwitches        atomic.Uint64            // simulcast layer changes made by forwarders
	resendsHeld          atomic.Uint64            // NACKed packets not resent: resent within resendGap already
	resendsMissed        atomic.Uint64            // NACKed packets not resent: gone from the cache, or of another source
	resendsLimited       atomic.Uint64            // NACKed packets not resent: over the subscriber's retransmission budget
	duplicatesIn         atomic.Uint64            // packets a layer had already (a publisher's RTX probes), not forwarded
	candidatesRefused    atomic.Uint64            // remote ICE candidates the policy refused (candidates.go)
	queueDrops           atomic.Uint64            // packets dropped because a subscriber's send queue was full
}

// Totals is a snapshot of an engine's media counters, all cumulative.
type Totals struct {
	PacketsIn, BytesIn   uint64            // RTP from publishers
	PacketsOut, BytesOut uint64            // RTP to subscribers, retransmissions included
	NACKs                uint64            // packets subscribers asked to be resent
	Retransmits          uint64            // packets resent from the cache
	PLIs                 uint64            // keyframe requests from subscribers
	KeyframeRequests     uint64            // keyframe requests sent upstream (aggregated)
	KeyframesThrottled   uint64            // keyframe requests held back (one went up lately)
	KeyframesIn          [maxLayers]uint64 // keyframes arriving from publishers, by simulcast layer (low first)
	LayerSwitches        uint64            // simulcast layer changes
	ResendsHeld          uint64            // NACKed packets not resent because they were just resent
	ResendsMissed        uint64            // NACKed packets not resent because the cache no longer has them
	ResendsLimited       uint64            // NACKed packets not resent because the subscriber's link has no room for them
	DuplicatesIn         uint64            // packets a layer had already, not forwarded again
	CandidatesRefused    uint64            // remote ICE candidates refused: addresses a client may not make the server check
	QueueDrops           uint64            // packets dropped because a subscriber's send queue was full (a connection not taking them)
}

// Totals returns the engine's media counters.
func (e *Engine) Totals() Totals { return e.stats.read() }

func newCounters() *counters { return &counters{} }

func (c *counters) read() Totals {
	t := Totals{
		PacketsIn: c.packetsIn.Load(), BytesIn: c.bytesIn.Load(),
		PacketsOut: c.packetsOut.Load(), BytesOut: c.bytesOut.Load(),
		NACKs: c.nacks.Load(), Retransmits: c.retransmits.Load(),
		PLIs: c.plis.Load(), KeyframeRequests: c.keyframeRequests.Load(),
		KeyframesThrottled: c.keyframesThrottled.Load(),
		LayerSwitches:      c.layerSwitches.Load(),
		ResendsHeld:        c.resendsHeld.Load(), ResendsMissed: c.resendsMissed.Load(),
		ResendsLimited: c.resendsLimited.Load(), DuplicatesIn: c.duplicatesIn.Load(),
		CandidatesRefused: c.candidatesRefused.Load(),
		QueueDrops:        c.queueDrops.Load(),
	}
	for i := range t.KeyframesIn {
		t.KeyframesIn[i] = c.keyframesIn[i].Load()
	}
	return t
}

// SubscriberStats describes one peer's downlink.
type SubscriberStats struct {
	Peer string
	// EstimatedBitrate is the bandwidth estimate for the peer's downlink, bits/s
	// (0 before any feedback).
	EstimatedBitrate uint64
	// FractionLost is the loss the peer last reported, 0 to 1, worst of its streams.
	FractionLost float64
	Tracks       int
	// Layers is the simulcast state of each video forwarded to the peer.
	Layers []LayerState
}

// LayerState is where one simulcast forwarder stands.
type LayerState struct {
	Track   string // the forwarder's label
	Current int    // layer being sent; -1 while waiting for a keyframe of Target
	Target  int    // layer chosen for the subscriber
	// ViewW and ViewH are the tile size the subscriber last told (-1: never).
	ViewW, ViewH int
	// SourceRates are the rates (bits/s) the publisher sends each layer at.
	SourceRates [maxLayers]uint64
}

// Subscribers returns the downlink state of every peer that receives media.
func (e *Engine) Subscribers() []SubscriberStats {
	e.mu.Lock()
	peers := make([]*Peer, 0, len(e.peers))
	for p := range e.peers {
		peers = append(peers, p)
	}
	e.mu.Unlock()
	out := make([]SubscriberStats, 0, len(peers))
	for _, p := range peers {
		if s, ok := p.subscriberStats(); ok {
			out = append(out, s)
		}
	}
	return out
}
