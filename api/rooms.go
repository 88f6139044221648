package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/parleyhq/parley/adminclient"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/room"
)

// The wire shapes are adminclient's, which a test holds to openapi.json: the
// API answers with the types its client decodes.

// applySettings sets on s the settings in's fields give.
func applySettings(in *adminclient.SettingsInput, s *room.Settings) {
	if in.Languages != nil {
		s.Languages = *in.Languages
	}
	if in.MaxParticipants != nil {
		s.MaxParticipants = *in.MaxParticipants
	}
	if in.Record != nil {
		s.Record = *in.Record
	}
	if in.E2EERequired != nil {
		s.E2EERequired = *in.E2EERequired
	}
	if in.Codec != nil {
		s.Codec = *in.Codec
	}
}

func fromSettings(s room.Settings) adminclient.Settings {
	if s.Languages == nil {
		s.Languages = []string{}
	}
	return adminclient.Settings{Languages: s.Languages, MaxParticipants: s.MaxParticipants, Record: s.Record,
		E2EERequired: s.E2EERequired, Codec: s.Codec}
}

// fromRecording keeps whole seconds: the document's date-times have none.
func fromRecording(r room.RecordingState) adminclient.Recording {
	return adminclient.Recording{Active: r.Active, Record: r.Record, Since: r.Since.UTC().Truncate(time.Second)}
}

func fromRoomState(s room.RoomState) adminclient.Room {
	langs := s.Languages
	if langs == nil {
		langs = []string{}
	}
	return adminclient.Room{Name: s.Name, Participants: s.Participants, Persistent: s.Persistent, Languages: langs,
		Settings: fromSettings(s.Settings), Recording: fromRecording(s.Recording)}
}

func fromParticipant(p room.ParticipantInfo) adminclient.Participant {
	out := adminclient.Participant{ID: p.ID, Identity: p.Identity, Name: p.Name, State: p.State, Node: p.Node,
		Grants: make([]auth.Grant, len(p.Grants)), Tracks: make([]adminclient.Track, len(p.Tracks))}
	copy(out.Grants, p.Grants)
	for i, t := range p.Tracks {
		out.Tracks[i] = adminclient.Track{Source: t.Source, Kind: t.Kind, Muted: t.Muted}
	}
	return out
}

func (a *API) listRooms(w http.ResponseWriter, r *http.Request) error {
	states, err := a.rooms.ListRooms(r.Context())
	if err != nil {
		return err
	}
	out := adminclient.RoomList{Rooms: make([]adminclient.Room, len(states))}
	for i, s := range states {
		out.Rooms[i] = fromRoomState(s)
	}
	a.addRemote(&out)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) createRoom(w http.ResponseWriter, r *http.Request) error {
	// Pointers, to tell a field left out: adminclient.CreateRoomRequest's
	// cannot.
	var req struct {
		Name     *string                    `json:"name"`
		Settings *adminclient.SettingsInput `json:"settings"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return badRequest("field \"name\" is required")
	}
	var s room.Settings
	if req.Settings != nil {
		applySettings(req.Settings, &s)
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
	var req adminclient.UpdateRoomRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Settings == nil {
		return badRequest("field \"settings\" is required: the settings to change")
	}
	st, err := a.rooms.UpdateSettings(r.Context(), r.PathValue("room"), func(s *room.Settings) { applySettings(req.Settings, s) })
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
	writeJSON(w, http.StatusOK, adminclient.Closed{Room: r.PathValue("room"), Removed: n})
	return nil
}

func (a *API) listParticipants(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.rooms.Participants(r.Context(), r.PathValue("room"))
	if err != nil {
		return err
	}
	out := adminclient.ParticipantList{Participants: make([]adminclient.Participant, len(ps))}
	for i, p := range ps {
		out.Participants[i] = fromParticipant(p)
	}
	writeJSON(w, http.StatusOK, out)
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
	out := adminclient.ViewerList{Viewers: make([]adminclient.Viewer, len(vs))}
	for i, v := range vs {
		// Whole seconds, as the document's date-times.
		out.Viewers[i] = adminclient.Viewer{ID: v.ID, Watcher: v.Watcher, Watched: v.Watched, Since: v.Since.UTC().Truncate(time.Second)}
	}
	writeJSON(w, http.StatusOK, out)
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
