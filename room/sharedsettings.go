package room

import "context"

// SettingsStore shares a room's settings across the nodes of a cluster
// whose rooms span nodes: a part that opens on another node must enforce
// what the operator decided (an end-to-end encryption requirement, a cap)
// from its first join, before any link to the owner is up. The server wires
// it (Config.Settings); nil keeps settings on the node that holds the room.
type SettingsStore interface {
	// Save records room's settings. It must not block: the exchange runs in
	// the background, done closing when it has ended, and the last Save of a
	// room is the one that stands, whatever order the exchanges end in.
	Save(room string, s Settings) (done <-chan struct{})
	// Load reads them; ok is false when none were saved.
	Load(ctx context.Context, room string) (s Settings, ok bool, err error)
}

// SpanSettings carries a room's new settings to its other parts.
const SpanSettings = "settings"

// shareSettings saves r's settings for parts yet to open and sends them to
// the parts linked now.
func (r *Room) shareSettings() {
	s := r.Settings()
	if r.m.cfg.Settings != nil {
		r.m.cfg.Settings.Save(r.name, s)
	}
	if len(r.spans) > 0 {
		r.spanTell(SpanMessage{Kind: SpanSettings, Settings: &s})
	}
}

// partSettings reads the settings a part of room opens with. A part that
// cannot read them does not open: it could not tell whether the room
// admits a client that does not encrypt.
func (m *Manager) partSettings(ctx context.Context, room string) (Settings, error) {
	if m.cfg.Settings == nil {
		return Settings{}, nil
	}
	s, _, err := m.cfg.Settings.Load(ctx, room)
	if err != nil {
		return Settings{}, ErrPlacementUnavailable
	}
	return s, nil
}

// spanSettings applies settings another part sent.
func (r *Room) spanSettings(s Settings) {
	if s.Validate() != nil {
		return
	}
	r.setSettings(s)
	if r.addLanguages(s.Languages) {
		for _, p := range r.participants {
			r.ensureChannelTrack(p)
		}
		r.route()
	}
	r.roomChanged(nil)
}
