package server

import (
	"crypto/ed25519"
	"log/slog"
	"time"

	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/room"
)

// checkpointSoon: a room event is checkpointed (and countersigned by the
// participants' clients) within about a second, whatever the checkpoint
// interval, so a participant whose tab dies leaves at most that much of the
// meeting resting on the server's word alone.
const checkpointSoon = time.Second

// recorders adapts package record to the room's Recorder interface: records
// go under root. sealed, when set, hears of every record sealed (from the
// sealing goroutine).
func recorders(root string, key ed25519.PrivateKey, every time.Duration, log *slog.Logger, sealed func(room, record string, entries uint64)) room.StartRecorder {
	return func(roomName string, checkpoint func(room.CheckpointInfo)) (room.Recorder, error) {
		r, err := record.Start(record.Options{
			Root: root, Room: roomName, Key: key, CheckpointEvery: every, CheckpointSoon: min(checkpointSoon, every), Logger: log,
			OnCheckpoint: func(c record.Checkpoint) { checkpoint(checkpointInfo(c)) },
		})
		if err != nil {
			return nil, err
		}
		return roomRecorder{r, roomName, sealed}, nil
	}
}

type roomRecorder struct {
	r      *record.Recorder
	room   string
	sealed func(room, record string, entries uint64)
}

func (a roomRecorder) ID() string { return a.r.ID() }

func (a roomRecorder) Event(e room.Event) {
	a.r.Event(e.Type, e.Participant, e.Identity, e.Data, e.Time)
}

func (a roomRecorder) Key(participant, identity, key string) { a.r.Key(participant, identity, key) }

func (a roomRecorder) Track(m room.TrackMeta) (room.TrackRecorder, error) {
	t, err := a.r.Track(record.TrackInfo{ID: m.ID, Participant: m.Participant, Identity: m.Identity,
		Source: m.Source, MimeType: m.MimeType, ClockRate: m.ClockRate})
	if err != nil {
		return nil, err
	}
	return trackRecorder{a.r, t}, nil
}

func (a roomRecorder) Checkpoint() (room.CheckpointInfo, error) {
	c, err := a.r.Checkpoint()
	return checkpointInfo(c), err
}

// checkpointInfo keeps Final: the room tells the seal from routine
// checkpoints by it.
func checkpointInfo(c record.Checkpoint) room.CheckpointInfo {
	return room.CheckpointInfo{Record: c.Record, Seq: c.Seq, Statement: string(c.Statement()), Final: c.Final, Sig: c.Sig}
}

func (a roomRecorder) Countersign(participant, identity string, key ed25519.PublicKey, seq uint64, sig []byte) error {
	return a.r.Countersign(participant, identity, key, seq, sig)
}

func (a roomRecorder) Seal() error {
	_, err := a.r.Seal()
	return err
}

// Close ends the record. Only an ended record (sealed, countersigned, with
// its signed end marker) passes a strict `parley verify`, so that is when
// operators hear that it is sealed.
func (a roomRecorder) Close() error {
	err := a.r.Close()
	if err == nil && a.sealed != nil && a.r.Ended() {
		a.sealed(a.room, a.r.ID(), a.r.Entries())
	}
	return err
}

type trackRecorder struct {
	r *record.Recorder
	t *record.Track
}

func (t trackRecorder) WriteRTP(raw []byte) { t.t.WriteRTP(raw) }
func (t trackRecorder) Close()              { t.r.CloseTrack(t.t) }
