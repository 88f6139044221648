package room

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/sdpoffer"
	"github.com/parleyhq/parley/sfu"
	"github.com/parleyhq/parley/signal"
)

const (
	authSubscribe = auth.GrantSubscribe
	authPublish   = auth.GrantPublish
	authModerate  = auth.GrantModerate
)

// Participant is one joined client. Its fields other than the immutable ones
// are owned by the room's loop.
type Participant struct {
	room     *Room
	id       string
	identity string
	name     string
	grants   []auth.Grant
	sink     Sink
	peer     *sfu.Peer

	// Loop-owned.
	pubSources map[string]string         // pub mid -> source, as last declared
	tracks     map[string]*pubTrack      // published, by key
	subs       map[string]*sfu.Forwarder // forwarded to this participant, by track key
	muted      map[string]bool           // source -> muted by own choice or a moderator

	declares      []string       // languages this participant's token declares for the room
	interpTargets []string       // channels this interpreter may speak into
	channel       string         // channel this interpreter speaks into now
	channelSince  uint64         // when they moved there (room sequence)
	listening     string         // channel this participant hears
	chanFwd       *sfu.Forwarder // their interpretation track, once the room has languages

	key     string // Ed25519 public key (base64url) for countersigning the record
	leaving bool   // left cleanly; waiting for the last countersignature
	// leaveFor is the countersignature that lets a leaving participant go (recording.go).
	leaveFor leaveWait

	state     string    // StateActive or StateReconnecting
	resume    string    // secret that lets this participant's next connection take the seat
	resumeAsk string    // the secret this connection presented
	invite    string    // the invite this participant came through ("" for a personal token)
	expires   time.Time // when the participant's token expires
	tokenID   string    // the token's id (jti), for revocation
}

// Participant states.
const (
	StateActive       = "active"
	StateReconnecting = "reconnecting"
)

// resumeSeat makes p continue old's seat: same id and identity, same channel
// choices and mute state; its media comes anew.
func (p *Participant) resumeSeat(old *Participant) {
	p.id, p.identity = old.id, old.identity
	if p.invite != "" {
		p.name = old.name
	}
	p.listening = old.listening
	p.channel, p.channelSince = old.channel, old.channelSince
	for src, m := range old.muted {
		p.muted[src] = m
	}
}

func newParticipant(r *Room, c *auth.Claims, name, key, resume string, sink Sink) *Participant {
	p := &Participant{
		room: r, id: newID("PA_"), identity: c.Subject, name: cleanName(c.Name),
		grants: slices.Clone(c.Grants), sink: sink,
		pubSources: map[string]string{}, tracks: map[string]*pubTrack{},
		subs: map[string]*sfu.Forwarder{}, muted: map[string]bool{},
		listening: signal.Floor, key: key,
		state: StateActive, resume: newID(""), resumeAsk: resume,
		expires: time.Unix(c.ExpiresAt, 0), tokenID: c.ID,
	}
	if c.Has(auth.GrantModerate) {
		p.declares = slices.Clone(c.Languages)
	}
	if c.Has(auth.GrantInterpret) {
		p.interpTargets = c.InterpretTargets()
	}
	if c.Invite {
		p.invite = c.Subject
		// One invite admits many: each guest gets an identity of their own.
		p.identity = c.Subject + "-" + newID("")[:6]
		if n := cleanName(name); n != "" {
			p.name = n
		}
	}
	if p.name == "" {
		p.name = p.identity
	}
	p.peer = r.m.cfg.Engine.NewPeer(p.id, &peerEvents{p})
	return p
}

// cleanName is the one gate of display names, from a token or a join: it
// trims them and drops control characters and the bidirectional controls
// (embeddings and overrides U+202A-U+202E, isolates U+2066-U+2069, marks
// U+200E, U+200F and U+061C). Those would let a name run backwards or reorder
// the text shown after it, in the roster, in chat and in the record, and so
// pass for another participant's name.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r),
			r >= '\u202a' && r <= '\u202e',
			r >= '\u2066' && r <= '\u2069',
			r == '\u200e', r == '\u200f', r == '\u061c':
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// ID is the participant's session id.
func (p *Participant) ID() string { return p.id }

// Identity is the participant's identity in the room.
func (p *Participant) Identity() string { return p.identity }

// Room is the participant's room.
func (p *Participant) Room() *Room { return p.room }

func (p *Participant) can(g auth.Grant) bool { return slices.Contains(p.grants, g) }

