package room

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/sfu"
)

// Rooms that span nodes. When a room's participants sit on several nodes of a
// cluster, each node holds a part of the room: its own participants, with
// their connections, and the others as remote participants. Every two parts
// are joined by a link (SpanLink, carried by the span package): each part
// tells the other about its own participants (who they are, what they do)
// and forwards each of their published tracks once, over one relay peer per
// link; the receiving part fans them out to its own participants. A part
// never passes on what it received from another part: the links form a full
// mesh, so every track crosses to every other node exactly once.
//
// Each part decides for its own participants, as a room on one node does
// (subscriptions, simulcast layers, interpretation routing, keyframe
// requests); what concerns a remote participant (a moderator muting or
// removing them) is sent to its part. A link that breaks leaves the other
// part's participants reconnecting for the grace: if their node died, they
// come back through another node and take their seats again there.

// SpanLink carries one part's messages to the same room's part on another
// node, in order.
type SpanLink interface {
	// Send queues m; it never blocks (a link that cannot keep up ends).
	Send(m SpanMessage)
	// Close ends the link.
	Close()
}

// Kinds of SpanMessage.
const (
	SpanParticipant = "participant" // Participant: one of the sender's own participants, as it is now
	SpanLeft        = "left"        // ID left, for Reason
	SpanOffer       = "offer"       // SDP: the sender's relay offer; Tracks names each mid's owner
	SpanAnswer      = "answer"      // SDP: the answer to the receiver's offer
	SpanCandidate   = "candidate"   // Role (the sender's), Candidate
	SpanChat        = "chat"        // Chat from one of the sender's participants
	SpanModerate    = "moderate"    // By asks Moderation of one of the receiver's participants
	SpanLanguages   = "languages"   // the sender's part declares Languages
	SpanE2EE        = "e2ee"        // By passes Data to To ("" for all) of the receiver's e2ee participants
)

// SpanMessage is one message between two parts of a room. Kind says which
// fields it uses.
type SpanMessage struct {
	Kind        string
	Participant *SpanPeer                `json:",omitempty"`
	ID          string                   `json:",omitempty"`
	Reason      string                   `json:",omitempty"`
	SDP         string                   `json:",omitempty"`
	Tracks      map[string]SubTrack      `json:",omitempty"`
	Role        string                   `json:",omitempty"`
	Candidate   *webrtc.ICECandidateInit `json:",omitempty"`
	Chat        *ChatMessage             `json:",omitempty"`
	By          *Ref                     `json:",omitempty"`
	Moderation  *Moderation              `json:",omitempty"`
	Languages   []string                 `json:",omitempty"`
	To          string                   `json:",omitempty"`
	Data        string                   `json:",omitempty"`
	Event       *Event                   `json:",omitempty"`
	Recording   *RecordingState          `json:",omitempty"`
	Checkpoint  *CheckpointInfo          `json:",omitempty"`
	On          bool                     `json:",omitempty"`
	Sig         []byte                   `json:",omitempty"`
	Settings    *Settings                `json:",omitempty"`
	Operation   *Operation               `json:",omitempty"`
	Caption     *Caption                 `json:",omitempty"`
}

// SpanPeer is a participant as its own part describes it to the others.
type SpanPeer struct {
	View ParticipantView
	E2EE bool `json:",omitempty"`
	// Resume is a hash of the seat's resume secret: a guest whose node died
	// takes their seat back through another node with the secret, which
	// itself never leaves the node that issued it.
	Resume string
	Invite string `json:",omitempty"`
	// Captions is the channel whose captions they chose (CaptionsAuto: what
	// they listen to): a speaker's node captions, and machine translates,
	// for the participants of every part.
	Captions string `json:",omitempty"`
}

// ErrNoPart refuses a link to a room that has no part on this node.
var ErrNoPart = errors.New("the room has no part on this node")

// Span is this part's end of one link.
type Span struct {
	r *Room
	s *span
}

// span is a link as the room keeps it; loop-owned but for peer and answer.
type span struct {
	node string
	link SpanLink
	peer *sfu.Peer
	subs map[string]*sfu.Forwarder // own tracks sent there, by key
	mids map[string]SubTrack       // the other part's relay mids -> owner

	mu     sync.Mutex
	answer string
}

