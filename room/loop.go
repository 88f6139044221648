package room

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/sfu"
)

// Room is one meeting. All of its state is owned by its loop goroutine; other
// goroutines reach it only by posting to its mailbox.
type Room struct {
	m    *Manager
	name string
	box  *mailbox

	joining int // joins posted but not yet run; guarded by m.mu

	settings atomic.Pointer[Settings] // see Settings; written by the loop
	persist  bool                     // made by CreateRoom: stays open while empty, until CloseRoom; loop-owned

	count atomic.Int32 // participants, readable from anywhere

	// Loop-owned.
	participants map[string]*Participant // by id
	tracks       map[string]*pubTrack    // by receiver id
	languages    []string                // language channels, in the order declared
	router       router                  // who hears whose interpretation
	eventSeq     uint64
	speaker      speakerDetector
	rec          *recording                  // the active record, if any
	scribes      map[string]TrackTranscriber // by track key: microphones being transcribed
	translating  int                         // machine translations in flight
	// transcriptionTold is the transcription state the participants last
	// heard of (in a welcome or room-updated).
	transcriptionTold string
	sealing           map[string]Recorder // records sealed but still taking countersignatures

	viewers viewerSet // WHEP players (viewer.go); loop-owned

	spans   map[string]*span // links to this room's parts on other nodes, by node (span.go)
	remotes int              // participants who sit on other nodes
	// part: another node's part keeps the room's record (spanrecord.go);
	// remoteRec is that record's state and lastHead its last checkpoint.
	part      atomic.Bool // written by the loop (and before it starts); read by Rooms
	remoteRec RecordingState
	lastHead  *CheckpointInfo
	// orphan: the part that kept the record emptied while this one went on
	// (SpanHandover); one of the parts left takes the claim.
	orphan bool

	// info maps a track key to its owner for sub offers; written by the loop,
	// read from media callbacks.
	info sync.Map // string -> SubTrack
}

// pubTrack is a published track as the room sees it.
type pubTrack struct {
	key    string
	owner  *Participant
	recv   *sfu.Receiver
	source string
	kind   string
	muted  bool
}

func newRoom(m *Manager, name string) *Room {
	return &Room{
		m: m, name: name, box: newMailbox(),
		participants: map[string]*Participant{},
		tracks:       map[string]*pubTrack{},
		sealing:      map[string]Recorder{},
		router:       newRouter(),
		scribes:      map[string]TrackTranscriber{},
	}
}

// Name is the room's name.
func (r *Room) Name() string { return r.name }

// run executes posted work until the room is empty and no join is pending.
func (r *Room) run() {
	defer r.m.wg.Done()
	r.event(EventRoomStart, nil, r.partData())
	if r.owner() && r.m.cfg.Settings != nil {
		// What the room opens with replaces what an earlier meeting of the
		// same name left: parts opening from now on enforce these.
		r.m.cfg.Settings.Save(r.name, r.Settings())
	}
	r.transcriptionChanged()
	r.scheduleSpeakerTick()
	for range r.box.wake {
		for _, fn := range r.box.take() {
			fn()
		}
		if r.closeIfEmpty() {
			return
		}
	}
}

// closeIfEmpty retires the room when nobody is in it or on the way in.
func (r *Room) closeIfEmpty() bool {
	if r.localCount() > 0 || r.holdsForOthers() {
		return false
	}
	r.stopRecording(nil)
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	// A room the operator made waits, empty, for its next meeting.
	if r.joining > 0 || (r.persist && !r.m.done) {
		return false
	}
	end := r.endData()
	r.closeSpans()
	// Late posts (media callbacks of departed peers) only touch state that is gone.
	for _, fn := range r.box.close() {
		fn()
	}
	r.endViewers()
	// Under m.mu, so a new room of the same name cannot announce its start
	// before this one's end.
	r.event(EventRoomEnd, nil, end)
	delete(r.m.rooms, r.name)
	r.m.log.Info("room closed", "room", r.name)
	return true
}

// tell calls fn with the client of every participant but skip. What fn
// passes is shared by all of them: clients must not change it.
func (r *Room) tell(skip *Participant, fn func(c Client)) {
	for _, p := range r.participants {
		if p != skip {
			fn(p.client)
		}
	}
}

// participantChanged tells everyone p's new state.
func (r *Room) participantChanged(p *Participant) {
	v := p.info()
	r.tell(nil, func(c Client) { c.ParticipantChanged(v) })
	r.spanParticipant(p)
}

// roomChanged tells everyone but skip the room's new state.
func (r *Room) roomChanged(skip *Participant) {
	v := r.roomInfo()
	r.tell(skip, func(c Client) { c.RoomChanged(v) })
}