func (p *Participant) ref() signal.Ref {
	return signal.Ref{ID: p.id, Identity: p.identity, Name: p.name}
}

// info describes p; loop only.
func (p *Participant) info() signal.Participant {
	gs := make([]string, len(p.grants))
	for i, g := range p.grants {
		gs[i] = string(g)
	}
	tracks := make([]signal.TrackInfo, 0, len(p.tracks))
	for _, t := range p.tracks {
		tracks = append(tracks, signal.TrackInfo{Mid: t.recv.Mid(), Source: t.source, Kind: t.kind, Muted: t.muted})
	}
	slices.SortFunc(tracks, func(a, b signal.TrackInfo) int { return strings.Compare(a.Mid, b.Mid) })
	info := signal.Participant{ID: p.id, Identity: p.identity, Name: p.name, Grants: gs, Tracks: tracks, State: p.state, Listening: p.listening, Key: p.key}
	if p.interpreter() {
		info.Interpreter = &signal.InterpreterInfo{Languages: slices.Clone(p.interpTargets), Channel: p.channel}
	}
	return info
}

// Handle processes one decoded client message (from signal.Decode). It is
// called by the participant's socket reader, never concurrently with itself.
func (p *Participant) Handle(msg any) {
	switch m := msg.(type) {
	case *signal.Candidate:
		if err := p.peer.AddCandidate(m.PC, m.Candidate); err != nil && err != sfu.ErrClosed {
			p.sink.Send(&signal.Error{Type: "error", Code: signal.CodeBadRequest, Message: "candidate rejected: " + err.Error(), Ref: "candidate"})
		}
	case *signal.Answer:
		if err := p.peer.SubAnswer(m.SDP); err != nil && err != sfu.ErrClosed {
			p.sink.Send(&signal.Error{Type: "error", Code: signal.CodeBadRequest, Message: err.Error(), Ref: "answer"})
		}
	case *signal.Ping:
		p.sink.Send(&signal.Pong{Type: "pong"})
	case *signal.Layout:
		// Media only: the peer re-chooses layers; the room has nothing to decide.
		sizes := make(map[string][2]int, len(m.Tracks))
		for mid, sz := range m.Tracks {
			sizes[mid] = [2]int{sz.Width, sz.Height}
		}
		p.peer.SetViewports(sizes)
	case *signal.Join:
		p.sink.Send(&signal.Error{Type: "error", Code: signal.CodeAlreadyJoined, Message: "this connection has already joined", Ref: "join"})
	default:
		p.room.box.post(func() { p.room.handle(p, msg) })
	}
}

// Leave removes the participant.
func (p *Participant) Leave(reason string) {
	p.room.box.post(func() { p.room.leave(p, reason) })
}

// Disconnected reports that the participant's connection ended without a
// leave: they keep their seat for a while, to come back.
func (p *Participant) Disconnected() {
	p.room.box.post(func() { p.room.disconnected(p) })
}

// handle runs a client request on the room loop.
func (r *Room) handle(p *Participant, msg any) {
	if r.participants[p.id] != p {
		return // already gone
	}
	switch m := msg.(type) {
	case *signal.Offer:
		r.pubOffer(p, m)
	case *signal.Mute:
		r.setMuted(p, m.Source, m.Muted, nil)
	case *signal.Listen:
		r.listen(p, m)
	case *signal.Interpret:
		r.interpret(p, m)
	case *signal.ChatSend:
		r.event(EventChat, p, map[string]string{"text": m.Text})
		r.broadcast(&signal.Chat{
			Type: "chat", ID: newID("CH_"), From: p.ref(), Text: m.Text,
			Time: r.m.cfg.Now().UTC().Format(time.RFC3339Nano),
		}, nil)
	case *signal.Moderate:
		r.moderate(p, m)
	case *signal.Record:
		r.record(p, m)
	case *signal.Countersign:
		r.countersign(p, m)
	case *signal.Leave:
		if !r.leaveRecorded(p) {
			r.leave(p, signal.ReasonLeft)
		}
	}
}