// AttachSpan joins this node's part of room to the part on node through
// link; what arrives on the link goes to the returned Span.
func (m *Manager) AttachSpan(room, node string, link SpanLink) (*Span, error) {
	m.mu.Lock()
	r := m.rooms[room]
	done := m.done
	m.mu.Unlock()
	if r == nil || done {
		return nil, ErrNoPart
	}
	s := &span{node: node, link: link, subs: map[string]*sfu.Forwarder{}, mids: map[string]SubTrack{}}
	h := &Span{r: r, s: s}
	s.peer = m.cfg.Engine.NewRelayPeer("span-"+node, spanEvents{h})
	if !r.box.post(func() { r.attachSpan(s) }) {
		_ = s.peer.Close()
		return nil, ErrNoPart
	}
	return h, nil
}

// Receive hands the room one message from the link. Any goroutine.
func (h *Span) Receive(msg SpanMessage) {
	h.r.box.post(func() {
		if h.r.spans[h.s.node] == h.s {
			h.r.spanMessage(h.s, msg)
		}
	})
}

// Closed reports that the link ended. Any goroutine.
func (h *Span) Closed() {
	h.r.box.post(func() { h.r.spanClosed(h.s) })
}

// remote reports whether p sits on another node.
func (p *Participant) remote() bool { return p.span != nil }

// resumes reports whether secret takes back p's seat; a remote seat is
// known by the secret's hash only.
func (p *Participant) resumes(secret string) bool {
	if p.remote() {
		sum := sha256.Sum256([]byte(secret))
		return p.resume == "sha256:"+hex.EncodeToString(sum[:])
	}
	return p.resume == secret
}

// localCount is how many participants this node serves.
func (r *Room) localCount() int { return len(r.participants) - r.remotes }

func (r *Room) attachSpan(s *span) {
	if r.spans == nil {
		r.spans = map[string]*span{}
	}
	if old := r.spans[s.node]; old != nil {
		r.spanClosed(old)
	}
	r.spans[s.node] = s
	r.m.log.Info("room part linked", "room", r.name, "node", s.node)
	if len(r.languages) > 0 {
		s.link.Send(SpanMessage{Kind: SpanLanguages, Languages: slices.Clone(r.languages)})
	}
	if r.owner() {
		st := r.recordingInfo()
		s.link.Send(SpanMessage{Kind: SpanRecording, Recording: &st})
		set := r.Settings()
		s.link.Send(SpanMessage{Kind: SpanSettings, Settings: &set})
	}
	for _, p := range r.participants {
		if !p.remote() {
			s.link.Send(SpanMessage{Kind: SpanParticipant, Participant: spanPeerOf(p)})
		}
	}
	for _, t := range r.tracks {
		r.spanSubscribe(s, t)
	}
}

func spanPeerOf(p *Participant) *SpanPeer {
	sum := sha256.Sum256([]byte(p.resume))
	return &SpanPeer{View: p.info(), E2EE: p.e2ee, Resume: hex.EncodeToString(sum[:]), Invite: p.invite,
		Captions: p.room.router.captionChoice(p.id)}
}

// spanTell sends msg to every linked part.
func (r *Room) spanTell(msg SpanMessage) {
	for _, s := range r.spans {
		s.link.Send(msg)
	}
}

// spanParticipant tells the other parts p's state, if p is this node's.
func (r *Room) spanParticipant(p *Participant) {
	if len(r.spans) > 0 && !p.remote() {
		r.spanTell(SpanMessage{Kind: SpanParticipant, Participant: spanPeerOf(p)})
	}
}

// spanSubscribe forwards one of this node's tracks to the part s: a
// simulcast track as each of its layers, so the other node chooses among
// them for its own subscribers as this one does.
func (r *Room) spanSubscribe(s *span, t *pubTrack) {
	if t.owner.remote() {
		return
	}
	if !t.recv.Simulcast() {
		r.spanSubscribeLayer(s, t, t.key, -1)
		return
	}
	for i := range maxRelayLayers {
		r.spanSubscribeLayer(s, t, layerKey(t.key, i), i)
	}
}

// maxRelayLayers is how many simulcast layers a relay carries per track.
const maxRelayLayers = 3

// layerKey names layer i of track key on a relay.
func layerKey(key string, i int) string { return key + "#" + strconv.Itoa(i) }

