package room

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/parleyhq/parley/auth"
)

// The operator's powers over rooms (the admin API drives these). Each runs on
// the room's loop, like a participant's request, and waits for it.

// Errors of the operator's requests.
var (
	ErrRoomExists      = errors.New("a room of that name is open already")
	ErrNoRoom          = errors.New("no such room is open")
	ErrNoParticipant   = errors.New("no such participant in the room")
	ErrInvalidRoom     = errors.New("invalid room name")
	ErrInvalidGrants   = errors.New("invalid grants")
	ErrE2EERequired    = errors.New("the room admits only end-to-end encrypted clients")
	ErrRecording       = errors.New("the room is recording already")
	ErrNotRecording    = errors.New("the room is not recording")
	ErrRecordingFailed = errors.New("the server could not start recording")
	ErrRoomEmpty       = errors.New("nobody is in the room: there is no meeting to record")
	ErrInvalidSource   = errors.New("invalid source")
)

// Event types of the operator's changes (the record and webhooks see them).
const (
	EventSettings = "settings" // the operator changed the room's settings
	EventGrants   = "grants"   // the operator changed a participant's grants
)

// operatorRef names the operator to clients (in muted and removed): no
// participant has an empty id.
var operatorRef = Ref{Name: "Operator"}

// byOperator marks the operator in event data; parentheses are outside the
// identity alphabet, so no participant can be mistaken for the operator.
const byOperator = "(operator)"

// CreateRoom opens a room with settings before anyone joins. It stays open
// while empty, until CloseRoom (or the node shuts down).
func (m *Manager) CreateRoom(name string, s Settings) error {
	if err := auth.ValidRoom(name); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidRoom, err)
	}
	if err := s.Validate(); err != nil {
		return err
	}
	if _, err := m.place(context.Background(), name, true); err != nil {
		return err
	}
	if err := m.openRoom(name, s); err != nil {
		return err
	}
	if m.cfg.Settings != nil {
		// The operator hears "created" once a part opening on another node
		// would enforce these settings (the room's loop saves them too, but
		// nobody waits for that).
		<-m.cfg.Settings.Save(name, s)
	}
	m.log.Info("room created by the operator", "room", name)
	return nil
}

func (m *Manager) openRoom(name string, s Settings) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.done:
		return ErrShuttingDown
	case m.rooms[name] != nil:
		return fmt.Errorf("%w: %s", ErrRoomExists, name)
	case m.cfg.MaxRooms > 0 && len(m.rooms) >= m.cfg.MaxRooms:
		return ErrServerFull
	}
	r := newRoom(m, name)
	r.persist = true
	r.setSettings(s)
	r.addLanguages(s.Languages)
	m.rooms[name] = r
	m.wg.Add(1)
	go r.run()
	return nil
}

// RoomState describes one open room.
func (m *Manager) RoomState(ctx context.Context, name string) (RoomState, error) {
	var st RoomState
	err := m.onLoop(ctx, name, func(r *Room) error {
		st = r.state()
		return nil
	})
	if err != nil {
		return RoomState{}, err
	}
	return st, nil
}

// ListRooms describes every open room, sorted by name. Rooms that close while
// they are asked are left out.
func (m *Manager) ListRooms(ctx context.Context) ([]RoomState, error) {
	m.mu.Lock()
	names := make([]string, 0, len(m.rooms))
	for name := range m.rooms {
		names = append(names, name)
	}
	m.mu.Unlock()
	slices.Sort(names)
	out := make([]RoomState, 0, len(names))
	for _, name := range names {
		st, err := m.RoomState(ctx, name)
		switch {
		case errors.Is(err, ErrNoRoom):
		case err != nil:
			return nil, err
		default:
			out = append(out, st)
		}
	}
	return out, nil
}

// RoomSettings returns an open room's settings.
func (m *Manager) RoomSettings(name string) (Settings, error) {
	m.mu.Lock()
	r := m.rooms[name]
	m.mu.Unlock()
	if r == nil {
		return Settings{}, ErrNoRoom
	}
	return r.Settings(), nil
}

