package room

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/sdpoffer"
	"github.com/parleyhq/parley/sfu"
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
	client   Client
	peer     *sfu.Peer
	events   *peerEvents

	// Loop-owned.
	pubSources map[string]string         // pub mid -> source, as last declared
	tracks     map[string]*pubTrack      // published, by key
	subs       map[string]*sfu.Forwarder // forwarded to this participant, by track key
	muted      map[string]bool           // source -> muted by own choice or a moderator

	declares      []string       // languages this participant's token declares for the room
	interpTargets []string       // channels this interpreter may speak into
	chanFwd       *sfu.Forwarder // their interpretation track, once the room has languages

	key     string // Ed25519 public key (base64url) for countersigning the record
	e2ee    bool   // joined saying it encrypts end to end: takes part in the key exchange
	leaving bool   // left cleanly; waiting for the last countersignature
	// leaveFor is the countersignature that lets a leaving participant go (recording.go).
	leaveFor leaveWait

	state     string    // StateActive or StateReconnecting
	resume    string    // secret that lets this participant's next connection take the seat
	resumeAsk string    // the secret this connection presented
	invite    string    // the invite this participant came through ("" for a personal token)
	expires   time.Time // when the participant's token expires
	tokenID   string    // the token's id (jti), for revocation

	// span is the link to the node a remote participant sits on (span.go);
	// nil for this node's own. A remote participant has no peer: view is
	// how its node describes it.
	span *span
	view *ParticipantView
}

// Participant states.
const (
	StateActive       = "active"
	StateReconnecting = "reconnecting"
)

// resumeSeat makes p continue old's seat: same id and identity (so the same
// channel choices, which the router keeps by id) and mute state; its media
// comes anew.
func (p *Participant) resumeSeat(old *Participant) {
	p.id, p.identity = old.id, old.identity
	if p.invite != "" {
		p.name = old.name
	}
	for src, m := range old.muted {
		p.muted[src] = m
	}
}

