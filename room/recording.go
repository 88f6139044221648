package room

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/sfu"
)

// Recorder is the room's view of a meeting record (package record implements
// it; the server wires them). The room feeds it events and media; it never
// reads anything back.
type Recorder interface {
	ID() string
	Event(Event)
	Key(participant, identity, key string)
	Track(TrackMeta) (TrackRecorder, error)
	Checkpoint() (CheckpointInfo, error)
	Countersign(participant, identity string, key ed25519.PublicKey, seq uint64, sig []byte) error
	Seal() error  // commits every file and signs the end
	Close() error // after late countersignatures had their chance
}

// TrackRecorder records one track: it is fed as a receiver tap.
type TrackRecorder interface {
	sfu.Tap
	Close()
}

// TrackMeta describes a track to record.
type TrackMeta struct {
	ID, Participant, Identity, Source, MimeType string
	ClockRate                                   uint32
}

// CheckpointInfo is a checkpoint for participants to countersign.
type CheckpointInfo struct {
	Record    string
	Seq       uint64
	Statement string
	// Final marks the seal: the participant whose leaving sealed the record
	// must countersign this one, not a routine checkpoint that happened to be
	// signed while the record was being sealed.
	Final bool
	// Sig is the server's signature of Statement, for a record that
	// continues this one after its node was lost.
	Sig string
}

// StartRecorder begins a record of room; checkpoint is called (from any
// goroutine, without blocking) for every checkpoint the record signs.
type StartRecorder func(room string, checkpoint func(CheckpointInfo)) (Recorder, error)

// sealGrace is how long a sealed record waits for late countersignatures, and
// how long a participant leaving a recorded room has to countersign. A
// variable only so that tests on a loaded machine can lengthen it.
var sealGrace = 3 * time.Second

// leaveWait is the countersignature a participant leaving a recorded room is
// waiting to give. Clients countersign every checkpoint they are sent, and
// routine ones keep coming while they leave (and while the record is being
// sealed): only the one that covers their leaving lets them go early.
type leaveWait struct {
	record string
	seq    uint64 // the checkpoint to countersign (a later one does too); 0 while the seal is not signed yet
}

// releasedBy reports whether a countersignature of checkpoint seq of record
// is the one w waits for.
func (w leaveWait) releasedBy(record string, seq uint64) bool {
	return w.seq != 0 && record == w.record && seq >= w.seq
}

// recording is one record being made: the Recorder and the taps that feed
// it media. It knows tracks, not participants; the room decides when it
// starts and ends. Loop-owned.
type recording struct {
	rec   Recorder
	by    *Ref // who started it; nil for --record-all and the operator
	since time.Time
	taps  map[string]TrackRecorder // by track key
	log   *slog.Logger
	wg    *sync.WaitGroup // the Manager's: closing track files outlives the loop's turn
}

func (s *recording) state() RecordingState {
	return RecordingState{Active: true, Record: s.rec.ID(), Since: s.since, By: s.by}
}

// tap records a track from now on.
func (s *recording) tap(t *pubTrack) {
	c := t.recv.Codec()
	tr, err := s.rec.Track(TrackMeta{ID: t.key, Participant: t.owner.id, Identity: t.owner.identity,
		Source: t.source, MimeType: c.MimeType, ClockRate: c.ClockRate})
	if err != nil {
		s.log.Warn("track not recorded", "record", s.rec.ID(), "track", t.key, "err", err)
		return
	}
	s.taps[t.key] = tr
	t.recv.AddTap(tr)
	t.recv.RequestKeyframe() // a file starts at a keyframe: ask for one now
}

// untap stops recording a track that ended.
func (s *recording) untap(t *pubTrack) {
	tr := s.taps[t.key]
	if tr == nil {
		return
	}
	delete(s.taps, t.key)
	t.recv.RemoveTap(tr)
	s.wg.Add(1)
	go func() { // committing the file waits on the disk: keep it off the loop
		defer s.wg.Done()
		tr.Close()
	}()
}

