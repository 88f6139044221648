// Package record keeps the tamper-evident record of a meeting: every room
// event and a hash of every byte of recorded media in one append-only hash
// chain, checkpoints of the chain signed by the server (Ed25519) and
// countersigned by participants, and the verifier that checks all of it
// offline and names the first thing that was altered.
//
// A record is a folder: events.log (one JSON entry per line, each naming the
// SHA-256 of the line before it) and media/ (one WebM file per recorded track,
// written append-only; the log commits to each file chunk by chunk).
//
// Every line is exactly the encoding the writer produces (encoding/json of an
// Entry), so a verifier re-encodes each line and compares bytes: an edit that
// keeps a line's meaning (spaces, key order or case, escapes) is still an edit.
// A record of format v2 ends with a server-signed end marker naming the hash
// of everything before it, the seal's countersignatures included, so nothing
// can be cut from or added to its end either.
package record

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// File names inside a record folder.
const (
	LogFile  = "events.log"
	MediaDir = "media"
)

// Format names the record format in its first entry. v2 added the end marker
// and the rule that every line is in its canonical encoding. A v1 record
// (FormatV1) still verifies, but nothing signs its last line or the
// countersignatures written after its seal, so it proves only what its last
// checkpoint covers.
const (
	Format   = "parley-record-v2"
	FormatV1 = "parley-record-v1"
)

// Entry is one line of the log. Fields beyond the common ones depend on Type.
type Entry struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Prev string    `json:"prev"` // hex SHA-256 of the previous line; 64 zeros for the first
	Type string    `json:"type"`

	// Room events.
	Participant string            `json:"participant,omitempty"`
	Identity    string            `json:"identity,omitempty"`
	Data        map[string]string `json:"data,omitempty"`

	// record-start
	Format    string `json:"format,omitempty"`
	Record    string `json:"record,omitempty"`
	Room      string `json:"room,omitempty"`
	ServerKey string `json:"serverKey,omitempty"` // informational: verifiers use a key they got elsewhere

	// key: a participant's public key (base64url, raw 32 bytes); By, when a
	// new key replaces one, names the previous key, and Sig is that key's
	// signature of KeyChangeStatement.
	Key string `json:"key,omitempty"`
	By  string `json:"by,omitempty"`

	// chunk and file-end: a byte range of a media file and its hash.
	File   string `json:"file,omitempty"`
	Offset int64  `json:"offset,omitempty"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`

	// checkpoint, countersign and record-end.
	Of    uint64 `json:"of,omitempty"`   // countersign: the checkpoint's seq
	Head  string `json:"head,omitempty"` // checkpoint and record-end: hash of the entry before it
	Final bool   `json:"final,omitempty"`
	Sig   string `json:"sig,omitempty"` // base64url Ed25519 signature of the statement
}

// Entry types written by the recorder itself (room events keep their own names).
const (
	TypeStart       = "record-start"
	TypeStop        = "record-stop"
	TypeKey         = "key"
	TypeFileStart   = "file-start"
	TypeChunk       = "chunk"
	TypeFileEnd     = "file-end"
	TypeCheckpoint  = "checkpoint"
	TypeCountersign = "countersign"
	TypeEnd         = "record-end"
)

var zeroHash = hex.EncodeToString(make([]byte, sha256.Size))

// Statement is the text a checkpoint signature covers: the record, the number
// of entries before the checkpoint and the hash of the last of them. Servers
// and participants sign the same statement.
func Statement(record string, seq uint64, head string) []byte {
	return []byte("parley checkpoint\nrecord " + record + "\nentries " + strconv.FormatUint(seq, 10) + "\nhead " + head + "\n")
}

// EndStatement is the text the server signs in a record's end marker: the
// entries before it, the hash of the last of them and the marker's own time,
// so every field of the record's last line is signed or checked.
// Participants never sign it (their browsers accept checkpoint statements only).
func EndStatement(record string, seq uint64, head string, at time.Time) []byte {
	return []byte("parley record end\nrecord " + record + "\nentries " + strconv.FormatUint(seq, 10) + "\nhead " + head +
		"\ntime " + at.Format(time.RFC3339Nano) + "\n")
}

var b64 = base64.RawURLEncoding

