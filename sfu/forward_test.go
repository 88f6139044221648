package sfu

import (
	"fmt"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/pion/rtp"
)

// recordWriter is a TrackLocalWriter that keeps the last header it was given
// (what the subscriber's SRTP session would seal) and counts packets.
type recordWriter struct {
	last    rtp.Header
	payload int
	n       int
}

func (w *recordWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.last = *h
	w.payload = len(payload)
	w.n++
	return len(payload), nil
}

func (w *recordWriter) Write(b []byte) (int, error) { return len(b), nil }

var opus = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}}

// testReceiver builds a receiver without a network track, for the forwarding
// path alone; keyframe requests are counted in *plis.
func testReceiver() *Receiver {
	var plis int
	r := newReceiver("T1", "0", opus, webrtc.RTPCodecTypeAudio, nil, func([]rtcp.Packet) error { plis++; return nil }, nil, new(counters))
	r.addLayer(0, "", nil)
	r.layer(0).cache = newPacketCache(1024)
	return r
}

func newTestForwarder(w *recordWriter, ssrc uint32, pt uint8) *Forwarder {
	f := newForwarder("F", webrtc.RTPCodecTypeAudio, opus, "S", "L", new(counters))
	f.bound.Store(&binding{ssrc: ssrc, pt: pt, writer: w})
	return f
}

func boundForwarder(r *Receiver, ssrc uint32, pt uint8) (*Forwarder, *recordWriter) {
	w := &recordWriter{}
	f := newTestForwarder(w, ssrc, pt)
	f.SwitchTo(r)
	return f, w
}

