package sfu

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// vpxLayer sends VP8 frames as Chrome's simulcast encoder does: a 15-bit
// picture id and a TL0PICIDX of its own in each layer, three temporal layers
// (0 2 1 2 ...), and a keyframe restarting the pattern.
type vpxLayer struct {
	ssrc uint32
	seq  uint16
	ts   uint32
	pid  uint16
	tl0  uint8
	n    int // frames since the last keyframe
}

// frame returns the packets of the next frame.
func (v *vpxLayer) frame(key bool, packets int) [][]byte {
	if key {
		v.n = 0
	}
	tid := [4]uint8{0, 2, 1, 2}[v.n%4]
	if tid == 0 {
		v.tl0++
	}
	v.pid = (v.pid + 1) & 0x7fff
	var out [][]byte
	for k := range packets {
		// X | I L T | M picture id (15 bits) | TL0PICIDX | TID Y
		d := []byte{0x80, 0xe0, 0x80 | byte(v.pid>>8), byte(v.pid), v.tl0, tid << 6}
		if k == 0 {
			d[0] |= 0x10 // S: partition 0 starts here
			if key {
				d = append(d, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4, 0x00)
			} else {
				d = append(d, 0x01, 0x00, 0x00)
			}
		}
		d = append(d, 0xee, 0xee)
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: v.seq, Timestamp: v.ts, SSRC: v.ssrc, Marker: k == packets-1}, Payload: d}
		raw, err := p.Marshal()
		if err != nil {
			panic(err)
		}
		out = append(out, raw)
		v.seq++
	}
	v.ts += 3000
	v.n++
	return out
}

// vpxNumbering reads the picture id, TL0PICIDX and temporal layer of a VP8
// payload written by vpxLayer (after any rewriting).
func vpxNumbering(t *testing.T, p []byte) (pid uint16, tl0, tid uint8) {
	t.Helper()
	f, ok := findVPXFields(codecVP8, p)
	if !ok || f.pid < 0 || f.tl0 < 0 || !f.wide {
		t.Fatalf("payload %x has lost its picture id or TL0PICIDX", p)
	}
	return f.pictureID(p), p[f.tl0], p[f.tl0+1] >> 6
}

// TestLayerSwitchKeepsPictureNumbering is the cause of the freezes seen under
// loss: every simulcast layer numbers its pictures on its own, and a switch
// that passes the new layer's numbers through makes the subscriber's stream
// jump (Chrome then decodes the keyframe and a few frames, holds everything
// after for references it thinks it lost, and asks for a keyframe only after
// three seconds). What the subscriber receives must read as one stream: each
// frame's picture id one after the last, each base-layer frame's TL0PICIDX
// one after the last, upper temporal layers on the current one, also across
// hundreds of switches and in retransmissions.
func TestLayerSwitchKeepsPictureNumbering(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	r := simulcastReceiver()
	w := &payloadWriter{}
	f := newForwarder("F", webrtc.RTPCodecTypeVideo, vp8, "S", "L", new(counters))
	f.bound.Store(&binding{ssrc: 42, pt: 96, writer: w})
	f.SwitchTo(r)
	layers := []*vpxLayer{
		{ssrc: 1000, seq: 100, ts: 5000, pid: 30000, tl0: 250},
		{ssrc: 2000, seq: 60000, ts: 1 << 31, pid: 9000, tl0: 17},
		{ssrc: 3000, seq: 7, ts: 4e9, pid: 12, tl0: 128},
	}
	var pkt rtp.Packet
	switches, lastCur := 0, -1
	for frame := range 2000 {
		if rng.IntN(8) == 0 {
			f.setTarget(r, rng.IntN(3))
		}
		for li, v := range layers {
			key := frame%40 == li*9 || rng.IntN(50) == 0
			for _, raw := range v.frame(key, 1+rng.IntN(3)) {
				r.forwardLayer(r.layer(li), raw, &pkt, int64(frame)*33e6+int64(li)*1e6)
			}
			if cur, _ := f.Layer(); cur != lastCur {
				if lastCur >= 0 {
					switches++
				}
				lastCur = cur
			}
		}
		if frame%50 == 49 && len(w.hdrs) > 5 { // a NACK of a packet sent lately
			nackBoth(f, w.hdrs[len(w.hdrs)-3].SequenceNumber, int64(frame)*33e6)
		}
	}
	if switches < 40 {
		t.Fatalf("only %d layer switches", switches)
	}
	type numbering struct {
		pid      uint16
		tl0, tid uint8
	}
	bySeq := map[uint16]numbering{}
	var last numbering
	retransmissions := 0
	for i, h := range w.hdrs {
		pid, tl0, tid := vpxNumbering(t, w.payloads[i])
		n := numbering{pid, tl0, tid}
		if first, seen := bySeq[h.SequenceNumber]; seen {
			if first != n {
				t.Fatalf("packet %d retransmitted as %+v, first sent as %+v", h.SequenceNumber, n, first)
			}
			retransmissions++
			continue
		}
		bySeq[h.SequenceNumber] = n
		if i > 0 && pid != last.pid {
			if pid != (last.pid+1)&0x7fff {
				t.Fatalf("packet %d: picture id %d after %d", i, pid, last.pid)
			}
			if tid == 0 && tl0 != last.tl0+1 {
				t.Fatalf("packet %d: base-layer picture with TL0PICIDX %d after %d", i, tl0, last.tl0)
			}
		}
		if i > 0 && tid != 0 && tl0 != last.tl0 {
			t.Fatalf("packet %d: temporal layer %d picture with TL0PICIDX %d, current is %d", i, tid, tl0, last.tl0)
		}
		last = n
	}
	if retransmissions == 0 {
		t.Fatal("no retransmission was checked")
	}
}

