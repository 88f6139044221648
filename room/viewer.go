package room

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/sdpoffer"
	"github.com/parleyhq/parley/sfu"
)

// Viewers are players outside the meeting (WHEP) that watch one participant,
// named by identity: its camera (else its screen) and its microphone (else
// its screen audio). A viewer is not a participant: nobody in the room sees
// it, it sends nothing, and it follows the identity through publishing,
// unpublishing and reconnecting. It ends when the room closes.

// Viewer refusals.
var (
	ErrNoSubscribe = errors.New("the access token does not allow subscribing")
	// ErrBadOffer wraps every reason a player's offer cannot be answered.
	ErrBadOffer = sfu.ErrBadOffer
	// ErrViewerCodec: the player cannot decode what the participant sends.
	ErrViewerCodec = errors.New("the player does not accept the participant's codec")

	errViewerFailed = errors.New("the player's connection failed as it started")
)

// Viewer is one WHEP player.
type Viewer struct {
	room     *Room
	id       string
	identity string // who is watched
	// Who watches: revoking the token, or banning the holder of a personal
	// token, ends the viewer as it ends their participant.
	tokenID string
	watcher string
	invite  bool
	since   time.Time
	peer    *sfu.Peer
	ice     []ICEServer
	fwds    []*viewerFwd // fixed once the answer is made

	once sync.Once
	done chan struct{}
}

// viewerFwd is one stream of a viewer.
type viewerFwd struct {
	f    *sfu.Forwarder
	kind webrtc.RTPCodecType
	mime string // the codec the player was promised; other sources are not forwarded

	// Loop-owned.
	src    *sfu.Receiver
	misfit string // receiver id last refused for its codec, so it is logged once
}

// ID is the viewer's id (for logs).
func (v *Viewer) ID() string { return v.id }

// Identity is the participant the viewer watches.
func (v *Viewer) Identity() string { return v.identity }

// ICEServers are the viewer's ICE servers (TURN credentials end with its token).
func (v *Viewer) ICEServers() []ICEServer { return v.ice }

// Done is closed when the viewer ends: Close, its connection failed, or its
// room closed.
func (v *Viewer) Done() <-chan struct{} { return v.done }

// AddCandidate adds one of the player's ICE candidates (trickle ICE).
func (v *Viewer) AddCandidate(c webrtc.ICECandidateInit) error {
	return v.peer.AddCandidate(sfu.RoleSub, c)
}

