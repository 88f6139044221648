package recordcrypt

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"
)

// Stats says what became of a file's frames.
type Stats struct {
	Frames    int // frames read
	Decrypted int // opened with the key their key id names, and written
	Missing   int // under a key id no key was given for: dropped
	Failed    int // not SFrame, or did not authenticate: dropped
	Replayed  int // a frame whose key id and counter came before (a copy): dropped
	// Senders are the participants whose secrets opened frames, in order of
	// first appearance. A recorded track is one participant's.
	Senders []Sender
	// Truncated: the file ends inside an element, as a record whose writing
	// stopped (a crash) does; the copy holds the frames before the cut.
	Truncated bool
	// Offset is how far into the recorded file the copy's first frame is: the
	// writer starts every file at 0, so a copy whose first frames had no key
	// begins this much later than the recorded track does.
	Offset time.Duration
}

// maxFrame bounds one element of the input: no encoded frame is near it.
const maxFrame = 16 << 20

// document is a recorded WebM file as ebml-go reads it. Each cluster's
// timecode and blocks arrive on channels as they are read, so a file of any
// length is read in bounded memory, and a file cut short loses only the block
// it ends in.
type document struct {
	Header  webm.EBMLHeader `ebml:"EBML"`
	Segment struct {
		Info    webm.Info   `ebml:"Info"`
		Tracks  webm.Tracks `ebml:"Tracks"`
		Cluster struct {
			Timecode    chan uint64     `ebml:"Timecode"`
			SimpleBlock chan ebml.Block `ebml:"SimpleBlock"`
			BlockGroup  chan blockGroup `ebml:"BlockGroup"`
		} `ebml:"Cluster"`
	} `ebml:"Segment"`
}

type blockGroup struct {
	ReferenceBlock []int64    `ebml:"ReferenceBlock"`
	Block          ebml.Block `ebml:"Block"`
}

// stoppable fails reads once stop is closed, which ends an Unmarshal the
// reader of its clusters has given up on.
type stoppable struct {
	r    io.Reader
	stop <-chan struct{}
}

var errStopped = errors.New("stopped")

func (s stoppable) Read(b []byte) (int, error) {
	select {
	case <-s.stop:
		return 0, errStopped
	default:
	}
	return s.r.Read(b)
}

// track is one track of the copy.
type track struct {
	video bool
	w     webm.BlockWriteCloser
	last  int64 // ms of the last frame written: the writer needs them in order
}

