package servertest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/record"
)

// FakeRecordMedia is the path, inside the record folder (and its tar), of
// FakeRecord's media file.
const FakeRecordMedia = record.MediaDir + "/big.webm"

// FakeRecord puts a record folder of room in a node's data folder: a first
// entry naming the room (all the record endpoints read) and one media file
// of size bytes (sparse), for tests of listing and downloading. It returns
// the record's id.
func FakeRecord(t testing.TB, dataDir, room string, size int64) string {
	t.Helper()
	id := room + "-20261205T100000Z-0badc0de"
	dir := filepath.Join(dataDir, record.Dir, id)
	if err := os.MkdirAll(filepath.Join(dir, record.MediaDir), 0o700); err != nil {
		t.Fatal(err)
	}
	start, _ := json.Marshal(record.Entry{Seq: 1, Time: time.Now(), Type: record.TypeStart, Record: id, Room: room, Format: record.Format})
	if err := os.WriteFile(filepath.Join(dir, record.LogFile), append(start, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, filepath.FromSlash(FakeRecordMedia)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return id
}