func (r *Room) spanSubscribeLayer(s *span, t *pubTrack, key string, layer int) {
	if _, ok := s.subs[key]; ok {
		return
	}
	var f *sfu.Forwarder
	var err error
	if layer < 0 {
		f, err = s.peer.Subscribe(t.recv, t.owner.id, key)
	} else {
		r.info.Store(key, SubTrack{Participant: t.owner.id, Identity: t.owner.identity, Source: t.source, Group: t.key, Layer: layer + 1})
		f, err = s.peer.SubscribeLayer(t.recv, layer, t.owner.id, key)
	}
	if err != nil {
		r.m.log.Warn("relay to a part failed", "room", r.name, "node", s.node, "track", key, "err", err)
		return
	}
	s.subs[key] = f
}

// spanUnsubscribe stops forwarding track key (all its layers) to the other
// parts.
func (r *Room) spanUnsubscribe(key string) {
	keys := []string{key}
	for i := range maxRelayLayers {
		keys = append(keys, layerKey(key, i))
	}
	for _, k := range keys[1:] {
		r.info.Delete(k)
	}
	for _, s := range r.spans {
		for _, k := range keys {
			if f, ok := s.subs[k]; ok {
				delete(s.subs, k)
				_ = s.peer.Unsubscribe(f)
			}
		}
	}
}

func (r *Room) spanMessage(s *span, m SpanMessage) {
	switch m.Kind {
	case SpanParticipant:
		if m.Participant != nil {
			r.remoteParticipant(s, m.Participant)
		}
	case SpanLeft:
		if p := r.participants[m.ID]; p != nil && p.span == s {
			r.leave(p, m.Reason)
		}
	case SpanOffer:
		s.mids = m.Tracks
		layers := map[string]sfu.RelayLayer{}
		for mid, st := range m.Tracks {
			if st.Layer > 0 {
				layers[mid] = sfu.RelayLayer{Group: st.Group, Layer: st.Layer - 1}
			}
		}
		if len(layers) > 0 {
			s.peer.SetRelayLayers(layers)
		}
		if err := s.peer.PubOffer(m.SDP); err != nil {
			r.m.log.Warn("relay offer refused", "room", r.name, "node", s.node, "err", err)
			return
		}
		s.mu.Lock()
		answer := s.answer
		s.answer = ""
		s.mu.Unlock()
		s.link.Send(SpanMessage{Kind: SpanAnswer, SDP: answer})
	case SpanAnswer:
		if err := s.peer.SubAnswer(m.SDP); err != nil {
			r.m.log.Warn("relay answer refused", "room", r.name, "node", s.node, "err", err)
		}
	case SpanCandidate:
		if m.Candidate == nil {
			return
		}
		// The sender's "sub" connection is this node's "pub", and back.
		role := RolePub
		if m.Role == RolePub {
			role = RoleSub
		}
		_ = s.peer.AddCandidate(role, *m.Candidate)
	case SpanChat:
		if c := m.Chat; c != nil {
			if p := r.participants[c.From.ID]; p != nil && p.span == s {
				msg := *c
				r.tell(nil, func(cl Client) { cl.Chat(msg) })
			}
		}
	case SpanModerate:
		r.spanModerate(s, m)
	case SpanLanguages:
		if r.addLanguages(m.Languages) {
			r.roomChanged(nil)
			for _, o := range r.participants {
				r.ensureChannelTrack(o)
			}
		}
	case SpanEvent, SpanRecording, SpanCheckpoint, SpanRecord, SpanCountersign:
		r.spanRecordMessage(s, m)
	case SpanHandover:
		r.orphan = true
		if r.m.cfg.HandedOver != nil {
			r.m.cfg.HandedOver(r.name)
		}
	case SpanOperate:
		r.spanOperate(m.Operation)
	case SpanCaption:
		r.spanCaption(s, m.Caption)
	case SpanSettings:
		if m.Settings != nil {
			r.spanSettings(*m.Settings)
		}
	case SpanE2EE:
		if m.By == nil {
			return
		}
		for _, q := range r.participants {
			if !q.remote() && q.e2ee && (m.To == "" || m.To == q.id) {
				q.client.E2EE(*m.By, m.Data)
			}
		}
	}
}

