package readout_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/readout"
	"github.com/parleyhq/parley/record"
)

// meeting writes a small ended record: head-a speaks on the floor (and is
// interpreted into English), head-b chats. Times are on a fixed clock so
// citations can name them.
type meeting struct {
	dir     string
	log     *record.Log
	authorA ed25519.PrivateKey
	authorB ed25519.PrivateKey
	t0      time.Time
}

func newMeeting(t testing.TB) *meeting {
	t.Helper()
	_, server, _ := ed25519.GenerateKey(rand.Reader)
	_, a, _ := ed25519.GenerateKey(rand.Reader)
	_, b, _ := ed25519.GenerateKey(rand.Reader)
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	rec, err := record.Start(record.Options{Root: t.TempDir(), Room: "summit", Key: server, CheckpointEvery: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	pub := func(k ed25519.PrivateKey) string {
		return base64.RawURLEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
	}
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	ev := func(s float64, typ, pid, id string, data map[string]string) {
		now = at(s)
		rec.Event(typ, pid, id, data, now)
	}
	ev(1, "join", "p1", "head-a", map[string]string{"name": "Head A"})
	rec.Key("p1", "head-a", pub(a))
	ev(2, "join", "p2", "head-b", map[string]string{"name": "Head B"})
	rec.Key("p2", "head-b", pub(b))
	ev(3, "join", "p3", "interp-en", nil)
	ev(3.5, "interpret", "p3", "interp-en", map[string]string{"channel": "en"})
	say := func(end float64, pid, id, ch, lang, text string, start float64) {
		ev(end+0.8, "transcript", pid, id, map[string]string{"channel": ch, "language": lang, "text": text,
			"start": at(start).Format(time.RFC3339Nano), "end": at(end).Format(time.RFC3339Nano), "engine": "test", "model": "m"})
	}
	say(14, "p1", "head-a", "floor", "ru", "мы не согласны с этим предложением", 10)           // seq 8
	say(17.5, "p3", "interp-en", "en", "en", "we do not agree with this proposal", 11.5)       // seq 9
	ev(20, "chat", "p2", "head-b", map[string]string{"text": "Let us return to it tomorrow."}) // seq 10
	say(30, "p2", "head-b", "floor", "en", "go forward ten meters", 27)                        // seq 11
	now = at(40)
	if _, err := rec.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := record.ReadLog(rec.Dir())
	if err != nil {
		t.Fatal(err)
	}
	return &meeting{dir: rec.Dir(), log: l, authorA: a, authorB: b, t0: t0}
}

// ref names the event of seq as the log has it.
func (m *meeting) ref(t testing.TB, seq uint64, typ string) readout.Ref {
	t.Helper()
	ln, ok := m.log.Line(seq)
	if !ok || ln.Type != typ {
		t.Fatalf("event %d is %+v, not a %s", seq, ln.Entry, typ)
	}
	return readout.Ref{Seq: seq, Hash: ln.Hash}
}

// body is head-b's readout with two citations: head-a's refusal (with its
// interpretation) and head-b's own chat line.
func (m *meeting) body(t testing.TB) readout.Body {
	return readout.Body{
		Record: m.log.Record, End: m.log.End, Author: "head-b", Title: "Readout of the summit",
		Published: m.t0.Add(time.Hour),
		Text: "# Summary\n\nThe Russian side rejected the proposal.[^1] Head B proposed to return to it tomorrow.[^2]\n\n" +
			"Both sides were warm.\n",
		Citations: []readout.Citation{
			{ID: "1", From: 10, To: 14, Channel: "floor", Events: []readout.Ref{m.ref(t, 8, "transcript")},
				Quote: "не согласны с этим предложением",
				Interpretation: &readout.Rendering{Channel: "en", Events: []readout.Ref{m.ref(t, 9, "transcript")},
					Quote: "we do not agree with this proposal"}},
			{ID: "2", From: 19.5, To: 20.5, Channel: "chat", Events: []readout.Ref{m.ref(t, 10, "chat")},
				Quote: "return to it tomorrow."},
		},
	}
}

func sign(t *testing.T, b readout.Body, key ed25519.PrivateKey) []byte {
	t.Helper()
	f, err := readout.Sign(b, key)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(f)
	return out
}

func check(t *testing.T, m *meeting, file []byte, o readout.Options) (*readout.Result, error) {
	t.Helper()
	r, err := readout.Parse(file)
	if err != nil {
		return nil, err
	}
	return readout.Check(r, m.log, o)
}

func TestReadoutVerifies(t *testing.T) {
	m := newMeeting(t)
	file := sign(t, m.body(t), m.authorB)
	signers := map[string]ed25519.PublicKey{"head-b": m.authorB.Public().(ed25519.PublicKey)}
	res, err := check(t, m, file, readout.Options{Signers: signers})
	if err != nil {
		t.Fatalf("a faithful readout fails: %v", err)
	}
	if !res.KeyGiven || res.Citations != 2 || res.Author != "head-b" {
		t.Errorf("result %+v", res)
	}
	if len(res.Uncited) != 1 || res.Uncited[0] != "Both sides were warm." {
		t.Errorf("uncited statements %q, want the one that cites nothing", res.Uncited)
	}
	// Without a given key, the key the record announced for the author counts.
	if res, err := check(t, m, file, readout.Options{}); err != nil || res.KeyGiven {
		t.Errorf("with the record's key: %+v, %v", res, err)
	}
}

// TestReadoutTampering: each way of bending a readout fails, naming what.
func TestReadoutTampering(t *testing.T) {
	m := newMeeting(t)
	signerB := map[string]ed25519.PublicKey{"head-b": m.authorB.Public().(ed25519.PublicKey)}
	other := newMeeting(t)
	cases := []struct {
		name   string
		change func(b *readout.Body) ed25519.PrivateKey // returns the signing key
		opts   readout.Options
		want   string
	}{
		{"changed quote", func(b *readout.Body) ed25519.PrivateKey {
			b.Citations[0].Quote = "мы согласны с этим предложением" // the "not" taken out
			return m.authorB
		}, readout.Options{Signers: signerB}, "citation [^1]: its quote"},
		{"changed interpretation quote", func(b *readout.Body) ed25519.PrivateKey {
			b.Citations[0].Interpretation.Quote = "we agree with this proposal"
			return m.authorB
		}, readout.Options{Signers: signerB}, "citation [^1]: its interpretation: its quote"},
		{"words nobody said", func(b *readout.Body) ed25519.PrivateKey {
			b.Citations[1].Quote = "return to it never."
			return m.authorB
		}, readout.Options{Signers: signerB}, "citation [^2]: its quote"},
		{"a part of a word", func(b *readout.Body) ed25519.PrivateKey {
			b.Citations[1].Quote = "eturn to it"
			return m.authorB
		}, readout.Options{Signers: signerB}, "citation [^2]: its quote"},
		{"shifted time range", func(b *readout.Body) ed25519.PrivateKey {
			b.Citations[0].From, b.Citations[0].To = 20, 24
			return m.authorB
		}, readout.Options{Signers: signerB}, "citation [^1]: its range"},
		{"another event's hash", func(b *readout.Body) ed25519.PrivateKey {
			b.Citations[1].Events[0].Hash = m.ref(t, 8, "transcript").Hash
			return m.authorB
		}, readout.Options{Signers: signerB}, "citation [^2]: event 10 of the record is not the event cited"},
		{"moved to another record", func(b *readout.Body) ed25519.PrivateKey {
			b.Record, b.End = other.log.Record, other.log.End
			return m.authorB
		}, readout.Options{Signers: signerB}, "not of this record"},
		{"bound to another end", func(b *readout.Body) ed25519.PrivateKey {
			b.End = other.log.End
			return m.authorB
		}, readout.Options{Signers: signerB}, "another ending"},
		{"wrong signer key", func(b *readout.Body) ed25519.PrivateKey { return m.authorA },
			readout.Options{Signers: signerB}, "not with head-b's key"},
		{"a key the record never announced", func(b *readout.Body) ed25519.PrivateKey {
			_, k, _ := ed25519.GenerateKey(rand.Reader)
			return k
		}, readout.Options{}, "never announced for head-b"},
		{"a chat line cited as floor speech", func(b *readout.Body) ed25519.PrivateKey {
			b.Citations[1].Channel = "floor"
			return m.authorB
		}, readout.Options{Signers: signerB}, `on channel "chat", not "floor"`},
		{"a checkpoint cited", func(b *readout.Body) ed25519.PrivateKey {
			for _, ln := range m.log.Lines {
				if ln.Type == record.TypeCheckpoint {
					b.Citations[1].Events = []readout.Ref{{Seq: ln.Seq, Hash: ln.Hash}}
				}
			}
			return m.authorB
		}, readout.Options{Signers: signerB}, "the record's own checkpoint"},
		{"the floor cited as interpretation", func(b *readout.Body) ed25519.PrivateKey {
			b.Citations[0].Interpretation.Events = []readout.Ref{m.ref(t, 11, "transcript")}
			b.Citations[0].Interpretation.Channel = "floor"
			return m.authorB
		}, readout.Options{Signers: signerB}, "not an interpretation channel"},
		{"an interpretation of another moment", func(b *readout.Body) ed25519.PrivateKey {
			b.Citations[1] = readout.Citation{ID: "2", From: 28, To: 30, Channel: "floor",
				Events:         []readout.Ref{m.ref(t, 11, "transcript")},
				Interpretation: &readout.Rendering{Channel: "en", Events: []readout.Ref{m.ref(t, 9, "transcript")}}}
			return m.authorB
		}, readout.Options{Signers: signerB}, "not of the moment"},
		{"beyond the record", func(b *readout.Body) ed25519.PrivateKey {
			b.Citations = append(b.Citations, readout.Citation{ID: "3", From: 100, To: 110, Channel: "floor"})
			b.Text += "Later.[^3]"
			return m.authorB
		}, readout.Options{Signers: signerB}, "citation [^3]: its range ends"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := m.body(t)
			key := c.change(&b)
			_, err := check(t, m, sign(t, b, key), c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestReadoutFileTampering: a signed file changed afterwards fails to parse,
// and malformed files are refused with a reason.
func TestReadoutFileTampering(t *testing.T) {
	m := newMeeting(t)
	var f readout.File
	if err := json.Unmarshal(sign(t, m.body(t), m.authorB), &f); err != nil {
		t.Fatal(err)
	}
	edited := f
	edited.Body = strings.Replace(f.Body, "rejected", "welcomed", 1)
	cases := map[string]any{
		"edited after signing": edited,
		"unknown field":        map[string]any{"format": f.Format, "body": f.Body, "key": f.Key, "sig": f.Sig, "note": "x"},
		"no signature":         readout.File{Format: f.Format, Body: f.Body, Key: f.Key},
		"other format":         readout.File{Format: "parley-readout-v0", Body: f.Body, Key: f.Key, Sig: f.Sig},
	}
	for name, v := range cases {
		b, _ := json.Marshal(v)
		if _, err := readout.Parse(b); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	if _, err := readout.Parse([]byte(strings.Repeat(" ", readout.MaxSize+1))); err == nil {
		t.Error("an oversized file parsed")
	}
	// A marker with no citation, caught at signing and at parsing.
	b := m.body(t)
	b.Text += " And more.[^9]"
	if _, err := readout.Sign(b, m.authorB); err == nil || !strings.Contains(err.Error(), "[^9]") {
		t.Errorf("a dangling marker: %v", err)
	}
}

func TestStatements(t *testing.T) {
	got := readout.Statements("# Title\n\nOne said so.[^1] Two did not. Three? [^2]\n- Item four[^3]\n\n```\ncode\n")
	want := []struct {
		text  string
		cites string
	}{{"One said so.[^1]", "1"}, {"Two did not.", ""}, {"Three?", "2"}, {"Item four[^3]", "3"}, {"code", ""}}
	if len(got) != len(want) {
		t.Fatalf("statements %+v", got)
	}
	for i, w := range want {
		if got[i].Text != w.text || strings.Join(got[i].Cites, ",") != w.cites {
			t.Errorf("statement %d: %+v, want %+v", i, got[i], w)
		}
	}
}

// correction is head-b's correction of the recogniser's "ten meters" in
// their own floor line (seq 11) to "two meters".
func (m *meeting) correction(t testing.TB) readout.Body {
	return readout.Body{
		Kind: readout.KindCorrection, Record: m.log.Record, End: m.log.End, Author: "head-b",
		Published: m.t0.Add(time.Hour), Text: "two meters",
		Citations: []readout.Citation{{ID: "c", From: 27, To: 30, Channel: "floor",
			Events: []readout.Ref{m.ref(t, 11, "transcript")}, Quote: "ten meters"}},
	}
}

// TestCorrection: a correction of a transcript line verifies; one that
// quotes words the line does not hold, cites a chat line or an interpretation,
// says the same, or names an unknown kind fails, naming why.
func TestCorrection(t *testing.T) {
	m := newMeeting(t)
	if _, err := check(t, m, sign(t, m.correction(t), m.authorB), readout.Options{}); err != nil {
		t.Fatalf("a faithful correction fails: %v", err)
	}
	// Anyone who was there may correct anyone's line.
	other := m.correction(t)
	other.Author = "head-a"
	if _, err := check(t, m, sign(t, other, m.authorA), readout.Options{}); err != nil {
		t.Fatalf("head-a's correction of head-b's line fails: %v", err)
	}
	for name, c := range map[string]struct {
		edit func(b *readout.Body)
		want string
	}{
		"words the line does not hold": {func(b *readout.Body) { b.Citations[0].Quote = "nine meters" }, "quote"},
		"the same words":               {func(b *readout.Body) { b.Text = " ten  meters" }, "same"},
		"a chat line": {func(b *readout.Body) {
			b.Citations[0] = readout.Citation{ID: "c", From: 19.5, To: 20.5, Channel: "chat", Events: []readout.Ref{m.ref(t, 10, "chat")}, Quote: "tomorrow"}
		}, "chat"},
		"two lines": {func(b *readout.Body) {
			b.Citations = append(b.Citations, readout.Citation{ID: "d", From: 10, To: 14, Channel: "floor", Events: []readout.Ref{m.ref(t, 8, "transcript")}})
		}, "exactly one"},
		"an interpretation": {func(b *readout.Body) {
			b.Citations[0].Interpretation = &readout.Rendering{Channel: "en", Events: []readout.Ref{m.ref(t, 9, "transcript")}}
		}, "interpretation"},
		"a join": {func(b *readout.Body) {
			b.Citations[0] = readout.Citation{ID: "c", From: 1, To: 1, Channel: "floor", Events: []readout.Ref{m.ref(t, 2, "join")}, Quote: "x"}
		}, ""},
		"an unknown kind": {func(b *readout.Body) { b.Kind = "erratum" }, "kind"},
	} {
		b := m.correction(t)
		c.edit(&b)
		text, _ := json.Marshal(b)
		f := readout.File{Format: readout.Format, Body: string(text),
			Key: base64.RawURLEncoding.EncodeToString(m.authorB.Public().(ed25519.PublicKey)),
			Sig: base64.RawURLEncoding.EncodeToString(ed25519.Sign(m.authorB, readout.SignedText(string(text))))}
		file, _ := json.Marshal(f)
		_, err := check(t, m, file, readout.Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error about %q", name, err, c.want)
		}
	}
}
