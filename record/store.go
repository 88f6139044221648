package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Dir is the folder of records inside a node's data folder.
const Dir = "records"

// ErrNoRecord is returned for an id that names no record in the store: no
// such folder, a folder that is not a record, or an id no record can have.
var ErrNoRecord = errors.New("no such record")

// A record's id is its room, its start time in idTime's layout and 8 hex
// digits (Start). Rooms are at most 64 characters (auth.ValidRoom).
const (
	idTime   = "20060102T150405Z"
	maxIDLen = 64 + len("-"+idTime+"-") + 8
)

// maxStartLine bounds the read of a log's first line: a record-start entry is
// a few hundred bytes, and a folder whose log begins otherwise is no record.
const maxStartLine = 64 << 10

// sealTail is how much of a log's end is searched for the final checkpoint:
// after it come only the seal's countersignatures and the end marker.
const sealTail = 64 << 10

// Summary describes one saved record.
type Summary struct {
	ID      string    // the record's folder name
	Room    string    // from its first entry
	Started time.Time // its first entry's time, in UTC
	// Sealed records carry the server's final signature; an unsealed one is
	// still being written, or its server stopped before sealing it.
	Sealed bool
	Bytes  int64  // the folder's size: log and media
	Dir    string // the record's folder
}

// Store reads the records saved under one folder (DATA/records). It holds
// no state: each call reads the disk, so a record a running node is writing
// shows as soon as its first entry is on disk.
//
// A record is a folder (not a link to one) whose name is a record id and
// whose events.log is a regular file beginning with a record-start entry;
// anything else under the root is left alone.
type Store struct {
	root string
}

// OpenStore returns the store of the records under root. A root that does
// not exist yet holds no records (the first recording creates it); one that
// is not a folder is an error.
func OpenStore(root string) (*Store, error) {
	if root == "" {
		return nil, errors.New("record store: no folder given")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("record store: %w", err)
	}
	st, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("record store: %w", err)
	case !st.IsDir():
		return nil, fmt.Errorf("record store: %s is not a folder", abs)
	}
	return &Store{root: abs}, nil
}

// Root is the folder that holds the records: Options.Root for the records
// this store is to read.
func (s *Store) Root() string { return s.root }

// List describes every record, oldest first.
func (s *Store) List() ([]Summary, error) {
	return s.list(func(string) bool { return true })
}

// ListRoom describes the records of one room, oldest first.
func (s *Store) ListRoom(room string) ([]Summary, error) {
	return s.list(func(r string) bool { return r == room })
}

func (s *Store) list(keep func(room string) bool) ([]Summary, error) {
	entries, err := os.ReadDir(s.root)
	if errors.Is(err, fs.ErrNotExist) {
		return []Summary{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []Summary{}
	for _, e := range entries {
		// The entry's type is its own, not a link's target's: links are skipped.
		if !e.IsDir() || validID(e.Name()) != nil {
			continue
		}
		dir := filepath.Join(s.root, e.Name())
		start, err := readStart(dir)
		if err != nil || !keep(start.Room) {
			continue // one unreadable folder does not hide the others
		}
		out = append(out, describe(e.Name(), dir, start))
	}
	slices.SortFunc(out, func(a, b Summary) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Summary describes the record id.
func (s *Store) Summary(id string) (Summary, error) {
	dir, start, err := s.open(id)
	if err != nil {
		return Summary{}, err
	}
	return describe(id, dir, start), nil
}

// Path is the folder of the record id. The id cannot reach outside the
// store: one that is not a plain record id (a path, "..") is ErrNoRecord.
func (s *Store) Path(id string) (string, error) {
	dir, _, err := s.open(id)
	return dir, err
}

// open finds the record id: its folder and first entry.
func (s *Store) open(id string) (string, Entry, error) {
	if err := validID(id); err != nil {
		return "", Entry{}, fmt.Errorf("%w: %v", ErrNoRecord, err)
	}
	dir := filepath.Join(s.root, id)
	st, err := os.Lstat(dir)
	if err != nil || !st.IsDir() {
		return "", Entry{}, fmt.Errorf("%w: %s", ErrNoRecord, id)
	}
	start, err := readStart(dir)
	if err != nil {
		return "", Entry{}, fmt.Errorf("%w: %s: %v", ErrNoRecord, id, err)
	}
	return dir, start, nil
}

// validID checks that id is a record id: the room alphabet, no path.
func validID(id string) error {
	if id == "" || len(id) > maxIDLen || id == "." || id == ".." {
		return fmt.Errorf("%q is not a record id", id)
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return fmt.Errorf("%q is not a record id", id)
		}
	}
	return nil
}

// readStart reads the record-start entry that opens the log in dir.
func readStart(dir string) (Entry, error) {
	path := filepath.Join(dir, LogFile)
	// A regular file only: opening a FIFO planted there would block.
	st, err := os.Lstat(path)
	if err != nil {
		return Entry{}, err
	}
	if !st.Mode().IsRegular() {
		return Entry{}, fmt.Errorf("%s is not a regular file", LogFile)
	}
	f, err := os.Open(path)
	if err != nil {
		return Entry{}, err
	}
	defer f.Close()
	line, err := bufio.NewReader(io.LimitReader(f, maxStartLine)).ReadBytes('\n')
	if err != nil {
		return Entry{}, fmt.Errorf("%s has no complete first entry", LogFile)
	}
	var e Entry
	if err := json.Unmarshal(line, &e); err != nil || e.Type != TypeStart {
		return Entry{}, fmt.Errorf("%s does not begin with a %s entry", LogFile, TypeStart)
	}
	return e, nil
}

// describe reads what the first entry does not say: the seal and the size.
func describe(id, dir string, start Entry) Summary {
	sum := Summary{ID: id, Room: start.Room, Started: start.Time.UTC(), Dir: dir}
	sum.Sealed = sealed(filepath.Join(dir, LogFile))
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				sum.Bytes += fi.Size()
			}
		}
		return nil
	})
	return sum
}

// sealed reports whether the log's tail holds the final checkpoint.
func sealed(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false
	}
	off := max(0, st.Size()-sealTail)
	tail, err := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	if err != nil {
		return false
	}
	for _, line := range bytes.Split(tail, []byte("\n")) {
		if !bytes.Contains(line, []byte(`"final"`)) {
			continue // a cheap skip of media chunks
		}
		var e Entry
		if json.Unmarshal(line, &e) == nil && e.Type == TypeCheckpoint && e.Final {
			return true
		}
	}
	return false
}
