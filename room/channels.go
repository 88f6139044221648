package room

import (
	"slices"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/signal"
)

// Interpretation: a room declares languages; interpreters speak into one
// language channel at a time and never onto the floor; every listener hears
// the floor plus, if they chose a language, that channel. Each listener has one
// "interpretation" track whose source follows the channel's interpreter, so
// switching channels or interpreters never renegotiates.

// channelCodec is what every interpreter's microphone sends (browsers send Opus).
var channelCodec = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
	MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
}}

// interpreter reports whether p works as an interpreter (their microphone feeds
// channels, never the floor).
func (p *Participant) interpreter() bool {
	return p.can(auth.GrantInterpret) && len(p.interpTargets) > 0
}

// mic is p's published microphone track, if any.
func (p *Participant) mic() *pubTrack {
	for _, t := range p.tracks {
		if t.source == signal.SourceMic {
			return t
		}
	}
	return nil
}

// speaker is one interpreter's position, for the routing rules.
type speaker struct {
	id      string
	channel string // "" when not interpreting
	since   uint64 // when they moved into the channel (room sequence)
}

// activeSpeakers picks, for each channel, the interpreter who speaks into it:
// the one who moved into it last (a handover takes effect at once).
func activeSpeakers(ss []speaker) map[string]string {
	best := map[string]speaker{}
	for _, s := range ss {
		if s.channel == "" {
			continue
		}
		if b, ok := best[s.channel]; !ok || s.since > b.since {
			best[s.channel] = s
		}
	}
	out := make(map[string]string, len(best))
	for ch, s := range best {
		out[ch] = s.id
	}
	return out
}

// channelSource says whose interpretation a listener receives: nothing on the
// floor, the channel's active interpreter otherwise, and never themselves.
func channelSource(listener, listening string, active map[string]string) string {
	if listening == signal.Floor {
		return ""
	}
	if id := active[listening]; id != listener {
		return id
	}
	return ""
}

func (r *Room) active() map[string]string {
	var ss []speaker
	for _, p := range r.participants {
		if p.interpreter() {
			ss = append(ss, speaker{id: p.id, channel: p.channel, since: p.channelSince})
		}
	}
	return activeSpeakers(ss)
}

// route points every listener's interpretation track at the right interpreter.
func (r *Room) route() {
	active := r.active()
	for _, p := range r.participants {
		if p.chanFwd == nil {
			continue
		}
		id := channelSource(p.id, p.listening, active)
		if src := r.participants[id]; src != nil && src.mic() != nil {
			p.chanFwd.SwitchTo(src.mic().recv)
		} else {
			p.chanFwd.SwitchTo(nil)
		}
	}
}

// info describes the room and its channels.
func (r *Room) roomInfo() signal.RoomInfo {
	active := r.active()
	chans := make(map[string]signal.Channel, len(r.languages))
	for _, l := range r.languages {
		c := signal.Channel{Interpreter: active[l]}
		if p := r.participants[c.Interpreter]; p != nil {
			m := p.mic()
			c.Live = m != nil && !m.muted
		}
		chans[l] = c
	}
	set := r.cur()
	return signal.RoomInfo{Name: r.name, Languages: slices.Clone(r.languages), Channels: chans, Recording: r.recordingInfo(),
		E2EERequired: set.E2EERequired, Codec: set.Codec}
}

// addLanguages extends the room's languages; it reports whether any was new.
func (r *Room) addLanguages(langs []string) bool {
	added := false
	for _, l := range langs {
		if !slices.Contains(r.languages, l) && len(r.languages) < auth.MaxLanguages {
			r.languages = append(r.languages, l)
			added = true
		}
	}
	return added
}

// ensureChannelTrack gives p its interpretation track once the room has languages.
func (r *Room) ensureChannelTrack(p *Participant) {
	if p.chanFwd != nil || len(r.languages) == 0 || !p.can(authSubscribe) {
		return
	}
	key := "channel:" + p.id
	r.info.Store(key, signal.SubTrack{Source: signal.SourceInterpretation})
	f, err := p.peer.AddSwitchable(key, webrtc.RTPCodecTypeAudio, channelCodec, "interpretation", key)
	if err != nil {
		r.m.log.Warn("interpretation track", "participant", p.id, "err", err)
		return
	}
	p.chanFwd = f
}

// channelsChanged re-routes and tells everyone the channels' new state.
func (r *Room) channelsChanged() {
	r.route()
	r.broadcast(&signal.RoomUpdated{Type: "room-updated", Room: r.roomInfo()}, nil)
}

func (r *Room) listen(p *Participant, m *signal.Listen) {
	if !p.can(authSubscribe) {
		p.sink.Send(&signal.Error{Type: "error", Code: signal.CodeForbidden, Ref: "listen",
			Message: "your access token does not allow receiving media"})
		return
	}
	if m.Channel != signal.Floor && !slices.Contains(r.languages, m.Channel) {
		p.sink.Send(&signal.Error{Type: "error", Code: signal.CodeBadRequest, Ref: "listen",
			Message: "this room has no channel " + quote(m.Channel) + "; choose floor or one of its languages"})
		return
	}
	if p.listening == m.Channel {
		return
	}
	p.listening = m.Channel
	r.ensureChannelTrack(p)
	r.route()
	r.event(EventListen, p, map[string]string{"channel": m.Channel})
	r.broadcast(&signal.ParticipantEvent{Type: "participant-updated", Participant: p.info()}, nil)
}

func (r *Room) interpret(p *Participant, m *signal.Interpret) {
	if !p.interpreter() {
		p.sink.Send(&signal.Error{Type: "error", Code: signal.CodeForbidden, Ref: "interpret",
			Message: "your access token does not allow interpreting"})
		return
	}
	if m.Channel != "" && !slices.Contains(p.interpTargets, m.Channel) {
		p.sink.Send(&signal.Error{Type: "error", Code: signal.CodeForbidden, Ref: "interpret",
			Message: "your access token does not allow interpreting into " + quote(m.Channel)})
		return
	}
	if p.channel == m.Channel {
		return
	}
	p.channel = m.Channel
	r.seq++
	p.channelSince = r.seq
	r.event(EventInterpret, p, map[string]string{"channel": m.Channel})
	r.broadcast(&signal.ParticipantEvent{Type: "participant-updated", Participant: p.info()}, nil)
	r.channelsChanged()
}

func quote(s string) string {
	if len(s) > 20 {
		s = s[:20] + "…"
	}
	return "\"" + s + "\""
}