// plis counts the keyframe requests a receiver sends its publisher.
type plis struct{ ssrcs []uint32 }

func (p *plis) write(pkts []rtcp.Packet) error {
	for _, pkt := range pkts {
		if pli, ok := pkt.(*rtcp.PictureLossIndication); ok {
			p.ssrcs = append(p.ssrcs, pli.MediaSSRC)
		}
	}
	return nil
}

// singleVP8 is a one-layer VP8 track whose keyframe requests land in p, with a
// subscriber; the start-up keyframe request is forgotten.
func singleVP8(p *plis) (*Receiver, *Forwarder, *payloadWriter, *vpxLayer) {
	r := newReceiver("V1", "0", vp8, webrtc.RTPCodecTypeVideo, nil, p.write, nil, new(counters))
	r.addLayer(0, "", nil)
	r.layer(0).ssrc = 5000
	w := &payloadWriter{}
	f := newForwarder("F", webrtc.RTPCodecTypeVideo, vp8, "S", "L", new(counters))
	f.bound.Store(&binding{ssrc: 42, pt: 96, writer: w})
	f.SwitchTo(r)
	p.ssrcs = nil
	r.layer(0).lastKeyframe.Store(0)
	return r, f, w, &vpxLayer{ssrc: 5000, seq: 1000, pid: 77}
}

// TestLostKeyframeRequestsOneAtOnce: a packet the subscriber lost that the
// cache no longer holds leaves its decoder with nothing it can decode until a
// keyframe. The server asks the publisher for one the moment it sees that NACK
// (the decoder itself would wait three seconds), and the stream recovers on it.
func TestLostKeyframeRequestsOneAtOnce(t *testing.T) {
	var p plis
	r, f, w, v := singleVP8(&p)
	var pkt rtp.Packet
	send := func(key bool) {
		for _, raw := range v.frame(key, 2) {
			r.forwardLayer(r.layer(0), raw, &pkt, time.Now().UnixNano())
		}
	}
	send(true)
	lost := w.hdrs[1].SequenceNumber // the keyframe's second packet
	for range 600 {                  // 1,200 packets: the keyframe leaves the cache
		send(false)
	}
	if len(p.ssrcs) != 0 {
		t.Fatalf("keyframe requests before any loss: %v", p.ssrcs)
	}
	nackBoth(f, lost, time.Now().UnixNano())
	if len(p.ssrcs) != 1 || p.ssrcs[0] != 5000 {
		t.Fatalf("a NACK the cache cannot answer: keyframe requests %v, want one for ssrc 5000", p.ssrcs)
	}
	before := len(w.hdrs)
	send(true)
	send(false)
	if got := len(w.hdrs) - before; got != 4 {
		t.Fatalf("after the requested keyframe %d packets went out, want 4", got)
	}
	if !vp8Keyframe(w.payloads[before]) {
		t.Fatal("the stream did not go on with the keyframe")
	}
}

