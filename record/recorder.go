package record

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Recorder.
type Options struct {
	Root            string             // folder that holds all records (DATA/records)
	Room            string             // the room being recorded
	Key             ed25519.PrivateKey // the server's signing key
	CheckpointEvery time.Duration      // default 10 s
	// CheckpointSoon, when set, also checkpoints soon after every room event
	// (a join, a leave, a chat line…), at most once per CheckpointSoon: a
	// participant can countersign what just happened at once, so what rests
	// on the server's word alone when their tab is killed is about that long,
	// not a whole CheckpointEvery.
	CheckpointSoon time.Duration
	ChunkEvery     time.Duration // how often a track's new bytes are committed at the least; default 1 s
	Now            func() time.Time
	Logger         *slog.Logger
	// OnCheckpoint, when set, is called after each checkpoint (from the
	// recorder's goroutine or the caller of Checkpoint) so participants can
	// countersign it. It must not block.
	OnCheckpoint func(Checkpoint)
}

// Checkpoint is what participants are asked to countersign.
type Checkpoint struct {
	Record  string
	Seq     uint64 // the checkpoint entry's own seq
	Entries uint64 // entries it covers (seq-1)
	Head    string // hash of entry Entries
	Final   bool
	// Sig is the server's signature of Statement (base64url): a record that
	// continues this one after its node was lost quotes it.
	Sig string
}

// Statement is the text to sign for c.
func (c Checkpoint) Statement() []byte { return Statement(c.Record, c.Entries, c.Head) }

// Recorder writes one meeting's record.
type Recorder struct {
	id   string
	dir  string
	key  ed25519.PrivateKey
	log  *log
	opts Options

	mu          sync.Mutex
	tracks      map[*Track]struct{}
	checkpoints map[uint64]Checkpoint // by seq, for countersigning
	sealed      bool                  // Seal began: no more tracks
	final       bool                  // the final checkpoint is written: Close ends the record
	ended       bool                  // the end marker is written
	failed      error

	stop chan struct{}
	soon chan struct{} // a room event asks for a checkpoint
	wg   sync.WaitGroup
}

// Start creates a new record folder under opts.Root and begins the log.
func Start(opts Options) (*Recorder, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 10 * time.Second
	}
	if opts.ChunkEvery <= 0 {
		opts.ChunkEvery = chunkEvery
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	id := fmt.Sprintf("%s-%s-%s", opts.Room, opts.Now().UTC().Format(idTime), hex.EncodeToString(rnd[:]))
	dir := filepath.Join(opts.Root, id)
	if err := os.MkdirAll(filepath.Join(dir, MediaDir), 0o700); err != nil {
		return nil, err
	}
	l, err := createLog(filepath.Join(dir, LogFile), opts.Now)
	if err != nil {
		return nil, err
	}
	r := &Recorder{
		id: id, dir: dir, key: opts.Key, log: l, opts: opts,
		tracks: map[*Track]struct{}{}, checkpoints: map[uint64]Checkpoint{}, stop: make(chan struct{}), soon: make(chan struct{}, 1),
	}
	pub := opts.Key.Public().(ed25519.PublicKey)
	if _, _, err := l.append(Entry{Type: TypeStart, Format: Format, Record: id, Room: opts.Room, ServerKey: b64.EncodeToString(pub)}); err != nil {
		l.close()
		return nil, err
	}
	if err := l.sync(); err != nil { // the record names itself on disk at once
		l.close()
		return nil, err
	}
	r.wg.Add(1)
	go r.checkpointLoop()
	return r, nil
}

// Entries is how many entries the log holds so far (after Close of a sealed
// record, the end marker included).
func (r *Recorder) Entries() uint64 {
	n, _ := r.log.head()
	return n
}

// Ended reports whether Close wrote the end marker: the record is complete
// and parley verify, which requires the end, can check it.
func (r *Recorder) Ended() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ended
}

// ID names the record (and its folder).
func (r *Recorder) ID() string { return r.id }

// Dir is the record's folder.
func (r *Recorder) Dir() string { return r.dir }

func (r *Recorder) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed == nil {
		r.failed = err
		r.opts.Logger.Error("recording failed", "record", r.id, "err", err)
	}
}

// Event appends a room event.
func (r *Recorder) Event(typ, participant, identity string, data map[string]string, at time.Time) {
	if _, _, err := r.log.append(Entry{Type: typ, Time: at.UTC(), Participant: participant, Identity: identity, Data: data}); err != nil {
		r.fail(err)
		return
	}
	if r.opts.CheckpointSoon > 0 {
		select {
		case r.soon <- struct{}{}:
		default: // one is asked for already
		}
	}
}

// Key records a participant's public key (base64url of 32 bytes).
func (r *Recorder) Key(participant, identity, key string) {
	if _, _, err := r.log.append(Entry{Type: TypeKey, Participant: participant, Identity: identity, Key: key}); err != nil {
		r.fail(err)
	}
}

