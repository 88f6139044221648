package room

// One record across the parts of a room. The part that holds the room's
// claim in the cluster (the owner) keeps the record: the other parts never
// start one, and send it what only they see: their own participants' events,
// requests to start or stop recording, and countersignatures. The owner's
// media comes through the relay like everyone's. The owner sends its record's
// state and each checkpoint to the parts, which show the state and pass the
// checkpoint on to their participants to countersign, and remember the last
// one: if the owner is lost while recording, the part that takes over its
// claim starts a new record whose first event names that checkpoint, so the
// two records link by hash across the crash.

// Kinds of SpanMessage for the record.
const (
	SpanEvent       = "event"       // Event of one of the sender's participants, for the record
	SpanRecording   = "recording"   // Recording: the owner's record, as it stands
	SpanCheckpoint  = "checkpoint"  // Checkpoint: the owner's record signed one
	SpanRecord      = "record"      // ID (one of the sender's, holding the grant; "" the operator) asks the owner to start (On) or stop recording
	SpanCountersign = "countersign" // ID, one of the sender's, countersigned Checkpoint.Seq of Checkpoint.Record with Sig
)

// EventRecordContinues opens a record that continues one whose node was
// lost: data "previous" names it, "previous_seq" its last checkpoint heard
// and "previous_checkpoint" that checkpoint's signed statement (its head).
const EventRecordContinues = "record-continues"

// partData marks the start and end of a part (not the owner) of a room that
// spans nodes: the room's own start and end are the owner's, and observers
// (webhooks) hear of them once.
func (r *Room) partData() map[string]string {
	if r.part.Load() {
		return map[string]string{"part": "true"}
	}
	return nil
}

// SpanHandover says the sender's part, which kept the room's record, stops
// (its node shuts down) while the receiver's goes on.
const SpanHandover = "handover"

// holdsForOthers says the room stays open, empty, on the node that keeps its
// record while people sit on parts linked to it: the meeting keeps one
// record and one claim until the last of them leaves, or this node stops.
func (r *Room) holdsForOthers() bool {
	return r.owner() && r.remotes > 0 && len(r.spans) > 0 && r.m.life.Err() == nil
}

// endData describes the end of this node's part of the room: the meeting's
// end (nil) only where nobody is left on any node. An owner that stops while
// parts are linked hands the meeting over to them (they keep their seats,
// its own participants come back through them); an orphaned part that
// empties, nobody seated on a part linked to it, was the meeting's last (it
// could not take the claim over in time).
func (r *Room) endData() map[string]string {
	switch {
	case r.owner() && len(r.spans) > 0 && (r.remotes > 0 || r.m.life.Err() != nil):
		r.spanTell(SpanMessage{Kind: SpanHandover})
		return map[string]string{"part": "true", "continues": "true"}
	case r.part.Load() && r.orphan && r.remotes == 0:
		return nil
	}
	return r.partData()
}

// owner reports whether this part keeps the room's record.
func (r *Room) owner() bool { return !r.part.Load() }

// recordOnly writes an event about a remote participant into this part's
// record, without telling observers: webhooks hear of each event once, from
// the participant's own node.
func (r *Room) recordOnly(typ string, p *Participant, data map[string]string) {
	if r.rec != nil {
		r.rec.rec.Event(Event{Room: r.name, Time: r.m.cfg.Now(), Type: typ, Participant: p.id, Identity: p.identity, Data: data})
	}
}

// spanEvent passes one of this part's events on to the owner's record.
func (r *Room) spanEvent(e Event) {
	// The owner finds the active speaker itself: every microphone reaches it.
	if r.part.Load() && len(r.spans) > 0 && e.Type != EventSpeaker {
		r.spanTell(SpanMessage{Kind: SpanEvent, Event: &e})
	}
}

// spanRecording tells the other parts the owner's record state. A record
// that ends because the owner's part closes while others go on is to be
// continued (On): the part that takes the claim starts the next, linked.
func (r *Room) spanRecording() {
	if r.owner() && len(r.spans) > 0 {
		st := r.recordingInfo()
		r.spanTell(SpanMessage{Kind: SpanRecording, Recording: &st, On: !st.Active && r.localCount() == 0})
	}
}

// spanRecordMessage handles the record's messages from the part s.
func (r *Room) spanRecordMessage(s *span, m SpanMessage) {
	switch m.Kind {
	case SpanEvent:
		// Joins and leaves of the other parts' participants the owner
		// records as it sees them (remoteParticipant, leave).
		if e := m.Event; e != nil && r.rec != nil && e.Type != EventJoin && e.Type != EventLeave && e.Type != EventReconnecting {
			if p := r.participants[e.Participant]; p != nil && p.span == s {
				r.rec.rec.Event(*e)
			}
		}
	case SpanRecording:
		if m.Recording == nil || !r.part.Load() {
			return
		}
		r.remoteRec = *m.Recording
		if !m.Recording.Active && !m.On {
			r.lastHead = nil // stopped on purpose: nothing to continue
		}
		r.roomChanged(nil)
	case SpanCheckpoint:
		if c := m.Checkpoint; c != nil && r.part.Load() {
			r.lastHead = c
			r.sendCheckpoint(*c)
		}
	case SpanRecord:
		// "" is the operator, through the other node's admin API.
		by := r.participants[m.ID]
		if (m.ID != "" && (by == nil || by.span != s)) || !r.owner() {
			return
		}
		if m.On {
			_ = r.startRecording(by, nil)
		} else {
			r.stopRecording(by)
		}
	case SpanCountersign:
		p := r.participants[m.ID]
		if p == nil || p.span != s || m.Checkpoint == nil || !r.owner() {
			return
		}
		if err := r.countersign(p, m.Checkpoint.Record, m.Checkpoint.Seq, m.Sig); err != nil {
			r.m.log.Debug("countersignature from another part refused", "room", r.name, "participant", p.id, "err", err)
		}
	}
}

// forwardCountersign sends a countersignature given on this part to the owner.
func (r *Room) forwardCountersign(p *Participant, record string, seq uint64, sig []byte) {
	r.spanTell(SpanMessage{Kind: SpanCountersign, ID: p.id, Checkpoint: &CheckpointInfo{Record: record, Seq: seq}, Sig: sig})
}

// takeOver makes this part the owner: the cluster gave it the room's claim
// (the owner's part closed, or its node was lost). A record the owner was
// keeping goes on here, in a new record linked to its last checkpoint.
func (r *Room) takeOver() {
	if !r.part.Load() {
		return
	}
	r.part.Store(false)
	if r.m.cfg.Settings != nil {
		r.m.cfg.Settings.Save(r.name, r.Settings()) // the settings outlive the owner that saved them
	}
	prev := r.lastHead
	r.lastHead, r.remoteRec = nil, RecordingState{}
	r.m.log.Info("this part now keeps the room's record", "room", r.name)
	switch {
	case r.rec != nil:
	case prev != nil:
		_ = r.startRecording(nil, prev)
	case r.recordsFromFirstJoin() && r.localCount() > 0:
		_ = r.startRecording(nil, nil)
	default:
		r.roomChanged(nil)
	}
}

// Own tells the Manager that this node now holds room's claim in the
// cluster: its part keeps the record from now on. Any goroutine.
func (m *Manager) Own(room string) {
	m.mu.Lock()
	r := m.rooms[room]
	m.mu.Unlock()
	if r != nil {
		r.box.post(r.takeOver)
	}
}