// TestRepeatedLossRequestsKeyframe: a packet lost on its way again and again
// (each retransmission lost too) holds its frame for several round trips;
// after the third retransmission the server asks for a keyframe as well.
func TestRepeatedLossRequestsKeyframe(t *testing.T) {
	var p plis
	r, f, w, v := singleVP8(&p)
	var pkt rtp.Packet
	for i := range 5 {
		for _, raw := range v.frame(i == 0, 1) {
			r.forwardLayer(r.layer(0), raw, &pkt, 0)
		}
	}
	seq := w.hdrs[3].SequenceNumber
	now := time.Now().UnixNano()
	for i := range resendsBeforeKeyframe {
		nackBoth(f, seq, now+int64(i)*2*resendGap)
	}
	if len(p.ssrcs) != 0 {
		t.Fatalf("keyframe requested after %d retransmissions", resendsBeforeKeyframe)
	}
	nackBoth(f, seq, now+int64(resendsBeforeKeyframe)*2*resendGap)
	if len(p.ssrcs) != 1 {
		t.Fatalf("keyframe requests after %d retransmissions: %d, want 1", resendsBeforeKeyframe+1, len(p.ssrcs))
	}
	if got := len(w.hdrs) - 5; got != resendsBeforeKeyframe+1 {
		t.Fatalf("%d retransmissions, want %d", got, resendsBeforeKeyframe+1)
	}
}

// TestThrottledKeyframeRequestIsDeferred: a request that comes within
// keyframeInterval of the last is sent when the interval ends, unless a
// keyframe arrives first and answers it.
func TestThrottledKeyframeRequestIsDeferred(t *testing.T) {
	var p plis
	r, _, _, v := singleVP8(&p)
	l := r.layer(0)
	var pkt rtp.Packet
	r.requestKeyframe(l)
	r.requestKeyframe(l) // within the interval: deferred
	if len(p.ssrcs) != 1 {
		t.Fatalf("%d requests sent at once, want 1", len(p.ssrcs))
	}
	soon := time.Now().UnixNano()
	r.forwardLayer(l, v.frame(false, 1)[0], &pkt, soon)
	if len(p.ssrcs) != 1 {
		t.Fatal("the deferred request went out within the interval")
	}
	r.forwardLayer(l, v.frame(false, 1)[0], &pkt, soon+int64(keyframeInterval))
	if len(p.ssrcs) != 2 {
		t.Fatalf("the deferred request was not sent when the interval ended: %d requests", len(p.ssrcs))
	}

	// A keyframe arriving meanwhile answers the deferred request.
	r.requestKeyframe(l)
	r.forwardLayer(l, v.frame(true, 1)[0], &pkt, time.Now().UnixNano())
	r.forwardLayer(l, v.frame(false, 1)[0], &pkt, time.Now().UnixNano()+int64(keyframeInterval))
	if len(p.ssrcs) != 2 {
		t.Fatalf("a request answered by a keyframe was sent anyway: %d requests", len(p.ssrcs))
	}
}

