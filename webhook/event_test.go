package webhook

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/room"
)

func TestFromRoom(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	for _, c := range []struct {
		in   room.Event
		want string // "" when not sent
		data map[string]string
	}{
		{room.Event{Type: room.EventRoomStart}, RoomStarted, nil},
		{room.Event{Type: room.EventRoomEnd}, RoomFinished, nil},
		{room.Event{Type: room.EventJoin, Data: map[string]string{"name": "Ana"}}, ParticipantJoined, map[string]string{"name": "Ana"}},
		// A record started mid-meeting re-announces who is there: not a join.
		{room.Event{Type: room.EventJoin, Data: map[string]string{"name": "Ana", "present": "true"}}, "", nil},
		// A reconnection takes back the same seat: not a join.
		{room.Event{Type: room.EventJoin, Data: map[string]string{"name": "Ana", "resumed": "true"}}, "", nil},
		{room.Event{Type: room.EventLeave, Data: map[string]string{"reason": "left"}}, ParticipantLeft, map[string]string{"reason": "left"}},
		{room.Event{Type: room.EventPublish, Data: map[string]string{"track": "TR_1", "source": "camera", "kind": "video", "extra": "x"}},
			TrackPublished, map[string]string{"track": "TR_1", "source": "camera", "kind": "video"}},
		{room.Event{Type: room.EventUnpublish, Data: map[string]string{"track": "TR_1", "source": "camera"}}, TrackUnpublished, map[string]string{"track": "TR_1", "source": "camera"}},
		{room.Event{Type: room.EventChat, Data: map[string]string{"text": "secret talk"}}, "", nil},
		{room.Event{Type: room.EventMute}, "", nil},
		{room.Event{Type: room.EventSpeaker}, "", nil},
		{room.Event{Type: room.EventRecordStart}, "", nil},
	} {
		c.in.Room, c.in.Time, c.in.Participant, c.in.Identity = "summit", at, "PA_1", "ana"
		got, ok := fromRoom(c.in)
		if c.want == "" {
			if ok {
				t.Errorf("%s %v: sent as %s, want not sent", c.in.Type, c.in.Data, got.Type)
			}
			continue
		}
		if !ok || got.Type != c.want || got.Room != "summit" || !got.Time.Equal(at) || got.Participant != "PA_1" || got.Identity != "ana" {
			t.Errorf("%s: got %+v (sent %v), want type %s with room, time, participant", c.in.Type, got, ok, c.want)
		}
		if len(got.Data) != len(c.data) {
			t.Errorf("%s: data %v, want %v", c.in.Type, got.Data, c.data)
		}
		for k, v := range c.data {
			if got.Data[k] != v {
				t.Errorf("%s: data %v, want %v", c.in.Type, got.Data, c.data)
			}
		}
	}
}
