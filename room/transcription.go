package room

import (
	"slices"
	"strconv"
	"time"

	"github.com/parleyhq/parley/sfu"
)

// Transcriber turns the speech of microphone tracks into text (package
// transcribe implements it; the server wires them). The room taps each
// microphone into it and says which channel and language the speech is in;
// results come back from any goroutine and become transcript events on the
// loop, so they join the record's hash chain like everything else, and
// captions to the participants who follow the channel.
type Transcriber interface {
	Transcribe(TranscribeMeta, func(Transcript)) TrackTranscriber
	// Answering reports whether the engine answers; whoever wires the
	// transcriber calls Manager.TranscriberChanged when that changes.
	Answering() bool
}

// TranscribeMeta describes a microphone to transcribe.
type TranscribeMeta struct {
	Track, Participant, Identity string
	// Channel is Floor or the interpretation channel the speech is in ("" for
	// none: an interpreter speaking into no channel is not transcribed);
	// Language is the recogniser's hint, "" for the configured default.
	Channel, Language string
	LevelID           uint8 // RFC 6464 header extension id, 0 for none
	ClockRate         uint32
}

// TrackTranscriber is fed as a receiver tap; it must never block.
type TrackTranscriber interface {
	sfu.Tap
	SetChannel(channel, language string)
	Close() // the speech in progress is still transcribed; does not wait
}

// Transcript is the text of one segment of speech.
type Transcript struct {
	ID string // given by the room

	Channel, Language string
	Start, End        time.Time
	RTPStart, RTPEnd  uint32
	Text              string
	Engine, Model     string
	// Late: the speech waited for an engine that was not answering; it goes
	// into the record but is too late to caption.
	Late bool
}

// transcription says whether the room's speech is transcribed.
func (r *Room) transcription() string {
	switch {
	case r.m.cfg.Transcriber == nil:
		return TranscriptionOff
	case r.e2eeRequired():
		return TranscriptionE2EE
	case !r.m.cfg.Transcriber.Answering():
		return TranscriptionPaused
	}
	return TranscriptionOn
}

// TranscriberChanged tells every room that the transcriber's engine stopped
// or started answering: their participants see captions paused, or back.
// Any goroutine; it does not wait for the rooms.
func (m *Manager) TranscriberChanged() {
	m.mu.Lock()
	rooms := make([]*Room, 0, len(m.rooms))
	for _, r := range m.rooms {
		rooms = append(rooms, r)
	}
	m.mu.Unlock()
	for _, r := range rooms {
		r.box.post(r.transcriptionChanged)
	}
}

// transcriptionChanged tells the participants, and the record, a new
// transcription state (the engine's, or the room's encryption setting).
func (r *Room) transcriptionChanged() {
	now := r.transcription()
	if now == r.transcriptionTold {
		return
	}
	was := r.transcriptionTold
	r.transcriptionTold = now
	if was == "" { // the room's first look
		return
	}
	// The record says why transcripts stop and start again.
	if was == TranscriptionPaused || now == TranscriptionPaused {
		r.event(EventTranscription, nil, map[string]string{"state": now})
	}
	r.roomChanged(nil)
}

// caption sends tr to every participant who follows its channel and may hear
// the room; p spoke it. An engine that comes back works through what waited
// for it: that goes into the record, but is too late for captions.
func (r *Room) caption(p *Participant, tr Transcript) {
	if tr.Late {
		return
	}
	c := Caption{ID: tr.ID, From: p.ref(), Channel: tr.Channel, Language: tr.Language, Text: tr.Text, Start: tr.Start, End: tr.End}
	for _, q := range r.participants {
		if q.can(authSubscribe) && r.router.captionsOf(q.id) == tr.Channel {
			q.client.Caption(c)
		}
	}
	r.captionAcross(c)
}

// setCaptions records the channel whose captions p gets.
func (r *Room) setCaptions(p *Participant, channel string) error {
	if !p.can(authSubscribe) {
		return refuse(ErrForbidden, "your access token does not allow receiving media, nor its captions")
	}
	if channel != CaptionsAuto && channel != CaptionsOff && channel != Floor && !slices.Contains(r.languages, channel) {
		return refuse(ErrBadRequest, "this room has no channel %s; ask captions of auto, off, floor or one of its languages", quote(channel))
	}
	if r.router.setCaptions(p.id, channel) {
		r.spanParticipant(p) // their node's parts caption for them, and translate
	}
	return nil
}

// scribeChannel is the channel and language of t's speech: an interpreter's
// voice is in the channel they speak into, everyone else's on the floor.
func (r *Room) scribeChannel(t *pubTrack) (channel, language string) {
	if t.owner.interpreter() {
		ch := r.router.speaksInto(t.owner.id)
		return ch, ch
	}
	return Floor, ""
}

// transcribe taps a microphone into the transcriber, unless its media is
// encrypted end to end: the server hears only ciphertext there.
func (r *Room) transcribe(t *pubTrack) {
	if r.transcription() != TranscriptionOn || t.source != SourceMic || t.owner.e2ee {
		return
	}
	p := t.owner
	ch, lang := r.scribeChannel(t)
	c := t.recv.Codec()
	tt := r.m.cfg.Transcriber.Transcribe(TranscribeMeta{Track: t.key, Participant: p.id, Identity: p.identity,
		Channel: ch, Language: lang, LevelID: t.recv.AudioLevelID(), ClockRate: c.ClockRate},
		func(tr Transcript) { r.box.post(func() { r.transcript(p, t.key, tr) }) })
	r.scribes[t.key] = tt
	t.recv.AddTap(tt)
}

// untranscribe stops transcribing a track that ended; what was said last is
// still sent.
func (r *Room) untranscribe(t *pubTrack) {
	tt := r.scribes[t.key]
	if tt == nil {
		return
	}
	delete(r.scribes, t.key)
	t.recv.RemoveTap(tt)
	tt.Close()
}

// relabelScribes follows interpreters into the channels they now speak into.
func (r *Room) relabelScribes() {
	for key, tt := range r.scribes {
		if t := r.tracks[key]; t != nil && t.owner.interpreter() {
			tt.SetChannel(r.scribeChannel(t))
		}
	}
}

// transcript records one result; p may have left since they spoke.
func (r *Room) transcript(p *Participant, track string, tr Transcript) {
	// The id names this text wherever it is referred to (its translations,
	// corrections): event seqs differ between the room's observers and a
	// record, which numbers its own lines.
	tr.ID = newID("TS_")
	r.event(EventTranscript, p, map[string]string{
		"id": tr.ID, "track": track, "channel": tr.Channel, "language": tr.Language, "text": tr.Text,
		"start": tr.Start.UTC().Format(time.RFC3339Nano), "end": tr.End.UTC().Format(time.RFC3339Nano),
		"rtp_start": strconv.FormatUint(uint64(tr.RTPStart), 10), "rtp_end": strconv.FormatUint(uint64(tr.RTPEnd), 10),
		"engine": tr.Engine, "model": tr.Model,
	})
	r.caption(p, tr)
	r.translate(p, track, tr)
}