// Decrypt reads a recorded WebM file from src and writes to dst a copy whose
// frames are decrypted with the keys of ring; frames that do not open are left
// out and counted. dst is closed when Decrypt returns; if it is an
// io.WriteSeeker (a file) the copy has cues and a duration, for seeking.
// Input that is not a recorded WebM file (another codec, laced blocks, a broken
// structure) gives an error, with the stats of what was read before.
func Decrypt(dst io.WriteCloser, src io.Reader, ring *Ring) (st Stats, err error) {
	var (
		d       document
		timing  = make(chan uint64)
		simple  = make(chan ebml.Block)
		grouped = make(chan blockGroup)
		done    = make(chan error, 1)
		stop    = make(chan struct{})
		read    bool // the reading goroutine has returned
	)
	d.Segment.Cluster.Timecode, d.Segment.Cluster.SimpleBlock, d.Segment.Cluster.BlockGroup = timing, simple, grouped
	// The reading goroutine is this call's: it ends when the input does, or
	// (stop) at its next read once this call gives up; the drain below
	// unblocks a send it is in. It sends one value at a time, so the order of
	// what is received on the three channels is the file's.
	go func() {
		defer func() {
			close(timing)
			close(simple)
			close(grouped)
		}()
		done <- ebml.Unmarshal(stoppable{src, stop}, &d, ebml.WithMaxLeafElementSize(maxFrame))
	}()
	defer func() {
		if read {
			return
		}
		close(stop)
		for timing != nil || simple != nil || grouped != nil {
			select {
			case _, ok := <-timing:
				if !ok {
					timing = nil
				}
			case _, ok := <-simple:
				if !ok {
					simple = nil
				}
			case _, ok := <-grouped:
				if !ok {
					grouped = nil
				}
			}
		}
		<-done
	}()

	var (
		tracks   map[uint64]*track
		closeW   func() error
		scale    float64
		seen     = map[[2]uint64]struct{}{}
		fatal    error
		fatalMu  sync.Mutex
		timecode uint64
		first    = int64(-1) // ms of the file's first frame, written or not
	)
	closeDst := true
	defer func() {
		if closeW != nil {
			if cerr := closeW(); err == nil && cerr != nil {
				err = cerr
			}
		} else if closeDst {
			dst.Close()
		}
		fatalMu.Lock()
		if err == nil && fatal != nil {
			err = fatal
		}
		fatalMu.Unlock()
	}()
	start := func(entries []webm.TrackEntry, info webm.Info) error {
		if len(entries) == 0 {
			return errors.New("not a recorded WebM file: no tracks before the first cluster")
		}
		tracks = map[uint64]*track{}
		for _, e := range entries {
			var video bool
			switch e.CodecID {
			case "V_VP8":
				video = true
			case "A_OPUS":
			default:
				return fmt.Errorf("track %d is %q, which Parley does not encrypt end to end", e.TrackNumber, e.CodecID)
			}
			if e.TrackNumber == 0 || tracks[e.TrackNumber] != nil {
				return fmt.Errorf("not a recorded WebM file: track number %d is 0 or declared twice", e.TrackNumber)
			}
			tracks[e.TrackNumber] = &track{video: video}
		}
		scale = float64(info.TimecodeScale) / 1e6
		if info.TimecodeScale == 0 {
			scale = 1
		}
		opts := []mkvcore.BlockWriterOption{
			mkvcore.WithSegmentInfo(&webm.Info{TimecodeScale: 1000000, MuxingApp: "parley record decrypt", WritingApp: "parley record decrypt"}),
			// The writer reports failures from its goroutines; it must not panic.
			mkvcore.WithOnFatalHandler(func(e error) {
				fatalMu.Lock()
				fatal = cmp.Or(fatal, e)
				fatalMu.Unlock()
			}),
			mkvcore.WithOnErrorHandler(func(e error) {
				fatalMu.Lock()
				fatal = cmp.Or(fatal, e)
				fatalMu.Unlock()
			}),
		}
		if _, ok := dst.(io.WriteSeeker); ok {
			opts = append(opts, mkvcore.WithSeekHead(true), mkvcore.WithCues(64<<10))
		}
		ws, err := webm.NewSimpleBlockWriter(dst, entries, opts...)
		if err != nil {
			return err
		}
		closeDst = false
		closeW = func() error {
			var first error
			for _, w := range ws {
				first = cmp.Or(first, w.Close())
			}
			return first
		}
		for i, e := range entries {
			tracks[e.TrackNumber].w = ws[i]
		}
		return nil
	}
	frame := func(b ebml.Block, key bool) error {
		if tracks == nil {
			// Info and Tracks precede the clusters: the reader wrote them
			// before it sent this, and this is the last time they are read here.
			if err := start(slices.Clone(d.Segment.Tracks.TrackEntry), d.Segment.Info); err != nil {
				return err
			}
		}
		t := tracks[b.TrackNumber]
		if t == nil {
			return fmt.Errorf("not a recorded WebM file: a block of track %d, which it does not declare", b.TrackNumber)
		}
		if b.Lacing != ebml.LacingNo || len(b.Data) != 1 {
			return errors.New("not a recorded WebM file: a laced block (Parley's recorder writes one frame a block)")
		}
		st.Frames++
		ms := int64(float64(int64(timecode)+int64(b.Timecode)) * scale)
		if first < 0 {
			first = max(ms, 0)
		}
		plain, kid, ctr, who, o := ring.open(b.Data[0], t.video)
		switch o {
		case missing:
			st.Missing++
			return nil
		case failed:
			st.Failed++
			return nil
		}
		if _, dup := seen[[2]uint64{kid, ctr}]; dup {
			st.Replayed++
			return nil
		}
		seen[[2]uint64{kid, ctr}] = struct{}{}
		st.Decrypted++
		if !slices.Contains(st.Senders, who) {
			st.Senders = append(st.Senders, who)
		}
		ms = max(ms, t.last, 0)
		if st.Decrypted == 1 {
			st.Offset = time.Duration(ms-first) * time.Millisecond
		}
		t.last = ms
		_, err := t.w.Write(key, ms, plain)
		return err
	}

	for open := 3; open > 0; {
		var err error
		select {
		case tc, ok := <-timing:
			if !ok {
				timing, open = nil, open-1
				continue
			}
			timecode = tc
		case b, ok := <-simple:
			if !ok {
				simple, open = nil, open-1
				continue
			}
			err = frame(b, b.Keyframe)
		case g, ok := <-grouped:
			if !ok {
				grouped, open = nil, open-1
				continue
			}
			err = frame(g.Block, len(g.ReferenceBlock) == 0)
		}
		if err != nil {
			return st, err
		}
	}
	readErr := <-done
	read = true
	switch {
	case errors.Is(readErr, io.ErrUnexpectedEOF) && tracks != nil:
		st.Truncated = true
	case readErr != nil:
		return st, fmt.Errorf("not a readable WebM file: %w", readErr)
	}
	if tracks == nil {
		// No frame at all: the copy still says what the file held.
		if err := start(d.Segment.Tracks.TrackEntry, d.Segment.Info); err != nil {
			return st, err
		}
	}
	return st, nil
}
