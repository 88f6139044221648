package record

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
)

// TypeTranscript is the event type of a speech recogniser's text, and
// TypeTranslation of a machine translation of one (for listeners of a
// language no interpreter covered).
const (
	TypeTranscript  = "transcript"
	TypeTranslation = "translation"
)

// Utterance is one transcript event of a record: who spoke, on which channel
// and in which language, when, and what the recogniser made of it.
type Utterance struct {
	Seq         uint64    `json:"seq"`          // the event's place in the log, for citing it
	ID          string    `json:"id,omitempty"` // the room's name for this text (translations refer to it)
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Participant string    `json:"participant"`
	Identity    string    `json:"identity"`
	Channel     string    `json:"channel"`  // "floor", or the interpretation channel
	Language    string    `json:"language"` // what the recogniser was told to expect
	Text        string    `json:"text"`
	Engine      string    `json:"engine"`
	Model       string    `json:"model"`
	// Translation is set on a machine translation: Text is then the
	// engine's, in Language, of what this names.
	Translation *Source `json:"translation,omitempty"`
	// Corrections are participants' signed corrections of this line (kept
	// beside the record, checked against it); the line itself is as
	// recorded.
	Corrections []Correction `json:"corrections,omitempty"`
}

// Correction is a participant's signed statement that words of a line were
// heard wrong: Quote was said as Text.
type Correction struct {
	ID        string    `json:"id"` // the signed document's, in the record's readouts
	By        string    `json:"by"`
	Quote     string    `json:"quote"`
	Text      string    `json:"text"`
	Published time.Time `json:"published"`
}

// Correct adds c to the utterance of log line seq, if the transcript has it.
func (t *Transcript) Correct(seq uint64, c Correction) {
	for i := range t.Utterance {
		if t.Utterance[i].Seq == seq && t.Utterance[i].Translation == nil {
			t.Utterance[i].Corrections = append(t.Utterance[i].Corrections, c)
			return
		}
	}
}

// Source is what a machine translation was made from: the transcript and
// its text.
type Source struct {
	Transcript string `json:"transcript"` // its id
	Text       string `json:"text"`
	Language   string `json:"language"`
}

// Transcript is a record's transcript: its utterances in log order, and when
// the record began (the zero of subtitle times).
type Transcript struct {
	Record    string      `json:"record"`
	Room      string      `json:"room"`
	Began     time.Time   `json:"began"`
	Utterance []Utterance `json:"utterances"`
}

// ReadTranscript reads the transcript events of the record in dir. It checks
// that the log's lines chain (each names the hash of the one before), so a
// line edited, removed or inserted makes it fail; it does not check
// signatures: that is Verify's work, and the transcript says so.
func ReadTranscript(dir string) (*Transcript, error) {
	l, err := ReadLog(dir)
	if err != nil {
		return nil, err
	}
	return l.Transcript(), nil
}

// Transcript is the log's transcript events.
func (l *Log) Transcript() *Transcript {
	t := &Transcript{Record: l.Record, Room: l.Room, Began: l.Began, Utterance: []Utterance{}}
	for _, ln := range l.Lines {
		switch ln.Type {
		case TypeTranscript:
			t.Utterance = append(t.Utterance, utterance(ln.Entry))
		case TypeTranslation:
			u := utterance(ln.Entry)
			u.ID = ""
			u.Translation = &Source{Transcript: ln.Data["transcript"], Text: ln.Data["source_text"], Language: ln.Data["source_language"]}
			t.Utterance = append(t.Utterance, u)
		}
	}
	return t
}

func utterance(e Entry) Utterance {
	u := Utterance{Seq: e.Seq, ID: e.Data["id"], Participant: e.Participant, Identity: e.Identity,
		Channel: e.Data["channel"], Language: e.Data["language"], Text: e.Data["text"],
		Engine: e.Data["engine"], Model: e.Data["model"]}
	u.Start, _ = time.Parse(time.RFC3339Nano, e.Data["start"])
	u.End, _ = time.Parse(time.RFC3339Nano, e.Data["end"])
	return u
}