// Track starts recording a track; the caller feeds it with WriteRTP and
// closes it when the track ends.
func (r *Recorder) Track(info TrackInfo) (*Track, error) {
	if _, _, _, ok := codecOf(info.MimeType); !ok {
		return nil, fmt.Errorf("recording %s is not supported yet", info.MimeType)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sealed {
		return nil, errors.New("the record is sealed")
	}
	ext := ".webm"
	name := fmt.Sprintf("%s/%s-%s-%s%s", MediaDir, safe(info.Identity), safe(info.Source), safe(info.ID), ext)
	t := &Track{rec: r, info: info, file: name, queue: make(chan []byte, queueLen), done: make(chan struct{}), stop: make(chan struct{})}
	r.tracks[t] = struct{}{}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t.run()
	}()
	return t, nil
}

func safe(s string) string {
	return strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			return c
		}
		return '_'
	}, s)
}

// CloseTrack stops recording t and commits its file.
func (r *Recorder) CloseTrack(t *Track) {
	t.Close()
	r.mu.Lock()
	delete(r.tracks, t)
	r.mu.Unlock()
}

// Checkpoint signs the chain's head now.
func (r *Recorder) Checkpoint() (Checkpoint, error) { return r.checkpoint(false) }

func (r *Recorder) checkpoint(final bool) (Checkpoint, error) {
	e, err := r.log.checkpoint(r.id, r.key, final)
	if err != nil {
		return Checkpoint{}, err
	}
	c := Checkpoint{Record: r.id, Seq: e.Seq, Entries: e.Seq - 1, Head: e.Head, Final: final, Sig: e.Sig}
	r.mu.Lock()
	r.checkpoints[c.Seq] = c
	r.mu.Unlock()
	if r.opts.OnCheckpoint != nil {
		r.opts.OnCheckpoint(c)
	}
	return c, nil
}

// checkpointLoop checkpoints every CheckpointEvery, and CheckpointSoon
// after a room event (but not sooner than CheckpointSoon after the last).
func (r *Recorder) checkpointLoop() {
	defer r.wg.Done()
	t := time.NewTicker(r.opts.CheckpointEvery)
	defer t.Stop()
	// Entries reach the operating system within a second, whatever the
	// checkpoints: a killed server loses at most that much of its log.
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	soon := time.NewTimer(0)
	<-soon.C
	pending := false
	last := time.Now()
	for {
		select {
		case <-r.stop:
			soon.Stop()
			return
		case <-flush.C:
			if err := r.log.flush(); err != nil {
				r.fail(err)
			}
			continue
		case <-t.C:
		case <-r.soon:
			if !pending {
				pending = true
				soon.Reset(max(0, r.opts.CheckpointSoon-time.Since(last)))
			}
			continue
		case <-soon.C:
		}
		if pending && !soon.Stop() {
			select { // a tick came first: drain the timer so a later Reset starts clean
			case <-soon.C:
			default:
			}
		}
		pending = false
		last = time.Now()
		if _, err := r.Checkpoint(); err != nil {
			r.fail(err)
		}
	}
}

// ErrBadSignature is returned for a countersignature that does not verify.
var ErrBadSignature = errors.New("the signature does not verify")

// Countersign appends a participant's signature of checkpoint seq after
// checking it against the key the participant announced.
func (r *Recorder) Countersign(participant, identity string, pub ed25519.PublicKey, seq uint64, sig []byte) error {
	r.mu.Lock()
	c, ok := r.checkpoints[seq]
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("no checkpoint %d in record %s", seq, r.id)
	}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, c.Statement(), sig) {
		return ErrBadSignature
	}
	_, _, err := r.log.append(Entry{Type: TypeCountersign, Participant: participant, Identity: identity, Of: seq, Sig: b64.EncodeToString(sig)})
	return err // ErrEnded once Close wrote the end marker: a countersignature after it is not part of the record
}

// Seal ends the recording: every track's file is committed, a final signed
// checkpoint closes the chain. Countersignatures of it may follow until Close.
func (r *Recorder) Seal() (Checkpoint, error) {
	r.mu.Lock()
	if r.sealed {
		r.mu.Unlock()
		return Checkpoint{}, errors.New("already sealed")
	}
	r.sealed = true
	tracks := make([]*Track, 0, len(r.tracks))
	for t := range r.tracks {
		tracks = append(tracks, t)
	}
	r.tracks = map[*Track]struct{}{}
	r.mu.Unlock()
	close(r.stop)
	for _, t := range tracks {
		t.Close()
	}
	r.wg.Wait()
	if _, _, err := r.log.append(Entry{Type: TypeStop}); err != nil {
		return Checkpoint{}, err
	}
	c, err := r.checkpoint(true)
	if err == nil {
		r.mu.Lock()
		r.final = true
		r.mu.Unlock()
	}
	return c, err
}

// Close ends the record, once the seal's countersignatures had their chance:
// after Seal it appends the server's signed end marker, which names the hash
// of everything before it (those countersignatures included), and closes the
// log; Countersign then returns ErrEnded. Without Seal it only closes the log,
// leaving a record that verifies as incomplete, as after a crash.
func (r *Recorder) Close() error {
	r.mu.Lock()
	final := r.final
	r.mu.Unlock()
	if !final {
		return r.log.close()
	}
	if _, err := r.log.end(r.id, r.key); err != nil {
		if errors.Is(err, ErrEnded) {
			return nil // closed before
		}
		r.log.close()
		return err
	}
	r.mu.Lock()
	r.ended = true
	r.mu.Unlock()
	return nil
}

func formatUint(n uint64) string { return strconv.FormatUint(n, 10) }
