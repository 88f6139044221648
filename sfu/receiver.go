package sfu

import (
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// keyframeInterval is the least time between two keyframe requests sent to one
// publisher, however many subscribers ask: a keyframe costs the publisher's
// bandwidth and every subscriber gets the same one.
const keyframeInterval = 300 * time.Millisecond

// maxLayers is the most simulcast layers a track has (low, medium, full).
const maxLayers = 3

// layer is one encoding of a published track: the track itself, or one
// simulcast layer of it. Each has its own SSRC, read loop and packet cache.
type layer struct {
	idx   int
	rid   string
	ssrc  uint32
	track *webrtc.TrackRemote
	cache *packetCache
	// rr is the transceiver's receiver the layer arrives on, when it is not
	// the Receiver's own: a relay from another node sends each simulcast
	// layer on a transceiver of its own (Peer.SetRelayLayers).
	rr *webrtc.RTPReceiver

	lastKeyframe atomic.Int64 // unix ns of the last keyframe request upstream
	keyWanted    atomic.Bool  // a request came within keyframeInterval of the last: send it when that ends
	lastPacket   atomic.Int64 // arrival ns of the latest packet
	rate         atomic.Uint64
	width        atomic.Int32 // picture size seen in the last keyframe, when the codec tells
	height       atomic.Int32

	// Read loop only: the rate window, and the timestamp of the latest
	// keyframe (its packets are marked in the cache).
	winStart int64
	winBytes uint64
	keyTS    uint32
	keySeen  bool
}

// bitrate is the layer's measured rate (bits/s), but no less than a third
// of what its place typically carries: a layer that just started, or paused
// for a moment, measures low and would look cheaper than it is.
func (l *layer) bitrate() uint64 {
	typical := [maxLayers]uint64{150_000, 500_000, 1_500_000}[l.idx]
	return max(l.rate.Load(), typical/3)
}

// Receiver is one published track arriving at the server: one layer, or up to
// three simulcast layers. It reads RTP, keeps recent packets for
// retransmission and hands each packet to its forwarders.
type Receiver struct {
	id        string
	mid       string
	kind      webrtc.RTPCodecType
	recv      *webrtc.RTPReceiver
	codec     webrtc.RTPCodecParameters
	family    int  // codec family, for keyframe detection
	simulcast bool // layers are chosen per subscriber

	layers  [maxLayers]atomic.Pointer[layer]
	running atomic.Int32 // layers whose read loop runs

	writeRTCP func([]rtcp.Packet) error

	mu   sync.Mutex                   // serialises changes to fwds and taps
	fwds atomic.Pointer[[]*Forwarder] // read lock-free on every packet
	taps atomic.Pointer[[]Tap]
	tap  tapFeed

	muted atomic.Bool

	packets atomic.Uint64
	bytes   atomic.Uint64
	stats   *counters // the engine's

	// Audio level (RFC 6464) over the current interval: packets that carried
	// a level, how many of them were voiced, and the sum of voiced levels (-dBov).
	levelID     uint8
	levelCount  atomic.Uint64
	voicedCount atomic.Uint64
	voicedSum   atomic.Uint64

	done      chan struct{}
	closeOnce sync.Once
	onClose   func(*Receiver)
}

// tapFeed gives taps (the recorder) one continuous stream of a simulcast
// track: the best layer that is flowing, changed only on a keyframe.
type tapFeed struct {
	mu  sync.Mutex
	cur int // layer fed, -1 before the first
	m   munger
	buf [maxPacket]byte
}

func newReceiver(id, mid string, codec webrtc.RTPCodecParameters, kind webrtc.RTPCodecType, recv *webrtc.RTPReceiver, writeRTCP func([]rtcp.Packet) error, onClose func(*Receiver), stats *counters) *Receiver {
	r := &Receiver{
		id: id, mid: mid, kind: kind, recv: recv, codec: codec, family: codecFamily(codec.MimeType),
		writeRTCP: writeRTCP, done: make(chan struct{}), onClose: onClose, stats: stats,
	}
	r.tap.cur = -1
	r.tap.m.clock = codec.ClockRate
	empty := []*Forwarder{}
	r.fwds.Store(&empty)
	noTaps := []Tap{}
	r.taps.Store(&noTaps)
	return r
}

// addLayer attaches an encoding; false when its place is taken.
func (r *Receiver) addLayer(idx int, rid string, track *webrtc.TrackRemote) (*layer, bool) {
	size := 1024
	if r.kind == webrtc.RTPCodecTypeAudio {
		size = 128 // audio is rarely retransmitted; keep ~2.5 s at 50 packets/s
	}
	l := &layer{idx: idx, rid: rid, track: track, cache: newPacketCache(size)}
	if track != nil {
		l.ssrc = uint32(track.SSRC())
	}
	if !r.layers[idx].CompareAndSwap(nil, l) {
		return nil, false
	}
	return l, true
}

// startsOnKey reports whether a subscriber's stream of this track must begin
// on a keyframe: simulcast layers and video codecs whose keyframes the
// receiver can tell; audio and unknown codecs begin anywhere.
func (r *Receiver) startsOnKey() bool { return r.simulcast || r.family != codecOther }

// layer returns layer i, or nil.
func (r *Receiver) layer(i int) *layer {
	if i < 0 || i >= maxLayers {
		return nil
	}
	return r.layers[i].Load()
}

// activeLayers lists the layers that sent within the last second, low to high.
func (r *Receiver) activeLayers(now int64, out []*layer) []*layer {
	for i := range maxLayers {
		if l := r.layers[i].Load(); l != nil && now-l.lastPacket.Load() < 1e9 {
			out = append(out, l)
		}
	}
	return out
}

// Tap receives a copy of every packet the room hears from a track (the
// recorder). WriteRTP runs on the media path: it must copy raw and not block.
type Tap interface {
	WriteRTP(raw []byte)
}

// AddTap starts feeding t.
func (r *Receiver) AddTap(t Tap) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := append(slices.Clone(*r.taps.Load()), t)
	r.taps.Store(&next)
}