// UpdateSettings applies change to a room's settings on its loop (so two
// updates never lose one another) and puts the result into effect: new
// languages open channels, record starts a record if people are in the room,
// and clients hear of the new room info. Limits apply to joins from now on;
// nobody is removed. An invalid result changes nothing.
func (m *Manager) UpdateSettings(ctx context.Context, name string, change func(*Settings)) (RoomState, error) {
	var st RoomState
	err := m.onLoop(ctx, name, func(r *Room) error {
		old := r.Settings()
		s := r.Settings()
		change(&s)
		if err := s.Validate(); err != nil {
			return err
		}
		r.setSettings(s)
		if r.addLanguages(s.Languages) {
			for _, p := range r.participants {
				r.ensureChannelTrack(p)
			}
			r.route()
		}
		if s.Record && !old.Record && r.rec == nil && r.owner() && len(r.participants) > 0 {
			_ = r.startRecording(nil, nil) // a failure is logged; the settings stand
		}
		r.event(EventSettings, nil, settingsData(s))
		r.roomChanged(nil)
		r.shareSettings()
		st = r.state()
		return nil
	})
	if err != nil {
		return RoomState{}, err
	}
	return st, nil
}

func settingsData(s Settings) map[string]string {
	return map[string]string{
		"by":               byOperator,
		"languages":        strings.Join(s.Languages, ","),
		"max_participants": strconv.Itoa(s.MaxParticipants),
		"record":           strconv.FormatBool(s.Record),
		"e2ee_required":    strconv.FormatBool(s.E2EERequired),
		"codec":            s.Codec,
	}
}

