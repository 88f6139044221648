package readout

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/parleyhq/parley/record"
)

// IDRE is the shape of a readout's id, and of its file's name.
var IDRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

// ReadDir reads the readouts and corrections kept beside the record in dir
// (record.ReadoutsDir), oldest first. A file whose signature does not verify
// is left out: it is no one's statement.
func ReadDir(dir string) []*Readout {
	entries, _ := os.ReadDir(filepath.Join(dir, record.ReadoutsDir))
	var out []*Readout
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !IDRE.MatchString(id) {
			continue
		}
		if ro, err := ReadOne(dir, id); err == nil {
			out = append(out, ro)
		}
	}
	slices.SortFunc(out, func(a, b *Readout) int { return a.Body.Published.Compare(b.Body.Published) })
	return out
}

// ReadOne reads the readout id kept beside the record in dir.
func ReadOne(dir, id string) (*Readout, error) {
	if !IDRE.MatchString(id) {
		return nil, os.ErrNotExist
	}
	b, err := os.ReadFile(filepath.Join(dir, record.ReadoutsDir, id+".json"))
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Corrections adds to t the corrections among rs that hold against the
// record's log l (signed with a key the record announced for their author,
// bound to its end, quoting the line's own words); the others are left out,
// as no one's word.
func Corrections(t *record.Transcript, rs []*Readout, l *record.Log) {
	for _, r := range rs {
		if r.Body.Kind != KindCorrection {
			continue
		}
		if _, err := Check(r, l, Options{}); err != nil {
			continue
		}
		c := r.Body.Citations[0]
		t.Correct(c.Events[0].Seq, record.Correction{ID: r.ID, By: r.Body.Author, Quote: c.Quote, Text: r.Body.Text,
			Published: r.Body.Published})
	}
}

// Transcript is the transcript of the record in dir with the corrections
// kept beside it that hold (see Corrections).
func Transcript(dir string) (*record.Transcript, error) {
	l, err := record.ReadLog(dir)
	if err != nil {
		return nil, err
	}
	t := l.Transcript()
	Corrections(t, ReadDir(dir), l)
	return t, nil
}