// RemoveTap stops feeding t.
func (r *Receiver) RemoveTap(t Tap) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := slices.DeleteFunc(slices.Clone(*r.taps.Load()), func(x Tap) bool { return x == t })
	r.taps.Store(&next)
}

// ID is unique on this server for the life of the process.
func (r *Receiver) ID() string { return r.id }

// Mid is the track's mid on the publisher's connection.
func (r *Receiver) Mid() string { return r.mid }

// Kind is audio or video.
func (r *Receiver) Kind() webrtc.RTPCodecType { return r.kind }

// Codec is the codec the publisher sends.
func (r *Receiver) Codec() webrtc.RTPCodecParameters { return r.codec }

// Done is closed when the track has ended.
func (r *Receiver) Done() <-chan struct{} { return r.done }

// Stats returns packets and bytes received so far.
func (r *Receiver) Stats() (packets, bytes uint64) { return r.packets.Load(), r.bytes.Load() }

// SetMuted stops (true) or resumes (false) forwarding. Resuming video asks for
// a keyframe so subscribers can decode at once.
func (r *Receiver) SetMuted(muted bool) {
	if r.muted.Swap(muted) && !muted && r.Kind() == webrtc.RTPCodecTypeVideo {
		r.RequestKeyframe()
	}
}

// Muted reports whether forwarding is paused.
func (r *Receiver) Muted() bool { return r.muted.Load() }

// RequestKeyframe asks the publisher for a keyframe on every layer.
func (r *Receiver) RequestKeyframe() {
	for i := range maxLayers {
		r.requestKeyframe(r.layer(i))
	}
}

// requestKeyframe asks for a keyframe on one layer, at most once per
// keyframeInterval however many subscribers ask. A request within the
// interval is not dropped but deferred: the layer's read loop sends it when
// the interval ends, unless a keyframe arrives first and answers it. (A
// subscriber whose keyframe was spoilt by loss just after the last request
// would otherwise wait for its decoder to ask again, seconds later.)
func (r *Receiver) requestKeyframe(l *layer) {
	r.requestKeyframeAt(l, time.Now().UnixNano())
}

func (r *Receiver) requestKeyframeAt(l *layer, now int64) {
	if r.Kind() != webrtc.RTPCodecTypeVideo || l == nil {
		return
	}
	last := l.lastKeyframe.Load()
	if now-last < int64(keyframeInterval) || !l.lastKeyframe.CompareAndSwap(last, now) {
		r.stats.keyframesThrottled.Add(1)
		l.keyWanted.Store(true)
		return
	}
	l.keyWanted.Store(false)
	r.stats.keyframeRequests.Add(1)
	_ = r.writeRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: l.ssrc}})
}

