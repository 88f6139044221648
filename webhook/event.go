package webhook

import (
	"time"

	"github.com/parleyhq/parley/room"
)

// Event is the JSON body of one delivery (docs/webhooks.md).
type Event struct {
	// ID names the event: the same for every receiver it goes to.
	ID          string            `json:"id"`
	Type        string            `json:"type"`
	Time        time.Time         `json:"time"`
	Room        string            `json:"room"`
	Participant string            `json:"participant,omitempty"`
	Identity    string            `json:"identity,omitempty"`
	Data        map[string]string `json:"data,omitempty"`
}

// Event types. These names are a contract with operators' back ends: never
// rename one, only add.
const (
	RoomStarted       = "room_started"
	RoomFinished      = "room_finished"
	ParticipantJoined = "participant_joined"
	ParticipantLeft   = "participant_left"
	TrackPublished    = "track_published"
	TrackUnpublished  = "track_unpublished"
	RecordingSealed   = "recording_sealed"
	ViewerStarted     = "viewer_started"
	ViewerFinished    = "viewer_finished"
)

// Types lists every event type, for configuration checks and documentation.
var Types = []string{RoomStarted, RoomFinished, ParticipantJoined, ParticipantLeft,
	TrackPublished, TrackUnpublished, RecordingSealed, ViewerStarted, ViewerFinished}

// fromRoom turns a room event into a webhook event; most room events (chat,
// mutes, speakers, channel moves) are the meeting's business, not the
// operator's, and are not sent.
func fromRoom(e room.Event) (Event, bool) {
	w := Event{Time: e.Time, Room: e.Room, Participant: e.Participant, Identity: e.Identity}
	switch e.Type {
	case room.EventRoomStart:
		w.Type = RoomStarted
	case room.EventRoomEnd:
		w.Type = RoomFinished
	case room.EventJoin:
		// A record that starts mid-meeting re-announces who is present, and a
		// participant who reconnects takes back the same seat (same id): neither
		// is a new arrival, so joined and left pair up one to one.
		if e.Data["present"] == "true" || e.Data["resumed"] == "true" {
			return Event{}, false
		}
		w.Type = ParticipantJoined
		w.Data = pick(e.Data, "name")
	case room.EventLeave:
		w.Type = ParticipantLeft
		w.Data = pick(e.Data, "reason")
	case room.EventPublish:
		w.Type = TrackPublished
		w.Data = pick(e.Data, "track", "source", "kind")
	case room.EventUnpublish:
		w.Type = TrackUnpublished
		w.Data = pick(e.Data, "track", "source")
	case room.EventViewerStart, room.EventViewerStop:
		// Players outside the meeting are the operator's business: who
		// watches a participant, and with whose token.
		w.Type = ViewerStarted
		if e.Type == room.EventViewerStop {
			w.Type = ViewerFinished
		}
		w.Data = pick(e.Data, "viewer", "watcher", "watched")
	default:
		return Event{}, false
	}
	return w, true
}

// pick copies the named keys: the room's map also feeds the record, and
// whatever the room adds later should not leak to receivers unreviewed.
func pick(m map[string]string, keys ...string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
