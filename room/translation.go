package room

import (
	"context"
	"slices"
	"time"
)

// Translator turns caption text into another language through a machine
// translation engine (package translate implements it; the server wires
// it). The room uses it for listeners who chose a language that no
// interpreter is speaking into at the moment.
type Translator interface {
	Translate(ctx context.Context, text, from, to string) (string, error)
	Engine() string // names the engine in the record
}

const (
	// maxTranslating bounds one room's requests in flight: captions are
	// live, so past that a caption goes untranslated rather than late.
	maxTranslating = 4
	// translateTimeout is how long a caption may wait for its translation.
	translateTimeout = 8 * time.Second
)

// liveChannels are the channels an interpreter is speaking into with the
// microphone open, as the room's view shows them.
func (r *Room) liveChannels() map[string]bool {
	live := map[string]bool{}
	for ch, id := range r.active() {
		if p := r.participants[id]; p != nil {
			if m := p.mic(); m != nil && !m.muted {
				live[ch] = true
			}
		}
	}
	return live
}

// translationTargets are the languages floor speech in language from must
// be machine translated into: those whose captions a participant follows
// while no interpreter is live on that channel.
func (r *Room) translationTargets(from string) []string {
	var targets []string
	live := r.liveChannels()
	for _, q := range r.participants {
		ch := r.router.captionsOf(q.id)
		if !q.can(authSubscribe) || ch == "" || ch == Floor || ch == from || live[ch] || slices.Contains(targets, ch) {
			continue
		}
		if slices.Contains(r.languages, ch) {
			targets = append(targets, ch)
		}
	}
	slices.Sort(targets)
	return targets
}

// translate sends floor speech to the translator for each language that
// needs it. The requests run off the loop, owned by the Manager (its Close
// cancels and waits for them); each answer comes back to the loop as a
// translation event and a caption.
func (r *Room) translate(p *Participant, track string, tr Transcript) {
	t := r.m.cfg.Translator
	if t == nil || tr.Late || tr.Channel != Floor || tr.Language == "" || tr.Text == "" {
		return
	}
	for _, to := range r.translationTargets(tr.Language) {
		if r.translating >= maxTranslating {
			r.m.log.Warn("captions not translated: the translation engine is behind", "room", r.name, "language", to)
			return
		}
		ctx, cancel, ok := r.m.background(translateTimeout)
		if !ok {
			return
		}
		r.translating++
		go func() {
			defer r.m.wg.Done()
			text, err := t.Translate(ctx, tr.Text, tr.Language, to)
			cancel()
			r.box.post(func() {
				r.translating--
				if err != nil {
					r.m.log.Warn("caption not translated", "room", r.name, "from", tr.Language, "to", to, "err", err)
					return
				}
				r.translated(p, track, tr, to, text, t.Engine())
			})
		}()
	}
}

// translated records a machine translation beside the transcript it came
// from (the source text and language, the engine) and captions it for
// those who follow its language, marked as machine translation.
func (r *Room) translated(p *Participant, track string, tr Transcript, to, text, engine string) {
	r.event(EventTranslation, p, map[string]string{
		"track": track, "transcript": tr.ID,
		"channel": to, "language": to, "text": text,
		"source_language": tr.Language, "source_text": tr.Text,
		"start": tr.Start.UTC().Format(time.RFC3339Nano), "end": tr.End.UTC().Format(time.RFC3339Nano),
		"engine": engine, "machine": "true",
	})
	c := Caption{ID: tr.ID, From: p.ref(), Channel: to, Language: to, Text: text, Start: tr.Start, End: tr.End,
		Translated: true, SourceLanguage: tr.Language, SourceText: tr.Text}
	live := r.liveChannels()
	for _, q := range r.participants {
		// An interpreter who came on meanwhile speaks for the channel now.
		if q.can(authSubscribe) && r.router.captionsOf(q.id) == to && !live[to] {
			q.client.Caption(c)
		}
	}
	if !live[to] {
		r.captionAcross(c)
	}
}
