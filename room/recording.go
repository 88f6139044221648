package room

import (
	"crypto/ed25519"
	"encoding/base64"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/sfu"
	"github.com/parleyhq/parley/signal"
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

// recording is a room's active record.
type recording struct {
	rec   Recorder
	by    *signal.Ref // who started it; nil for --record-all
	since time.Time
	taps  map[string]TrackRecorder // by track key
}

func (r *Room) recordingInfo() signal.RecordingInfo {
	if r.rec == nil {
		return signal.RecordingInfo{}
	}
	return signal.RecordingInfo{Active: true, Record: r.rec.rec.ID(), Since: r.rec.since.UTC().Format(time.RFC3339), By: r.rec.by}
}

// startRecording begins a record of the meeting as it stands; by is who asked
// (nil for --record-all).
func (r *Room) startRecording(by *Participant) {
	if r.rec != nil || r.m.cfg.StartRecorder == nil {
		return
	}
	rec, err := r.m.cfg.StartRecorder(r.name, func(c CheckpointInfo) {
		r.box.post(func() { r.sendCheckpoint(c) })
	})
	if err != nil {
		r.m.log.Error("cannot start recording", "room", r.name, "err", err)
		if by != nil {
			by.sink.Send(&signal.Error{Type: "error", Code: signal.CodeInternal, Ref: "record", Message: "the server could not start recording"})
		}
		return
	}
	r.rec = &recording{rec: rec, since: r.m.cfg.Now(), taps: map[string]TrackRecorder{}}
	if by != nil {
		ref := by.ref()
		r.rec.by = &ref
	}
	r.event(EventRecordStart, by, nil)
	// Who is already here, and their keys: the record must stand on its own.
	for _, p := range r.participants {
		r.event(EventJoin, p, map[string]string{"name": p.name, "present": "true"})
		if p.key != "" {
			rec.Key(p.id, p.identity, p.key)
		}
	}
	for _, t := range r.tracks {
		r.recordTrack(t)
	}
	r.m.log.Info("recording started", "room", r.name, "record", rec.ID())
	r.broadcast(&signal.RoomUpdated{Type: "room-updated", Room: r.roomInfo()}, nil)
}

// stopRecording seals the record; late countersignatures are still taken for
// sealGrace.
func (r *Room) stopRecording(by *Participant) {
	cur := r.rec
	if cur == nil {
		return
	}
	r.event(EventRecordStop, by, nil)
	for key, tr := range cur.taps {
		if t := r.tracks[key]; t != nil {
			t.recv.RemoveTap(tr)
		}
	}
	r.rec = nil
	r.sealing[cur.rec.ID()] = cur.rec
	r.broadcast(&signal.RoomUpdated{Type: "room-updated", Room: r.roomInfo()}, nil)
	r.m.wg.Add(1)
	go func() {
		defer r.m.wg.Done()
		// Seal commits the tracks itself; closing the taps first would only
		// lengthen the wait of a leaving participant for the seal to sign.
		if err := cur.rec.Seal(); err != nil {
			r.m.log.Error("sealing the record", "record", cur.rec.ID(), "err", err)
		}
		for _, tr := range cur.taps {
			tr.Close() // a no-op after a seal; frees the tracks if it failed
		}
		select {
		case <-time.After(sealGrace):
		case <-r.m.closing:
		}
		r.box.post(func() { delete(r.sealing, cur.rec.ID()) })
		if err := cur.rec.Close(); err != nil {
			r.m.log.Error("closing the record", "record", cur.rec.ID(), "err", err)
		}
		r.m.log.Info("record sealed", "room", r.name, "record", cur.rec.ID())
	}()
}

// recordTrack taps a track into the active record.
func (r *Room) recordTrack(t *pubTrack) {
	if r.rec == nil {
		return
	}
	c := t.recv.Codec()
	tr, err := r.rec.rec.Track(TrackMeta{ID: t.key, Participant: t.owner.id, Identity: t.owner.identity,
		Source: t.source, MimeType: c.MimeType, ClockRate: c.ClockRate})
	if err != nil {
		r.m.log.Warn("track not recorded", "room", r.name, "track", t.key, "err", err)
		return
	}
	r.rec.taps[t.key] = tr
	t.recv.AddTap(tr)
	t.recv.RequestKeyframe() // a file starts at a keyframe: ask for one now
}

// unrecordTrack stops recording a track that ended.
func (r *Room) unrecordTrack(t *pubTrack) {
	if r.rec == nil {
		return
	}
	tr := r.rec.taps[t.key]
	if tr == nil {
		return
	}
	delete(r.rec.taps, t.key)
	t.recv.RemoveTap(tr)
	r.m.wg.Add(1)
	go func() { // committing the file waits on the disk: keep it off the loop
		defer r.m.wg.Done()
		tr.Close()
	}()
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
	msg := &signal.Checkpoint{Type: "checkpoint", Record: c.Record, Seq: c.Seq, Statement: c.Statement}
	for _, p := range r.participants {
		if p.key == "" {
			continue
		}
		if c.Final && p.leaving && p.leaveFor.record == c.Record && p.leaveFor.seq == 0 {
			p.leaveFor.seq = c.Seq // the seal they wait for is signed at last
		}
		p.sink.Send(msg)
	}
}

func (r *Room) record(p *Participant, m *signal.Record) {
	if !p.can(auth.GrantRecord) {
		p.sink.Send(&signal.Error{Type: "error", Code: signal.CodeForbidden, Ref: "record", Message: "your access token does not allow recording"})
		return
	}
	if m.On {
		r.startRecording(p)
	} else {
		r.stopRecording(p)
	}
}

func (r *Room) countersign(p *Participant, m *signal.Countersign) {
	var rec Recorder
	if r.rec != nil && r.rec.rec.ID() == m.Record {
		rec = r.rec.rec
	} else {
		rec = r.sealing[m.Record]
	}
	fail := func(msg string) {
		p.sink.Send(&signal.Error{Type: "error", Code: signal.CodeBadRequest, Ref: "countersign", Message: msg})
	}
	switch {
	case rec == nil:
		fail("no record " + quote(m.Record) + " is open in this room")
		return
	case p.key == "":
		fail("you announced no key when joining, so your signature cannot be checked")
		return
	}
	key, _ := base64.RawURLEncoding.DecodeString(p.key)
	sig, _ := base64.RawURLEncoding.DecodeString(m.Sig)
	if err := rec.Countersign(p.id, p.identity, key, m.Seq, sig); err != nil {
		fail("countersignature rejected: " + err.Error())
		return
	}
	if p.leaving && p.leaveFor.releasedBy(m.Record, m.Seq) {
		r.leave(p, signal.ReasonLeft)
	}
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
	time.AfterFunc(sealGrace, func() { r.box.post(func() { r.leave(p, signal.ReasonLeft) }) })
	return true
}