// CloseRoom ends a meeting: everyone is removed (told "removed" by the
// operator), on every node of a room that spans nodes; its record is sealed,
// and the room closes as soon as its loop is idle. A join racing the close
// starts the room anew.
func (m *Manager) CloseRoom(ctx context.Context, name string) (removed int, err error) {
	err = m.onLoop(ctx, name, func(r *Room) error {
		r.persist = false
		for _, p := range r.participants {
			removed++
			if p.remote() {
				r.operateRemote(p, Operation{Action: ModerateRemove}) // their node removes them and tells us
				continue
			}
			p.client.Removed(operatorRef)
			r.leave(p, ReasonRemoved)
		}
		r.stopRecording(nil)
		r.m.log.Info("room closed by the operator", "room", r.name, "removed", removed)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return removed, nil
}

// Participants lists a room's participants, sorted by identity.
func (m *Manager) Participants(ctx context.Context, room string) ([]ParticipantInfo, error) {
	var out []ParticipantInfo
	err := m.onLoop(ctx, room, func(r *Room) error {
		out = make([]ParticipantInfo, 0, len(r.participants))
		for _, p := range r.participants {
			out = append(out, p.adminInfo())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b ParticipantInfo) int { return strings.Compare(a.Identity, b.Identity) })
	return out, nil
}

// MuteParticipant mutes (or unmutes) one source of a participant, named by
// identity or id. A muted participant is told "muted" by the operator; an
// unmute only lifts the server's hold (the client unmutes itself).
func (m *Manager) MuteParticipant(ctx context.Context, room, who, source string, muted bool) (ParticipantInfo, error) {
	if !ValidSource(source) {
		return ParticipantInfo{}, fmt.Errorf("%w: %q is not one of mic, camera, screen, screen-audio", ErrInvalidSource, source)
	}
	var info ParticipantInfo
	err := m.onParticipant(ctx, room, who, func(r *Room, p *Participant) error {
		if p.remote() {
			info = r.operateRemote(p, Operation{Action: ModerateMute, Source: source, Muted: muted})
			return nil
		}
		r.operatorMute(p, source, muted)
		info = p.adminInfo()
		return nil
	})
	if err != nil {
		return ParticipantInfo{}, err
	}
	return info, nil
}

// operatorMute applies an operator's mute to a participant of this node.
func (r *Room) operatorMute(p *Participant, source string, muted bool) {
	p.muted[source] = muted
	for _, t := range p.tracks {
		if t.source == source {
			t.muted = muted
			t.recv.SetMuted(muted)
		}
	}
	if muted {
		p.client.Muted(source, operatorRef)
	}
	r.event(EventMute, p, map[string]string{"source": source, "muted": strconv.FormatBool(muted), "by": byOperator})
	r.participantChanged(p)
	if p.interpreter() && source == SourceMic {
		r.channelsChanged()
	}
}

// RemoveParticipant removes a participant (told "removed" by the operator);
// ban also denies their token (and, for a personal token, their identity) in
// this room for as long as the node runs, as a moderator's ban does.
func (m *Manager) RemoveParticipant(ctx context.Context, room, who string, ban bool) error {
	return m.onParticipant(ctx, room, who, func(r *Room, p *Participant) error {
		if p.remote() {
			r.operateRemote(p, Operation{Action: ModerateRemove, Ban: ban})
			return nil
		}
		r.operatorRemove(p, ban)
		return nil
	})
}

// operatorRemove applies an operator's removal to a participant of this node.
func (r *Room) operatorRemove(p *Participant, ban bool) {
	if ban {
		r.m.deny(r.name, p.tokenID, p.identity, p.invite == "")
	}
	r.endViewersOfParticipant(p, ban)
	p.client.Removed(operatorRef)
	r.leave(p, ReasonRemoved)
}

// ErrNoViewer: no viewer of that id in the room.
var ErrNoViewer = errors.New("no such viewer in this room")

// Viewers lists the room's WHEP viewers (for operators).
func (m *Manager) Viewers(ctx context.Context, room string) ([]ViewerInfo, error) {
	var out []ViewerInfo
	err := m.onLoop(ctx, room, func(r *Room) error {
		out = r.viewers.list()
		return nil
	})
	return out, err
}

// RemoveViewer ends a WHEP viewer; ban also revokes the token it was opened
// with in this room (and, for a personal token, its holder's identity).
func (m *Manager) RemoveViewer(ctx context.Context, room, id string, ban bool) error {
	return m.onLoop(ctx, room, func(r *Room) error {
		if !r.removeViewer(id, ban) {
			return ErrNoViewer
		}
		return nil
	})
}

// ValidGrants checks grants a participant may be given: known room grants,
// join among them, none twice.
func ValidGrants(grants []auth.Grant) error {
	for i, g := range grants {
		if !slices.Contains(auth.AllGrants, g) {
			return fmt.Errorf("%w: %q is not one of join, publish, subscribe, moderate, interpret, record, readout", ErrInvalidGrants, g)
		}
		if slices.Index(grants, g) != i {
			return fmt.Errorf("%w: %q is listed twice", ErrInvalidGrants, g)
		}
	}
	if !slices.Contains(grants, auth.GrantJoin) {
		return fmt.Errorf("%w: join must stay (remove the participant instead)", ErrInvalidGrants)
	}
	return nil
}

// SetGrants replaces a participant's grants for the rest of their session and
// enforces the change at once: without publish their tracks stop (an
// interpreter keeps the microphone), without subscribe nothing more is
// forwarded to them; with subscribe they receive the room's tracks. Everyone,
// the participant included, gets participant-updated. A reconnection with the
// same token gets the token's grants again.
func (m *Manager) SetGrants(ctx context.Context, room, who string, grants []auth.Grant) (ParticipantInfo, error) {
	if err := ValidGrants(grants); err != nil {
		return ParticipantInfo{}, err
	}
	var info ParticipantInfo
	err := m.onParticipant(ctx, room, who, func(r *Room, p *Participant) error {
		if p.remote() {
			info = r.operateRemote(p, Operation{Action: OperateGrants, Grants: slices.Clone(grants)})
			return nil
		}
		r.operatorGrants(p, grants)
		info = p.adminInfo()
		return nil
	})
	if err != nil {
		return ParticipantInfo{}, err
	}
	return info, nil
}

// operatorGrants applies an operator's new grants to a participant of this
// node.
func (r *Room) operatorGrants(p *Participant, grants []auth.Grant) {
	wasInterpreter := p.interpreter()
	p.grants = slices.Clone(grants)
	r.enforcePublish(p)
	r.enforceSubscribe(p)
	if !p.can(auth.GrantSubscribe) {
		r.endViewersOfParticipant(p, false) // their WHEP players lose what their token no longer allows
	}
	if p.interpreter() != wasInterpreter {
		// Their microphone moves between the floor and the channels.
		for _, t := range p.tracks {
			r.resubscribeAll(t)
		}
		r.channelsChanged()
	}
	gs := make([]string, len(grants))
	for i, g := range grants {
		gs[i] = string(g)
	}
	r.event(EventGrants, p, map[string]string{"grants": strings.Join(gs, ","), "by": byOperator})
	r.participantChanged(p)
}

// StartRecording starts the room's record, as a participant with the record
// grant can; it reports the record begun. An empty room has nothing to record.
func (m *Manager) StartRecording(ctx context.Context, room string) (RecordingState, error) {
	var st RecordingState
	err := m.onLoop(ctx, room, func(r *Room) error {
		if r.rec != nil {
			st = r.state().Recording
			return ErrRecording
		}
		if len(r.participants) == 0 {
			// The record would be sealed as soon as it began: a record
			// covers one meeting, and an empty room ends it.
			return ErrRoomEmpty
		}
		if !r.owner() {
			// Another node keeps this room's record: it starts it there.
			r.spanTell(SpanMessage{Kind: SpanRecord, On: true})
			st = RecordingState{Active: true, Since: r.m.cfg.Now()}
			return nil
		}
		if err := r.startRecording(nil, nil); err != nil || r.rec == nil {
			return ErrRecordingFailed
		}
		st = r.state().Recording
		return nil
	})
	if err != nil {
		return RecordingState{}, err
	}
	return st, nil
}

// StopRecording seals the room's record; it reports the record sealed.
func (m *Manager) StopRecording(ctx context.Context, room string) (RecordingState, error) {
	var st RecordingState
	err := m.onLoop(ctx, room, func(r *Room) error {
		if r.rec == nil {
			return ErrNotRecording
		}
		st = RecordingState{Record: r.rec.rec.ID(), Since: r.rec.since}
		r.stopRecording(nil)
		return nil
	})
	if err != nil {
		return RecordingState{}, err
	}
	return st, nil
}

// onLoop runs fn on the named room's loop and waits for its answer, or for
// ctx (fn still runs then; its answer is dropped). An unknown room is named
// in the error. After an error, callers must not read what fn writes: it may
// still be running.
func (m *Manager) onLoop(ctx context.Context, name string, fn func(r *Room) error) error {
	err := m.runOnLoop(ctx, name, fn)
	if errors.Is(err, ErrNoRoom) {
		return fmt.Errorf("%w: %s", ErrNoRoom, name)
	}
	return err
}

func (m *Manager) runOnLoop(ctx context.Context, name string, fn func(r *Room) error) error {
	m.mu.Lock()
	r := m.rooms[name]
	m.mu.Unlock()
	if r == nil {
		return ErrNoRoom
	}
	res := make(chan error, 1)
	posted := r.box.post(func() {
		if r.ended() {
			// Run by a closing room with the Manager's lock held: the room
			// is gone, and fn must not take that lock.
			res <- ErrNoRoom
			return
		}
		res <- fn(r)
	})
	if !posted {
		return ErrNoRoom
	}
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// onParticipant is onLoop for a participant named by identity or id.
func (m *Manager) onParticipant(ctx context.Context, room, who string, fn func(r *Room, p *Participant) error) error {
	return m.onLoop(ctx, room, func(r *Room) error {
		p := r.find(who)
		if p == nil {
			return fmt.Errorf("%w: %s", ErrNoParticipant, who)
		}
		return fn(r, p)
	})
}

// find looks a participant up by identity, then by id; loop only.
func (r *Room) find(who string) *Participant {
	for _, p := range r.participants {
		if p.identity == who {
			return p
		}
	}
	return r.participants[who]
}

// ended reports whether the room's mailbox is closed: the room is gone.
func (r *Room) ended() bool {
	r.box.mu.Lock()
	defer r.box.mu.Unlock()
	return r.box.closed
}

// admit runs a join on the loop after the room's own admission rules.
func (r *Room) admit(p *Participant, e2ee bool) error {
	if r.e2eeRequired() && !e2ee {
		r.m.mu.Lock()
		r.joining-- // join, which would count it, does not run
		r.m.mu.Unlock()
		return ErrE2EERequired
	}
	p.e2ee = e2ee
	return r.join(p)
}

// state describes the room; loop only.
func (r *Room) state() RoomState {
	st := RoomState{Name: r.name, Participants: len(r.participants), Settings: r.Settings(),
		Languages: slices.Clone(r.languages), Persistent: r.persist}
	if r.rec != nil {
		st.Recording = r.rec.state()
	}
	return st
}

// adminInfo describes p to the operator; loop only.
func (p *Participant) adminInfo() ParticipantInfo {
	info := ParticipantInfo{ID: p.id, Identity: p.identity, Name: p.name, Grants: slices.Clone(p.grants),
		State: p.state, Tracks: make([]TrackInfo, 0, len(p.tracks))}
	if p.remote() {
		info.Node = p.span.node
	}
	for _, t := range p.tracks {
		info.Tracks = append(info.Tracks, TrackInfo{Mid: t.recv.Mid(), Source: t.source, Kind: t.kind, Muted: t.muted})
	}
	slices.SortFunc(info.Tracks, func(a, b TrackInfo) int { return strings.Compare(a.Source, b.Source) })
	return info
}

// mayPublish says whether p's grants let it send source: publish, or an
// interpreter's microphone.
func (p *Participant) mayPublish(source string) bool {
	return p.can(authPublish) || (p.interpreter() && source == SourceMic)
}

// enforcePublish stops what p may no longer send; a track it sends again on
// a mid it declared is stopped on arrival (the declaration is forgotten).
func (r *Room) enforcePublish(p *Participant) {
	for key, t := range p.tracks {
		if !p.mayPublish(t.source) {
			r.dropTrack(key)
			t.recv.Stop()
		}
	}
	for mid, src := range p.pubSources {
		if !p.mayPublish(src) {
			delete(p.pubSources, mid)
		}
	}
}

// enforceSubscribe makes what p receives match its subscribe grant.
func (r *Room) enforceSubscribe(p *Participant) {
	if p.can(authSubscribe) {
		for _, t := range r.tracks {
			r.subscribe(p, t)
		}
		r.ensureChannelTrack(p)
		return
	}
	for key, f := range p.subs {
		delete(p.subs, key)
		if err := p.peer.Unsubscribe(f); err != nil {
			r.m.log.Debug("unsubscribe", "participant", p.id, "err", err)
		}
	}
	if p.chanFwd != nil {
		if err := p.peer.Unsubscribe(p.chanFwd); err != nil {
			r.m.log.Debug("unsubscribe", "participant", p.id, "err", err)
		}
		p.chanFwd = nil
		r.info.Delete("channel:" + p.id)
	}
	r.router.listen(p.id, Floor)
}

// resubscribeAll makes who receives t match the routing rules again, after
// its owner's role changed.
func (r *Room) resubscribeAll(t *pubTrack) {
	floorless := t.owner.interpreter() && t.source == SourceMic
	for _, o := range r.participants {
		if f, ok := o.subs[t.key]; ok && floorless {
			delete(o.subs, t.key)
			if err := o.peer.Unsubscribe(f); err != nil {
				r.m.log.Debug("unsubscribe", "participant", o.id, "err", err)
			}
			continue
		}
		r.subscribe(o, t)
	}
}
