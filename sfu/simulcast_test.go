package sfu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

var vp8 = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}

// logWriter keeps every header a forwarder writes, and the payload's first
// byte after the VP8 descriptor (to tell keyframes).
type logWriter struct {
	hdrs []rtp.Header
	keys []bool
}

func (w *logWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	hc := *h
	hc.Extensions = nil
	w.hdrs = append(w.hdrs, hc)
	w.keys = append(w.keys, vp8Keyframe(payload))
	return len(payload), nil
}

func (w *logWriter) Write(b []byte) (int, error) { return len(b), nil }

// simulcastReceiver is a VP8 track with three layers and no network.
func simulcastReceiver() *Receiver {
	r := newReceiver("S1", "0", vp8, webrtc.RTPCodecTypeVideo, nil, func([]rtcp.Packet) error { return nil }, nil, new(counters))
	r.simulcast = true
	for i, rid := range []string{"q", "h", "f"} {
		l, _ := r.addLayer(i, rid, nil)
		l.ssrc = uint32(1000 * (i + 1))
	}
	return r
}

// vp8Packet builds one packet of a VP8 frame: first (with the frame tag) or a
// continuation; key marks a keyframe (with a picture size).
func vp8Packet(ssrc uint32, seq uint16, ts uint32, first, key, last bool, w, h int) []byte {
	var payload []byte
	switch {
	case first && key:
		payload = []byte{0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, byte(w), byte(w >> 8), byte(h), byte(h >> 8), 0xaa}
	case first:
		payload = []byte{0x10, 0x01, 0x00, 0x00, 0xbb, 0xbb}
	default:
		payload = []byte{0x00, 0xcc, 0xcc, 0xcc}
	}
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc, Marker: last}, Payload: payload}
	raw, err := p.Marshal()
	if err != nil {
		panic(err)
	}
	return raw
}

func TestKeyframeDetection(t *testing.T) {
	key := vp8Packet(1, 1, 1, true, true, false, 640, 360)[12:]
	if !vp8Keyframe(key) {
		t.Fatal("VP8 keyframe not seen")
	}
	if w, h, ok := vp8Size(key); !ok || w != 640 || h != 360 {
		t.Fatalf("VP8 size %dx%d %v", w, h, ok)
	}
	for name, p := range map[string][]byte{
		"vp8 delta": vp8Packet(1, 1, 1, true, false, false, 0, 0)[12:],
		"vp8 cont":  vp8Packet(1, 1, 1, false, false, false, 0, 0)[12:],
		"empty":     {},
		"vp8 X cut": {0x90},
	} {
		if vp8Keyframe(p) {
			t.Errorf("%s taken for a keyframe", name)
		}
	}
	// VP8 with extended descriptor: X, I with a 15-bit picture id, L, T/K.
	ext := []byte{0x90, 0xe0, 0x80, 0x01, 0x05, 0x20, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01}
	if w, h, ok := vp8Size(ext); !ok || w != 640 || h != 360 {
		t.Fatalf("extended descriptor: size %dx%d %v", w, h, ok)
	}
	cases := []struct {
		family int
		p      []byte
		want   bool
	}{
		{codecH264, []byte{0x65, 0x88}, true},                                           // IDR
		{codecH264, []byte{0x67, 0x42}, true},                                           // SPS
		{codecH264, []byte{0x41, 0x9a}, false},                                          // non-IDR slice
		{codecH264, []byte{0x7c, 0x85, 0x00}, true},                                     // FU-A start of an IDR
		{codecH264, []byte{0x7c, 0x05, 0x00}, false},                                    // FU-A middle
		{codecH264, []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, true}, // STAP-A with SPS
		{codecH264, []byte{0x78, 0xff, 0xff}, false},                                    // STAP-A, bad size
		{codecVP9, []byte{0x08, 0x00}, true},                                            // B, not P
		{codecVP9, []byte{0x48, 0x00}, false},                                           // P
		{codecVP9, []byte{0xa8, 0x01, 0x00}, true},                                      // I, L: spatial layer 0
		{codecVP9, []byte{0xa8, 0x01, 0x02}, false},                                     // spatial layer 1
		{codecAV1, []byte{0x08}, true},                                                  // N
		{codecAV1, []byte{0x10}, false},
	}
	for i, c := range cases {
		if got := isKeyframeStart(c.family, c.p); got != c.want {
			t.Errorf("case %d (%x): keyframe %v, want %v", i, c.p, got, c.want)
		}
	}
}

