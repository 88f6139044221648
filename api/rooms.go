package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/room"
)

// The wire shapes; openapi.json's components/schemas describe each.

type settingsJSON struct {
	Languages       []string `json:"languages"`
	MaxParticipants int      `json:"max_participants"`
	Record          bool     `json:"record"`
	E2EERequired    bool     `json:"e2ee_required"`
	Codec           string   `json:"codec"`
}

func toSettings(s settingsJSON) room.Settings {
	return room.Settings{Languages: s.Languages, MaxParticipants: s.MaxParticipants, Record: s.Record,
		E2EERequired: s.E2EERequired, Codec: s.Codec}
}

func fromSettings(s room.Settings) settingsJSON {
	if s.Languages == nil {
		s.Languages = []string{}
	}
	return settingsJSON{Languages: s.Languages, MaxParticipants: s.MaxParticipants, Record: s.Record,
		E2EERequired: s.E2EERequired, Codec: s.Codec}
}

// settingsPatch is a merge patch of settings: absent fields stay as they are.
type settingsPatch struct {
	Languages       *[]string `json:"languages"`
	MaxParticipants *int      `json:"max_participants"`
	Record          *bool     `json:"record"`
	E2EERequired    *bool     `json:"e2ee_required"`
	Codec           *string   `json:"codec"`
}

func (p *settingsPatch) apply(s *room.Settings) {
	if p.Languages != nil {
		s.Languages = *p.Languages
	}
	if p.MaxParticipants != nil {
		s.MaxParticipants = *p.MaxParticipants
	}
	if p.Record != nil {
		s.Record = *p.Record
	}
	if p.E2EERequired != nil {
		s.E2EERequired = *p.E2EERequired
	}
	if p.Codec != nil {
		s.Codec = *p.Codec
	}
}

type recordingJSON struct {
	Active bool   `json:"active"`
	Record string `json:"record,omitempty"`
	Since  string `json:"since,omitempty"` // RFC 3339
}

func fromRecording(r room.RecordingState) recordingJSON {
	out := recordingJSON{Active: r.Active, Record: r.Record}
	if !r.Since.IsZero() {
		out.Since = r.Since.UTC().Format(time.RFC3339)
	}
	return out
}

// viewerJSON is a WHEP viewer, as protocol.md's "viewers" message lists it.
type viewerJSON struct {
	ID      string `json:"id"`
	Watcher string `json:"watcher"`
	Watched string `json:"watched"`
	Since   string `json:"since"` // RFC 3339
}

func fromViewers(vs []room.ViewerInfo) []viewerJSON {
	out := make([]viewerJSON, len(vs))
	for i, v := range vs {
		out[i] = viewerJSON{ID: v.ID, Watcher: v.Watcher, Watched: v.Watched, Since: v.Since.UTC().Format(time.RFC3339)}
	}
	return out
}

type roomJSON struct {
	Name         string        `json:"name"`
	Participants int           `json:"participants"`
	Persistent   bool          `json:"persistent"`
	Languages    []string      `json:"languages"`
	Settings     settingsJSON  `json:"settings"`
	Recording    recordingJSON `json:"recording"`
}

func fromRoomState(s room.RoomState) roomJSON {
	langs := s.Languages
	if langs == nil {
		langs = []string{}
	}
	return roomJSON{Name: s.Name, Participants: s.Participants, Persistent: s.Persistent, Languages: langs,
		Settings: fromSettings(s.Settings), Recording: fromRecording(s.Recording)}
}

type trackJSON struct {
	Source string `json:"source"`
	Kind   string `json:"kind"`
	Muted  bool   `json:"muted"`
}

type participantJSON struct {
	ID       string      `json:"id"`
	Identity string      `json:"identity"`
	Name     string      `json:"name"`
	Grants   []string    `json:"grants"`
	State    string      `json:"state"`
	Tracks   []trackJSON `json:"tracks"`
}

func fromParticipant(p room.ParticipantInfo) participantJSON {
	out := participantJSON{ID: p.ID, Identity: p.Identity, Name: p.Name, State: p.State,
		Grants: make([]string, len(p.Grants)), Tracks: make([]trackJSON, len(p.Tracks))}
	for i, g := range p.Grants {
		out.Grants[i] = string(g)
	}
	for i, t := range p.Tracks {
		out.Tracks[i] = trackJSON{Source: t.Source, Kind: t.Kind, Muted: t.Muted}
	}
	return out
}