// remoteParticipant adds or updates a participant of the part s.
func (r *Room) remoteParticipant(s *span, sp *SpanPeer) {
	v := sp.View
	p := r.participants[v.ID]
	if p != nil && !p.remote() {
		// The seat moved to another node (this node lost the connection):
		// the seat follows the person.
		r.remove(p, ReasonReplaced)
		r.router.forget(p.id)
		p = nil
	}
	fresh := p == nil
	if fresh {
		p = &Participant{
			room: r, id: v.ID, client: nopClient{},
			pubSources: map[string]string{}, tracks: map[string]*pubTrack{},
			subs: map[string]*sfu.Forwarder{}, muted: map[string]bool{},
		}
		r.participants[p.id] = p
		r.remotes++
	}
	p.span = s
	p.identity, p.name, p.grants, p.key, p.state = v.Identity, v.Name, slices.Clone(v.Grants), v.Key, v.State
	p.e2ee, p.invite, p.resume = sp.E2EE, sp.Invite, "sha256:"+sp.Resume
	p.view = &v
	p.interpTargets = nil
	channel := ""
	if v.Interpreter != nil {
		p.interpTargets = slices.Clone(v.Interpreter.Languages)
		channel = v.Interpreter.Channel
	}
	if v.Listening != "" {
		r.router.listen(p.id, v.Listening)
	}
	if sp.Captions == "" {
		sp.Captions = CaptionsAuto
	}
	r.router.setCaptions(p.id, sp.Captions)
	channels := r.router.interpret(p.id, channel)
	clear(p.muted)
	for _, ti := range v.Tracks {
		if ti.Muted {
			p.muted[ti.Source] = true
		}
	}
	for _, t := range p.tracks {
		if t.muted != p.muted[t.source] {
			t.muted = p.muted[t.source]
			channels = channels || (p.interpreter() && t.source == SourceMic)
		}
	}
	if fresh && r.rec != nil {
		// The owner sees them arrive: their part may have seated them
		// before the link, so their own join event never came.
		data := map[string]string{"name": p.name}
		if p.e2ee {
			data["e2ee"] = "true"
		}
		r.recordOnly(EventJoin, p, data)
		if p.key != "" {
			r.rec.rec.Key(p.id, p.identity, p.key)
		}
	}
	if fresh {
		r.tell(nil, func(c Client) { c.ParticipantJoined(v) })
	} else {
		r.tell(nil, func(c Client) { c.ParticipantChanged(v) })
	}
	if channels {
		r.channelsChanged()
	}
}

// spanTrackStarted is posted when a track relayed from the part s arrives.
func (r *Room) spanTrackStarted(s *span, recv *sfu.Receiver) {
	st, ok := s.mids[recv.Mid()]
	owner := r.participants[st.Participant]
	if r.spans[s.node] != s || !ok || owner == nil || owner.span != s {
		recv.Stop()
		return
	}
	t := &pubTrack{key: recv.ID(), owner: owner, recv: recv, source: st.Source, kind: recv.Kind().String(), muted: owner.muted[st.Source]}
	r.tracks[t.key] = t
	owner.tracks[t.key] = t
	r.info.Store(t.key, SubTrack{Participant: owner.id, Identity: owner.identity, Source: t.source})
	r.recordTrack(t)
	for _, o := range r.participants {
		r.subscribe(o, t)
	}
	if owner.interpreter() && t.source == SourceMic {
		r.channelsChanged()
	}
	r.viewersFollow(owner.identity)
}

// spanModerate applies a moderator's request from another part to one of
// this node's participants (the moderator's node checked the grant).
func (r *Room) spanModerate(s *span, m SpanMessage) {
	if m.By == nil || m.Moderation == nil {
		return
	}
	by := r.participants[m.By.ID]
	if by == nil || by.span != s {
		return
	}
	target := r.participants[m.Moderation.Target]
	if target == nil || target.remote() {
		return
	}
	switch m.Moderation.Action {
	case ModerateMute:
		if ValidSource(m.Moderation.Source) {
			r.setMuted(target, m.Moderation.Source, true, by)
		}
	case ModerateRemove:
		if m.Moderation.Ban {
			r.m.deny(r.name, target.tokenID, target.identity, target.invite == "")
		}
		r.endViewersOfParticipant(target, m.Moderation.Ban)
		target.client.Removed(by.ref())
		r.leave(target, ReasonRemoved)
	}
}