// forceKeyframe asks for a keyframe on one layer even within keyframeInterval
// of the last request: a subscriber whose connection just came up missed the
// keyframe that request brought (it was sent before it could receive), and a
// player that never asks itself would wait for the publisher's next one.
func (r *Receiver) forceKeyframe(l *layer) {
	if r.Kind() != webrtc.RTPCodecTypeVideo || l == nil {
		return
	}
	l.lastKeyframe.Store(time.Now().UnixNano())
	r.stats.keyframeRequests.Add(1)
	_ = r.writeRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: l.ssrc}})
}

func (r *Receiver) addForwarder(f *Forwarder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := append(slices.Clone(*r.fwds.Load()), f)
	r.fwds.Store(&next)
}

func (r *Receiver) removeForwarder(f *Forwarder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := slices.DeleteFunc(slices.Clone(*r.fwds.Load()), func(x *Forwarder) bool { return x == f })
	r.fwds.Store(&next)
}

// voicedLevel: packets quieter than -70 dBov count as silence.
const voicedLevel = 70

// TakeLevel returns the audio level since the last call, in -dBov (0 is
// loudest, 127 silence), and whether any packet carried one; it starts a new
// interval. The level weighs the loudness of voiced packets by how much of the
// interval was voiced, so a steady voice outranks a click.
func (r *Receiver) TakeLevel() (level float64, ok bool) {
	n := r.levelCount.Swap(0)
	voiced := r.voicedCount.Swap(0)
	sum := r.voicedSum.Swap(0)
	if n == 0 {
		return 127, false
	}
	if voiced == 0 {
		return 127, true
	}
	mean := float64(sum) / float64(voiced)
	return 127 - (127-mean)*float64(voiced)/float64(n), true
}

// AudioLevelID is the RTP header extension id of the audio level (RFC 6464)
// the publisher sends, or 0 when it sends none: taps that read levels (the
// transcriber's voice activity) find them under it.
func (r *Receiver) AudioLevelID() uint8 { return r.levelID }

// Forwarders returns the current number of subscribers.
func (r *Receiver) Forwarders() int { return len(*r.fwds.Load()) }

// run is a layer's read loop; it owns the packet buffer and ends when the
// track stops (the publisher's connection closed or the track was removed).
// The receiver ends with its last layer.
func (r *Receiver) run(l *layer) {
	r.running.Add(1)
	defer func() {
		if r.running.Add(-1) == 0 {
			r.close()
		}
	}()
	go r.drainRTCP(l)
	buf := make([]byte, maxPacket)
	var pkt rtp.Packet
	for {
		n, _, err := l.track.Read(buf)
		if err != nil {
			return
		}
		r.forwardLayer(l, buf[:n], &pkt, nowNanos())
	}
}

// forward handles a packet of the base layer (tests and single-layer tracks).
func (r *Receiver) forward(raw []byte, pkt *rtp.Packet, now int64) {
	r.forwardLayer(r.layers[0].Load(), raw, pkt, now)
}