func (a *API) listRooms(w http.ResponseWriter, r *http.Request) error {
	states, err := a.rooms.ListRooms(r.Context())
	if err != nil {
		return err
	}
	out := make([]roomJSON, len(states))
	for i, s := range states {
		out[i] = fromRoomState(s)
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": out})
	return nil
}

func (a *API) createRoom(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name     *string       `json:"name"`
		Settings *settingsJSON `json:"settings"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return badRequest("field \"name\" is required")
	}
	var s room.Settings
	if req.Settings != nil {
		s = toSettings(*req.Settings)
	}
	if err := a.rooms.CreateRoom(*req.Name, s); err != nil {
		return err
	}
	st, err := a.rooms.RoomState(r.Context(), *req.Name)
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"rooms/"+st.Name)
	writeJSON(w, http.StatusCreated, fromRoomState(st))
	return nil
}

func (a *API) getRoom(w http.ResponseWriter, r *http.Request) error {
	st, err := a.rooms.RoomState(r.Context(), r.PathValue("room"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, fromRoomState(st))
	return nil
}

func (a *API) updateRoom(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Settings *settingsPatch `json:"settings"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Settings == nil {
		return badRequest("field \"settings\" is required: the settings to change")
	}
	st, err := a.rooms.UpdateSettings(r.Context(), r.PathValue("room"), req.Settings.apply)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, fromRoomState(st))
	return nil
}

func (a *API) closeRoom(w http.ResponseWriter, r *http.Request) error {
	n, err := a.rooms.CloseRoom(r.Context(), r.PathValue("room"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"room": r.PathValue("room"), "removed": n})
	return nil
}

func (a *API) listParticipants(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.rooms.Participants(r.Context(), r.PathValue("room"))
	if err != nil {
		return err
	}
	out := make([]participantJSON, len(ps))
	for i, p := range ps {
		out[i] = fromParticipant(p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"participants": out})
	return nil
}

func (a *API) muteParticipant(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Source *string `json:"source"`
		Muted  *bool   `json:"muted"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Source == nil {
		return badRequest("field \"source\" is required: mic, camera, screen or screen-audio")
	}
	if req.Muted == nil {
		return badRequest("field \"muted\" is required: true or false")
	}
	p, err := a.rooms.MuteParticipant(r.Context(), r.PathValue("room"), r.PathValue("identity"), *req.Source, *req.Muted)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, fromParticipant(p))
	return nil
}

func (a *API) removeParticipant(w http.ResponseWriter, r *http.Request) error {
	ban, err := banParam(r)
	if err != nil {
		return err
	}
	if err := a.rooms.RemoveParticipant(r.Context(), r.PathValue("room"), r.PathValue("identity"), ban); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func banParam(r *http.Request) (bool, error) {
	v := r.URL.Query().Get("ban")
	if v == "" {
		return false, nil
	}
	ban, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("query parameter \"ban\" must be true or false, not %q", v)
	}
	return ban, nil
}

func (a *API) listViewers(w http.ResponseWriter, r *http.Request) error {
	vs, err := a.rooms.Viewers(r.Context(), r.PathValue("room"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"viewers": fromViewers(vs)})
	return nil
}

func (a *API) removeViewer(w http.ResponseWriter, r *http.Request) error {
	ban, err := banParam(r)
	if err != nil {
		return err
	}
	if err := a.rooms.RemoveViewer(r.Context(), r.PathValue("room"), r.PathValue("viewer"), ban); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) setGrants(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Grants *[]auth.Grant `json:"grants"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Grants == nil {
		return badRequest("field \"grants\" is required: the participant's grants from now on")
	}
	p, err := a.rooms.SetGrants(r.Context(), r.PathValue("room"), r.PathValue("identity"), *req.Grants)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, fromParticipant(p))
	return nil
}

func (a *API) startRecording(w http.ResponseWriter, r *http.Request) error {
	st, err := a.rooms.StartRecording(r.Context(), r.PathValue("room"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, fromRecording(st))
	return nil
}

func (a *API) stopRecording(w http.ResponseWriter, r *http.Request) error {
	st, err := a.rooms.StopRecording(r.Context(), r.PathValue("room"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, fromRecording(st))
	return nil
}
