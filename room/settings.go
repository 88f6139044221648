package room

import (
	"errors"
	"fmt"
	"slices"

	"github.com/parleyhq/parley/auth"
)

// Settings are what an operator decides for a room (through the admin API).
// The zero value is a room as a first join makes it: the node's defaults.
type Settings struct {
	// Languages seed the room's language channels. Tokens may add more; a
	// channel is never taken away while the room is open.
	Languages []string
	// MaxParticipants caps the room below the node's limit; 0 leaves the
	// node's limit alone.
	MaxParticipants int
	// Record starts a record at the first join (as --record-all does for
	// every room).
	Record bool
	// E2EERequired admits only clients that say they encrypt end to end.
	E2EERequired bool
	// Codec is the preferred video codec: one of Codecs, "" for the default.
	Codec string
}

// Codecs are the video codecs a room may prefer.
var Codecs = []string{"vp8", "vp9", "h264", "av1"}

// ErrInvalidSettings wraps every Settings.Validate failure.
var ErrInvalidSettings = errors.New("invalid room settings")

// Validate checks s, naming the field at fault.
func (s Settings) Validate() error {
	if len(s.Languages) > auth.MaxLanguages {
		return fmt.Errorf("%w: languages: at most %d", ErrInvalidSettings, auth.MaxLanguages)
	}
	for i, l := range s.Languages {
		if err := auth.ValidLanguage(l); err != nil {
			return fmt.Errorf("%w: languages: %v", ErrInvalidSettings, err)
		}
		if slices.Index(s.Languages, l) != i {
			return fmt.Errorf("%w: languages: %q is listed twice", ErrInvalidSettings, l)
		}
	}
	if s.MaxParticipants < 0 {
		return fmt.Errorf("%w: max_participants: must be 0 (the node's limit) or more", ErrInvalidSettings)
	}
	if s.Codec != "" && !slices.Contains(Codecs, s.Codec) {
		return fmt.Errorf("%w: codec: %q is not one of vp8, vp9, h264, av1 or \"\"", ErrInvalidSettings, s.Codec)
	}
	return nil
}

func (s Settings) clone() Settings {
	s.Languages = slices.Clone(s.Languages)
	return s
}

// Settings returns the room's current settings; any goroutine (the media side
// reads the codec preference from here).
func (r *Room) Settings() Settings {
	if s := r.settings.Load(); s != nil {
		return s.clone()
	}
	return Settings{}
}

// setSettings replaces the room's settings; loop only (or before the loop runs).
func (r *Room) setSettings(s Settings) {
	s = s.clone()
	r.settings.Store(&s)
}

// cur reads the settings without copying; what it returns is read-only
// (stored settings are never changed in place).
func (r *Room) cur() Settings {
	if s := r.settings.Load(); s != nil {
		return *s
	}
	return Settings{}
}

// maxParticipants is the room's cap: the lower of the node's and the room's
// own, where 0 means none.
func (r *Room) maxParticipants() int {
	node, own := r.m.cfg.MaxParticipants, r.cur().MaxParticipants
	switch {
	case node == 0:
		return own
	case own == 0:
		return node
	}
	return min(node, own)
}

// recordsFromFirstJoin says whether a join should start a record.
func (r *Room) recordsFromFirstJoin() bool {
	return r.m.cfg.RecordAll || r.cur().Record
}

// e2eeRequired says whether the room refuses joins that do not encrypt.
func (r *Room) e2eeRequired() bool { return r.cur().E2EERequired }
