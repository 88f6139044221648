package sfu

import (
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

// Receiver is one published track arriving at the server. It reads RTP, keeps
// recent packets for retransmission and hands each packet to its forwarders.
type Receiver struct {
	id    string
	mid   string
	kind  webrtc.RTPCodecType
	ssrc  uint32
	track *webrtc.TrackRemote
	recv  *webrtc.RTPReceiver
	codec webrtc.RTPCodecParameters
	cache *packetCache

	writeRTCP func([]rtcp.Packet) error

	mu   sync.Mutex                   // serialises changes to fwds and taps
	fwds atomic.Pointer[[]*Forwarder] // read lock-free on every packet
	taps atomic.Pointer[[]Tap]

	muted        atomic.Bool
	lastKeyframe atomic.Int64 // unix nanoseconds of the last request upstream

	packets atomic.Uint64
	bytes   atomic.Uint64

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

func newReceiver(id, mid string, track *webrtc.TrackRemote, recv *webrtc.RTPReceiver, writeRTCP func([]rtcp.Packet) error, onClose func(*Receiver)) *Receiver {
	size := 1024
	if track.Kind() == webrtc.RTPCodecTypeAudio {
		size = 128 // audio is rarely retransmitted; keep ~2.5 s at 50 packets/s
	}
	r := &Receiver{
		id: id, mid: mid, kind: track.Kind(), ssrc: uint32(track.SSRC()), track: track, recv: recv, codec: track.Codec(),
		cache: newPacketCache(size), writeRTCP: writeRTCP,
		done: make(chan struct{}), onClose: onClose,
	}
	empty := []*Forwarder{}
	r.fwds.Store(&empty)
	noTaps := []Tap{}
	r.taps.Store(&noTaps)
	return r
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

// RequestKeyframe asks the publisher for a keyframe, at most once per keyframeInterval.
func (r *Receiver) RequestKeyframe() {
	if r.Kind() != webrtc.RTPCodecTypeVideo {
		return
	}
	now := time.Now().UnixNano()
	last := r.lastKeyframe.Load()
	if now-last < int64(keyframeInterval) || !r.lastKeyframe.CompareAndSwap(last, now) {
		return
	}
	_ = r.writeRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: r.ssrc}})
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

// Forwarders returns the current number of subscribers.
func (r *Receiver) Forwarders() int { return len(*r.fwds.Load()) }

// run is the receiver's read loop; it owns the packet buffer and ends when the
// track stops (the publisher's connection closed or the track was removed).
func (r *Receiver) run() {
	defer r.close()
	go r.drainRTCP()
	buf := make([]byte, maxPacket)
	var pkt rtp.Packet
	for {
		n, _, err := r.track.Read(buf)
		if err != nil {
			return
		}
		r.forward(buf[:n], &pkt, nowNanos())
	}
}

// forward handles one RTP packet from the publisher. It is the hot path: it
// must not allocate.
func (r *Receiver) forward(raw []byte, pkt *rtp.Packet, now int64) {
	if err := pkt.Unmarshal(raw); err != nil {
		return // garbage from the network: drop it, keep the stream
	}
	r.packets.Add(1)
	r.bytes.Add(uint64(len(raw)))
	if r.levelID != 0 {
		if ext := pkt.GetExtension(r.levelID); len(ext) > 0 {
			r.levelCount.Add(1)
			if l := ext[0] & 0x7f; l < voicedLevel {
				r.voicedCount.Add(1)
				r.voicedSum.Add(uint64(l))
			}
		}
	}
	if r.muted.Load() {
		return // what nobody may hear is neither forwarded, cached for retransmission, nor recorded
	}
	r.cache.put(pkt.SequenceNumber, raw)
	for _, t := range *r.taps.Load() {
		t.WriteRTP(raw)
	}
	for _, f := range *r.fwds.Load() {
		f.writeRTP(r, &pkt.Header, pkt.Payload, now)
	}
}

// drainRTCP reads the publisher's RTCP (sender reports) so the interceptors see
// it; Parley itself acts only on subscribers' RTCP.
func (r *Receiver) drainRTCP() {
	buf := make([]byte, maxPacket)
	for {
		if _, _, err := r.recv.Read(buf); err != nil {
			return
		}
	}
}

// Stop ends the track from the server side (e.g. the publisher unpublished it).
func (r *Receiver) Stop() {
	_ = r.recv.Stop()
}

func (r *Receiver) close() {
	r.closeOnce.Do(func() {
		close(r.done)
		if r.onClose != nil {
			r.onClose(r)
		}
	})
}