func (r *Room) join(p *Participant) error {
	r.m.mu.Lock()
	r.joining--
	r.m.mu.Unlock()

	// The identity is the seat: a participant who comes back (after a network
	// drop, or from another tab) takes over their seat where they left it.
	old := r.seatOf(p)
	if old != nil && old.state == StateActive && r.m.cfg.RefuseDuplicates {
		return ErrDuplicate
	}
	if limit := r.maxParticipants(); old == nil && limit > 0 && len(r.participants) >= limit {
		return ErrRoomFull
	}
	if old != nil {
		r.remove(old, ReasonReplaced)
		p.resumeSeat(old)
	}
	if r.rec == nil && r.owner() && r.recordsFromFirstJoin() {
		_ = r.startRecording(nil, nil) // a failure is logged; the meeting goes on unrecorded
	}
	others := make([]ParticipantView, 0, len(r.participants))
	for _, o := range r.participants {
		others = append(others, o.info())
	}
	r.participants[p.id] = p
	r.count.Store(int32(r.localCount()))
	declared := r.addLanguages(p.declares)
	interpreted := r.addLanguages(p.interpTargets)
	newLangs := declared || interpreted
	var ice []ICEServer
	if r.m.cfg.ICEServers != nil {
		ice = r.m.cfg.ICEServers(p.id, p.expires)
	}
	self := p.info()
	p.client.Joined(Welcome{Room: r.roomInfo(), Self: self, Others: others, ICE: ice, Resume: p.resume})
	if r.viewers.len() > 0 && p.can(auth.GrantModerate) {
		p.client.Viewers(r.viewers.list())
	}
	if old != nil {
		r.tell(p, func(c Client) { c.ParticipantChanged(self) })
	} else {
		r.tell(p, func(c Client) { c.ParticipantJoined(self) })
	}
	r.spanParticipant(p)
	if newLangs {
		r.spanTell(SpanMessage{Kind: SpanLanguages, Languages: slices.Clone(r.languages)})
		r.roomChanged(p)
		for _, o := range r.participants {
			r.ensureChannelTrack(o)
		}
	}
	joinData := map[string]string{"name": p.name}
	if p.e2ee {
		// The record says whose media are ciphertext: its player must not
		// play them as they are (noise), only decrypted with kept keys.
		joinData["e2ee"] = "true"
	}
	if old != nil {
		joinData["resumed"] = "true"
	}
	r.event(EventJoin, p, joinData)
	if r.rec != nil && p.key != "" {
		r.rec.rec.Key(p.id, p.identity, p.key)
	}
	if old != nil {
		r.m.log.Info("participant resumed", "room", r.name, "participant", p.id, "identity", p.identity)
	} else {
		r.m.log.Info("participant joined", "room", r.name, "participant", p.id, "identity", p.identity)
	}
	for _, t := range r.tracks {
		r.subscribe(p, t)
	}
	r.ensureChannelTrack(p)
	return nil
}

// leave removes p from the room, tells the others and tears down its media.
func (r *Room) leave(p *Participant, reason string) {
	if r.participants[p.id] != p {
		return
	}
	r.remove(p, reason)
	r.router.forget(p.id)
	r.tell(nil, func(c Client) { c.ParticipantLeft(p.id, p.identity, reason) })
	if p.remote() {
		// Its own node announces it; the record has it from here.
		r.recordOnly(EventLeave, p, map[string]string{"reason": reason})
		if p.interpreter() {
			r.channelsChanged()
		}
		return
	}
	if reason != ReasonShutdown {
		// A node that stops does not end its participants' seats: the other
		// parts keep them while they come back through another node.
		r.spanTell(SpanMessage{Kind: SpanLeft, ID: p.id, Reason: reason})
	}
	r.event(EventLeave, p, map[string]string{"reason": reason})
	if p.interpreter() {
		r.channelsChanged()
	}
	r.m.log.Info("participant left", "room", r.name, "participant", p.id, "reason", reason)
}

// remove takes p out of the room, closes its client for reason and tears
// down its media, telling no one else.
func (r *Room) remove(p *Participant, reason string) {
	delete(r.participants, p.id)
	if p.remote() {
		r.remotes--
	}
	r.count.Store(int32(r.localCount()))
	r.speaker.forget(p.id)
	for key, t := range r.tracks {
		if t.owner == p {
			r.dropTrack(key)
		}
	}
	if p.remote() {
		return
	}
	r.info.Delete("channel:" + p.id)
	p.client.Close(reason)
	if r.m.cfg.SessionEnded != nil {
		r.m.cfg.SessionEnded(p.id)
	}
	r.m.wg.Add(1)
	go func() {
		// Closing a peer waits for its media goroutines; keep that off the loop.
		defer r.m.wg.Done()
		_ = p.peer.Close()
	}()
}

