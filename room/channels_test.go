package room

import (
	"testing"

	"github.com/parleyhq/parley/signal"
)

func TestActiveSpeakerIsTheLastToMoveIn(t *testing.T) {
	got := activeSpeakers([]speaker{
		{id: "interp-a", channel: "ru", since: 1},
		{id: "interp-b", channel: "en", since: 2},
		{id: "interp-c", channel: "ru", since: 3}, // takes over ru from interp-a
		{id: "interp-d", channel: "", since: 4},   // not interpreting
	})
	want := map[string]string{"ru": "interp-c", "en": "interp-b"}
	if len(got) != len(want) {
		t.Fatalf("active = %v, want %v", got, want)
	}
	for ch, id := range want {
		if got[ch] != id {
			t.Errorf("channel %s: %q, want %q", ch, got[ch], id)
		}
	}
}

func TestChannelSource(t *testing.T) {
	active := map[string]string{"en": "interp-b", "ru": "interp-a"}
	cases := []struct {
		listener, listening, want string
	}{
		{"aide-b1", "en", "interp-b"},  // listener on en hears en's interpreter
		{"aide-a1", signal.Floor, ""},  // floor listeners get no interpretation at all
		{"aide-a2", "ru", "interp-a"},  // ru channel
		{"aide-x", "fr", ""},           // a channel with no interpreter carries nothing
		{"interp-b", "en", ""},         // an interpreter never hears themself
		{"interp-a", "en", "interp-b"}, // relay: interp-a listens to interp-b's channel
		{"head-a", signal.Floor, ""},   // the floor is the floor
	}
	for _, c := range cases {
		if got := channelSource(c.listener, c.listening, active); got != c.want {
			t.Errorf("%s on %s hears %q, want %q", c.listener, c.listening, got, c.want)
		}
	}
}