func newParticipant(r *Room, req JoinRequest) *Participant {
	c := req.Claims
	p := &Participant{
		room: r, id: newID("PA_"), identity: c.Subject, name: cleanName(c.Name),
		grants: slices.Clone(c.Grants), client: req.Client,
		pubSources: map[string]string{}, tracks: map[string]*pubTrack{},
		subs: map[string]*sfu.Forwarder{}, muted: map[string]bool{},
		key:   req.Key,
		state: StateActive, resume: newID(""), resumeAsk: req.Resume,
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
		if n := cleanName(req.Name); n != "" {
			p.name = n
		}
	}
	if p.name == "" {
		p.name = p.identity
	}
	p.events = &peerEvents{p: p}
	p.peer = r.m.cfg.Engine.NewPeer(p.id, p.events)
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

func (p *Participant) ref() Ref {
	return Ref{ID: p.id, Identity: p.identity, Name: p.name}
}

// info describes p; loop only.
func (p *Participant) info() ParticipantView {
	if p.view != nil {
		v := *p.view
		v.State = p.state
		return v
	}
	tracks := make([]TrackInfo, 0, len(p.tracks))
	for _, t := range p.tracks {
		tracks = append(tracks, TrackInfo{Mid: t.recv.Mid(), Source: t.source, Kind: t.kind, Muted: t.muted})
	}
	slices.SortFunc(tracks, func(a, b TrackInfo) int { return strings.Compare(a.Mid, b.Mid) })
	info := ParticipantView{ID: p.id, Identity: p.identity, Name: p.name, Grants: slices.Clone(p.grants), Tracks: tracks, State: p.state, Listening: p.room.router.hears(p.id), Key: p.key}
	if p.interpreter() {
		info.Interpreter = &InterpreterView{Languages: slices.Clone(p.interpTargets), Channel: p.room.router.speaksInto(p.id)}
	}
	return info
}

// The Session side of a participant: what its client asks. Media requests
// go straight to the peer (it has its own lock); the rest run on the loop.

// Publish implements Session.
func (p *Participant) Publish(ctx context.Context, offer string, sources map[string]string) (string, error) {
	return ask(ctx, p, func(r *Room) (string, error) { return r.publish(p, offer, sources) })
}

// AddCandidate implements Session.
func (p *Participant) AddCandidate(role string, c webrtc.ICECandidateInit) error {
	if err := p.peer.AddCandidate(role, c); err != nil && !errors.Is(err, sfu.ErrClosed) {
		return refuse(ErrBadRequest, "%s", err.Error())
	}
	return nil
}

// Answer implements Session.
func (p *Participant) Answer(sdp string) error {
	if err := p.peer.SubAnswer(sdp); err != nil && !errors.Is(err, sfu.ErrClosed) {
		return refuse(ErrBadRequest, "%s", err.Error())
	}
	return nil
}

// Layout implements Session. Media only: the peer re-chooses layers; the
// room has nothing to decide.
func (p *Participant) Layout(sizes map[string]Viewport) {
	vs := make(map[string][2]int, len(sizes))
	for mid, sz := range sizes {
		vs[mid] = [2]int{sz.Width, sz.Height}
	}
	p.peer.SetViewports(vs)
}

// SetMuted implements Session.
func (p *Participant) SetMuted(ctx context.Context, source string, muted bool) error {
	return do(ctx, p, func(r *Room) error {
		if !ValidSource(source) {
			return refuse(ErrBadRequest, "mute source %s is not one of mic, camera, screen, screen-audio", quote(source))
		}
		r.setMuted(p, source, muted, nil)
		return nil
	})
}

// Listen implements Session.
func (p *Participant) Listen(ctx context.Context, channel string) error {
	return do(ctx, p, func(r *Room) error { return r.listen(p, channel) })
}

// Interpret implements Session.
func (p *Participant) Interpret(ctx context.Context, channel string) error {
	return do(ctx, p, func(r *Room) error { return r.interpret(p, channel) })
}

// Captions implements Session.
func (p *Participant) Captions(ctx context.Context, channel string) error {
	return do(ctx, p, func(r *Room) error { return r.setCaptions(p, channel) })
}

// Chat implements Session.
func (p *Participant) Chat(ctx context.Context, text string) error {
	return do(ctx, p, func(r *Room) error {
		r.event(EventChat, p, map[string]string{"text": text})
		m := ChatMessage{ID: newID("CH_"), From: p.ref(), Text: text, Time: r.m.cfg.Now()}
		r.tell(nil, func(c Client) { c.Chat(m) })
		if len(r.spans) > 0 {
			r.spanTell(SpanMessage{Kind: SpanChat, Chat: &m})
		}
		return nil
	})
}

// Moderate implements Session.
func (p *Participant) Moderate(ctx context.Context, m Moderation) error {
	return do(ctx, p, func(r *Room) error { return r.moderate(p, m) })
}

// Record implements Session.
func (p *Participant) Record(ctx context.Context, on bool) error {
	return do(ctx, p, func(r *Room) error { return r.record(p, on) })
}

// Countersign implements Session.
func (p *Participant) Countersign(ctx context.Context, record string, seq uint64, sig []byte) error {
	return do(ctx, p, func(r *Room) error { return r.countersign(p, record, seq, sig) })
}

// SendE2EE implements Session.
func (p *Participant) SendE2EE(ctx context.Context, to, data string) error {
	return do(ctx, p, func(r *Room) error { return r.relayE2EE(p, to, data) })
}

// Leave implements Session.
func (p *Participant) Leave() {
	r := p.room
	r.box.post(func() {
		if r.participants[p.id] == p && !r.leaveRecorded(p) {
			r.leave(p, ReasonLeft)
		}
	})
}

// Disconnected implements Session.
func (p *Participant) Disconnected() {
	p.room.box.post(func() { p.room.disconnected(p) })
}

// PubDescription returns the participant's "pub" answer once the server has
// gathered its ICE candidates, candidates included: for clients that do not
// trickle (WHIP answers carry them).
func (p *Participant) PubDescription(ctx context.Context) (string, error) {
	return p.peer.LocalDescription(ctx, sfu.RolePub)
}

// relayE2EE passes a key exchange message on, unread: to its addressee, or to
// everyone else, among participants that encrypt end to end. A client without
// a passphrase has no business in the exchange and gets nothing of it.
func (r *Room) relayE2EE(p *Participant, to, data string) error {
	if !p.e2ee {
		return refuse(ErrForbidden, "only clients that joined with \"e2ee\":true take part in the key exchange")
	}
	from := p.ref()
	if to != "" {
		q := r.participants[to]
		if q == nil || q == p || !q.e2ee {
			return refuse(ErrNotFound, "no end-to-end encrypted participant %q in the room", to)
		}
		if q.remote() {
			q.span.link.Send(SpanMessage{Kind: SpanE2EE, By: &from, To: to, Data: data})
			return nil
		}
		q.client.E2EE(from, data)
		return nil
	}
	for _, q := range r.participants {
		if q != p && q.e2ee && !q.remote() {
			q.client.E2EE(from, data)
		}
	}
	r.spanTell(SpanMessage{Kind: SpanE2EE, By: &from, Data: data})
	return nil
}

// publish applies p's offer; it returns the answer.
func (r *Room) publish(p *Participant, offer string, sources map[string]string) (string, error) {
	for mid, src := range sources {
		if !ValidSource(src) {
			return "", refuse(ErrBadRequest, "track %s: source %s is not one of mic, camera, screen, screen-audio", quote(mid), quote(src))
		}
	}
	parsed, err := sdpoffer.Parse(offer)
	if err != nil {
		return "", refuse(ErrBadRequest, "the offer's SDP cannot be parsed: %v", err)
	}
	sending := parsed.SendingMids()
	if !p.can(authPublish) && (len(sources) > 0 || len(sending) > 0) {
		// An interpreter may publish a microphone (it feeds channels, never the floor).
		onlyMic := p.interpreter() && len(sending) <= len(sources)
		for _, src := range sources {
			onlyMic = onlyMic && src == SourceMic
		}
		if !onlyMic {
			return "", refuse(ErrForbidden, "your access token does not allow publishing")
		}
	}
	// Tracks the client no longer lists are unpublished.
	for _, t := range p.tracks {
		if _, still := sources[t.recv.Mid()]; !still {
			t.recv.Stop()
		}
	}
	p.pubSources = sources
	if err := p.peer.PubOffer(offer); err != nil {
		return "", refuse(ErrBadRequest, "%s", err.Error())
	}
	return p.events.takeAnswer(), nil
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
		p.client.Muted(source, by.ref())
		data["by"] = by.identity
	}
	r.event(EventMute, p, data)
	r.participantChanged(p)
	if p.interpreter() && source == SourceMic {
		r.channelsChanged()
	}
}