// seatOf finds the participant whose seat p takes: the holder of p's resume
// secret (from the same invite) or of p's identity.
func (r *Room) seatOf(p *Participant) *Participant {
	for _, o := range r.participants {
		if p.resumeAsk != "" && o.resumes(p.resumeAsk) && (o.identity == p.identity || (p.invite != "" && o.invite == p.invite)) {
			return o
		}
	}
	for _, o := range r.participants {
		if o.identity == p.identity {
			return o
		}
	}
	return nil
}

// disconnected keeps a participant whose connection dropped in their seat, as
// "reconnecting", for the grace period; then they leave.
func (r *Room) disconnected(p *Participant) {
	if r.participants[p.id] != p {
		return
	}
	if p.leaving || r.m.cfg.ReconnectGrace <= 0 {
		r.leave(p, ReasonDisconnected)
		return
	}
	p.state = StateReconnecting
	r.event(EventReconnecting, p, nil)
	r.participantChanged(p)
	time.AfterFunc(r.m.cfg.ReconnectGrace, func() {
		r.box.post(func() {
			if p.state == StateReconnecting {
				r.leave(p, ReasonDisconnected)
			}
		})
	})
}

// subscribe forwards t to p where p's grants allow it.
func (r *Room) subscribe(p *Participant, t *pubTrack) {
	if p == t.owner || p.remote() || !p.can(authSubscribe) {
		return
	}
	if t.owner.interpreter() && t.source == SourceMic {
		return // an interpreter's voice reaches listeners only through channels
	}
	if _, ok := p.subs[t.key]; ok {
		return
	}
	f, err := p.peer.Subscribe(t.recv, t.owner.id, t.key)
	if err != nil {
		r.m.log.Warn("subscribe failed", "room", r.name, "participant", p.id, "track", t.key, "err", err)
		return
	}
	p.subs[t.key] = f
}

// dropTrack stops forwarding a track to everyone and forgets it.
func (r *Room) dropTrack(key string) {
	t := r.tracks[key]
	if t == nil {
		return
	}
	delete(r.tracks, key)
	r.unrecordTrack(t)
	r.untranscribe(t)
	for _, p := range r.participants {
		if f, ok := p.subs[key]; ok {
			delete(p.subs, key)
			if err := p.peer.Unsubscribe(f); err != nil {
				r.m.log.Debug("unsubscribe", "participant", p.id, "err", err)
			}
		}
	}
	r.spanUnsubscribe(key)
	r.info.Delete(key)
	delete(t.owner.tracks, key)
	if !t.owner.remote() {
		r.event(EventUnpublish, t.owner, map[string]string{"track": key, "source": t.source})
	}
	if t.owner.interpreter() && t.source == SourceMic {
		r.channelsChanged()
	}
	r.viewersFollow(t.owner.identity)
}

// trackStarted is posted by a publisher's peer when media arrives on a new track.
func (r *Room) trackStarted(p *Participant, recv *sfu.Receiver) {
	if r.participants[p.id] != p {
		recv.Stop()
		return
	}
	kind := recv.Kind().String()
	source, ok := p.pubSources[recv.Mid()]
	if !ok {
		// Undeclared tracks are not forwarded: the client must say what it sends.
		r.m.log.Warn("undeclared track stopped", "participant", p.id, "mid", recv.Mid())
		recv.Stop()
		return
	}
	if want := SourceKind(source); want != kind {
		// A "mic" that carries video would reach listeners (and the record)
		// as what it is not.
		r.m.log.Warn("track stopped: its kind is not its source's", "participant", p.id, "mid", recv.Mid(), "source", source, "kind", kind)
		p.client.Error(refuse(ErrBadRequest, "the %s track carries %s; a %s track must be %s", source, kind, source, want))
		recv.Stop()
		return
	}
	t := &pubTrack{key: recv.ID(), owner: p, recv: recv, source: source, kind: kind, muted: p.muted[source]}
	recv.SetMuted(t.muted)
	r.tracks[t.key] = t
	p.tracks[t.key] = t
	r.info.Store(t.key, SubTrack{Participant: p.id, Identity: p.identity, Source: source})
	r.recordTrack(t)
	r.transcribe(t)
	r.event(EventPublish, p, map[string]string{"track": t.key, "source": source, "kind": kind})
	r.participantChanged(p)
	for _, o := range r.participants {
		r.subscribe(o, t)
	}
	for _, s := range r.spans {
		r.spanSubscribe(s, t)
	}
	if p.interpreter() && source == SourceMic {
		r.channelsChanged()
	}
	r.viewersFollow(p.identity)
}

// trackEnded is posted when a published track stops.
func (r *Room) trackEnded(p *Participant, recv *sfu.Receiver) {
	if _, ok := r.tracks[recv.ID()]; !ok {
		return
	}
	r.dropTrack(recv.ID())
	if r.participants[p.id] == p {
		r.participantChanged(p)
	}
}