// TestLayerSwitchesKeepOneStream switches a subscriber between three layers
// hundreds of times at random moments: what it receives must be one stream,
// with sequence numbers that run on by one without a gap or a repeat,
// timestamps that never go back, and every change of layer landing on a
// keyframe.
func TestLayerSwitchesKeepOneStream(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := simulcastReceiver()
	w := &logWriter{}
	f := newForwarder("F", webrtc.RTPCodecTypeVideo, vp8, "S", "L", new(counters))
	f.bound.Store(&binding{ssrc: 42, pt: 96, writer: w})
	f.SwitchTo(r)

	type state struct {
		seq uint16
		ts  uint32
	}
	layers := []state{{seq: 100, ts: 5000}, {seq: 60000, ts: 1 << 31}, {seq: 7, ts: 4e9}}
	var pkt rtp.Packet
	now := int64(0)
	targets := 0
	var switchesAt []int // index in w.hdrs where the layer changed
	lastCur := -1
	for frame := range 3000 {
		now += 33e6
		if rng.IntN(10) == 0 {
			f.setTarget(r, rng.IntN(3))
			targets++
		}
		for li := range layers {
			l := r.layer(li)
			key := frame%30 == li*7 || rng.IntN(40) == 0
			n := 1 + li + rng.IntN(3) // packets in the frame
			for k := range n {
				s := &layers[li]
				raw := vp8Packet(l.ssrc, s.seq, s.ts, k == 0, key, k == n-1, 320<<li, 180<<li)
				s.seq++
				r.forwardLayer(l, raw, &pkt, now+int64(li)*1e6)
				if cur, _ := f.Layer(); cur != lastCur {
					if lastCur >= 0 {
						switchesAt = append(switchesAt, len(w.hdrs)-1)
					}
					lastCur = cur
				}
			}
			layers[li].ts += 3000
		}
	}
	if len(switchesAt) < 50 {
		t.Fatalf("only %d layer switches for %d choices", len(switchesAt), targets)
	}
	for i := 1; i < len(w.hdrs); i++ {
		a, b := w.hdrs[i-1], w.hdrs[i]
		if b.SSRC != 42 || b.PayloadType != 96 {
			t.Fatalf("packet %d: ssrc %d pt %d", i, b.SSRC, b.PayloadType)
		}
		if b.SequenceNumber != a.SequenceNumber+1 {
			t.Fatalf("packet %d: sequence %d after %d", i, b.SequenceNumber, a.SequenceNumber)
		}
		if int32(b.Timestamp-a.Timestamp) < 0 {
			t.Fatalf("packet %d: timestamp went back from %d to %d", i, a.Timestamp, b.Timestamp)
		}
	}
	for _, i := range switchesAt {
		if !w.keys[i] {
			t.Fatalf("the switch at packet %d did not land on a keyframe", i)
		}
		if gap := w.hdrs[i].Timestamp - w.hdrs[i-1].Timestamp; gap > 90000/10 {
			t.Fatalf("the switch at packet %d jumps the clock by %d ticks", i, gap)
		}
	}
}

// TestTapsFollowTheBestLayer: the recorder gets one stream that climbs to
// the top layer on its keyframe and keeps its own continuous numbering.
func TestTapsFollowTheBestLayer(t *testing.T) {
	r := simulcastReceiver()
	var got []rtp.Header
	r.AddTap(tapFunc(func(raw []byte) {
		var p rtp.Packet
		if err := p.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Header)
	}))
	var pkt rtp.Packet
	seq := [3]uint16{10, 2000, 40000}
	for frame := range 20 {
		for li := range 3 {
			if li == 2 && frame < 5 {
				continue // the top layer starts late
			}
			l := r.layer(li)
			r.forwardLayer(l, vp8Packet(l.ssrc, seq[li], uint32(frame*3000), true, frame%10 == 0 || frame == 7, true, 320<<li, 180<<li), &pkt, int64(frame)*33e6)
			seq[li]++
		}
	}
	if r.tap.cur != 2 {
		t.Fatalf("taps follow layer %d, want the top", r.tap.cur)
	}
	for i := 1; i < len(got); i++ {
		if got[i].SequenceNumber != got[i-1].SequenceNumber+1 || got[i].SSRC != got[0].SSRC {
			t.Fatalf("tap packet %d: ssrc %d seq %d after %d", i, got[i].SSRC, got[i].SequenceNumber, got[i-1].SequenceNumber)
		}
	}
}

type tapFunc func([]byte)

func (f tapFunc) WriteRTP(raw []byte) { f(raw) }

