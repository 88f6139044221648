package room

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
)

// stubScribe is a Transcriber whose engine answers or not as the test says;
// the captions tests hand the room its results directly.
type stubScribe struct{ down atomic.Bool }

func (s *stubScribe) Transcribe(TranscribeMeta, func(Transcript)) TrackTranscriber { return nil }
func (s *stubScribe) Answering() bool                                              { return !s.down.Load() }

// TestCaptionsGoToWhoFollowsTheChannel: a transcript of the floor is captioned
// to floor listeners, one of a channel to that channel's listeners, and a
// participant may ask for the floor's (or none) instead; nobody without the
// subscribe grant gets any.
func TestCaptionsGoToWhoFollowsTheChannel(t *testing.T) {
	scribe := &stubScribe{}
	m := NewManager(Config{Engine: testEngine(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Transcriber: scribe})
	t.Cleanup(m.Close)
	chair, cc := joinAs(t, m, "chair", func(c *auth.Claims, _ *JoinRequest) {
		c.Grants = append(c.Grants, auth.GrantModerate)
		c.Languages = []string{"en", "ru"}
	})
	interp, _ := joinAs(t, m, "interp", grants(auth.GrantSubscribe, auth.GrantInterpret), func(c *auth.Claims, _ *JoinRequest) {
		c.Interpret = []string{"en>ru"}
	})
	ru, ruc := joinAs(t, m, "ru-listener", grants(auth.GrantSubscribe))
	both, bothc := joinAs(t, m, "ru-reads-floor", grants(auth.GrantSubscribe))
	quiet, quietc := joinAs(t, m, "no-captions", grants(auth.GrantSubscribe))
	deaf, deafc := joinAs(t, m, "deaf", grants())
	for _, p := range []*Participant{ru, both} {
		if err := p.Listen(ctx(t), "ru"); err != nil {
			t.Fatal(err)
		}
	}
	if err := both.Captions(ctx(t), Floor); err != nil {
		t.Fatal(err)
	}
	if err := quiet.Captions(ctx(t), CaptionsOff); err != nil {
		t.Fatal(err)
	}
	if err := deaf.Captions(ctx(t), Floor); !errors.Is(err, ErrForbidden) {
		t.Errorf("captions without subscribe: %v", err)
	}
	if err := ru.Captions(ctx(t), "fr"); !errors.Is(err, ErrBadRequest) {
		t.Errorf("captions of a channel the room lacks: %v", err)
	}

	now := time.Now()
	say := func(p *Participant, channel, lang, text string) {
		err := m.onLoop(ctx(t), "summit", func(r *Room) error {
			r.transcript(p, "track", Transcript{Channel: channel, Language: lang, Text: text, Start: now.Add(-2 * time.Second), End: now})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	say(chair, Floor, "en", "go forward ten meters")
	say(interp, "ru", "ru", "вперёд десять метров")
	texts := func(c *fakeClient) []string {
		var out []string
		for _, v := range c.all("Caption") {
			out = append(out, v.(Caption).Channel+":"+v.(Caption).Text)
		}
		return out
	}
	for _, c := range []struct {
		who  string
		fc   *fakeClient
		want []string
	}{
		{"the chair on the floor", cc, []string{"floor:go forward ten meters"}},
		{"a listener of ru", ruc, []string{"ru:вперёд десять метров"}},
		{"a listener of ru who asked for the floor's", bothc, []string{"floor:go forward ten meters"}},
		{"who asked for none", quietc, nil},
		{"who may not subscribe", deafc, nil},
	} {
		if got := texts(c.fc); len(got) != len(c.want) || (len(got) > 0 && got[0] != c.want[0]) {
			t.Errorf("%s got %q, want %q", c.who, got, c.want)
		}
	}
	cp := cc.all("Caption")[0].(Caption)
	if cp.From.ID != chair.ID() || cp.From.Identity != "chair" || cp.Language != "en" || !cp.End.Equal(now) {
		t.Errorf("caption %+v", cp)
	}
	// Speech that waited for the engine to come back goes into the record, not on screen.
	err := m.onLoop(ctx(t), "summit", func(r *Room) error {
		r.transcript(chair, "track", Transcript{Channel: Floor, Text: "old", End: now, Late: true})
		return nil
	})
	if err != nil || len(cc.all("Caption")) != 1 {
		t.Errorf("a late transcript was captioned (%v)", err)
	}

	// The engine stops answering: everyone hears that transcription paused; then that it is back.
	if w := cc.all("Joined")[0].(Welcome); w.Room.Transcription != TranscriptionOn {
		t.Fatalf("transcription %q at the welcome", w.Room.Transcription)
	}
	scribe.down.Store(true)
	m.TranscriberChanged()
	paused := func(v any) bool { return v.(RoomView).Transcription == TranscriptionPaused }
	cc.await(t, "RoomChanged", paused)
	scribe.down.Store(false)
	m.TranscriberChanged()
	for _, c := range []*fakeClient{cc, ruc, deafc} {
		waitUntil(t, "transcription is on again", func() bool {
			rs := c.all("RoomChanged")
			return len(rs) > 1 && paused(rs[len(rs)-2]) && rs[len(rs)-1].(RoomView).Transcription == TranscriptionOn
		})
	}
	// Telling a room what it knows already tells nobody anything.
	n := len(cc.all("RoomChanged"))
	m.TranscriberChanged()
	if err := chair.Chat(ctx(t), "sync"); err != nil { // after the room's loop took the news
		t.Fatal(err)
	}
	if got := len(cc.all("RoomChanged")); got != n {
		t.Errorf("%d room updates for no change", got-n)
	}
}

// stubTranslator answers with the text tagged by its target language, and
// counts the requests per language.
type stubTranslator struct {
	mu    sync.Mutex
	calls map[string]int
	fail  bool
}

func (s *stubTranslator) Translate(_ context.Context, text, from, to string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[from+">"+to]++
	if s.fail {
		return "", errors.New("engine down")
	}
	return "[" + to + "] " + text, nil
}

func (s *stubTranslator) Engine() string { return "stub 127.0.0.1" }

// TestCaptionsMachineTranslated: floor speech is translated once per language
// that listeners follow without a live interpreter, captioned to them marked
// as machine translation with its source, and recorded as a translation
// event that names its transcript; floor listeners get the original only.
func TestCaptionsMachineTranslated(t *testing.T) {
	tl := &stubTranslator{calls: map[string]int{}}
	var mu sync.Mutex
	var events []Event
	m := NewManager(Config{Engine: testEngine(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Transcriber: &stubScribe{},
		Translator: tl, OnEvent: func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }})
	t.Cleanup(m.Close)
	chair, cc := joinAs(t, m, "chair", func(c *auth.Claims, _ *JoinRequest) {
		c.Grants = append(c.Grants, auth.GrantModerate)
		c.Languages = []string{"en", "es", "ru"}
	})
	es1, es1c := joinAs(t, m, "es-1", grants(auth.GrantSubscribe))
	es2, es2c := joinAs(t, m, "es-2", grants(auth.GrantSubscribe))
	ru, ruc := joinAs(t, m, "ru-reads-floor", grants(auth.GrantSubscribe))
	for _, l := range []struct {
		p  *Participant
		ch string
	}{{es1, "es"}, {es2, "es"}, {ru, "ru"}} {
		if err := l.p.Listen(ctx(t), l.ch); err != nil {
			t.Fatal(err)
		}
	}
	if err := ru.Captions(ctx(t), Floor); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := m.onLoop(ctx(t), "summit", func(r *Room) error {
		r.transcript(chair, "track", Transcript{Channel: Floor, Language: "en", Text: "go forward ten meters", Start: now.Add(-2 * time.Second), End: now})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*fakeClient{es1c, es2c} {
		v := c.await(t, "Caption", func(any) bool { return true }).(Caption)
		if !v.Translated || !strings.HasPrefix(v.ID, "TS_") || v.Channel != "es" || v.Language != "es" || v.Text != "[es] go forward ten meters" ||
			v.SourceText != "go forward ten meters" || v.SourceLanguage != "en" || v.From.ID != chair.ID() {
			t.Errorf("translated caption %+v", v)
		}
	}
	if err := chair.Chat(ctx(t), "sync"); err != nil { // the loop has run past the translations
		t.Fatal(err)
	}
	for who, c := range map[string]*fakeClient{"the chair": cc, "who reads the floor": ruc} {
		if got := c.all("Caption"); len(got) != 1 || got[0].(Caption).Translated {
			t.Errorf("%s got %+v, want the original only", who, got)
		}
	}
	tl.mu.Lock()
	if len(tl.calls) != 1 || tl.calls["en>es"] != 1 {
		t.Errorf("translation requests %v, want one en>es", tl.calls)
	}
	tl.mu.Unlock()

	// An interpreter speaks into es with the microphone open: its listeners hear them, and
	// the floor is not machine translated for them; muted, the booth is empty again.
	interp, _ := joinAs(t, m, "interp-es", grants(auth.GrantSubscribe, auth.GrantInterpret), func(c *auth.Claims, _ *JoinRequest) {
		c.Interpret = []string{"en>es"}
	})
	if err := interp.Interpret(ctx(t), "es"); err != nil {
		t.Fatal(err)
	}
	mic := &pubTrack{key: "interp-es-mic", owner: interp, source: SourceMic, kind: "audio"}
	// speak says something on the floor and returns how many translations it started: on the
	// loop, before any could come back.
	speak := func(muted bool, text string) int {
		t.Helper()
		started := -1
		if err := m.onLoop(ctx(t), "summit", func(r *Room) error {
			mic.muted = muted
			interp.tracks[mic.key] = mic
			before := r.translating
			r.transcript(chair, "track", Transcript{Channel: Floor, Language: "en", Text: text, Start: now, End: now.Add(time.Second)})
			started = r.translating - before
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return started
	}
	if n := speak(false, "the booth is live"); n != 0 {
		t.Errorf("%d translations for a channel whose interpreter speaks", n)
	}
	if n := speak(true, "we agree"); n != 1 {
		t.Errorf("%d translations for a channel whose interpreter is muted, want 1", n)
	}
	es1c.await(t, "Caption", func(v any) bool { return v.(Caption).Text == "[es] we agree" && v.(Caption).Translated })
	mu.Lock()
	defer mu.Unlock()
	var transcriptID string
	var tr *Event
	for i, e := range events {
		switch { // the first of each: the interpreter's part comes after
		case e.Type == EventTranscript && transcriptID == "":
			transcriptID = e.Data["id"]
		case e.Type == EventTranslation && tr == nil:
			tr = &events[i]
		}
	}
	if tr == nil {
		t.Fatal("no translation event")
	}
	if d := tr.Data; !strings.HasPrefix(transcriptID, "TS_") || d["transcript"] != transcriptID || d["source_text"] != "go forward ten meters" ||
		d["source_language"] != "en" || d["language"] != "es" || d["text"] != "[es] go forward ten meters" ||
		d["engine"] != "stub 127.0.0.1" || d["machine"] != "true" || tr.Identity != "chair" {
		t.Errorf("translation event %+v (transcript %q)", tr, transcriptID)
	}
}