func rawPacket(t testing.TB, seq uint16, ts uint32, withExt bool) []byte {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: ts, SSRC: 0xdeadbeef, Marker: true}, Payload: []byte("opus-frame-bytes")}
	if withExt {
		if err := p.SetExtension(1, []byte{0x90}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestForwardRewritesForEachSubscriber(t *testing.T) {
	r := testReceiver()
	_, w1 := boundForwarder(r, 1111, 96)
	_, w2 := boundForwarder(r, 2222, 109)
	var pkt rtp.Packet
	r.forward(rawPacket(t, 500, 48000, true), &pkt, 0)
	for _, c := range []struct {
		w    *recordWriter
		ssrc uint32
		pt   uint8
	}{{w1, 1111, 96}, {w2, 2222, 109}} {
		if c.w.n != 1 {
			t.Fatalf("subscriber got %d packets, want 1", c.w.n)
		}
		h := c.w.last
		if h.SSRC != c.ssrc || h.PayloadType != c.pt {
			t.Errorf("ssrc/pt = %d/%d, want %d/%d", h.SSRC, h.PayloadType, c.ssrc, c.pt)
		}
		if h.SequenceNumber != 500 || h.Timestamp != 48000 || !h.Marker {
			t.Errorf("seq/ts/marker changed: %+v", h)
		}
		if h.Extension || len(h.Extensions) != 0 {
			t.Errorf("publisher's header extensions leaked to the subscriber: %+v", h.Extensions)
		}
		if c.w.payload != len("opus-frame-bytes") {
			t.Errorf("payload length %d", c.w.payload)
		}
	}
}

func TestForwardDropsGarbageAndHonoursMute(t *testing.T) {
	r := testReceiver()
	_, w := boundForwarder(r, 1, 96)
	var pkt rtp.Packet
	for _, junk := range [][]byte{nil, {0x80}, {0xff, 0xff, 0xff}, make([]byte, 11)} {
		r.forward(junk, &pkt, 0)
	}
	if w.n != 0 {
		t.Fatalf("garbage was forwarded %d times", w.n)
	}
	r.muted.Store(true)
	r.forward(rawPacket(t, 1, 1, false), &pkt, 0)
	if w.n != 0 {
		t.Fatal("a muted track was forwarded")
	}
	r.muted.Store(false)
	r.forward(rawPacket(t, 2, 2, false), &pkt, 0)
	if w.n != 1 {
		t.Fatalf("after unmute %d packets, want 1", w.n)
	}
}

func TestUnboundAndClosedForwardersReceiveNothing(t *testing.T) {
	r := testReceiver()
	f := newForwarder("F", webrtc.RTPCodecTypeAudio, opus, "S", "L", new(counters))
	f.SwitchTo(r)
	var pkt rtp.Packet
	r.forward(rawPacket(t, 1, 1, false), &pkt, 0) // must not panic before Bind
	f2, w := boundForwarder(r, 5, 96)
	f2.close()
	r.forward(rawPacket(t, 2, 2, false), &pkt, 0)
	if w.n != 0 || r.Forwarders() != 1 {
		t.Fatalf("closed forwarder got %d packets; %d forwarders remain, want 1", w.n, r.Forwarders())
	}
}

func TestRetransmitFromCache(t *testing.T) {
	r := testReceiver()
	f, w := boundForwarder(r, 77, 96)
	var pkt rtp.Packet
	for seq := uint16(65530); seq != 10; seq++ { // across the wrap
		r.forward(rawPacket(t, seq, uint32(seq)*3000, false), &pkt, 0)
	}
	sent := w.n
	f.retransmit(65534, 0, false)
	if w.n != sent+1 || w.last.SequenceNumber != 65534 || w.last.SSRC != 77 {
		t.Fatalf("retransmit: %d packets, last %+v", w.n-sent, w.last)
	}
	f.retransmit(3000, 0, true) // never seen
	if w.n != sent+1 {
		t.Fatal("retransmitted a packet that was never cached")
	}
	if _, rtx, _ := f.Stats(); rtx != 1 {
		t.Fatalf("retransmit count %d, want 1", rtx)
	}
}

func TestPacketCacheEvictsBySlot(t *testing.T) {
	c := newPacketCache(4)
	buf := make([]byte, maxPacket)
	c.put(1, []byte{1}, false)
	c.put(5, []byte{5}, false) // same slot as 1
	if n := c.get(1, buf); n != 0 {
		t.Fatal("an evicted packet was returned")
	}
	if n := c.get(5, buf); n != 1 || buf[0] != 5 {
		t.Fatalf("get(5) = %d %v", n, buf[:1])
	}
	c.put(6, make([]byte, maxPacket+1), false) // oversized: not cached
	if n := c.get(6, buf); n != 0 {
		t.Fatal("an oversized packet was cached")
	}
}

func TestForwardAllocatesNothing(t *testing.T) {
	r := testReceiver()
	var ws []*recordWriter
	for i := range 10 {
		_, w := boundForwarder(r, uint32(i+1), 96)
		ws = append(ws, w)
	}
	raw := rawPacket(t, 1, 1, true)
	var pkt rtp.Packet
	r.forward(raw, &pkt, 0) // warm the packet's slices
	seq := uint16(1)
	allocs := testing.AllocsPerRun(1000, func() {
		seq++ // a new packet each time: the same one again is a duplicate, dropped
		setSeq(raw, seq)
		r.forward(raw, &pkt, 0)
	})
	if allocs != 0 {
		t.Fatalf("forwarding one packet to 10 subscribers allocates %.1f times", allocs)
	}
	if ws[9].n < 1000 {
		t.Fatalf("only %d packets were forwarded", ws[9].n)
	}
}

// BenchmarkForward measures one packet in, K subscribers out: parse, cache,
// per-subscriber header rewrite and hand-off to the subscriber's writer (SRTP
// sealing and the socket write are pion's and are measured by the load tool).
func BenchmarkForward(b *testing.B) {
	for _, k := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", k), func(b *testing.B) {
			r := testReceiver()
			for i := range k {
				boundForwarder(r, uint32(i+1), 96)
			}
			raws := make([][]byte, 256)
			for i := range raws {
				raws[i] = rawPacket(b, uint16(i), uint32(i)*3000, true)
			}
			var pkt rtp.Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(raws[0])))
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				p := raws[i&255]
				setSeq(p, uint16(i)) // a new packet each time: the same one again is a duplicate
				r.forward(p, &pkt, 0)
			}
		})
	}
}

// nackBoth is a NACK of seq as handleRTCP serves it: keyframe packets, then the rest.
func nackBoth(f *Forwarder, seq uint16, now int64) {
	f.retransmit(seq, now, true)
	f.retransmit(seq, now, false)
}

// setSeq writes seq into a marshalled RTP packet.
func setSeq(raw []byte, seq uint16) { raw[2], raw[3] = byte(seq>>8), byte(seq) }
