package sfu

import (
	"net"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Two engines in one process are two nodes: what one counts, the other does
// not (metrics of one node, and tests that compare before and after, would
// otherwise see the other's traffic).
func TestEnginesCountApart(t *testing.T) {
	newEngine := func() *Engine {
		e, err := NewEngine(Config{ListenIP: net.IPv4(127, 0, 0, 1), Candidates: &CandidatePolicy{Loopback: true}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Close() })
		return e
	}
	a, b := newEngine(), newEngine()

	p := a.NewPeer("PA_a", newWhepEvents())
	defer p.Close()
	multicast := webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 224.0.0.1 5000 typ host"}
	if err := p.AddCandidate(RolePub, multicast); err == nil {
		t.Fatal("a multicast candidate was admitted")
	}

	// The media path counts into the engine its receivers and forwarders
	// were made for.
	r := newReceiver("T1", "0", opus, webrtc.RTPCodecTypeAudio, nil, func([]rtcp.Packet) error { return nil }, nil, a.stats)
	r.addLayer(0, "", nil)
	f := newForwarder("F", webrtc.RTPCodecTypeAudio, opus, "S", "L", a.stats)
	f.bound.Store(&binding{ssrc: 1, pt: 111, writer: &recordWriter{}})
	f.SwitchTo(r)
	raw := rawPacket(t, 1, 960, false)
	r.forward(raw, &rtp.Packet{}, nowNanos())

	at, bt := a.Totals(), b.Totals()
	if at.CandidatesRefused != 1 || at.PacketsIn != 1 || at.BytesIn != uint64(len(raw)) || at.PacketsOut != 1 {
		t.Errorf("the engine that refused and received counts %+v", at)
	}
	if bt != (Totals{}) {
		t.Errorf("the other engine counts %+v", bt)
	}
}