// TestAllocationFollowsTileAndBandwidth: a thumbnail never pulls more than a
// small layer; a big tile gets the top layer when the estimate allows and the
// lowest when it does not.
func TestAllocationFollowsTileAndBandwidth(t *testing.T) {
	e := &Engine{peers: map[*Peer]struct{}{}}
	p := e.NewPeer("P", nil)
	r := simulcastReceiver()
	now := nowNanos()
	for i := range maxLayers {
		l := r.layer(i)
		l.lastPacket.Store(now)
		l.width.Store(int32(320 << i))
		l.height.Store(int32(180 << i))
		l.rate.Store([]uint64{150_000, 500_000, 1_500_000}[i])
	}
	big := newForwarder("big", webrtc.RTPCodecTypeVideo, vp8, "S", "big", new(counters))
	thumb := newForwarder("thumb", webrtc.RTPCodecTypeVideo, vp8, "S", "thumb", new(counters))
	// Climbs are held back for upHold after a change; the test's clock jumps past it.
	unhold := func() {
		for _, f := range []*Forwarder{big, thumb} {
			f.mu.Lock()
			f.targetAt = 0
			f.mu.Unlock()
		}
	}
	for _, f := range []*Forwarder{big, thumb} {
		p.forwarders[f] = struct{}{}
		f.bwe = p.bwe
		f.SwitchTo(r)
	}
	big.SetViewport(1280, 720)
	thumb.SetViewport(300, 170)
	cases := []struct {
		estimate         uint64
		wantBig, wantThb int
	}{
		{10_000_000, 2, 0},
		{250_000, 0, 0},
		{1_000_000, 1, 0},
		{10_000_000, 2, 0},
	}
	for _, c := range cases {
		p.bwe.published.Store(c.estimate)
		unhold()
		p.allocate(nowNanos())
		if _, tb := big.Layer(); tb != c.wantBig {
			t.Errorf("estimate %d: big tile gets layer %d, want %d", c.estimate, tb, c.wantBig)
		}
		if _, tt := thumb.Layer(); tt != c.wantThb {
			t.Errorf("estimate %d: thumbnail gets layer %d, want %d", c.estimate, tt, c.wantThb)
		}
	}
	thumb.SetViewport(0, 0) // not shown: the lowest layer
	big.SetViewport(-1, -1) // size not told: bandwidth alone decides
	p.bwe.published.Store(10_000_000)
	unhold()
	p.allocate(nowNanos())
	if _, tt := thumb.Layer(); tt != 0 {
		t.Errorf("a hidden video gets layer %d, want 0", tt)
	}
	if _, tb := big.Layer(); tb != 2 {
		t.Errorf("size not told, plenty of bandwidth: layer %d, want 2", tb)
	}
}

// TestForwardWithTWCCAllocatesNothing: stamping transport-wide sequence
// numbers and remembering the send keeps the hot path allocation-free.
func TestForwardWithTWCCAllocatesNothing(t *testing.T) {
	r := simulcastReceiver()
	bwe := newEstimator()
	for i := range 10 {
		f := newForwarder(fmt.Sprint(i), webrtc.RTPCodecTypeVideo, vp8, "S", "L", new(counters))
		f.bound.Store(&binding{ssrc: uint32(i + 1), pt: 96, tccID: 3, writer: &recordWriter{}})
		f.bwe = bwe
		f.SwitchTo(r)
	}
	l := r.layer(0)
	key := vp8Packet(l.ssrc, 1, 1, true, true, true, 320, 180)
	deltas := make([][]byte, 2048) // distinct packets: the same one again is a duplicate, not forwarded
	for i := range deltas {
		deltas[i] = vp8Packet(l.ssrc, uint16(2+i), uint32(3001+i*3000), true, false, true, 320, 180)
	}
	var pkt rtp.Packet
	r.forwardLayer(l, key, &pkt, 1)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() { r.forwardLayer(l, deltas[i], &pkt, 3); i++ })
	if allocs != 0 {
		t.Fatalf("forwarding with TWCC allocates %.1f times per packet", allocs)
	}
	if bwe.seq.Load() < 1000 {
		t.Fatalf("only %d packets were numbered", bwe.seq.Load())
	}
}

