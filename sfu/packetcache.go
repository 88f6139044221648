package sfu

import "sync"

// maxPacket bounds one RTP packet; larger ones are not cached (nor forwarded).
const maxPacket = 1500

// packetCache keeps the last packets of one stream by sequence number so that
// NACKs from any subscriber can be answered without asking the publisher. One
// cache serves all of a track's subscribers.
type packetCache struct {
	mu    sync.Mutex
	slots []cacheSlot
	mask  uint16
}

type cacheSlot struct {
	seq   uint16
	n     uint16
	valid bool
	key   bool // part of a keyframe: resent first when asked for
	buf   [maxPacket]byte
}

// newPacketCache returns a cache of size slots; size must be a power of two <= 32768.
func newPacketCache(size int) *packetCache {
	if size <= 0 || size&(size-1) != 0 || size > 1<<15 {
		panic("packetCache size must be a power of two up to 32768")
	}
	return &packetCache{slots: make([]cacheSlot, size), mask: uint16(size - 1)}
}

// put stores pkt (a whole RTP packet) under seq, replacing what was there;
// key marks a packet of a keyframe. It reports false, storing nothing, when
// the cache holds seq already: the packet is a duplicate.
func (c *packetCache) put(seq uint16, pkt []byte, key bool) (fresh bool) {
	if len(pkt) > maxPacket {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.slots[seq&c.mask]
	if s.valid && s.seq == seq {
		return false
	}
	s.seq, s.n, s.valid, s.key = seq, uint16(copy(s.buf[:], pkt)), true, key
	return true
}

// isKey reports whether the cache holds seq, and whether it is part of a keyframe.
func (c *packetCache) isKey(seq uint16) (key, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.slots[seq&c.mask]
	if !s.valid || s.seq != seq {
		return false, false
	}
	return s.key, true
}

// get copies the packet with sequence number seq into dst and returns its
// length, or 0 when the packet is no longer (or never was) in the cache.
func (c *packetCache) get(seq uint16, dst []byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.slots[seq&c.mask]
	if !s.valid || s.seq != seq {
		return 0
	}
	return copy(dst, s.buf[:s.n])
}