// Watch answers a player's offer to watch identity in the claims' room. The
// room must be open; the identity need not be in it yet. The answer lists
// the server's candidates.
func (m *Manager) Watch(ctx context.Context, claims *auth.Claims, identity string, offer *sdpoffer.Offer) (*Viewer, string, error) {
	if !claims.Has(auth.GrantSubscribe) {
		return nil, "", ErrNoSubscribe
	}
	if m.bannedElsewhere(ctx, claims) {
		return nil, "", ErrRevoked
	}
	m.mu.Lock()
	if m.done {
		m.mu.Unlock()
		return nil, "", ErrShuttingDown
	}
	if m.deniedLocked(claims) {
		m.mu.Unlock()
		return nil, "", ErrRevoked
	}
	// Close waits for a Watch under way, so no peer outlives the engine.
	m.wg.Add(1)
	local := m.rooms[claims.Room] != nil
	m.mu.Unlock()
	defer m.wg.Done()
	if !local && m.cfg.Placement != nil {
		if err := m.cfg.Placement.Locate(ctx, claims.Room); err != nil {
			return nil, "", err
		}
	}

	offered := m.cfg.Engine.OfferedCodecs(offer)
	if len(offered) == 0 {
		return nil, "", fmt.Errorf("%w: it receives neither audio nor video", sfu.ErrBadOffer)
	}
	v := &Viewer{id: newID("VW_"), identity: identity, tokenID: claims.ID, watcher: claims.Subject,
		invite: claims.Invite, since: m.cfg.Now(), done: make(chan struct{})}
	var plan []sfu.ViewerTrack
	err := m.onLoop(ctx, claims.Room, func(r *Room) error {
		if r.e2eeRequired() {
			// The server cannot read end-to-end encrypted media; a player could not either.
			return ErrE2EERequired
		}
		v.room = r
		video, audio := r.watched(identity)
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			codecs, ok := offered[kind]
			if !ok {
				continue
			}
			src := video
			if kind == webrtc.RTPCodecTypeAudio {
				src = audio
			}
			c, err := r.viewerCodec(kind, codecs, src)
			if err != nil {
				return err
			}
			plan = append(plan, sfu.ViewerTrack{ID: v.id + "-" + kind.String(), Kind: kind, Codec: c, StreamID: identity, Label: identity + ":" + kind.String()})
		}
		if r.m.cfg.ICEServers != nil {
			v.ice = r.m.cfg.ICEServers(v.id, time.Unix(claims.ExpiresAt, 0))
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}

	// The answer is made off the loop: it waits for ICE gathering.
	v.peer = m.cfg.Engine.NewPeer(v.id, viewerEvents{v})
	answer, fwds, err := v.peer.AnswerViewer(ctx, offer.SDP, plan)
	if err != nil {
		_ = v.peer.Close()
		if m.cfg.SessionEnded != nil {
			m.cfg.SessionEnded(v.id) // its TURN credentials were handed out
		}
		return nil, "", err
	}
	for i, f := range fwds {
		v.fwds = append(v.fwds, &viewerFwd{f: f, kind: plan[i].Kind, mime: plan[i].Codec.MimeType})
	}
	r := v.room
	err = m.onLoop(ctx, claims.Room, func(now *Room) error {
		if now != r {
			return ErrNoRoom // closed and opened again meanwhile
		}
		select {
		case <-v.done:
			return errViewerFailed // its connection failed before it got here
		default:
		}
		r.viewers.add(v)
		r.follow(v)
		r.event(EventViewerStart, nil, v.eventData())
		r.viewersChanged()
		r.m.log.Info("viewer started", "room", r.name, "viewer", v.id, "identity", identity)
		return nil
	})
	if err != nil {
		v.Close() // after the registration, if it still runs
		return nil, "", err
	}
	return v, answer, nil
}

// Close ends the viewer and returns once it is ended (its media closes in the background).
func (v *Viewer) Close() {
	r := v.room
	if !r.box.post(func() { r.dropViewer(v) }) {
		// The room is gone: it ended the viewers it had; this one never got there.
		if v.stop() {
			if m := r.m; m.cfg.SessionEnded != nil {
				m.cfg.SessionEnded(v.id)
			}
			_ = v.peer.Close()
		}
	}
	<-v.done
}

// stop marks the viewer ended; true for the one caller that must close its peer.
func (v *Viewer) stop() bool {
	first := false
	v.once.Do(func() {
		first = true
		close(v.done)
	})
	return first
}

// dropViewer ends v; loop only.
func (r *Room) dropViewer(v *Viewer) {
	if r.viewers.remove(v) {
		r.event(EventViewerStop, nil, v.eventData())
		r.viewersChanged()
		r.m.log.Info("viewer ended", "room", r.name, "viewer", v.id)
	}
	r.endViewer(v)
}

// endViewersOfParticipant ends, with a removed participant, the viewers they
// opened: those of their personal token, and with a ban those of their token
// whatever it is (a banned invite is banned for all who hold it, as Join
// refuses them too); loop only.
func (r *Room) endViewersOfParticipant(p *Participant, ban bool) {
	personal := p.invite == ""
	tokenID := ""
	if ban || personal {
		tokenID = p.tokenID
	}
	r.endViewersOf(tokenID, p.identity, personal)
}

// removeViewer ends the viewer id (with ban, its token is revoked in this
// room too); false when there is no such viewer; loop only.
func (r *Room) removeViewer(id string, ban bool) bool {
	v := r.viewers.byID(id)
	if v == nil {
		return false
	}
	if ban {
		r.m.deny(r.name, v.tokenID, v.watcher, !v.invite)
		r.endViewersOf(v.tokenID, v.watcher, !v.invite)
	}
	r.m.log.Info("viewer removed", "room", r.name, "viewer", v.id, "ban", ban)
	r.dropViewer(v)
	return true
}

func (v *Viewer) eventData() map[string]string {
	return map[string]string{"viewer": v.id, "watcher": v.watcher, "watched": v.identity}
}

// endViewersOf ends the viewers opened with tokenID or, when personal, by
// the holder of a personal token for identity; loop only.
func (r *Room) endViewersOf(tokenID, identity string, personal bool) {
	for _, v := range r.viewers.openedBy(tokenID, identity, personal) {
		r.dropViewer(v)
	}
}

// viewersChanged tells the moderators who watches from outside; loop only.
func (r *Room) viewersChanged() {
	var vs []ViewerInfo // made once, and only when a moderator is there to see it
	for _, p := range r.participants {
		if p.can(auth.GrantModerate) {
			if vs == nil {
				vs = r.viewers.list()
			}
			p.client.Viewers(vs)
		}
	}
}

// endViewer stops v; its peer closes off the loop (closing waits on media).
func (r *Room) endViewer(v *Viewer) {
	if !v.stop() {
		return
	}
	if r.m.cfg.SessionEnded != nil {
		r.m.cfg.SessionEnded(v.id)
	}
	r.m.wg.Add(1)
	go func() {
		defer r.m.wg.Done()
		_ = v.peer.Close()
	}()
}

// endViewers ends every viewer of a closing room.
func (r *Room) endViewers() {
	for _, v := range r.viewers.all() {
		r.viewers.remove(v)
		r.endViewer(v)
	}
}

// watched finds what a viewer of identity is shown: the camera, else the
// screen; the microphone, else the screen's audio. An interpreter's
// microphone reaches others only through language channels.
func (r *Room) watched(identity string) (video, audio *pubTrack) {
	for _, t := range r.tracks {
		if t.owner.identity != identity || r.participants[t.owner.id] != t.owner {
			continue
		}
		switch t.source {
		case SourceCamera:
			video = t
		case SourceScreen:
			if video == nil || video.source != SourceCamera {
				video = t
			}
		case SourceMic:
			if !t.owner.interpreter() {
				audio = t
			}
		case SourceScreenAudio:
			if audio == nil || audio.source != SourceMic {
				audio = t
			}
		}
	}
	return video, audio
}

// viewerCodec chooses what a viewer's stream of kind carries, among the
// codecs the player accepts: what the participant sends now, else the room's
// preferred video codec, else Opus for audio, else the player's first choice.
func (r *Room) viewerCodec(kind webrtc.RTPCodecType, accepted []webrtc.RTPCodecParameters, src *pubTrack) (webrtc.RTPCodecParameters, error) {
	if len(accepted) == 0 {
		return webrtc.RTPCodecParameters{}, fmt.Errorf("%w: its %s section lists no codec this server sends", sfu.ErrBadOffer, kind)
	}
	find := func(mime string) (webrtc.RTPCodecParameters, bool) {
		for _, c := range accepted {
			if strings.EqualFold(c.MimeType, mime) {
				return c, true
			}
		}
		return webrtc.RTPCodecParameters{}, false
	}
	if src != nil {
		sent := src.recv.Codec()
		if _, ok := find(sent.MimeType); !ok {
			return webrtc.RTPCodecParameters{}, fmt.Errorf("%w: %s sends %s", ErrViewerCodec, src.owner.identity, sent.MimeType)
		}
		return sent, nil
	}
	want := webrtc.MimeTypeOpus
	if kind == webrtc.RTPCodecTypeVideo {
		want = "video/" + r.Settings().Codec
	}
	if c, ok := find(want); ok {
		return c, nil
	}
	return accepted[0], nil
}

// follow points v's streams at what its identity publishes now; loop only.
func (r *Room) follow(v *Viewer) {
	video, audio := r.watched(v.identity)
	for _, vf := range v.fwds {
		t := video
		if vf.kind == webrtc.RTPCodecTypeAudio {
			t = audio
		}
		var src *sfu.Receiver
		if t != nil {
			if strings.EqualFold(t.recv.Codec().MimeType, vf.mime) {
				src = t.recv
			} else if vf.misfit != t.recv.ID() {
				vf.misfit = t.recv.ID()
				r.m.log.Warn("viewer cannot receive a track: the player was promised another codec",
					"room", r.name, "viewer", v.id, "identity", v.identity, "codec", t.recv.Codec().MimeType, "promised", vf.mime)
			}
		}
		if src != vf.src {
			vf.src = src
			vf.f.SwitchTo(src)
			r.m.log.Debug("viewer follows", "room", r.name, "viewer", v.id, "kind", vf.kind.String(), "track", trackID(src))
		}
	}
}

// viewersFollow re-points the viewers of identity after its tracks changed; loop only.
func (r *Room) viewersFollow(identity string) {
	for _, v := range r.viewers.watching(identity) {
		r.follow(v)
	}
}

// viewerEvents adapts a viewer's media callbacks: it publishes nothing and
// its answer carries every candidate, so only a failure matters.
type viewerEvents struct{ v *Viewer }

func (viewerEvents) Candidate(string, webrtc.ICECandidateInit) {}
func (viewerEvents) PubAnswer(string)                          {}
func (viewerEvents) SubOffer(string, map[string]string)        {}
func (viewerEvents) TrackStarted(r *sfu.Receiver)              { r.Stop() }
func (viewerEvents) TrackEnded(*sfu.Receiver)                  {}

func (e viewerEvents) Failed(string) {
	v := e.v
	// A room that is gone has ended its viewers already.
	v.room.box.post(func() { v.room.dropViewer(v) })
}

func trackID(r *sfu.Receiver) string {
	if r == nil {
		return ""
	}
	return r.ID()
}
