package readout

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/parleyhq/parley/record"
)

// Timing tolerances of citations. A citation's range must overlap what it
// cites and may reach a little beyond (a reader selects a span by hand on a
// timeline), but not drift off it: a range moved by seconds is a different
// moment.
const (
	slack       = 2 * time.Second // how far a range may reach beyond its events
	touch       = 500 * time.Millisecond
	interpDelay = 15 * time.Second // how far behind the floor an interpretation may run
)

// Options say whose keys to trust.
type Options struct {
	// Signers maps identities to keys published independently of the record
	// (parley verify's --signer). When the author is among them, only that
	// key counts. When not, the key must be one the record announced in the
	// author's name: the record vouches for it, and a record is only as good
	// as its own verification (run it with the author as a signer).
	Signers map[string]ed25519.PublicKey
}

// Result is what Check found.
type Result struct {
	ID        string
	Author    string
	KeyGiven  bool // the author's key was given (Signers), not taken from the record
	Citations int
	Uncited   []string // statements of the text that cite nothing
	Unused    []string // citations the text never refers to
}

// Problem is a check failure, naming the citation it is about, if any.
type Problem struct {
	Citation string
	Reason   string
}

func (p *Problem) Error() string {
	if p.Citation != "" {
		return fmt.Sprintf("citation [^%s]: %s", p.Citation, p.Reason)
	}
	return p.Reason
}

// Check checks r against the record's log: the author's key, the binding to
// this record's end, and every citation.
func Check(r *Readout, l *record.Log, o Options) (*Result, error) {
	res := &Result{ID: r.ID, Author: r.Body.Author, Citations: len(r.Body.Citations)}
	if err := checkKey(r, l, o, res); err != nil {
		return res, err
	}
	switch {
	case r.Body.Record != l.Record:
		return res, &Problem{Reason: fmt.Sprintf("the readout is of record %s, not of this record (%s)", r.Body.Record, l.Record)}
	case l.End == "":
		return res, &Problem{Reason: "the record has no end marker: a readout binds to an ended record only"}
	case r.Body.End != l.End:
		return res, &Problem{Reason: "the readout is bound to another ending of this record: the record it was written on is not this one"}
	}
	for i := range r.Body.Citations {
		c := &r.Body.Citations[i]
		if err := Resolve(l, c); err != nil {
			return res, &Problem{Citation: c.ID, Reason: err.Error()}
		}
	}
	if r.Body.Kind == KindCorrection {
		c := r.Body.Citations[0] // checkCorrection: one citation, one event
		if ln, _ := l.Line(c.Events[0].Seq); ln.Type != record.TypeTranscript {
			return res, &Problem{Citation: c.ID, Reason: fmt.Sprintf("event %d is a %s, and only transcript lines are corrected", ln.Seq, ln.Type)}
		}
		return res, nil // its text is the corrected words, not statements to cite
	}
	cited := map[string]bool{}
	for _, s := range Statements(r.Body.Text) {
		if len(s.Cites) == 0 {
			res.Uncited = append(res.Uncited, s.Text)
		}
		for _, id := range s.Cites {
			cited[id] = true
		}
	}
	for _, c := range r.Body.Citations {
		if !cited[c.ID] {
			res.Unused = append(res.Unused, c.ID)
		}
	}
	return res, nil
}

func checkKey(r *Readout, l *record.Log, o Options, res *Result) error {
	if want, ok := o.Signers[r.Body.Author]; ok {
		if !want.Equal(r.Key) {
			return &Problem{Reason: fmt.Sprintf("the readout is signed with key %s, not with %s's key that was given", fingerprint(r.Key), r.Body.Author)}
		}
		res.KeyGiven = true
		return nil
	}
	if len(o.Signers) > 0 {
		return &Problem{Reason: fmt.Sprintf("no key was given for the author, %s", r.Body.Author)}
	}
	key := b64.EncodeToString(r.Key)
	for _, ln := range l.Lines {
		if ln.Type == record.TypeKey && ln.Identity == r.Body.Author && ln.Key == key {
			return nil
		}
	}
	return &Problem{Reason: fmt.Sprintf("the readout is signed with key %s, which the record never announced for %s", fingerprint(r.Key), r.Body.Author)}
}

func fingerprint(k ed25519.PublicKey) string { return b64.EncodeToString(k)[:16] }

