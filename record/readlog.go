package record

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ReadoutsDir is the folder beside the log that holds readouts: signed
// documents that cite the record. They are not part of the record (nothing
// in its chain names them) and the chain is never reopened for them.
const ReadoutsDir = "readouts"

// Line is one entry of a record's log as read back, with the hex SHA-256 of
// its line: what a citation names to point at it.
type Line struct {
	Entry
	Hash string `json:"hash"`
}

// Log is a record's log read back in order.
type Log struct {
	Record string    `json:"record"`
	Room   string    `json:"room"`
	Began  time.Time `json:"began"`
	Lines  []Line    `json:"events"`
	// End is the hash of the record's end marker, "" when the record has
	// none (still running, crashed, or of format v1): readouts bind to it.
	End string `json:"end,omitempty"`
}

// ReadLog reads the log of the record in dir. Like ReadTranscript it checks
// that the lines chain (each names the hash of the one before) and does not
// check signatures: that is Verify's work.
func ReadLog(dir string) (*Log, error) {
	f, err := os.Open(filepath.Join(dir, LogFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	l := &Log{Lines: []Line{}}
	prev := zeroHash
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("line %d of %s is not an event: %w", n, LogFile, err)
		}
		if e.Prev != prev || e.Seq != uint64(n) {
			return nil, fmt.Errorf("line %d of %s does not follow the line before it: the log was changed (parley verify says how)", n, LogFile)
		}
		sum := sha256.Sum256(line)
		prev = hex.EncodeToString(sum[:])
		switch e.Type {
		case TypeStart:
			l.Record, l.Room, l.Began = e.Record, e.Room, e.Time
		case TypeEnd:
			l.End = prev
		}
		l.Lines = append(l.Lines, Line{Entry: e, Hash: prev})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", LogFile, err)
	}
	if l.Record == "" {
		return nil, errors.New(LogFile + " does not begin with a record-start event")
	}
	return l, nil
}

// Line returns the entry of seq, if the log has it.
func (l *Log) Line(seq uint64) (Line, bool) {
	if seq == 0 || seq > uint64(len(l.Lines)) {
		return Line{}, false
	}
	return l.Lines[seq-1], true
}

// Since is the time of at since the record began.
func (l *Log) Since(at time.Time) time.Duration { return at.Sub(l.Began) }
