package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/record"
)

// RecordInfo is one meeting record in the records folder.
type RecordInfo struct {
	ID      string    `json:"id"`
	Room    string    `json:"room"`
	Started time.Time `json:"started"`
	// Sealed records carry the server's final signature; an unsealed one is
	// still being written, or its server stopped before sealing it.
	Sealed bool  `json:"sealed"`
	Bytes  int64 `json:"bytes"` // the folder's size: log and media
}

// sealTail is how much of a log's end is searched for the final checkpoint:
// after it come only the few countersignatures of the seal.
const sealTail = 64 << 10

// ListRecords lists the records under dir (DATA/records), oldest first. A
// missing folder has no records; folders that are not records are skipped.
func ListRecords(dir string) ([]RecordInfo, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []RecordInfo{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []RecordInfo{}
	for _, e := range entries {
		// Record ids use the room alphabet: nothing else is a record.
		if !e.IsDir() || auth.ValidRoom(e.Name()) != nil {
			continue
		}
		if info, err := readRecord(filepath.Join(dir, e.Name())); err == nil {
			out = append(out, info)
		}
	}
	slices.SortFunc(out, func(a, b RecordInfo) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// readRecord describes the record in folder path from its log's first entry
// and its end.
func readRecord(path string) (RecordInfo, error) {
	f, err := os.Open(filepath.Join(path, record.LogFile))
	if err != nil {
		return RecordInfo{}, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadBytes('\n')
	if err != nil {
		return RecordInfo{}, err
	}
	var start record.Entry
	if err := json.Unmarshal(line, &start); err != nil || start.Type != record.TypeStart {
		return RecordInfo{}, errors.New("not a record")
	}
	info := RecordInfo{ID: filepath.Base(path), Room: start.Room, Started: start.Time.UTC()}
	if st, err := f.Stat(); err == nil {
		off := max(0, st.Size()-sealTail)
		tail, err := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
		if err == nil {
			info.Sealed = hasSeal(tail)
		}
	}
	_ = filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				info.Bytes += fi.Size()
			}
		}
		return nil
	})
	return info, nil
}

// hasSeal reports whether the log's tail holds the final checkpoint.
func hasSeal(tail []byte) bool {
	for _, line := range bytes.Split(tail, []byte("\n")) {
		if !bytes.Contains(line, []byte(`"final"`)) {
			continue // cheap skip of media chunks
		}
		var e record.Entry
		if json.Unmarshal(line, &e) == nil && e.Type == record.TypeCheckpoint && e.Final {
			return true
		}
	}
	return false
}

func (a *API) listRecordings(w http.ResponseWriter, r *http.Request) error {
	recs, err := ListRecords(a.records)
	if err != nil {
		return err
	}
	if name := r.URL.Query().Get("room"); name != "" {
		recs = slices.DeleteFunc(recs, func(x RecordInfo) bool { return x.Room != name })
	}
	writeJSON(w, http.StatusOK, map[string]any{"recordings": recs})
	return nil
}