// TestKeyframePacketsResentFirst: of the packets one NACK asks for, those of a
// keyframe go out first.
func TestKeyframePacketsResentFirst(t *testing.T) {
	var p plis
	r, f, w, v := singleVP8(&p)
	var pkt rtp.Packet
	for i := range 6 {
		for _, raw := range v.frame(i == 0 || i == 3, 2) {
			r.forwardLayer(r.layer(0), raw, &pkt, 0)
		}
	}
	// Packets 2 and 3 are a delta frame, 6 and 7 the keyframe.
	base := w.hdrs[0].SequenceNumber
	nack := &rtcp.TransportLayerNack{MediaSSRC: 42, Nacks: []rtcp.NackPair{{PacketID: base + 2, LostPackets: 1<<0 | 1<<3 | 1<<4}}}
	sent := len(w.hdrs)
	f.handleRTCP([]rtcp.Packet{nack}, time.Now().UnixNano())
	var order []uint16
	for _, h := range w.hdrs[sent:] {
		order = append(order, h.SequenceNumber-base)
	}
	if len(order) != 4 || order[0] != 6 || order[1] != 7 || order[2] != 2 || order[3] != 3 {
		t.Fatalf("resent in the order %v, want the keyframe's 6 7 before 2 3", order)
	}
}

// renumbering builds a simulcast track with k subscribers on layer 1. With
// switched they came from layer 0, so every packet of layer 1 they get is
// renumbered (copied and rewritten); without, they started on layer 1 and
// its packets pass as they are. It returns layer 1 and 256 of its delta
// packets of about 1,000 bytes.
func renumbering(k int, switched bool) (*Receiver, *layer, [][]byte) {
	r := simulcastReceiver()
	bwe := newEstimator()
	var fwds []*Forwarder
	for i := range k {
		f := newForwarder(fmt.Sprint(i), webrtc.RTPCodecTypeVideo, vp8, "S", "L", new(counters))
		f.bound.Store(&binding{ssrc: uint32(i + 1), pt: 96, tccID: 3, writer: &recordWriter{}})
		f.bwe = bwe
		f.SwitchTo(r)
		fwds = append(fwds, f)
	}
	low := &vpxLayer{ssrc: r.layer(0).ssrc, pid: 100, tl0: 3}
	high := &vpxLayer{ssrc: r.layer(1).ssrc, pid: 20000, tl0: 90}
	var pkt rtp.Packet
	if switched {
		r.forwardLayer(r.layer(0), low.frame(true, 1)[0], &pkt, 1)
	}
	for _, f := range fwds {
		f.setTarget(r, 1)
	}
	r.forwardLayer(r.layer(1), high.frame(true, 1)[0], &pkt, 2)
	raws := make([][]byte, 256)
	for i := range raws {
		raws[i] = append(high.frame(false, 1)[0], make([]byte, 1000)...)
	}
	return r, r.layer(1), raws
}

func TestRenumberingAllocatesNothing(t *testing.T) {
	r, l, raws := renumbering(10, true)
	var pkt rtp.Packet
	i := 0
	seq := binary.BigEndian.Uint16(raws[255][2:])
	allocs := testing.AllocsPerRun(1000, func() {
		seq++ // a new packet each time: the same one again is a duplicate
		setSeq(raws[i&255], seq)
		r.forwardLayer(l, raws[i&255], &pkt, int64(3+i))
		i++
	})
	if allocs != 0 {
		t.Fatalf("forwarding renumbered VP8 allocates %.1f times per packet", allocs)
	}
	if cur, _ := (*r.fwds.Load())[0].Layer(); cur != 1 {
		t.Fatalf("the subscribers are on layer %d, want 1", cur)
	}
}

// BenchmarkForwardRenumbered: 1,000-byte VP8 packets of a layer to k
// subscribers, renumbered after a switch (each packet copied and rewritten)
// or passed as they are: what keeping picture ids continuous costs.
func BenchmarkForwardRenumbered(b *testing.B) {
	for _, k := range []int{1, 10, 100} {
		for _, switched := range []bool{false, true} {
			b.Run(fmt.Sprintf("subscribers=%d/renumbered=%v", k, switched), func(b *testing.B) {
				r, l, raws := renumbering(k, switched)
				var pkt rtp.Packet
				b.SetBytes(int64(len(raws[0])))
				b.ReportAllocs()
				b.ResetTimer()
				seq := binary.BigEndian.Uint16(raws[255][2:])
				for i := 0; b.Loop(); i++ {
					seq++ // a new packet each time: the same one again is a duplicate
					setSeq(raws[i&255], seq)
					r.forwardLayer(l, raws[i&255], &pkt, int64(3+i))
				}
			})
		}
	}
}