// bookkeeping are the record's own machinery: a readout cites what happened
// in the room, not how the record was kept.
var bookkeeping = map[string]bool{record.TypeCheckpoint: true, record.TypeCountersign: true, record.TypeKey: true,
	record.TypeFileStart: true, record.TypeChunk: true, record.TypeFileEnd: true, record.TypeEnd: true}

// span is an event's time in the record: a transcript's utterance from its
// start to its end, anything else the instant it was logged.
type span struct{ from, to time.Duration }

// resolved is what a list of refs names in the log.
type resolved struct {
	lines   []record.Line
	span    span
	text    string // the quotable text of the events, in order
	channel string // the channel of transcript and chat events ("" if none)
}

// Resolve checks one citation against the log: its events exist with those
// hashes, its range is where they are, its channel is theirs, and its quotes
// are the record's words.
func Resolve(l *record.Log, c *Citation) error {
	duration := time.Duration(0)
	if n := len(l.Lines); n > 0 {
		duration = l.Since(l.Lines[n-1].Time)
	}
	from, to := seconds(c.From), seconds(c.To)
	if to > duration+time.Second {
		return fmt.Errorf("its range ends at %s, after the record's end at %s", clock(to), clock(duration))
	}
	if len(c.Events) == 0 {
		if c.Quote != "" {
			return errors.New("it quotes words but names no event that holds them")
		}
		if !knownChannel(l, c.Channel) {
			return fmt.Errorf("the record has no channel %q", c.Channel)
		}
	} else {
		ev, err := resolve(l, c.Events)
		if err != nil {
			return err
		}
		if ev.channel != "" && ev.channel != c.Channel {
			return fmt.Errorf("its events are on channel %q, not %q", ev.channel, c.Channel)
		}
		if from < ev.span.from-slack || to > ev.span.to+slack || to < ev.span.from-touch || from > ev.span.to+touch {
			return fmt.Errorf("its range %s-%s is not where its events are (%s-%s)", clock(from), clock(to), clock(ev.span.from), clock(ev.span.to))
		}
		if err := quoted(c.Quote, ev); err != nil {
			return err
		}
	}
	if in := c.Interpretation; in != nil {
		if in.Channel == "floor" || in.Channel == "chat" || in.Channel == c.Channel {
			return fmt.Errorf("its interpretation is on %q, which is not an interpretation channel of this moment", in.Channel)
		}
		ev, err := resolve(l, in.Events)
		if err != nil {
			return fmt.Errorf("its interpretation: %w", err)
		}
		for _, ln := range ev.lines {
			if ln.Type != record.TypeTranscript {
				return fmt.Errorf("its interpretation cites event %d, a %s, where only transcript events are interpretation", ln.Seq, ln.Type)
			}
		}
		if ev.channel != in.Channel {
			return fmt.Errorf("its interpretation's events are on channel %q, not %q", ev.channel, in.Channel)
		}
		if ev.span.to < from-touch || ev.span.from > to+interpDelay {
			return fmt.Errorf("its interpretation (%s-%s) is not of the moment %s-%s", clock(ev.span.from), clock(ev.span.to), clock(from), clock(to))
		}
		if err := quoted(in.Quote, ev); err != nil {
			return fmt.Errorf("its interpretation: %w", err)
		}
	}
	return nil
}

func resolve(l *record.Log, refs []Ref) (resolved, error) {
	var ev resolved
	var texts []string
	prev := uint64(0)
	for i, ref := range refs {
		if ref.Seq <= prev {
			return ev, errors.New("its events must be listed in the record's order, once each")
		}
		prev = ref.Seq
		ln, ok := l.Line(ref.Seq)
		if !ok {
			return ev, fmt.Errorf("event %d is not in the record (it has %d)", ref.Seq, len(l.Lines))
		}
		if ln.Hash != ref.Hash {
			return ev, fmt.Errorf("event %d of the record is not the event cited (its hash differs)", ref.Seq)
		}
		if bookkeeping[ln.Type] || ln.Type == record.TypeStart {
			return ev, fmt.Errorf("event %d is the record's own %s, not something that happened in the room", ref.Seq, ln.Type)
		}
		s := spanOf(l, ln)
		if i == 0 {
			ev.span = s
		}
		ev.span.from, ev.span.to = min(ev.span.from, s.from), max(ev.span.to, s.to)
		ch := ""
		switch ln.Type {
		case record.TypeTranscript:
			ch = ln.Data["channel"]
			texts = append(texts, ln.Data["text"])
		case "chat":
			ch = "chat"
			texts = append(texts, ln.Data["text"])
		}
		if ch != "" {
			if ev.channel != "" && ev.channel != ch {
				return ev, fmt.Errorf("its events are on different channels (%q and %q)", ev.channel, ch)
			}
			ev.channel = ch
		}
		ev.lines = append(ev.lines, ln)
	}
	ev.text = normalize(strings.Join(texts, " "))
	return ev, nil
}

