package sfu

import (
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// queueLen is how many packets a subscriber's queue holds: about a second of a
// call's worth of streams. A subscriber further behind than that is not
// keeping up, and waiting longer would only deliver stale media.
const queueLen = 512

// queueStart is the room a queue takes at its first packet; it doubles when a
// backlog needs more, up to queueLen, so that hundreds of subscribers who keep
// up (nearly all of them) hold a few kilobytes each, not queueLen packets'
// worth. A direct queue (a UDP subscriber) never takes any.
const queueStart = 32

// sendQueue writes one subscriber's packets from a goroutine of its own. The
// publishers' read loops only copy packets in: a subscriber whose connection
// stops taking them (an ICE-TCP socket nobody reads; pion's write then blocks)
// stalls its own queue, never a read loop, so the publisher's other
// subscribers go on. When the queue is full, forwarders drop: video until its
// next keyframe, audio packet by packet (see Forwarder.writeRTP).
//
// A subscriber whose connection runs over UDP needs none of that: a UDP send
// never waits for the receiver (a receiver that stops reading loses packets
// in its own socket, and asks for a keyframe when it reads again). Its queue
// is direct: forwarders write on the read loop, and the hand-off (a copy, a
// goroutine woken per packet per subscriber: a fifth of the server's CPU at
// 300 streams) is saved. A subscriber's queue is direct from the start and
// turns queued when its connection's selected ICE pair is TCP (Peer.newPC).
type sendQueue struct {
	direct atomic.Bool

	mu      sync.Mutex
	held    atomic.Int32 // n, or queueLen once stopped: read without mu on every packet
	items   []queued     // a ring; its length grows from queueStart to queueLen
	head, n int
	stopped bool
	started bool          // the writer runs: from the first packet queued
	wake    chan struct{} // a packet was queued; capacity 1
	done    chan struct{} // closed when the writer has ended

	batch []queued // the packets being written, up to writeBatch; the writer's alone
}

// writeBatch is how many packets the writer takes from the queue at once: one
// lock for many packets when the queue runs ahead.
const writeBatch = 32

// queued is one packet: its header (its one extension, if any, held in its
// own storage) and payload, in a buffer from packetBufs.
type queued struct {
	w      webrtc.TrackLocalWriter
	hdr    rtp.Header
	ext    [1]rtp.Extension // backing for hdr.Extensions
	extID  uint8
	extBuf [maxExtension]byte
	extN   int
	buf    *[maxPacket]byte
	n      int
}

// maxExtension is the largest header extension a queued packet keeps: the
// forwarder writes only the transport-wide sequence number (2 bytes).
const maxExtension = 4

// packetBufs lends payload buffers to queues; in steady state every buffer
// comes back, so queuing allocates nothing.
var packetBufs = sync.Pool{New: func() any { return new([maxPacket]byte) }}

func newSendQueue() *sendQueue {
	return &sendQueue{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// full reports whether a packet queued now would be refused. It takes no
// lock: forwarders ask before every packet, and a packet that finds the queue
// full after all is refused by push.
func (q *sendQueue) full() bool { return q.held.Load() >= queueLen }

// room is how many packets the queue takes now (tests and benchmarks).
func (q *sendQueue) room() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return queueLen - q.n
}

// empty reports whether every queued packet has been handed to its writer.
func (q *sendQueue) empty() bool { return q.room() == queueLen }

// push queues a copy of a packet for w, with one header extension (extID 0:
// none) in place of h's; false when the queue is full or stopped. h's CSRCs
// are dropped: a slice of the publisher's read buffer, which is reused, and
// nothing Parley forwards has any.
func (q *sendQueue) push(w webrtc.TrackLocalWriter, h *rtp.Header, extID uint8, ext []byte, payload []byte) bool {
	if len(payload) > maxPacket || len(ext) > maxExtension {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == queueLen || q.stopped {
		return false
	}
	if !q.started {
		// A direct queue (a UDP subscriber) never needs its writer.
		q.started = true
		go q.run()
	}
	if q.n == len(q.items) {
		q.grow()
	}
	it := &q.items[(q.head+q.n)%len(q.items)]
	q.n++
	it.w = w
	it.hdr = *h
	it.hdr.CSRC = nil
	it.hdr.Extensions = nil
	it.extID = extID
	it.extN = copy(it.extBuf[:], ext)
	it.buf = packetBufs.Get().(*[maxPacket]byte)
	it.n = copy(it.buf[:], payload)
	q.held.Store(int32(q.n))
	// Under q.mu: stop closes wake under it too.
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// grow doubles the ring, keeping its packets in order from index 0; q.mu is
// held. It allocates, but only while a subscriber's backlog is deeper than it
// ever was.
func (q *sendQueue) grow() {
	bigger := make([]queued, min(max(2*len(q.items), queueStart), queueLen))
	for i := range q.n {
		bigger[i] = q.items[(q.head+i)%len(q.items)]
	}
	q.items, q.head = bigger, 0
}

// run writes queued packets in order until stop.
func (q *sendQueue) run() {
	defer close(q.done)
	for range q.wake {
		if q.batch == nil {
			q.batch = make([]queued, writeBatch)
		}
		for n := q.take(); n > 0; n = q.take() {
			for i := range q.batch[:n] {
				it := &q.batch[i]
				if it.extID != 0 {
					// In the batch's own storage, not the slot's, which push may reuse now.
					it.hdr.Extensions = it.ext[:0]
					_ = it.hdr.SetExtension(it.extID, it.extBuf[:it.extN])
				}
				_, _ = it.w.WriteRTP(&it.hdr, it.buf[:it.n])
				packetBufs.Put(it.buf)
				it.buf, it.w = nil, nil
			}
		}
	}
}

// take moves up to writeBatch of the oldest packets into q.batch and returns
// how many.
func (q *sendQueue) take() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(q.n, writeBatch)
	for i := range n {
		it := &q.items[q.head]
		q.batch[i] = *it
		it.buf, it.w = nil, nil
		q.head = (q.head + 1) % len(q.items)
	}
	q.n -= n
	q.held.Store(int32(q.n))
	return n
}

// stop refuses further packets, drops those queued, and ends the writer once
// its current write returns (closing the connection makes a blocked one
// return). It does not wait: see wait.
func (q *sendQueue) stop() {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	q.stopped = true
	q.held.Store(queueLen)
	for q.n > 0 {
		it := &q.items[q.head]
		packetBufs.Put(it.buf)
		it.buf, it.w = nil, nil
		q.head = (q.head + 1) % len(q.items)
		q.n--
	}
	started := q.started
	q.mu.Unlock()
	close(q.wake)
	if !started {
		close(q.done)
	}
}

// wait returns when the writer has ended.
func (q *sendQueue) wait() { <-q.done }
