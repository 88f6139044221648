package record

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// chunkBytes and chunkEvery (the default of Options.ChunkEvery) bound how much
// media one log entry covers: a crash leaves at most this much of a file
// uncommitted.
const (
	chunkBytes = 256 << 10
	chunkEvery = time.Second
	queueLen   = 1024 // packets waiting for the disk before the newest are dropped
)

// TrackInfo describes a track to record.
type TrackInfo struct {
	ID          string // unique in the room
	Participant string
	Identity    string
	Source      string // mic, camera, screen...
	MimeType    string // e.g. audio/opus, video/VP8
	ClockRate   uint32
}

// Track records one published track. WriteRTP is called on the media path and
// never blocks; a goroutine owned by the Track muxes and writes to disk.
type Track struct {
	rec     *Recorder
	info    TrackInfo
	file    string // path relative to the record folder
	queue   chan []byte
	pool    sync.Pool
	dropped atomic.Uint64
	done    chan struct{}
	closing sync.Once
	stop    chan struct{}
}

// WriteRTP queues one raw RTP packet for recording; it copies raw.
func (t *Track) WriteRTP(raw []byte) {
	select {
	case <-t.stop:
		return
	default:
	}
	bp, _ := t.pool.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, 1500)
		bp = &b
	}
	*bp = append((*bp)[:0], raw...)
	select {
	case t.queue <- *bp:
	default:
		t.dropped.Add(1)
		t.pool.Put(bp)
	}
}

// Close stops recording the track, writes what is queued and commits the file.
func (t *Track) Close() {
	t.closing.Do(func() { close(t.stop) })
	<-t.done
}

func codecOf(mime string) (codecID string, dep rtp.Depacketizer, video bool, ok bool) {
	switch strings.ToLower(mime) {
	case "audio/opus":
		return "A_OPUS", &codecs.OpusPacket{}, false, true
	case "video/vp8":
		return "V_VP8", &codecs.VP8Packet{}, true, true
	case "video/vp9":
		return "V_VP9", &codecs.VP9Packet{}, true, true
	case "video/av1":
		return "V_AV1", &codecs.AV1Depacketizer{}, true, true
	}
	return "", nil, false, false
}

// opusHead is the CodecPrivate WebM players expect for Opus (RFC 7845).
func opusHead() []byte {
	h := []byte("OpusHead")
	h = append(h, 1, 2)                            // version, channels
	h = binary.LittleEndian.AppendUint16(h, 312)   // pre-skip
	h = binary.LittleEndian.AppendUint32(h, 48000) // input sample rate
	h = append(h, 0, 0, 0)                         // gain, mapping family
	return h
}

// run depacketizes, muxes and writes until Close.
func (t *Track) run() {
	defer close(t.done)
	codecID, dep, video, _ := codecOf(t.info.MimeType)
	keyframe := func(s []byte, head any) bool {
		switch h := head.(type) {
		case bool:
			return h
		}
		if !video {
			return true
		}
		return len(s) > 0 && s[0]&1 == 0 // VP8
	}
	sb := samplebuilder.New(128, dep, t.info.ClockRate, samplebuilder.WithPacketHeadHandler(func(p any) any {
		switch p := p.(type) {
		case *codecs.VP9Packet:
			return !p.P
		case *codecs.AV1Depacketizer:
			return p.N
		}
		return nil
	}))
	var (
		w interface {
			Write(bool, int64, []byte) (int, error)
		}
		closeW  func() error
		cw      *chunkWriter
		started bool
		lastTS  uint32
		ms      int64 // timeline in clock ticks since the first frame
		ticker  = time.NewTicker(t.rec.opts.ChunkEvery / 4)
		pkt     rtp.Packet
	)
	defer ticker.Stop()
	open := func(first []byte) bool {
		var err error
		cw, err = newChunkWriter(t.rec, t.file)
		if err != nil {
			t.rec.fail(err)
			return false
		}
		entry := webm.TrackEntry{Name: t.info.Source, TrackNumber: 1, TrackUID: 1, CodecID: codecID, TrackType: 2}
		if video {
			entry.TrackType = 1
			wd, ht := vp8Size(first)
			entry.Video = &webm.Video{PixelWidth: wd, PixelHeight: ht}
		} else {
			entry.CodecPrivate = opusHead()
			entry.Audio = &webm.Audio{SamplingFrequency: 48000, Channels: 2}
		}
		// Never the library's default, a panic: a failure fails the record, not the node.
		ws, err := webm.NewSimpleBlockWriter(cw, []webm.TrackEntry{entry}, mkvcore.WithOnFatalHandler(t.rec.fail))
		if err != nil {
			t.rec.fail(err)
			return false
		}
		w, closeW = ws[0], ws[0].Close
		return true
	}
	writeSamples := func() {
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			key := keyframe(s.Data, s.Metadata)
			if !started {
				if !key || !open(s.Data) {
					continue // a file starts on a keyframe so players can decode it
				}
				started, lastTS = true, s.PacketTimestamp
			}
			ms += int64(int32(s.PacketTimestamp - lastTS))
			lastTS = s.PacketTimestamp
			if _, err := w.Write(key, ms*1000/int64(t.info.ClockRate), s.Data); err != nil {
				t.rec.fail(err)
			}
		}
	}
	handle := func(b []byte) {
		if pkt.Unmarshal(b) == nil {
			cp := pkt // the builder keeps packets; they must not share buffers
			cp.Payload = append([]byte(nil), pkt.Payload...)
			sb.Push(&cp)
			writeSamples()
		}
		t.pool.Put(&b)
	}
	for {
		select {
		case b := <-t.queue:
			handle(b)
		case <-ticker.C:
			if cw != nil {
				cw.commit(false)
			}
		case <-t.stop:
			for {
				select {
				case b := <-t.queue:
					handle(b)
					continue
				default:
				}
				break
			}
			sb.Flush()
			writeSamples()
			if closeW != nil {
				_ = closeW() // closes cw, which commits the rest and writes file-end
			}
			if cw != nil {
				cw.end(t.dropped.Load())
			}
			return
		}
	}
}

