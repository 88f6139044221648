package sfu

import (
	"sync/atomic"
)

// totals counts the media path's work for the whole process. They are process
// wide, not per Engine, because what reads them (Prometheus) scrapes a
// process, and a receiver or forwarder then needs no pointer back to its engine.
var totals struct {
	packetsIn, bytesIn   atomic.Uint64
	packetsOut, bytesOut atomic.Uint64
	nacks, retransmits   atomic.Uint64 // NACKed packets asked for; packets resent from the cache
	plis                 atomic.Uint64 // keyframe requests (PLI/FIR) from subscribers
	keyframeRequests     atomic.Uint64 // keyframe requests sent to publishers, after aggregation
	layerSwitches        atomic.Uint64 // simulcast layer changes made by forwarders
}

// Totals is a snapshot of the process's media counters, all cumulative.
type Totals struct {
	PacketsIn, BytesIn   uint64 // RTP from publishers
	PacketsOut, BytesOut uint64 // RTP to subscribers, retransmissions included
	NACKs                uint64 // packets subscribers asked to be resent
	Retransmits          uint64 // packets resent from the cache
	PLIs                 uint64 // keyframe requests from subscribers
	KeyframeRequests     uint64 // keyframe requests sent upstream (aggregated)
	LayerSwitches        uint64 // simulcast layer changes
}

// ReadTotals returns the process's media counters.
func ReadTotals() Totals {
	return Totals{
		PacketsIn: totals.packetsIn.Load(), BytesIn: totals.bytesIn.Load(),
		PacketsOut: totals.packetsOut.Load(), BytesOut: totals.bytesOut.Load(),
		NACKs: totals.nacks.Load(), Retransmits: totals.retransmits.Load(),
		PLIs: totals.plis.Load(), KeyframeRequests: totals.keyframeRequests.Load(),
		LayerSwitches: totals.layerSwitches.Load(),
	}
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