func (r *Room) moderate(p *Participant, m Moderation) error {
	if !p.can(authModerate) {
		return refuse(ErrForbidden, "your access token does not allow moderating")
	}
	if m.Action == ModerateRemoveViewer {
		if !r.removeViewer(m.Target, m.Ban) {
			return refuse(ErrNotFound, "no viewer %s in this room", m.Target)
		}
		return nil
	}
	target := r.participants[m.Target]
	if target == nil {
		return refuse(ErrNotFound, "no participant %s in this room", m.Target)
	}
	if target.remote() {
		if m.Action != ModerateMute && m.Action != ModerateRemove {
			return refuse(ErrBadRequest, "moderate action %s is not mute, remove or remove-viewer", quote(m.Action))
		}
		if m.Action == ModerateMute && !ValidSource(m.Source) {
			return refuse(ErrBadRequest, "moderate mute needs a source: mic, camera, screen or screen-audio")
		}
		// Their node applies it, and tells everyone.
		by, mod := p.ref(), m
		target.span.link.Send(SpanMessage{Kind: SpanModerate, By: &by, Moderation: &mod})
		return nil
	}
	switch m.Action {
	case ModerateMute:
		if !ValidSource(m.Source) {
			return refuse(ErrBadRequest, "moderate mute needs a source: mic, camera, screen or screen-audio")
		}
		r.setMuted(target, m.Source, true, p)
	case ModerateRemove:
		if m.Ban {
			r.m.deny(r.name, target.tokenID, target.identity, target.invite == "")
		}
		r.endViewersOfParticipant(target, m.Ban)
		target.client.Removed(p.ref())
		r.leave(target, ReasonRemoved)
	default:
		return refuse(ErrBadRequest, "moderate action %s is not mute, remove or remove-viewer", quote(m.Action))
	}
	return nil
}

// peerEvents adapts the sfu's media callbacks to the room. They come from
// pion's goroutines: whatever reaches the client goes through the loop.
type peerEvents struct {
	p *Participant

	mu     sync.Mutex
	answer string // the last "pub" answer, until publish takes it
}

// post runs fn on the loop while p is in the room.
func (e *peerEvents) post(fn func()) {
	p := e.p
	p.room.box.post(func() {
		if p.room.participants[p.id] == p {
			fn()
		}
	})
}

func (e *peerEvents) Candidate(role string, c webrtc.ICECandidateInit) {
	e.post(func() { e.p.client.Candidate(role, c) })
}

// PubAnswer runs inside PubOffer, which only publish calls, on the loop.
func (e *peerEvents) PubAnswer(sdp string) {
	e.mu.Lock()
	e.answer = sdp
	e.mu.Unlock()
}

func (e *peerEvents) takeAnswer() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.answer
	e.answer = ""
	return a
}

func (e *peerEvents) SubOffer(sdp string, labels map[string]string) {
	// Owners are looked up now, as the offer is made: a track dropped
	// before the loop delivers it is still named in the offer.
	tracks := make(map[string]SubTrack, len(labels))
	for mid, key := range labels {
		if v, ok := e.p.room.info.Load(key); ok {
			tracks[mid] = v.(SubTrack)
		}
	}
	e.post(func() { e.p.client.SubOffer(sdp, tracks) })
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
	e.post(func() { e.p.client.Close(ReasonDisconnected) })
}
