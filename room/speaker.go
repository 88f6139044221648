package room

import "time"

// Active speaker detection. Every speakerInterval the room reads each floor
// microphone's mean audio level (RFC 6464, in -dBov: lower is louder). The
// loudest voice above speakingLevel becomes the active speaker once it has led
// for speakerHold intervals in a row and, while the current speaker still
// talks, is louder by speakerMargin: brief coughs and crosstalk do not flip
// the stage.
const (
	speakerInterval = 300 * time.Millisecond
	speakingLevel   = 60.0 // -60 dBov: quieter than this is silence
	speakerHold     = 2
	speakerMargin   = 3.0 // dB
)

type speakerDetector struct {
	current   string
	candidate string
	streak    int
}

// update takes one interval's levels (participant id -> mean -dBov; absent
// means no audio) and reports the new active speaker when it changes.
func (d *speakerDetector) update(levels map[string]float64) (string, bool) {
	loudest, best := "", speakingLevel
	for id, l := range levels {
		if l < best || (l == best && loudest != "" && id < loudest) {
			loudest, best = id, l
		}
	}
	if loudest == "" || loudest == d.current {
		d.candidate, d.streak = "", 0
		return d.current, false
	}
	cur, talking := levels[d.current]
	talking = talking && cur < speakingLevel
	if talking && best >= cur-speakerMargin {
		d.candidate, d.streak = "", 0 // not clearly louder than who holds the floor
		return d.current, false
	}
	if loudest == d.candidate {
		d.streak++
	} else {
		d.candidate, d.streak = loudest, 1
	}
	if d.streak >= speakerHold {
		d.current, d.candidate, d.streak = loudest, "", 0
		return d.current, true
	}
	return d.current, false
}

// forget drops a participant who left.
func (d *speakerDetector) forget(id string) {
	if d.candidate == id {
		d.candidate, d.streak = "", 0
	}
	if d.current == id {
		d.current = ""
	}
}

// scheduleSpeakerTick runs speakerTick every interval for as long as the
// room's loop accepts work: the chain ends by itself when the room closes.
func (r *Room) scheduleSpeakerTick() {
	time.AfterFunc(speakerInterval, func() {
		r.box.post(func() {
			r.speakerTick()
			r.scheduleSpeakerTick()
		})
	})
}

func (r *Room) speakerTick() {
	levels := map[string]float64{}
	for _, t := range r.tracks {
		if t.source != SourceMic || t.muted || t.owner.interpreter() {
			continue // interpreters speak into channels, not onto the floor
		}
		if l, ok := t.recv.TakeLevel(); ok {
			levels[t.owner.id] = l
		}
	}
	id, changed := r.speaker.update(levels)
	if !changed {
		return
	}
	p := r.participants[id]
	if p == nil {
		return
	}
	r.event(EventSpeaker, p, nil)
	r.tell(nil, func(c Client) { c.ActiveSpeaker(p.id, p.identity) })
}