// seal detaches the taps from the tracks still published and, off the loop,
// seals the record, keeps it open for late countersignatures until grace
// ends (or closing is closed), then closes it; sealed runs last, from that
// goroutine.
func (s *recording) seal(tracks map[string]*pubTrack, closing <-chan struct{}, sealed func()) {
	for key, tr := range s.taps {
		if t := tracks[key]; t != nil {
			t.recv.RemoveTap(tr)
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// Seal commits the tracks itself; closing the taps first would only
		// lengthen the wait of a leaving participant for the seal to sign.
		if err := s.rec.Seal(); err != nil {
			s.log.Error("sealing the record", "record", s.rec.ID(), "err", err)
		}
		for _, tr := range s.taps {
			tr.Close() // a no-op after a seal; frees the tracks if it failed
		}
		select {
		case <-time.After(sealGrace):
		case <-closing:
		}
		sealed()
		if err := s.rec.Close(); err != nil {
			s.log.Error("closing the record", "record", s.rec.ID(), "err", err)
		}
	}()
}

func (r *Room) recordingInfo() RecordingState {
	if r.rec == nil {
		return r.remoteRec // another part's record, or none
	}
	return r.rec.state()
}

// startRecording begins a record of the meeting as it stands; by is who asked
// (nil for --record-all and the operator). prev, when set, is the last
// checkpoint of the record this one continues (its node was lost).
func (r *Room) startRecording(by *Participant, prev *CheckpointInfo) error {
	if r.rec != nil || r.m.cfg.StartRecorder == nil {
		return nil
	}
	rec, err := r.m.cfg.StartRecorder(r.name, func(c CheckpointInfo) {
		r.box.post(func() { r.sendCheckpoint(c) })
	})
	if err != nil {
		r.m.log.Error("cannot start recording", "room", r.name, "err", err)
		return refuse(ErrInternal, "the server could not start recording")
	}
	r.rec = &recording{rec: rec, since: r.m.cfg.Now(), taps: map[string]TrackRecorder{}, log: r.m.log, wg: &r.m.wg}
	if by != nil {
		ref := by.ref()
		r.rec.by = &ref
	}
	r.event(EventRecordStart, by, nil)
	if prev != nil {
		r.event(EventRecordContinues, nil, map[string]string{
			"previous": prev.Record, "previous_seq": fmt.Sprint(prev.Seq), "previous_checkpoint": prev.Statement,
			"previous_signature": prev.Sig})
	}
	// Who is already here, and their keys: the record must stand on its own.
	for _, p := range r.participants {
		data := map[string]string{"name": p.name, "present": "true"}
		if p.e2ee {
			data["e2ee"] = "true"
		}
		r.event(EventJoin, p, data)
		if p.key != "" {
			rec.Key(p.id, p.identity, p.key)
		}
	}
	for _, t := range r.tracks {
		r.rec.tap(t)
	}
	r.m.log.Info("recording started", "room", r.name, "record", rec.ID())
	r.roomChanged(nil)
	r.spanRecording()
	return nil
}

// stopRecording seals the record; late countersignatures are still taken for
// sealGrace.
func (r *Room) stopRecording(by *Participant) {
	cur := r.rec
	if cur == nil {
		return
	}
	r.event(EventRecordStop, by, nil)
	r.rec = nil
	id := cur.rec.ID()
	r.sealing[id] = cur.rec
	r.roomChanged(nil)
	r.spanRecording()
	cur.seal(r.tracks, r.m.closing, func() {
		r.box.post(func() { delete(r.sealing, id) })
		r.m.log.Info("record sealed", "room", r.name, "record", id)
	})
}

// recordTrack taps a track into the active record.
func (r *Room) recordTrack(t *pubTrack) {
	if r.rec != nil {
		r.rec.tap(t)
	}
}

// unrecordTrack stops recording a track that ended.
func (r *Room) unrecordTrack(t *pubTrack) {
	if r.rec != nil {
		r.rec.untap(t)
	}
}

// lastKeyHolder reports whether p is the last participant still in the room
// who can countersign.
func (r *Room) lastKeyHolder(p *Participant) bool {
	for _, o := range r.participants {
		if o != p && o.key != "" && !o.leaving && o.state == StateActive {
			return false
		}
	}
	return true
}

func (r *Room) sendCheckpoint(c CheckpointInfo) {
	if r.owner() && len(r.spans) > 0 {
		r.spanTell(SpanMessage{Kind: SpanCheckpoint, Checkpoint: &c})
	}
	for _, p := range r.participants {
		if p.key == "" {
			continue
		}
		if c.Final && p.leaving && p.leaveFor.record == c.Record && p.leaveFor.seq == 0 {
			p.leaveFor.seq = c.Seq // the seal they wait for is signed at last
		}
		p.client.Checkpoint(c)
	}
}

func (r *Room) record(p *Participant, on bool) error {
	if !p.can(auth.GrantRecord) {
		return refuse(ErrForbidden, "your access token does not allow recording")
	}
	if !r.owner() {
		r.spanTell(SpanMessage{Kind: SpanRecord, ID: p.id, On: on})
		return nil
	}
	if on {
		return r.startRecording(p, nil)
	}
	r.stopRecording(p)
	return nil
}

func (r *Room) countersign(p *Participant, record string, seq uint64, sig []byte) error {
	if !r.owner() && !p.remote() {
		if p.key == "" {
			return refuse(ErrBadRequest, "you announced no key when joining, so your signature cannot be checked")
		}
		r.forwardCountersign(p, record, seq, sig) // the owner checks it
		return nil
	}
	var rec Recorder
	if r.rec != nil && r.rec.rec.ID() == record {
		rec = r.rec.rec
	} else {
		rec = r.sealing[record]
	}
	switch {
	case rec == nil:
		return refuse(ErrBadRequest, "no record %s is open in this room", quote(record))
	case p.key == "":
		return refuse(ErrBadRequest, "you announced no key when joining, so your signature cannot be checked")
	}
	key, _ := base64.RawURLEncoding.DecodeString(p.key)
	if err := rec.Countersign(p.id, p.identity, key, seq, sig); err != nil {
		return refuse(ErrBadRequest, "countersignature rejected: %v", err)
	}
	if p.leaving && p.leaveFor.releasedBy(record, seq) {
		r.leave(p, ReasonLeft)
	}
	return nil
}

// leaveRecorded lets a participant who leaves a recorded room countersign a
// last checkpoint first; sealGrace bounds the wait.
func (r *Room) leaveRecorded(p *Participant) bool {
	if r.rec == nil || p.key == "" || p.leaving {
		return false
	}
	w := leaveWait{record: r.rec.rec.ID()}
	if !r.lastKeyHolder(p) {
		c, err := r.rec.rec.Checkpoint()
		if err != nil {
			r.m.log.Warn("checkpoint at leave", "room", r.name, "participant", p.id, "err", err)
			return false // nothing to countersign: they leave now
		}
		w.seq = c.Seq
	}
	p.leaving, p.leaveFor = true, w
	if w.seq == 0 {
		// The meeting ends with this participant: seal now, so the seal itself
		// is countersigned, not only the record up to their leaving.
		r.stopRecording(p)
	}
	time.AfterFunc(sealGrace, func() { r.box.post(func() { r.leave(p, ReasonLeft) }) })
	return true
}