// ErrEnded is returned for what comes after a record's end marker: the record
// is closed and takes no more entries, countersignatures included.
var ErrEnded = errors.New("the record has ended")

// log appends entries to events.log, keeping the chain.
type log struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	seq  uint64
	prev string
	now  func() time.Time
}

func createLog(path string, now func() time.Time) (*log, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	// The buffer holds twice the flush threshold so that lines reach the disk
	// whole: a crash then leaves no torn last line.
	return &log{f: f, w: bufio.NewWriterSize(f, 64<<10), prev: zeroHash, now: now}, nil
}

// append adds e, filling in seq, time and prev, and returns it as written.
func (l *log) append(e Entry) (Entry, string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(e)
}

func (l *log) appendLocked(e Entry) (Entry, string, error) {
	if l.f == nil {
		return e, "", ErrEnded
	}
	l.seq++
	e.Seq, e.Prev = l.seq, l.prev
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	canonical(&e)
	line, err := json.Marshal(e)
	if err != nil {
		l.seq--
		return e, "", err
	}
	sum := sha256.Sum256(line)
	l.prev = hex.EncodeToString(sum[:])
	if _, err := l.w.Write(append(line, '\n')); err != nil {
		return e, "", err
	}
	// Events reach the disk within the buffer's flush; checkpoints sync it.
	if l.w.Buffered() > 32<<10 {
		err = l.w.Flush()
	}
	return e, l.prev, err
}

// head returns how many entries there are and the hash of the last.
func (l *log) head() (uint64, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.prev
}

// checkpoint appends a signed checkpoint over everything before it and syncs
// the log to disk, so a crash loses nothing a signature covers.
func (l *log) checkpoint(record string, key ed25519.PrivateKey, final bool) (Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	seq, head := l.seq, l.prev
	sig := ed25519.Sign(key, Statement(record, seq, head))
	e, _, err := l.appendLocked(Entry{Type: TypeCheckpoint, Head: head, Final: final, Sig: b64.EncodeToString(sig)})
	if err != nil {
		return e, err
	}
	return e, l.syncLocked()
}

// end appends the server's signed end marker over everything before it and
// closes the log: nothing can be added after it.
func (l *log) end(record string, key ed25519.PrivateKey) (Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return Entry{}, ErrEnded
	}
	seq, head := l.seq, l.prev
	at := l.now().UTC()
	sig := ed25519.Sign(key, EndStatement(record, seq, head, at))
	e, _, err := l.appendLocked(Entry{Type: TypeEnd, Time: at, Head: head, Sig: b64.EncodeToString(sig)})
	if err != nil {
		return e, err
	}
	return e, l.closeLocked()
}

// flush hands buffered entries to the operating system (no fsync): they
// survive the process being killed, if not the machine losing power.
func (l *log) flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	return l.w.Flush()
}

func (l *log) sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.syncLocked()
}

func (l *log) syncLocked() error {
	if l.f == nil {
		return nil
	}
	if err := l.w.Flush(); err != nil {
		return err
	}
	return l.f.Sync()
}

func (l *log) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closeLocked()
}

func (l *log) closeLocked() error {
	if l.f == nil {
		return nil
	}
	if err := l.syncLocked(); err != nil {
		return err
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// canonical makes e what its encoding decodes back to, so that encoding it
// again gives the same bytes (the verifier checks this of every line): times
// in UTC, strings in valid UTF-8 (encoding/json would write an invalid byte as
// an escaped U+FFFD, which re-encodes as the raw rune). The caller's map is
// not modified.
func canonical(e *Entry) {
	e.Time = e.Time.UTC()
	for _, s := range []*string{&e.Type, &e.Participant, &e.Identity, &e.Format, &e.Record, &e.Room, &e.ServerKey,
		&e.Key, &e.By, &e.File, &e.SHA256, &e.Head, &e.Sig} {
		*s = validUTF8(*s)
	}
	clean := true
	for k, v := range e.Data {
		clean = clean && utf8.ValidString(k) && utf8.ValidString(v)
	}
	if !clean {
		d := make(map[string]string, len(e.Data))
		for k, v := range e.Data {
			d[validUTF8(k)] = validUTF8(v)
		}
		e.Data = d
	}
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// fileHash is the hex SHA-256 of b.
func fileHash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func errf(format string, a ...any) error { return fmt.Errorf(format, a...) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