// BenchmarkForwardSimulcast: one packet of a layer in, K subscribers (on
// that layer) out, with TWCC numbering.
func BenchmarkForwardSimulcast(b *testing.B) {
	for _, k := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", k), func(b *testing.B) {
			r := simulcastReceiver()
			bwe := newEstimator()
			for i := range k {
				f := newForwarder(fmt.Sprint(i), webrtc.RTPCodecTypeVideo, vp8, "S", "L", new(counters))
				f.bound.Store(&binding{ssrc: uint32(i + 1), pt: 96, tccID: 3, writer: &recordWriter{}})
				f.bwe = bwe
				f.SwitchTo(r)
			}
			l := r.layer(0)
			var pkt rtp.Packet
			r.forwardLayer(l, vp8Packet(l.ssrc, 0, 0, true, true, true, 320, 180), &pkt, 0)
			raws := make([][]byte, 256)
			for i := range raws {
				raws[i] = vp8Packet(l.ssrc, uint16(i+1), uint32(i)*3000, true, false, true, 0, 0)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				p := raws[i&255]
				setSeq(p, uint16(i+1)) // a new packet each time: the same one again is a duplicate
				r.forwardLayer(l, p, &pkt, int64(i))
			}
		})
	}
}

type payloadWriter struct {
	hdrs     []rtp.Header
	payloads [][]byte
}

func (w *payloadWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.hdrs = append(w.hdrs, *h)
	w.payloads = append(w.payloads, append([]byte(nil), payload...))
	return len(payload), nil
}

func (w *payloadWriter) Write(b []byte) (int, error) { return len(b), nil }

// TestRetransmitOverRTX: where RTX is negotiated a NACKed packet goes out on
// the RTX stream (RFC 4588): its own SSRC, payload type and numbering, the
// original sequence number in front of the payload.
func TestRetransmitOverRTX(t *testing.T) {
	r := simulcastReceiver()
	r.simulcast = false
	w := &payloadWriter{}
	f := newForwarder("F", webrtc.RTPCodecTypeVideo, vp8, "S", "L", new(counters))
	f.bound.Store(&binding{ssrc: 42, pt: 96, rtxSSRC: 43, rtxPT: 97, writer: w})
	f.SwitchTo(r)
	l := r.layer(0)
	var pkt rtp.Packet
	for i := range 5 {
		r.forwardLayer(l, vp8Packet(l.ssrc, uint16(100+i), 9000, i == 0, i == 0, i == 4, 320, 180), &pkt, 0)
	}
	sent := w.hdrs[2]
	nackBoth(f, sent.SequenceNumber, 0)
	nackBoth(f, sent.SequenceNumber+1, 0)
	if len(w.hdrs) != 7 {
		t.Fatalf("%d packets written, want 5 and 2 retransmissions", len(w.hdrs))
	}
	for i, h := range w.hdrs[5:] {
		p := w.payloads[5+i]
		if h.SSRC != 43 || h.PayloadType != 97 {
			t.Fatalf("retransmission on ssrc %d pt %d, want the RTX stream 43/97", h.SSRC, h.PayloadType)
		}
		if osn := uint16(p[0])<<8 | uint16(p[1]); osn != sent.SequenceNumber+uint16(i) {
			t.Fatalf("original sequence number %d, want %d", osn, sent.SequenceNumber+uint16(i))
		}
		if string(p[2:]) != string(w.payloads[2+i]) {
			t.Fatal("the RTX payload is not the original payload")
		}
	}
	if w.hdrs[6].SequenceNumber != w.hdrs[5].SequenceNumber+1 {
		t.Fatal("the RTX stream's own sequence numbers do not run on")
	}
}

// TestRepeatedNACKsResendOnce: a subscriber repeating a NACK while the first
// copy is on its way gets one retransmission, not one per request.
func TestRepeatedNACKsResendOnce(t *testing.T) {
	r := simulcastReceiver()
	r.simulcast = false
	w := &payloadWriter{}
	f := newForwarder("F", webrtc.RTPCodecTypeVideo, vp8, "S", "L", new(counters))
	f.bound.Store(&binding{ssrc: 42, pt: 96, writer: w})
	f.SwitchTo(r)
	l := r.layer(0)
	var pkt rtp.Packet
	r.forwardLayer(l, vp8Packet(l.ssrc, 500, 9000, true, true, true, 320, 180), &pkt, 0)
	seq := w.hdrs[0].SequenceNumber
	for i := range 10 {
		nackBoth(f, seq, 1e9+int64(i)*5e6) // ten NACKs within 50 ms
	}
	if got := len(w.hdrs) - 1; got != 1 {
		t.Fatalf("ten NACKs within 50 ms: %d retransmissions, want 1", got)
	}
	nackBoth(f, seq, 1e9+resendGap+1)
	if got := len(w.hdrs) - 1; got != 2 {
		t.Fatalf("a NACK after the first copy had time to arrive: %d retransmissions, want 2", got)
	}
}
