package sfu

import (
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Sender reports (RFC 3550 6.4.1) for forwarded streams. A browser needs
// them to line up a participant's audio and video (they map each stream's
// RTP time to a common clock). Pion's report interceptor made them, at the
// cost of a lock and a clock reading on every packet of every subscriber and
// a ticker per connection; the forwarder keeps what a report needs as it
// sends, and one loop per engine writes every connection's reports once a
// second.

// reportInterval is the time between a stream's sender reports.
const reportInterval = time.Second

// reportLoop sends sender reports until Close.
func (e *Engine) reportLoop() {
	defer close(e.reportsEnded)
	t := time.NewTicker(reportInterval)
	defer t.Stop()
	for {
		select {
		case <-e.stopReports:
			return
		case now := <-t.C:
			e.mu.Lock()
			peers := make([]*Peer, 0, len(e.peers))
			for p := range e.peers {
				peers = append(peers, p)
			}
			e.mu.Unlock()
			for _, p := range peers {
				p.sendReports(now)
			}
		}
	}
}

// reportsPerPacket bounds one compound RTCP packet: 28 bytes a report.
const reportsPerPacket = 32

// sendReports writes the sender reports of p's forwarded streams.
func (p *Peer) sendReports(now time.Time) {
	p.mu.Lock()
	if p.closed || p.sub == nil || len(p.forwarders) == 0 {
		p.mu.Unlock()
		return
	}
	pc, q := p.sub, p.q
	fs := make([]*Forwarder, 0, len(p.forwarders))
	for f := range p.forwarders {
		fs = append(fs, f)
	}
	p.mu.Unlock()
	var pkts []rtcp.Packet
	for _, f := range fs {
		if sr := f.senderReport(now); sr != nil {
			pkts = append(pkts, sr)
		}
	}
	if len(pkts) == 0 {
		return
	}
	if q == nil || q.direct.Load() {
		writeReports(pc, pkts) // UDP: never waits for the receiver
		return
	}
	// Over ICE-TCP a write blocks while the subscriber does not read: on
	// this loop it would hold back every connection's reports (and Close).
	// One write in flight per peer; it ends when the subscriber reads or
	// its connection closes.
	if !p.reporting.CompareAndSwap(false, true) {
		return // the last reports are still waiting: skip these
	}
	go func() {
		defer p.reporting.Store(false)
		writeReports(pc, pkts)
	}()
}

func writeReports(pc *webrtc.PeerConnection, pkts []rtcp.Packet) {
	for len(pkts) > 0 {
		n := min(len(pkts), reportsPerPacket)
		_ = pc.WriteRTCP(pkts[:n]) // a connection going away: its next report, if any, tries again
		pkts = pkts[n:]
	}
}

// senderReport is the stream's report at now, or nil before its first packet.
func (f *Forwarder) senderReport(now time.Time) *rtcp.SenderReport {
	b := f.bound.Load()
	if b == nil || f.closed.Load() {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srPackets == 0 {
		return nil
	}
	// The RTP time now, from the last new packet's, at the codec's clock;
	// in microseconds, so a stream paused for days does not overflow, and
	// never backwards if the wall clock stepped.
	elapsed := uint64(max(now.UnixNano()-f.srAt, 0) / 1e3)
	rtpNow := f.srTS + uint32(elapsed*uint64(f.codec.ClockRate)/1e6)
	return &rtcp.SenderReport{
		SSRC: b.ssrc, NTPTime: ntpTime(now), RTPTime: rtpNow,
		PacketCount: f.srPackets, OctetCount: f.srOctets,
	}
}

// ntpEpoch is 1900-01-01 in Unix seconds (negative).
const ntpEpoch = -2208988800

// ntpTime is t in NTP's 32.32 fixed point.
func ntpTime(t time.Time) uint64 {
	secs := uint64(t.Unix() - ntpEpoch)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}
