// Package readout keeps readouts: a participant's published account of a
// meeting whose every claim cites the meeting's record. A readout is a signed
// document of its own, beside the record (never inside its hash chain): the
// author's Ed25519 key (the one their browser countersigned the record with)
// signs the record's id, the hash of its end marker, the text and the
// citations. Anyone holding the record can then check that every citation
// names events the record has, at the moments it says, and that every quote
// is the record's own text there.
//
// What a readout proves is in docs/readouts.md: that the cited moments exist
// and what the record's transcript says there, not that the transcript is a
// perfect hearing.
package readout

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Format names the readout format.
const Format = "parley-readout-v1"

// statementPrefix is what the author's key signs before the body. No other
// statement a participant's key signs begins with it: checkpoints begin
// "parley checkpoint", key changes "parley key change".
const statementPrefix = "parley readout\n"

// Limits on a readout: it is read from strangers (a POST, a file someone
// sent), so each part is bounded before anything is resolved.
const (
	MaxSize           = 1 << 20 // the whole file
	MaxText           = 256 << 10
	MaxTitle          = 300
	MaxCitations      = 1000
	MaxEventsPerCite  = 200
	MaxQuote          = 8 << 10
	maxChannel        = 64
	maxCitationIDSize = 32
)

// File is a readout as stored and exchanged. Body is the JSON text the author
// signed, kept as they wrote it: re-encoding it would need both sides to agree
// on a canonical JSON, and a signature over the exact bytes needs none.
type File struct {
	Format string `json:"format"`
	Body   string `json:"body"`
	Key    string `json:"key"` // base64url of the raw Ed25519 public key
	Sig    string `json:"sig"` // base64url of the signature of SignedText(Body)
}

// KindCorrection marks a correction: a participant's signed statement that
// words of one transcript line were heard wrong, and what was said. It never
// rewrites the line: the record keeps what the recogniser wrote, and the
// correction stands beside it, as signed by whom, for readers to weigh.
const KindCorrection = "correction"

// Body is what the author wrote and signed.
type Body struct {
	// Kind is "" for a readout, KindCorrection for a correction: then its
	// one citation names one transcript line and quotes the words corrected,
	// and Text is what the author says was said in their place.
	Kind      string     `json:"kind,omitempty"`
	Record    string     `json:"record"`
	End       string     `json:"end"` // hex SHA-256 of the record's end marker line
	Author    string     `json:"author"`
	Title     string     `json:"title"`
	Published time.Time  `json:"published"`
	Language  string     `json:"language,omitempty"`
	Text      string     `json:"text"` // Markdown; a claim cites with a footnote marker [^ID]
	Citations []Citation `json:"citations"`
}

// Citation points into the record: events by sequence number and line hash,
// a media time range on a channel, and the words quoted there.
type Citation struct {
	ID      string  `json:"id"`
	From    float64 `json:"from"` // seconds since the record began
	To      float64 `json:"to"`
	Channel string  `json:"channel"` // "floor", an interpretation channel, or "chat"
	Events  []Ref   `json:"events"`
	Quote   string  `json:"quote,omitempty"`
	// Interpretation is the same moment as interpreted into another
	// channel, when there was an interpreter: its own events and quote.
	Interpretation *Rendering `json:"interpretation,omitempty"`
}

// Ref names one line of the record's log.
type Ref struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"` // hex SHA-256 of the line
}

// Rendering is a citation's moment on an interpretation channel.
type Rendering struct {
	Channel string `json:"channel"`
	Events  []Ref  `json:"events"`
	Quote   string `json:"quote,omitempty"`
}

// Readout is a parsed file whose signature verifies with the key it names.
// Whose key that is, and whether the citations hold, is Check's work.
type Readout struct {
	File File
	Body Body
	Key  ed25519.PublicKey
	ID   string // stable name: derived from the signed statement
}

var b64 = base64.RawURLEncoding.Strict()

// SignedText is what the author's key signs.
func SignedText(body string) []byte { return []byte(statementPrefix + body) }

// idOf names a readout by its signed statement: the same text by the same
// author is the same readout, and an edit makes a new one.
func idOf(body string) string {
	s := sha256.Sum256(SignedText(body))
	return hex.EncodeToString(s[:8])
}

var citationIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Parse reads a readout file, checks its shape and limits, and that its
// signature verifies with the key it carries.
func Parse(b []byte) (*Readout, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("the readout is %d bytes, more than the %d a readout may have", len(b), MaxSize)
	}
	var f File
	if err := strictUnmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("not a readout file: %w", err)
	}
	if f.Format != Format {
		return nil, fmt.Errorf("not a readout of format %s", Format)
	}
	key, err := b64.DecodeString(f.Key)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return nil, errors.New("the readout's key is not a base64url Ed25519 public key")
	}
	sig, err := b64.DecodeString(f.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, errors.New("the readout's signature is malformed")
	}
	if !ed25519.Verify(key, SignedText(f.Body), sig) {
		return nil, errors.New("the readout's signature does not verify with its key: its text or citations were changed after it was signed")
	}
	r := &Readout{File: f, Key: key, ID: idOf(f.Body)}
	if err := strictUnmarshal([]byte(f.Body), &r.Body); err != nil {
		return nil, fmt.Errorf("the readout's body is malformed: %w", err)
	}
	if err := r.Body.check(); err != nil {
		return nil, err
	}
	return r, nil
}

