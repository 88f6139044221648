package record

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkVerifyCall verifies the record of a four-party call as the
// recorder writes it: per participant a camera track at 1.1 Mbit/s and a
// microphone track at 32 kbit/s, each committed once a second, a checkpoint
// every 10 s. PARLEY_BENCH_CALL sets the call's length (default 2m, so that
// CI runs it quickly; the figure in BENCHMARKS.md is for 2h, about 4 GB), and
// PARLEY_BENCH_COLD=1 evicts the record from the page cache before each
// verification: what `parley verify` meets on a record it has not read yet.
// PARLEY_BENCH_RECORD=DIR keeps the record in DIR and verifies the one
// already there on later runs: right after writing 4 GB, the disk is still
// busy writing them back, which a record met later is not.
func BenchmarkVerifyCall(b *testing.B) {
	length := 2 * time.Minute
	if s := os.Getenv("PARLEY_BENCH_CALL"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		length = d
	}
	cold := os.Getenv("PARLEY_BENCH_COLD") == "1"
	dir, pub, size := benchCall(b, os.Getenv("PARLEY_BENCH_RECORD"), length)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if cold {
			b.StopTimer()
			evict(b, dir)
			b.StartTimer()
		}
		if _, err := Verify(dir, VerifyOptions{ServerKey: pub, RequireEnd: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCall returns the record of a four-party call in root (written there if
// root holds none, in a temporary folder if root is ""), its server key and
// its media bytes.
func benchCall(b *testing.B, root string, length time.Duration) (string, ed25519.PublicKey, int64) {
	if root == "" {
		root = b.TempDir()
	}
	if dirs, _ := filepath.Glob(filepath.Join(root, "bench-*")); len(dirs) == 1 {
		key, err := os.ReadFile(filepath.Join(root, "server.key"))
		if err != nil || len(key) != ed25519.PrivateKeySize {
			b.Fatalf("%s: no server.key beside the record", root)
		}
		var size int64
		files, _ := filepath.Glob(filepath.Join(dirs[0], MediaDir, "*"))
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				size += st.Size()
			}
		}
		return dirs[0], ed25519.PrivateKey(key).Public().(ed25519.PublicKey), size
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		b.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	if err := os.WriteFile(filepath.Join(root, "server.key"), key, 0o600); err != nil {
		b.Fatal(err)
	}
	dir, size := writeCall(b, root, key, 4, length)
	return dir, key.Public().(ed25519.PublicKey), size
}

// writeCall writes the record of a call of parties participants lasting
// length, returning its folder and its media bytes.
func writeCall(tb testing.TB, root string, key ed25519.PrivateKey, parties int, length time.Duration) (string, int64) {
	tb.Helper()
	rec, err := Start(Options{Root: root, Room: "bench", Key: key, CheckpointEvery: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	const videoPerSecond, audioPerSecond = 1_100_000 / 8, 32_000 / 8
	var writers []*chunkWriter
	for p := range parties {
		pid, id := fmt.Sprintf("PA_%d", p), fmt.Sprintf("party-%d", p)
		rec.Event("join", pid, id, nil, time.Now())
		for _, src := range []string{"camera", "mic"} {
			cw, err := newChunkWriter(rec, fmt.Sprintf("%s/%s-%s.webm", MediaDir, pid, src))
			if err != nil {
				tb.Fatal(err)
			}
			writers = append(writers, cw)
		}
	}
	rng := rand.NewChaCha8([32]byte{})
	video, audio := make([]byte, videoPerSecond), make([]byte, audioPerSecond)
	var size int64
	for s := range int(length / time.Second) {
		for i, cw := range writers {
			buf := audio
			if i%2 == 0 {
				buf = video
			}
			rng.Read(buf)
			if _, err := cw.Write(buf); err != nil {
				tb.Fatal(err)
			}
			cw.commit(true)
			size += int64(len(buf))
		}
		if s%30 == 0 {
			rec.Event("chat", "PA_0", "party-0", map[string]string{"text": "a line of chat"}, time.Now())
		}
		if s%10 == 9 {
			if _, err := rec.Checkpoint(); err != nil {
				tb.Fatal(err)
			}
		}
	}
	for _, cw := range writers {
		cw.end(0)
	}
	if _, err := rec.Seal(); err != nil {
		tb.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		tb.Fatal(err)
	}
	return rec.Dir(), size
}

// evict drops the record's files from the page cache (after writing them
// back), the way a record copied in from elsewhere would be met.
func evict(tb testing.TB, dir string) {
	tb.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := f.Sync(); err != nil {
			return err
		}
		const fadvDontNeed = 4
		if _, _, e := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0); e != 0 {
			return e
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// chunkAt returns the seq of the chunk entry covering byte pos of file.
func chunkAt(t *testing.T, dir, file string, pos int64) uint64 {
	t.Helper()
	for _, l := range lines(t, dir) {
		var e Entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		if e.Type == TypeChunk && e.File == file && e.Offset <= pos && pos < e.Offset+e.Size {
			return e.Seq
		}
	}
	t.Fatalf("no chunk of %s covers byte %d", file, pos)
	return 0
}

func flipByte(t *testing.T, path string, pos int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
}

// The files are hashed out of the log's order, several segments at a time;
// the failure still names the first altered chunk in the log's order.
func TestParallelHashingNamesTheFirstAlteration(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	src, _ := writeCall(t, t.TempDir(), key, 4, 5*time.Minute) // 41 MB a camera: two segments
	opts := VerifyOptions{ServerKey: key.Public().(ed25519.PublicKey), RequireEnd: true}

	var done atomic.Int64
	pre := prehash(src, &done)
	var chunks int
	for _, l := range lines(t, src) {
		if strings.Contains(l, `"type":"chunk"`) {
			chunks++
		}
	}
	for _, r := range pre {
		if !r.matches {
			t.Fatalf("intact chunk on line %d does not match", r.line)
		}
	}
	if len(pre) != chunks || done.Load() != 4*300*(1_100_000/8+32_000/8) {
		t.Fatalf("prehash hashed %d of %d chunks, read %d bytes", len(pre), chunks, done.Load())
	}
	if _, err := Verify(src, opts); err != nil {
		t.Fatal(err)
	}

	late, early := MediaDir+"/PA_0-camera.webm", MediaDir+"/PA_3-camera.webm"
	cases := []struct {
		name  string
		flips map[string]int64
		want  string // the file named
		pos   int64
	}{
		{"a late chunk of the first file and an early one of the last", map[string]int64{late: 39 << 20, early: 1 << 20}, early, 1 << 20},
		{"the second segment of a file", map[string]int64{late: 35 << 20}, late, 35 << 20},
		{"the last byte of a file", map[string]int64{early: 300*1_100_000/8 - 1}, early, 300*1_100_000/8 - 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyRecord(t, src)
			for f, pos := range c.flips {
				flipByte(t, filepath.Join(dir, f), pos)
			}
			_, err := Verify(dir, opts)
			var fail *Failure
			if !errors.As(err, &fail) {
				t.Fatalf("altered media verified: %v", err)
			}
			if want := chunkAt(t, dir, c.want, c.pos); fail.Entry != want || fail.File != c.want || !strings.Contains(fail.Reason, "do not match") {
				t.Fatalf("failure %v (entry %d), want %s at entry %d", err, fail.Entry, c.want, want)
			}
		})
	}
}