func spanOf(l *record.Log, ln record.Line) span {
	at := l.Since(ln.Time)
	if ln.Type != record.TypeTranscript {
		return span{at, at}
	}
	s, err1 := time.Parse(time.RFC3339Nano, ln.Data["start"])
	e, err2 := time.Parse(time.RFC3339Nano, ln.Data["end"])
	if err1 != nil || err2 != nil || e.Before(s) {
		return span{at, at}
	}
	return span{l.Since(s), l.Since(e)}
}

// quoted checks that quote is the events' own words: a run of whole words of
// their text, spaces aside. A quote may be part of what was said, never
// words that were not (a cut that changes the sense is for the reader to see
// by following the citation to the whole utterance).
func quoted(quote string, ev resolved) error {
	q := normalize(quote)
	if q == "" {
		return nil
	}
	if ev.text == "" {
		return errors.New("it quotes words, but its events hold no text (only transcript and chat events do)")
	}
	hay := " " + ev.text + " "
	if !strings.Contains(hay, " "+q+" ") {
		return fmt.Errorf("its quote %q is not what the record says there (%q)", shorten(q), shorten(ev.text))
	}
	return nil
}

func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }

func shorten(s string) string {
	if r := []rune(s); len(r) > 120 {
		return string(r[:117]) + "..."
	}
	return s
}

// knownChannel reports whether the record ever had channel ch.
func knownChannel(l *record.Log, ch string) bool {
	if ch == "floor" || ch == "chat" {
		return true
	}
	for _, ln := range l.Lines {
		if (ln.Type == "interpret" || ln.Type == "listen" || ln.Type == record.TypeTranscript) && ln.Data["channel"] == ch {
			return true
		}
	}
	return false
}

func seconds(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

func clock(d time.Duration) string {
	neg := ""
	if d < 0 {
		neg, d = "-", -d
	}
	ms := d.Milliseconds()
	return fmt.Sprintf("%s%d:%02d:%02d.%d", neg, ms/3600000, ms/60000%60, ms/1000%60, ms%1000/100)
}

// Statement is a sentence of a readout's text and the citations it makes.
type Statement struct {
	Text  string
	Cites []string
}

// Statements splits Markdown text into the statements a reader checks: the
// sentences of its paragraphs and list items (headings, quotes set off as
// code and blank lines are not claims).
func Statements(text string) []Statement {
	var out []Statement
	for _, para := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		para = strings.TrimSpace(para)
		if para == "" || strings.HasPrefix(para, "#") || strings.HasPrefix(para, "```") || strings.HasPrefix(para, "---") {
			continue
		}
		para = strings.TrimSpace(strings.TrimLeft(para, "-*>0123456789. "))
		for _, s := range sentences(para) {
			if strings.TrimSpace(markerRE.ReplaceAllString(s, "")) == "" {
				// A marker alone after a sentence's full stop belongs to it.
				if n := len(out); n > 0 {
					out[n-1].Cites = append(out[n-1].Cites, Markers(s)...)
				}
				continue
			}
			out = append(out, Statement{Text: s, Cites: Markers(s)})
		}
	}
	return out
}

// sentences cuts a paragraph after ., ! or ? followed by a space (a marker
// right after the stop stays with its sentence).
func sentences(p string) []string {
	var out []string
	start := 0
	for i := 0; i < len(p); i++ {
		if p[i] != '.' && p[i] != '!' && p[i] != '?' {
			continue
		}
		j := i + 1
		for {
			loc := markerRE.FindStringIndex(p[j:])
			if loc == nil || loc[0] != 0 {
				break
			}
			j += loc[1]
		}
		if j == len(p) || p[j] == ' ' {
			out = append(out, strings.TrimSpace(p[start:j]))
			start = j
			i = j
		}
	}
	if rest := strings.TrimSpace(p[start:]); rest != "" {
		out = append(out, rest)
	}
	return out
}