// Sign makes the file of body, signed with key (tests and tools; browsers
// sign with their own key in WebCrypto).
func Sign(body Body, key ed25519.PrivateKey) (File, error) {
	if err := body.check(); err != nil {
		return File{}, err
	}
	text, err := json.Marshal(body)
	if err != nil {
		return File{}, err
	}
	return File{
		Format: Format, Body: string(text),
		Key: b64.EncodeToString(key.Public().(ed25519.PublicKey)),
		Sig: b64.EncodeToString(ed25519.Sign(key, SignedText(string(text)))),
	}, nil
}

// check holds a body to its limits and shape.
func (b *Body) check() error {
	switch {
	case b.Record == "" || len(b.Record) > 200:
		return errors.New("the readout names no record")
	case !isHash(b.End):
		return errors.New("the readout's end is not the hex SHA-256 of a record's end marker")
	case b.Author == "" || len(b.Author) > 200:
		return errors.New("the readout names no author")
	case len(b.Title) > MaxTitle:
		return fmt.Errorf("the title is longer than %d bytes", MaxTitle)
	case len(b.Text) > MaxText:
		return fmt.Errorf("the text is longer than %d bytes", MaxText)
	case strings.TrimSpace(b.Text) == "":
		return errors.New("the readout has no text")
	case len(b.Citations) > MaxCitations:
		return fmt.Errorf("more than %d citations", MaxCitations)
	case b.Published.IsZero():
		return errors.New("the readout has no publication time")
	}
	for _, s := range []string{b.Record, b.Author, b.Title, b.Language, b.Text} {
		if !utf8.ValidString(s) {
			return errors.New("the readout holds text that is not UTF-8")
		}
	}
	seen := map[string]bool{}
	for i, c := range b.Citations {
		if !citationIDRE.MatchString(c.ID) {
			return fmt.Errorf("citation %d: its id must be 1 to %d letters, digits, - or _", i+1, maxCitationIDSize)
		}
		if seen[c.ID] {
			return fmt.Errorf("citation [^%s] appears twice", c.ID)
		}
		seen[c.ID] = true
		if err := c.check(); err != nil {
			return fmt.Errorf("citation [^%s]: %w", c.ID, err)
		}
	}
	for _, m := range Markers(b.Text) {
		if !seen[m] {
			return fmt.Errorf("the text cites [^%s], which no citation defines", m)
		}
	}
	switch b.Kind {
	case "":
	case KindCorrection:
		return b.checkCorrection()
	default:
		return fmt.Errorf("the document's kind %q is neither a readout nor a correction", b.Kind)
	}
	return nil
}

// checkCorrection holds a correction to its shape: one transcript line, the
// words corrected, and different words for them.
func (b *Body) checkCorrection() error {
	if len(b.Citations) != 1 {
		return errors.New("a correction cites exactly one transcript line")
	}
	c := b.Citations[0]
	switch {
	case len(c.Events) != 1:
		return errors.New("a correction cites exactly one transcript line")
	case c.Channel == "chat":
		return errors.New("a correction is of a transcript line: chat is written, not heard")
	case c.Interpretation != nil:
		return errors.New("a correction cites no interpretation: correct each channel's line on its own")
	case normalize(c.Quote) == "":
		return errors.New("a correction quotes the words it corrects")
	case len(b.Text) > MaxQuote:
		return fmt.Errorf("a correction's text is longer than %d bytes", MaxQuote)
	case normalize(b.Text) == normalize(c.Quote):
		return errors.New("the correction says the same as the line it corrects")
	}
	return nil
}

func (c *Citation) check() error {
	switch {
	case math.IsNaN(c.From) || math.IsNaN(c.To) || math.IsInf(c.From, 0) || math.IsInf(c.To, 0) || c.From < 0 || c.To < c.From:
		return errors.New("its time range is not a range from..to, in seconds since the record began")
	case c.Channel == "" || len(c.Channel) > maxChannel:
		return errors.New("it names no channel")
	case len(c.Events) > MaxEventsPerCite:
		return fmt.Errorf("it names more than %d events", MaxEventsPerCite)
	case len(c.Quote) > MaxQuote:
		return fmt.Errorf("its quote is longer than %d bytes", MaxQuote)
	case !utf8.ValidString(c.Quote) || !utf8.ValidString(c.Channel):
		return errors.New("it holds text that is not UTF-8")
	}
	for _, r := range c.Events {
		if r.Seq == 0 || !isHash(r.Hash) {
			return errors.New("an event reference needs a seq and the hex SHA-256 of its line")
		}
	}
	if in := c.Interpretation; in != nil {
		switch {
		case in.Channel == "" || len(in.Channel) > maxChannel || !utf8.ValidString(in.Channel):
			return errors.New("its interpretation names no channel")
		case len(in.Events) == 0 || len(in.Events) > MaxEventsPerCite:
			return errors.New("its interpretation must name the transcript events it quotes")
		case len(in.Quote) > MaxQuote || !utf8.ValidString(in.Quote):
			return fmt.Errorf("its interpretation's quote is longer than %d bytes or not UTF-8", MaxQuote)
		}
		for _, r := range in.Events {
			if r.Seq == 0 || !isHash(r.Hash) {
				return errors.New("an event reference needs a seq and the hex SHA-256 of its line")
			}
		}
	}
	return nil
}

func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// strictUnmarshal decodes one JSON value with no unknown fields and nothing
// after it: a field a verifier ignores is one a forger may fill.
func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

var markerRE = regexp.MustCompile(`\[\^([A-Za-z0-9_-]{1,32})\]`)

// Markers returns the citation ids the text cites, in order of first use.
func Markers(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range markerRE.FindAllStringSubmatch(text, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}
