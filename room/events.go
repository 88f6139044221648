package room

import "time"

// Event is one thing that happened in a room, timestamped, in order. The
// meeting record and speaking-time statistics are built from these.
type Event struct {
	Room        string            `json:"room"`
	Seq         uint64            `json:"seq"` // per room, from 1, without gaps
	Time        time.Time         `json:"time"`
	Type        string            `json:"type"`
	Participant string            `json:"participant,omitempty"`
	Identity    string            `json:"identity,omitempty"`
	Data        map[string]string `json:"data,omitempty"`
}

// Event types.
const (
	EventJoin       = "join"
	EventLeave      = "leave"
	EventPublish    = "publish"
	EventUnpublish  = "unpublish"
	EventMute       = "mute"
	EventChat       = "chat"
	EventListen     = "listen"     // a participant chose a channel
	EventInterpret  = "interpret"  // an interpreter moved into (or out of) a channel
	EventSpeaker    = "speaker"    // the floor's active speaker changed
	EventTranscript = "transcript" // a speech recogniser's text of a segment of someone's speech
	// EventTranslation is a machine translation of a transcript (data
	// "transcript" is its id), with the source text and the engine.
	EventTranslation  = "translation"
	EventReconnecting = "reconnecting" // a participant's connection dropped; their seat waits
	EventRecordStart  = "recording-start"
	// EventViewerStart and EventViewerStop bracket a WHEP viewer: outside
	// the meeting, but it watches someone in it.
	EventViewerStart = "viewer-start"
	EventViewerStop  = "viewer-stop"
	EventRecordStop  = "recording-stop"
	// EventRoomStart and EventRoomEnd bracket a room's life on this node; no
	// record sees them (a record starts after the first and seals before the last).
	EventRoomStart = "room-start"
	EventRoomEnd   = "room-end"
	// EventTranscription: transcription paused (the speech engine stopped
	// answering) or went on again; data "state" is "paused" or "on".
	EventTranscription = "transcription"
)

// event records e for the room's observers; loop only.
func (r *Room) event(typ string, p *Participant, data map[string]string) {
	r.eventSeq++
	e := Event{Room: r.name, Seq: r.eventSeq, Time: r.m.cfg.Now(), Type: typ, Data: data}
	if p != nil {
		e.Participant, e.Identity = p.id, p.identity
	}
	if r.rec != nil {
		r.rec.rec.Event(e)
	} else if p != nil && !p.remote() {
		r.spanEvent(e)
	}
	if r.m.cfg.OnEvent != nil {
		r.m.cfg.OnEvent(e)
	}
}
