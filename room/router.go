package room

// router is interpretation routing as pure state: which channel each
// participant hears, which channel each interpreter speaks into and since
// when, and from these whose voice each listener's interpretation track
// carries. It knows participant ids only, not peers or grants; the room
// applies its answers to forwarders. Loop-owned.
//
// The rules: a channel's interpreter is the one who moved into it last (a
// handover takes effect at once); a listener on the floor hears no
// interpretation; a listener on a channel hears its interpreter, and an
// interpreter never hears themself.
type router struct {
	seq       uint64            // orders moves into channels
	listening map[string]string // participant id -> channel; absent is the floor
	speaking  map[string]turn   // interpreter id -> where they speak; absent when not interpreting
	captions  map[string]string // participant id -> the captions they chose; absent is CaptionsAuto
}

// turn is an interpreter's place: a channel, taken at a moment.
type turn struct {
	channel string
	since   uint64
}

func newRouter() router {
	return router{listening: map[string]string{}, speaking: map[string]turn{}, captions: map[string]string{}}
}

// hears is the channel id listens to.
func (rt *router) hears(id string) string {
	if ch, ok := rt.listening[id]; ok {
		return ch
	}
	return Floor
}

// listen moves id to channel; false when it was there already.
func (rt *router) listen(id, channel string) bool {
	if rt.hears(id) == channel {
		return false
	}
	if channel == Floor {
		delete(rt.listening, id)
	} else {
		rt.listening[id] = channel
	}
	return true
}

// speaksInto is the channel interpreter id speaks into; "" when none.
func (rt *router) speaksInto(id string) string { return rt.speaking[id].channel }

// interpret moves interpreter id into channel ("" stops); false when it was
// there already.
func (rt *router) interpret(id, channel string) bool {
	if rt.speaksInto(id) == channel {
		return false
	}
	if channel == "" {
		delete(rt.speaking, id)
		return true
	}
	rt.seq++
	rt.speaking[id] = turn{channel: channel, since: rt.seq}
	return true
}

// forget drops a participant who left.
func (rt *router) forget(id string) {
	delete(rt.listening, id)
	delete(rt.speaking, id)
	delete(rt.captions, id)
}

// setCaptions records what id asked captions of; false when it was that already.
// captionChoice is id's own choice of captions; CaptionsAuto when it made
// none.
func (rt *router) captionChoice(id string) string {
	if ch, ok := rt.captions[id]; ok {
		return ch
	}
	return CaptionsAuto
}

func (rt *router) setCaptions(id, choice string) bool {
	old, ok := rt.captions[id]
	if !ok {
		old = CaptionsAuto
	}
	if old == choice {
		return false
	}
	if choice == CaptionsAuto {
		delete(rt.captions, id)
	} else {
		rt.captions[id] = choice
	}
	return true
}

// captionsOf is the channel whose captions id gets: the one they chose, or
// the one they hear; "" for none.
func (rt *router) captionsOf(id string) string {
	switch ch, ok := rt.captions[id]; {
	case !ok:
		return rt.hears(id)
	case ch == CaptionsOff:
		return ""
	default:
		return ch
	}
}

// active maps each channel to the interpreter who speaks into it now, among
// those eligible (who still hold the grant to interpret).
func (rt *router) active(eligible func(id string) bool) map[string]string {
	best := map[string]turn{}
	who := map[string]string{}
	for id, t := range rt.speaking {
		if !eligible(id) {
			continue
		}
		if b, ok := best[t.channel]; !ok || t.since > b.since {
			best[t.channel] = t
			who[t.channel] = id
		}
	}
	return who
}

// source is whose interpretation listener hears, given active: nobody ("")
// on the floor or on a channel without interpreter, never themself.
func (rt *router) source(listener string, active map[string]string) string {
	ch := rt.hears(listener)
	if ch == Floor {
		return ""
	}
	if id := active[ch]; id != listener {
		return id
	}
	return ""
}