// spanClosed forgets a link: the other part's participants wait,
// reconnecting, for the grace (their node may have died; they come back
// through another), and their tracks end.
func (r *Room) spanClosed(s *span) {
	if r.spans[s.node] != s {
		return
	}
	delete(r.spans, s.node)
	s.link.Close()
	r.m.wg.Add(1)
	go func() {
		defer r.m.wg.Done()
		_ = s.peer.Close()
	}()
	r.m.log.Info("room part unlinked", "room", r.name, "node", s.node)
	grace := r.m.cfg.ReconnectGrace
	for _, p := range r.participants {
		if p.span != s {
			continue
		}
		for key := range p.tracks {
			r.dropTrack(key)
		}
		if grace <= 0 {
			r.leave(p, ReasonDisconnected)
			continue
		}
		p.state = StateReconnecting
		r.recordOnly(EventReconnecting, p, nil)
		r.participantChanged(p)
		time.AfterFunc(grace, func() {
			r.box.post(func() {
				if r.participants[p.id] == p && p.span == s {
					r.leave(p, ReasonDisconnected)
				}
			})
		})
	}
}

// closeSpans ends every link of a part that closes.
func (r *Room) closeSpans() {
	for _, s := range r.spans {
		r.spanClosed(s)
	}
}

// spanEvents adapts a relay peer's media callbacks to the room.
type spanEvents struct{ h *Span }

func (e spanEvents) Candidate(role string, c webrtc.ICECandidateInit) {
	e.h.s.link.Send(SpanMessage{Kind: SpanCandidate, Role: role, Candidate: &c})
}

// PubAnswer runs inside PubOffer, on the loop.
func (e spanEvents) PubAnswer(sdp string) {
	e.h.s.mu.Lock()
	e.h.s.answer = sdp
	e.h.s.mu.Unlock()
}

func (e spanEvents) SubOffer(sdp string, labels map[string]string) {
	tracks := make(map[string]SubTrack, len(labels))
	for mid, key := range labels {
		if v, ok := e.h.r.info.Load(key); ok {
			tracks[mid] = v.(SubTrack)
		}
	}
	e.h.s.link.Send(SpanMessage{Kind: SpanOffer, SDP: sdp, Tracks: tracks})
}

func (e spanEvents) TrackStarted(recv *sfu.Receiver) {
	r, s := e.h.r, e.h.s
	r.box.post(func() { r.spanTrackStarted(s, recv) })
}

func (e spanEvents) TrackEnded(recv *sfu.Receiver) {
	r := e.h.r
	r.box.post(func() {
		if t := r.tracks[recv.ID()]; t != nil && t.owner.remote() {
			r.dropTrack(t.key)
		}
	})
}

func (e spanEvents) Failed(string) {
	// The relay's media failed: end the link; the nodes link again.
	e.h.s.link.Close()
}

// nopClient is a remote participant's client here: its own node speaks to it.
type nopClient struct{}

func (nopClient) Joined(Welcome)                            {}
func (nopClient) ParticipantJoined(ParticipantView)         {}
func (nopClient) ParticipantChanged(ParticipantView)        {}
func (nopClient) ParticipantLeft(string, string, string)    {}
func (nopClient) RoomChanged(RoomView)                      {}
func (nopClient) ActiveSpeaker(string, string)              {}
func (nopClient) Viewers([]ViewerInfo)                      {}
func (nopClient) Chat(ChatMessage)                          {}
func (nopClient) Caption(Caption)                           {}
func (nopClient) E2EE(Ref, string)                          {}
func (nopClient) Muted(string, Ref)                         {}
func (nopClient) Removed(Ref)                               {}
func (nopClient) Checkpoint(CheckpointInfo)                 {}
func (nopClient) Candidate(string, webrtc.ICECandidateInit) {}
func (nopClient) SubOffer(string, map[string]SubTrack)      {}
func (nopClient) Error(error)                               {}
func (nopClient) Close(string)                              {}

// PartLink is one link of this node's part of a room, as the operator sees it.
type PartLink struct {
	Node     string // the other node
	Remote   int    // its participants, seen here
	Sent     int    // this node's tracks relayed to it
	Received int    // its tracks relayed here
}

// Parts lists the links of room's part on this node, by node.
func (m *Manager) Parts(ctx context.Context, room string) ([]PartLink, error) {
	var out []PartLink
	err := m.onLoop(ctx, room, func(r *Room) error {
		for node, s := range r.spans {
			l := PartLink{Node: node, Sent: len(s.subs)}
			for _, p := range r.participants {
				if p.span == s {
					l.Remote++
					l.Received += len(p.tracks)
				}
			}
			out = append(out, l)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b PartLink) int { return strings.Compare(a.Node, b.Node) })
	return out, err
}