// vp8Size reads the frame size from a VP8 keyframe header (RFC 6386 9.1).
func vp8Size(f []byte) (uint64, uint64) {
	if len(f) < 10 || f[0]&1 != 0 || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return 0, 0
	}
	return uint64(binary.LittleEndian.Uint16(f[6:]) & 0x3fff), uint64(binary.LittleEndian.Uint16(f[8:]) & 0x3fff)
}

// chunkWriter is the file under a muxer: bytes go to disk, and every chunk of
// them is committed to the log with its hash.
type chunkWriter struct {
	// mu: the muxer writes from its own goroutine, the track's ticker commits from another.
	mu       sync.Mutex
	rec      *Recorder
	name     string
	f        mediaSink
	h        hash.Hash
	offset   int64 // start of the uncommitted chunk
	pending  int64
	total    int64
	lastSync time.Time
	closed   bool
	broken   bool // the disk refused a write: the rest of the file is not written
}

// mediaSink is where a track's bytes go: an *os.File (tests give one that fails).
type mediaSink interface {
	io.Writer
	Sync() error
	Close() error
}

// createMedia creates a media file that must not exist yet.
var createMedia = func(path string) (mediaSink, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}

func newChunkWriter(rec *Recorder, name string) (*chunkWriter, error) {
	path := filepath.Join(rec.dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	// Announce the file, on disk, before it exists: a file the log never
	// names is an addition, and a crash between the two must not leave one.
	if _, _, err := rec.log.append(Entry{Type: TypeFileStart, File: name}); err != nil {
		return nil, err
	}
	if err := rec.log.flush(); err != nil {
		return nil, err
	}
	f, err := createMedia(path)
	if err != nil {
		return nil, err
	}
	return &chunkWriter{rec: rec, name: name, f: f, h: sha256.New(), lastSync: time.Now()}, nil
}

func (c *chunkWriter) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.broken {
		return len(b), nil
	}
	n, err := c.f.Write(b)
	c.h.Write(b[:n])
	c.pending += int64(n)
	c.total += int64(n)
	if err != nil {
		// The disk refused (full, gone). The record fails and the file ends here, committed
		// up to what was written. The muxer must not see the error: it would panic, or stop
		// taking frames and hang the track, taking the node or the room down with the record.
		c.broken = true
		c.rec.fail(fmt.Errorf("writing %s: %w", c.name, err))
		c.commitLocked(true)
		return len(b), nil
	}
	if c.pending >= chunkBytes {
		c.commitLocked(true)
	}
	return n, nil
}

// commit writes a chunk entry for the pending bytes (if any, and if forced or a
// second has passed).
func (c *chunkWriter) commit(force bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.commitLocked(force)
}

func (c *chunkWriter) commitLocked(force bool) {
	if c.pending == 0 || (!force && time.Since(c.lastSync) < c.rec.opts.ChunkEvery) {
		return
	}
	sum := hex.EncodeToString(c.h.Sum(nil))
	if _, _, err := c.rec.log.append(Entry{Type: TypeChunk, File: c.name, Offset: c.offset, Size: c.pending, SHA256: sum}); err != nil {
		c.rec.fail(err)
	}
	c.offset += c.pending
	c.pending = 0
	c.h.Reset()
	c.lastSync = time.Now()
}

// Close is called by the muxer when it is done.
func (c *chunkWriter) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.commitLocked(true)
	c.closed = true
	if err := c.f.Sync(); err != nil {
		c.f.Close()
		return err
	}
	return c.f.Close()
}

// end records that the file is complete.
func (c *chunkWriter) end(dropped uint64) {
	_ = c.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	data := map[string]string{}
	if dropped > 0 {
		data["dropped"] = formatUint(dropped)
	}
	if _, _, err := c.rec.log.append(Entry{Type: TypeFileEnd, File: c.name, Size: c.total, Data: data}); err != nil {
		c.rec.fail(err)
	}
}