// Channel keeps only the utterances of one channel ("" keeps all).
func (t *Transcript) Channel(ch string) *Transcript {
	if ch == "" {
		return t
	}
	out := *t
	out.Utterance = []Utterance{}
	for _, u := range t.Utterance {
		if u.Channel == ch {
			out.Utterance = append(out.Utterance, u)
		}
	}
	return &out
}

// WriteVTT writes the transcript as WebVTT: a cue per utterance, timed from
// the record's beginning, with its speaker as the voice and its channel and
// language in the cue's text when the transcript mixes channels.
func (t *Transcript) WriteVTT(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "WEBVTT - %s\n\n", oneLine(t.Record))
	mixed := t.mixed()
	for _, u := range t.Utterance {
		end := u.End
		if end.Before(u.Start) {
			end = u.Start
		}
		fmt.Fprintf(bw, "%d\n%s --> %s\n<v %s>", u.Seq, vttTime(u.Start.Sub(t.Began)), vttTime(end.Sub(t.Began)), vttEscape(u.Identity))
		if mixed || u.Translation != nil {
			fmt.Fprintf(bw, "[%s] ", vttEscape(u.label()))
		}
		fmt.Fprintf(bw, "%s\n", vttEscape(oneLine(u.Text)))
		for _, c := range u.Corrections {
			fmt.Fprintf(bw, "[%s] %s\n", vttEscape(c.label()), vttEscape(oneLine(c.Text)))
		}
		fmt.Fprintln(bw)
	}
	return bw.Flush()
}

// WriteText writes the transcript for people to read: a line per utterance,
// with the time since the record began, the speaker, channel and language.
func (t *Transcript) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "Transcript of %s (room %s), begun %s. Machine transcription: check quotes against the media.\n",
		oneLine(t.Record), oneLine(t.Room), t.Began.UTC().Format(time.RFC3339))
	fmt.Fprintln(bw, "The log's lines chain; its signatures are checked by parley verify.")
	fmt.Fprintln(bw)
	for _, u := range t.Utterance {
		fmt.Fprintf(bw, "%s  %s (%s): %s\n", t.Clock(u.Start), oneLine(u.Identity), u.label(), oneLine(u.Text))
		for _, c := range u.Corrections {
			fmt.Fprintf(bw, "         %s: %s\n", c.label(), oneLine(c.Text))
		}
	}
	return bw.Flush()
}

// label says whose correction it is and of which words.
func (c Correction) label() string {
	return fmt.Sprintf("corrected by %s: %q was", oneLine(c.By), oneLine(c.Quote))
}

func (u Utterance) label() string {
	l := oneLine(u.Channel)
	if u.Language != "" && u.Language != u.Channel {
		l += ", " + oneLine(u.Language)
	}
	if u.Translation != nil {
		l += ", machine translation"
	}
	return l
}

// mixed reports whether the utterances come from more than one channel.
func (t *Transcript) mixed() bool {
	for _, u := range t.Utterance {
		if u.Channel != t.Utterance[0].Channel {
			return true
		}
	}
	return false
}

// oneLine keeps text on its line: a recogniser's (or a forger's) line breaks
// would start new cues or lines of their own.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// vttEscape escapes what WebVTT cue text reads as markup.
func vttEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "-->", "--&gt;").Replace(s)
}

// vttTime is d as WebVTT's hh:mm:ss.ttt (never negative).
func vttTime(d time.Duration) string {
	d = max(d, 0)
	ms := d.Milliseconds()
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
}

// Clock is the time since the record began at at, as h:mm:ss.
func (t *Transcript) Clock(at time.Time) string {
	s := int64(max(at.Sub(t.Began), 0) / time.Second)
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}