// FuzzPictureMunger: renumbering reads descriptors a publisher wrote, so no
// payload may make it panic, change a payload's length, or touch bytes other
// than the picture id and TL0PICIDX.
func FuzzPictureMunger(f *testing.F) {
	f.Add(byte(codecVP8), []byte{0x90, 0xe0, 0x80, 0x05, 0x07, 0x40, 0x00}, []byte{0x90, 0xe0, 0xff, 0xff, 0xff, 0x80, 0x01})
	f.Add(byte(codecVP9), []byte{0xa8, 0x81, 0x00, 0x00, 0x10}, []byte{0x88, 0x7f, 0x00})
	f.Add(byte(codecVP8), []byte{0x90, 0xc0}, []byte{0x80})
	f.Fuzz(func(t *testing.T, family byte, first, second []byte) {
		fam := int(family%2) + codecVP8 // VP8 or VP9
		var m pictureMunger
		buf := make([]byte, maxPacket)
		for i, p := range [][]byte{first, second, first, second} {
			if i == 2 {
				m.switched()
			}
			in := append([]byte(nil), p...)
			out := m.rewrite(fam, p, buf)
			if len(out) != len(p) || string(p) != string(in) {
				t.Fatalf("rewrite changed the input or its length: %x -> %x", in, out)
			}
			fs, ok := findVPXFields(fam, p)
			for j := range p {
				if ok && (j == fs.pid || (fs.wide && j == fs.pid+1) || j == fs.tl0) {
					continue
				}
				if out[j] != p[j] {
					t.Fatalf("byte %d changed: %x -> %x", j, p, out)
				}
			}
			cp := append([]byte(nil), p...)
			m.renumber(fam, cp)
		}
	})
}

// TestRetransmissionsFitTheLink: a subscriber that NACKs more than its link
// carries (its link overflows, so it loses, so it NACKs) gets retransmissions
// up to a share of its estimate, keyframe packets first, and more as time
// gives room: never a retransmission for every NACK.
func TestRetransmissionsFitTheLink(t *testing.T) {
	var p plis
	r, f, w, v := singleVP8(&p)
	f.bwe = newEstimator()
	f.bwe.published.Store(300_000)
	var pkt rtp.Packet
	for i := range 100 {
		for _, raw := range v.frame(i == 0 || i == 50, 1) {
			raw = append(raw, make([]byte, 1000)...)
			r.forwardLayer(r.layer(0), raw, &pkt, 0)
		}
	}
	base, sent := w.hdrs[0].SequenceNumber, len(w.hdrs)
	var nacks []rtcp.NackPair
	for i := uint16(1); i < 100; i += 17 { // everything after the first keyframe
		nacks = append(nacks, rtcp.NackPair{PacketID: base + i, LostPackets: 0xffff})
	}
	now := time.Now().UnixNano()
	f.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: 42, Nacks: nacks}}, now)
	first := len(w.hdrs) - sent
	share, burst := rtxShare, rtxBurst
	budget := int(share * burst * 300_000 / 8 / 1000) // 1 kB packets
	if first == 0 || first > budget+1 {
		t.Fatalf("%d retransmissions at once for 99 NACKed packets; the budget is about %d", first, budget)
	}
	if w.hdrs[sent].SequenceNumber != base+50 {
		t.Fatalf("the first retransmission is packet %d, want the keyframe (50)", w.hdrs[sent].SequenceNumber-base)
	}
	// A second later the link has room for more.
	f.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: 42, Nacks: nacks}}, now+1e9)
	if more := len(w.hdrs) - sent - first; more == 0 || more > budget+1 {
		t.Fatalf("a second later: %d more retransmissions, want some, at most about %d", more, budget)
	}
}
