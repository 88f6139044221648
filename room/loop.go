package room

import (
	"sync"
	"sync/atomic"

	"github.com/parleyhq/parley/sfu"
	"github.com/parleyhq/parley/signal"
)

// Room is one meeting. All of its state is owned by its loop goroutine; other
// goroutines reach it only by posting to its mailbox.
type Room struct {
	m    *Manager
	name string
	box  *mailbox

	joining int // joins posted but not yet run; guarded by m.mu

	count atomic.Int32 // participants, readable from anywhere

	// Loop-owned.
	participants map[string]*Participant // by id
	tracks       map[string]*pubTrack    // by receiver id
	languages    []string                // language channels, in the order declared
	seq          uint64                  // orders channel moves
	eventSeq     uint64
	speaker      speakerDetector
	rec          *recording          // the active record, if any
	sealing      map[string]Recorder // records sealed but still taking countersignatures

	// info maps a track key to its owner for sub offers; written by the loop,
	// read from media callbacks.
	info sync.Map // string -> signal.SubTrack
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
	}
}

// Name is the room's name.
func (r *Room) Name() string { return r.name }

// run executes posted work until the room is empty and no join is pending.
func (r *Room) run() {
	defer r.m.wg.Done()
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
	if len(r.participants) > 0 {
		return false
	}
	r.stopRecording(nil)
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if r.joining > 0 {
		return false
	}
	// Late posts (media callbacks of departed peers) only touch state that is gone.
	for _, fn := range r.box.close() {
		fn()
	}
	delete(r.m.rooms, r.name)
	r.m.log.Info("room closed", "room", r.name)
	return true
}

// broadcast sends msg to every participant but skip.
func (r *Room) broadcast(msg any, skip *Participant) {
	for _, p := range r.participants {
		if p != skip {
			p.sink.Send(msg)
		}
	}
}

func (r *Room) join(p *Participant) error {
	r.m.mu.Lock()
	r.joining--
	r.m.mu.Unlock()

	for _, old := range r.participants {
		if old.identity == p.identity {
			old.sink.Send(signal.Errorf(signal.CodeReplaced, "you joined this room from somewhere else"))
			r.leave(old, signal.ReasonReplaced)
		}
	}
	if r.rec == nil && r.m.cfg.RecordAll {
		r.startRecording(nil)
	}
	others := make([]signal.Participant, 0, len(r.participants))
	for _, o := range r.participants {
		others = append(others, o.info())
	}
	r.participants[p.id] = p
	r.count.Store(int32(len(r.participants)))
	declared := r.addLanguages(p.declares)
	interpreted := r.addLanguages(p.interpTargets)
	newLangs := declared || interpreted
	p.sink.Send(signal.NewWelcome(r.roomInfo(), p.info(), others, r.m.cfg.ICEServers))
	r.broadcast(&signal.ParticipantEvent{Type: "participant-joined", Participant: p.info()}, p)
	if newLangs {
		r.broadcast(&signal.RoomUpdated{Type: "room-updated", Room: r.roomInfo()}, p)
		for _, o := range r.participants {
			r.ensureChannelTrack(o)
		}
	}
	r.event(EventJoin, p, map[string]string{"name": p.name})
	if r.rec != nil && p.key != "" {
		r.rec.rec.Key(p.id, p.identity, p.key)
	}
	r.m.log.Info("participant joined", "room", r.name, "participant", p.id, "identity", p.identity)
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
	delete(r.participants, p.id)
	r.count.Store(int32(len(r.participants)))
	r.speaker.forget(p.id)
	for key, t := range r.tracks {
		if t.owner == p {
			r.dropTrack(key)
		}
	}
	r.info.Delete("channel:" + p.id)
	r.broadcast(&signal.ParticipantLeft{Type: "participant-left", ID: p.id, Identity: p.identity, Reason: reason}, nil)
	r.event(EventLeave, p, map[string]string{"reason": reason})
	if p.interpreter() {
		r.channelsChanged()
	}
	r.m.log.Info("participant left", "room", r.name, "participant", p.id, "reason", reason)
	p.sink.Close()
	r.m.wg.Add(1)
	go func() {
		// Closing a peer waits for its media goroutines; keep that off the loop.
		defer r.m.wg.Done()
		_ = p.peer.Close()
	}()
}

// subscribe forwards t to p where p's grants allow it.
func (r *Room) subscribe(p *Participant, t *pubTrack) {
	if p == t.owner || !p.can(authSubscribe) {
		return
	}
	if t.owner.interpreter() && t.source == signal.SourceMic {
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
	for _, p := range r.participants {
		if f, ok := p.subs[key]; ok {
			delete(p.subs, key)
			if err := p.peer.Unsubscribe(f); err != nil {
				r.m.log.Debug("unsubscribe", "participant", p.id, "err", err)
			}
		}
	}
	r.info.Delete(key)
	delete(t.owner.tracks, key)
	r.event(EventUnpublish, t.owner, map[string]string{"track": key, "source": t.source})
	if t.owner.interpreter() && t.source == signal.SourceMic {
		r.channelsChanged()
	}
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
	t := &pubTrack{key: recv.ID(), owner: p, recv: recv, source: source, kind: kind, muted: p.muted[source]}
	recv.SetMuted(t.muted)
	r.tracks[t.key] = t
	p.tracks[t.key] = t
	r.info.Store(t.key, signal.SubTrack{Participant: p.id, Identity: p.identity, Source: source})
	r.recordTrack(t)
	r.event(EventPublish, p, map[string]string{"track": t.key, "source": source, "kind": kind})
	r.broadcast(&signal.ParticipantEvent{Type: "participant-updated", Participant: p.info()}, nil)
	for _, o := range r.participants {
		r.subscribe(o, t)
	}
	if p.interpreter() && source == signal.SourceMic {
		r.channelsChanged()
	}
}

// trackEnded is posted when a published track stops.
func (r *Room) trackEnded(p *Participant, recv *sfu.Receiver) {
	if _, ok := r.tracks[recv.ID()]; !ok {
		return
	}
	r.dropTrack(recv.ID())
	if r.participants[p.id] == p {
		r.broadcast(&signal.ParticipantEvent{Type: "participant-updated", Participant: p.info()}, nil)
	}
}