func (r *Room) pubOffer(p *Participant, m *signal.Offer) {
	offer, err := sdpoffer.Parse(m.SDP)
	if err != nil {
		p.sink.Send(&signal.Error{Type: "error", Code: signal.CodeBadRequest, Message: "the offer's SDP cannot be parsed: " + err.Error(), Ref: "offer"})
		return
	}
	sending := offer.SendingMids()
	if !p.can(authPublish) && (len(m.Tracks) > 0 || len(sending) > 0) {
		// An interpreter may publish a microphone (it feeds channels, never the floor).
		onlyMic := p.interpreter() && len(sending) <= len(m.Tracks)
		for _, src := range m.Tracks {
			onlyMic = onlyMic && src == signal.SourceMic
		}
		if !onlyMic {
			p.sink.Send(&signal.Error{Type: "error", Code: signal.CodeForbidden, Message: "your access token does not allow publishing", Ref: "offer"})
			return
		}
	}
	// Tracks the client no longer lists are unpublished.
	for _, t := range p.tracks {
		if _, still := m.Tracks[t.recv.Mid()]; !still {
			t.recv.Stop()
		}
	}
	p.pubSources = m.Tracks
	if err := p.peer.PubOffer(m.SDP); err != nil {
		p.sink.Send(&signal.Error{Type: "error", Code: signal.CodeBadRequest, Message: err.Error(), Ref: "offer"})
	}
}

// setMuted applies a mute change to p's source; by is the moderator, or nil
// when p changed its own state.
func (r *Room) setMuted(p *Participant, source string, muted bool, by *Participant) {
	p.muted[source] = muted
	for _, t := range p.tracks {
		if t.source == source {
			t.muted = muted
			t.recv.SetMuted(muted)
		}
	}
	data := map[string]string{"source": source, "muted": fmt.Sprint(muted)}
	if by != nil {
		p.sink.Send(&signal.Muted{Type: "muted", Source: source, By: by.ref()})
		data["by"] = by.identity
	}
	r.event(EventMute, p, data)
	r.broadcast(&signal.ParticipantEvent{Type: "participant-updated", Participant: p.info()}, nil)
	if p.interpreter() && source == signal.SourceMic {
		r.channelsChanged()
	}
}

func (r *Room) moderate(p *Participant, m *signal.Moderate) {
	if !p.can(authModerate) {
		p.sink.Send(&signal.Error{Type: "error", Code: signal.CodeForbidden, Message: "your access token does not allow moderating", Ref: "moderate"})
		return
	}
	if m.Action == "remove-viewer" {
		if !r.removeViewer(m.Target, m.Ban) {
			p.sink.Send(&signal.Error{Type: "error", Code: signal.CodeNotFound, Message: "no viewer " + m.Target + " in this room", Ref: "moderate"})
		}
		return
	}
	target := r.participants[m.Target]
	if target == nil {
		p.sink.Send(&signal.Error{Type: "error", Code: signal.CodeNotFound, Message: "no participant " + m.Target + " in this room", Ref: "moderate"})
		return
	}
	switch m.Action {
	case "mute":
		r.setMuted(target, m.Source, true, p)
	case "remove":
		if m.Ban {
			r.m.deny(r.name, target.tokenID, target.identity, target.invite == "")
		}
		r.endViewersOfParticipant(target, m.Ban)
		target.sink.Send(&signal.Removed{Type: "removed", By: p.ref()})
		r.leave(target, signal.ReasonRemoved)
	}
}

// peerEvents adapts the sfu's media callbacks to the room.
type peerEvents struct{ p *Participant }

func (e *peerEvents) Candidate(role string, c webrtc.ICECandidateInit) {
	e.p.sink.Send(signal.NewCandidate(role, c))
}

func (e *peerEvents) PubAnswer(sdp string) { e.p.sink.Send(signal.NewAnswer(sdp)) }

func (e *peerEvents) SubOffer(sdp string, labels map[string]string) {
	tracks := make(map[string]signal.SubTrack, len(labels))
	for mid, key := range labels {
		if v, ok := e.p.room.info.Load(key); ok {
			tracks[mid] = v.(signal.SubTrack)
		}
	}
	e.p.sink.Send(&signal.SubOffer{Type: "offer", PC: signal.PCSub, SDP: sdp, Tracks: tracks})
}

func (e *peerEvents) TrackStarted(r *sfu.Receiver) {
	p := e.p
	p.room.box.post(func() { p.room.trackStarted(p, r) })
}

func (e *peerEvents) TrackEnded(r *sfu.Receiver) {
	p := e.p
	p.room.box.post(func() { p.room.trackEnded(p, r) })
}

func (e *peerEvents) Failed(role string) {
	// Media is gone: end the signaling too, so the client reconnects and
	// takes its seat back with fresh connections.
	e.p.sink.Close()
}
