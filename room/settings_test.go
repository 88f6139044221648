package room

import (
	"errors"
	"strings"
	"testing"
)

func TestSettingsValidate(t *testing.T) {
	good := []Settings{
		{},
		{Languages: []string{"en", "ru", "pt-BR"}, MaxParticipants: 10, Record: true, E2EERequired: true, Codec: "av1"},
		{Codec: "vp8"}, {Codec: "vp9"}, {Codec: "h264"},
	}
	for _, s := range good {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
	bad := map[string]Settings{
		"languages":        {Languages: []string{"english"}},
		"floor":            {Languages: []string{"floor"}},
		"twice":            {Languages: []string{"en", "en"}},
		"many":             {Languages: strings.Split("aa,ab,ac,ad,ae,af,ag,ah,ai,aj,ak,al,am,an,ao,ap,aq", ",")},
		"max_participants": {MaxParticipants: -1},
		"codec":            {Codec: "h265"},
		"codec case":       {Codec: "VP8"},
	}
	for name, s := range bad {
		err := s.Validate()
		if !errors.Is(err, ErrInvalidSettings) {
			t.Errorf("%s: %+v validated (%v)", name, s, err)
		}
	}
}

func TestMaxParticipantsTakesTheLowerLimit(t *testing.T) {
	for _, c := range []struct{ node, own, want int }{
		{0, 0, 0}, {10, 0, 10}, {0, 5, 5}, {10, 5, 5}, {5, 10, 5},
	} {
		r := newRoom(NewManager(Config{MaxParticipants: c.node}), "x")
		r.setSettings(Settings{MaxParticipants: c.own})
		if got := r.maxParticipants(); got != c.want {
			t.Errorf("node %d, room %d: %d, want %d", c.node, c.own, got, c.want)
		}
	}
}

func TestSettingsAreCopied(t *testing.T) {
	r := newRoom(NewManager(Config{}), "x")
	langs := []string{"en"}
	r.setSettings(Settings{Languages: langs})
	langs[0] = "ru"
	got := r.Settings()
	got.Languages[0] = "fr"
	if r.Settings().Languages[0] != "en" {
		t.Fatalf("the room's settings changed through a caller's slice: %v", r.Settings().Languages)
	}
}
