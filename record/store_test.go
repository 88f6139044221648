package record

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// startAt writes a record of room started at t under root, sealed or left
// as a crashed node leaves it, and returns its id.
func startAt(t *testing.T, root, room string, at time.Time, seal bool) string {
	t.Helper()
	rec, err := Start(Options{Root: root, Room: room, Key: newKey(t), CheckpointEvery: time.Hour, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	rec.Event("join", "PA_1", "head-a", nil, at)
	if seal {
		if _, err := rec.Seal(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return rec.ID()
}

func openStore(t *testing.T, root string) *Store {
	t.Helper()
	s, err := OpenStore(root)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(sums []Summary) []string {
	out := []string{}
	for _, s := range sums {
		out = append(out, s.ID)
	}
	return out
}

// folderSize adds up the files under dir.
func folderSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		n += fi.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStoreListsOldestFirstWithSealAndSize(t *testing.T) {
	root := filepath.Join(t.TempDir(), Dir)
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	// Names sort otherwise: the list follows the start times.
	late := startAt(t, root, "aaa", t0.Add(2*time.Hour), false)
	early := startAt(t, root, "zzz", t0, true)
	mid := startAt(t, root, "zzz", t0.Add(time.Hour), true)
	s := openStore(t, root)

	all, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{early, mid, late}; !slices.Equal(ids(all), want) {
		t.Fatalf("order %v, want %v", ids(all), want)
	}
	for _, sum := range all {
		if sum.Dir != filepath.Join(root, sum.ID) {
			t.Errorf("%s: dir %s", sum.ID, sum.Dir)
		}
		if want := folderSize(t, sum.Dir); sum.Bytes != want || want == 0 {
			t.Errorf("%s: %d bytes, the folder holds %d", sum.ID, sum.Bytes, want)
		}
		if sum.Started.Location() != time.UTC {
			t.Errorf("%s: started %v, not in UTC", sum.ID, sum.Started)
		}
	}
	if all[0].Room != "zzz" || !all[0].Sealed || !all[0].Started.Equal(t0) {
		t.Errorf("the sealed record: %+v", all[0])
	}
	if all[2].Room != "aaa" || all[2].Sealed {
		t.Errorf("the unsealed record: %+v", all[2])
	}

	zzz, err := s.ListRoom("zzz")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{early, mid}; !slices.Equal(ids(zzz), want) {
		t.Fatalf("zzz's records %v, want %v", ids(zzz), want)
	}
	if none, err := s.ListRoom("nowhere"); err != nil || none == nil || len(none) != 0 {
		t.Fatalf("an unknown room's records: %v, %v (want an empty list)", none, err)
	}

	sum, err := s.Summary(mid)
	if err != nil || sum != all[1] {
		t.Fatalf("Summary(%s) = %+v, %v; List said %+v", mid, sum, err, all[1])
	}
	dir, err := s.Path(mid)
	if err != nil || dir != all[1].Dir {
		t.Fatalf("Path(%s) = %q, %v", mid, dir, err)
	}
}

func TestStoreBreaksTiesByID(t *testing.T) {
	root := t.TempDir()
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	b := startAt(t, root, "b", at, false)
	a := startAt(t, root, "a", at, false)
	all, err := openStore(t, root).List()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{a, b}; !slices.Equal(ids(all), want) {
		t.Fatalf("order %v, want %v", ids(all), want)
	}
}

// A room name may have 64 characters: its records' ids are longer, and
// are records all the same.
func TestStoreTakesTheLongestRoomName(t *testing.T) {
	root := t.TempDir()
	room := strings.Repeat("r", 64)
	id := startAt(t, root, room, time.Now(), true)
	if len(id) != maxIDLen {
		t.Fatalf("id of %d characters, the store takes up to %d", len(id), maxIDLen)
	}
	s := openStore(t, root)
	if sum, err := s.Summary(id); err != nil || sum.Room != room {
		t.Fatalf("Summary: %+v, %v", sum, err)
	}
	if all, err := s.List(); err != nil || len(all) != 1 {
		t.Fatalf("List: %v, %v", ids(all), err)
	}
}

func TestStoreRefusesWhatIsNoRecord(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, Dir)
	good := startAt(t, root, "summit", time.Now(), true)
	// A real record outside the store, where "../outside" would lead.
	outside := startAt(t, base, "outside", time.Now(), true)
	if err := os.Rename(filepath.Join(base, outside), filepath.Join(base, "outside")); err != nil {
		t.Fatal(err)
	}
	mkdir := func(name string) string {
		t.Helper()
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	goodLog, err := os.ReadFile(filepath.Join(root, good, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	firstLine, _, _ := strings.Cut(string(goodLog), "\n")

	mkdir("nolog")
	write(filepath.Join(mkdir("emptylog"), LogFile), "")
	write(filepath.Join(mkdir("notstart"), LogFile), `{"seq":1,"type":"join"}`+"\n")
	write(filepath.Join(mkdir("notjson"), LogFile), "hello\n")
	write(filepath.Join(mkdir("unfinished"), LogFile), firstLine) // no newline: a torn write
	write(filepath.Join(mkdir("hugeline"), LogFile), firstLine+strings.Repeat(" ", maxStartLine)+"\n")
	mkdir("loglink")
	if err := os.Symlink(filepath.Join(root, good, LogFile), filepath.Join(root, "loglink", LogFile)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, good), filepath.Join(root, "dirlink")); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(root, "plainfile"), firstLine+"\n")
	write(filepath.Join(mkdir("with space"), LogFile), firstLine+"\n")

	s := openStore(t, root)
	all, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{good}; !slices.Equal(ids(all), want) {
		t.Fatalf("listed %v, want only %v", ids(all), want)
	}
	for _, id := range []string{
		"", ".", "..", "../outside", "..%2foutside", "a/b", good + "/" + MediaDir, "/" + good, filepath.Join(root, good),
		`..\outside`, good + "\x00", strings.Repeat("a", maxIDLen+1),
		"nolog", "emptylog", "notstart", "notjson", "unfinished", "hugeline", "loglink", "dirlink", "plainfile", "with space",
		"unknown-20261205T100000Z-0badc0de",
	} {
		if sum, err := s.Summary(id); !errors.Is(err, ErrNoRecord) {
			t.Errorf("Summary(%q) = %+v, %v; want ErrNoRecord", id, sum, err)
		}
		if dir, err := s.Path(id); !errors.Is(err, ErrNoRecord) || dir != "" {
			t.Errorf("Path(%q) = %q, %v; want ErrNoRecord", id, dir, err)
		}
	}
}

func TestStoreRoot(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "not-yet")
	s := openStore(t, missing)
	if all, err := s.List(); err != nil || all == nil || len(all) != 0 {
		t.Fatalf("a missing root lists %v, %v; want an empty list", all, err)
	}
	if _, err := s.Summary("summit-20261205T100000Z-0badc0de"); !errors.Is(err, ErrNoRecord) {
		t.Fatalf("Summary in a missing root: %v", err)
	}
	// Records written after the store was opened show at once.
	id := startAt(t, s.Root(), "summit", time.Now(), false)
	if _, err := s.Summary(id); err != nil {
		t.Fatalf("a record written after OpenStore: %v", err)
	}

	file := filepath.Join(t.TempDir(), "records")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(file); err == nil {
		t.Fatal("a file opened as a store")
	}
	if _, err := OpenStore(""); err == nil {
		t.Fatal("no folder opened as a store")
	}

	t.Chdir(t.TempDir())
	rel := openStore(t, "records")
	if !filepath.IsAbs(rel.Root()) {
		t.Fatalf("root %q is not absolute: a later chdir would move it", rel.Root())
	}
}