// forwardLayer handles one RTP packet from the publisher. It is the hot path:
// it must not allocate.
func (r *Receiver) forwardLayer(l *layer, raw []byte, pkt *rtp.Packet, now int64) {
	if err := pkt.Unmarshal(raw); err != nil {
		return // garbage from the network: drop it, keep the stream
	}
	r.packets.Add(1)
	r.bytes.Add(uint64(len(raw)))
	r.stats.packetsIn.Add(1)
	r.stats.bytesIn.Add(uint64(len(raw)))
	l.lastPacket.Store(now)
	if l.winStart == 0 {
		l.winStart = now
	}
	l.winBytes += uint64(len(raw))
	if span := now - l.winStart; span >= 1e9 {
		l.rate.Store(l.winBytes * 8 * 1e9 / uint64(span))
		l.winStart, l.winBytes = now, 0
	}
	if r.levelID != 0 {
		if ext := pkt.GetExtension(r.levelID); len(ext) > 0 {
			r.levelCount.Add(1)
			if lv := ext[0] & 0x7f; lv < voicedLevel {
				r.voicedCount.Add(1)
				r.voicedSum.Add(uint64(lv))
			}
		}
	}
	if r.muted.Load() {
		return // what nobody may hear is neither forwarded, cached for retransmission, nor recorded
	}
	key := r.family != codecOther && isKeyframeStart(r.family, pkt.Payload)
	keyTS, keySeen := l.keyTS, l.keySeen
	if key {
		keyTS, keySeen = pkt.Timestamp, true
	}
	// A packet the layer already has is not forwarded again. Chrome probes
	// its uplink by resending recent packets over RTX, which pion hands over
	// as the original packets: passed on, every subscriber of the layer got
	// the publisher's probes, in bursts, on links that may have no room for
	// them. A retransmission of a packet lost on the way in is new here, and
	// goes on.
	if !l.cache.put(pkt.SequenceNumber, raw, keySeen && pkt.Timestamp == keyTS) {
		r.stats.duplicatesIn.Add(1)
		return
	}
	if key {
		r.stats.keyframesIn[l.idx].Add(1)
		l.keyTS, l.keySeen = keyTS, keySeen
		l.keyWanted.Store(false)
		if r.family == codecVP8 {
			if w, h, ok := vp8Size(pkt.Payload); ok {
				l.width.Store(int32(w))
				l.height.Store(int32(h))
			}
		}
	} else if r.family != codecOther && l.keyWanted.Load() && now-l.lastKeyframe.Load() >= int64(keyframeInterval) {
		r.requestKeyframeAt(l, now)
	}
	if taps := *r.taps.Load(); len(taps) > 0 {
		r.feedTaps(taps, l, raw, &pkt.Header, key, now)
	}
	for _, f := range *r.fwds.Load() {
		f.writeRTP(r, l, &pkt.Header, pkt.Payload, now, key)
	}
}

// feedTaps hands raw to the taps. A single-layer track passes through as it
// is; a simulcast track is rewritten into one stream that climbs to the best
// layer on its keyframes and falls back when that layer stops.
func (r *Receiver) feedTaps(taps []Tap, l *layer, raw []byte, h *rtp.Header, key bool, now int64) {
	if !r.simulcast {
		for _, t := range taps {
			t.WriteRTP(raw)
		}
		return
	}
	r.tap.mu.Lock()
	defer r.tap.mu.Unlock()
	if l.idx != r.tap.cur {
		cur := r.layer(r.tap.cur)
		stalled := cur == nil || now-cur.lastPacket.Load() > 1e9
		if !key || (l.idx < r.tap.cur && !stalled) {
			if l.idx > r.tap.cur && cur != nil {
				r.requestKeyframe(l) // a better layer is flowing: climb at its next keyframe
			}
			return
		}
		r.tap.cur = l.idx
		r.tap.m.switched()
	}
	seq, ts, ok := r.tap.m.rewrite(h, now)
	if !ok || len(raw) < 12 {
		return
	}
	n := copy(r.tap.buf[:], raw)
	b := r.tap.buf[:n]
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], r.tapSSRC())
	for _, t := range taps {
		t.WriteRTP(b)
	}
}

// tapSSRC is the SSRC of the taps' stream: the base layer's, so it is stable.
func (r *Receiver) tapSSRC() uint32 {
	for i := range maxLayers {
		if l := r.layers[i].Load(); l != nil {
			return l.ssrc
		}
	}
	return 0
}

// drainRTCP reads the publisher's RTCP (sender reports) for one layer so the
// interceptors see it; Parley itself acts only on subscribers' RTCP.
func (r *Receiver) drainRTCP(l *layer) {
	buf := make([]byte, maxPacket)
	rr := r.recv
	if l.rr != nil {
		rr = l.rr
	}
	for {
		var err error
		if l.rid != "" {
			_, _, err = rr.ReadSimulcast(buf, l.rid)
		} else {
			_, _, err = rr.Read(buf)
		}
		if err != nil {
			return
		}
	}
}

// Stop ends the track from the server side (e.g. the publisher unpublished it).
func (r *Receiver) Stop() {
	_ = r.recv.Stop()
	for i := range r.layers {
		if l := r.layers[i].Load(); l != nil && l.rr != nil {
			_ = l.rr.Stop()
		}
	}
}

// Simulcast reports whether the track comes in layers that subscribers
// choose among.
func (r *Receiver) Simulcast() bool { return r.simulcast }

func (r *Receiver) close() {
	r.closeOnce.Do(func() {
		close(r.done)
		if r.onClose != nil {
			r.onClose(r)
		}
	})
}
