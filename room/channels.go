package room

import (
	"slices"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/auth"
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
		if t.source == SourceMic {
			return t
		}
	}
	return nil
}

// active maps each channel to the interpreter speaking into it now.
func (r *Room) active() map[string]string {
	return r.router.active(func(id string) bool {
		p := r.participants[id]
		return p != nil && p.interpreter()
	})
}

// route points every listener's interpretation track at the right interpreter.
func (r *Room) route() {
	active := r.active()
	for _, p := range r.participants {
		if p.chanFwd == nil {
			continue
		}
		id := r.router.source(p.id, active)
		if src := r.participants[id]; src != nil && src.mic() != nil {
			p.chanFwd.SwitchTo(src.mic().recv)
		} else {
			p.chanFwd.SwitchTo(nil)
		}
	}
}

// info describes the room and its channels.
func (r *Room) roomInfo() RoomView {
	active := r.active()
	chans := make(map[string]ChannelView, len(r.languages))
	for _, l := range r.languages {
		c := ChannelView{Interpreter: active[l]}
		if p := r.participants[c.Interpreter]; p != nil {
			m := p.mic()
			c.Live = m != nil && !m.muted
		}
		chans[l] = c
	}
	set := r.cur()
	return RoomView{Name: r.name, Languages: slices.Clone(r.languages), Channels: chans, Recording: r.recordingInfo(),
		E2EERequired: set.E2EERequired, Codec: set.Codec, Transcription: r.transcription(),
		Translation: r.m.cfg.Translator != nil && r.transcription() == TranscriptionOn}
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
	if p.chanFwd != nil || p.remote() || len(r.languages) == 0 || !p.can(authSubscribe) {
		return
	}
	key := "channel:" + p.id
	r.info.Store(key, SubTrack{Source: SourceInterpretation})
	f, err := p.peer.AddSwitchable(key, webrtc.RTPCodecTypeAudio, channelCodec, "interpretation", key)
	if err != nil {
		r.m.log.Warn("interpretation track", "participant", p.id, "err", err)
		return
	}
	p.chanFwd = f
	// A listener who came back to a seat on a channel hears it at once, not
	// at the channel's next change.
	r.route()
}

// channelsChanged re-routes and tells everyone the channels' new state.
func (r *Room) channelsChanged() {
	r.route()
	r.relabelScribes()
	r.roomChanged(nil)
}

func (r *Room) listen(p *Participant, channel string) error {
	if !p.can(authSubscribe) {
		return refuse(ErrForbidden, "your access token does not allow receiving media")
	}
	if channel != Floor && !slices.Contains(r.languages, channel) {
		return refuse(ErrBadRequest, "this room has no channel %s; choose floor or one of its languages", quote(channel))
	}
	if !r.router.listen(p.id, channel) {
		return nil
	}
	r.ensureChannelTrack(p)
	r.route()
	r.event(EventListen, p, map[string]string{"channel": channel})
	r.participantChanged(p)
	return nil
}

func (r *Room) interpret(p *Participant, channel string) error {
	if !p.interpreter() {
		return refuse(ErrForbidden, "your access token does not allow interpreting")
	}
	if channel != "" && !slices.Contains(p.interpTargets, channel) {
		return refuse(ErrForbidden, "your access token does not allow interpreting into %s", quote(channel))
	}
	if !r.router.interpret(p.id, channel) {
		return nil
	}
	r.event(EventInterpret, p, map[string]string{"channel": channel})
	r.participantChanged(p)
	r.channelsChanged()
	return nil
}

func quote(s string) string {
	if len(s) > 20 {
		s = s[:20] + "…"
	}
	return "\"" + s + "\""
}
