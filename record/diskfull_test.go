package record

import (
	"bytes"
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fullDisk takes budget bytes, then refuses every write as a full disk does.
type fullDisk struct {
	*os.File
	budget atomic.Int64
}

func (d *fullDisk) Write(b []byte) (int, error) {
	if d.budget.Add(-int64(len(b))) < 0 {
		return 0, syscall.ENOSPC
	}
	return d.File.Write(b)
}

// TestFullDiskFailsTheRecordNotTheNode: when the disk refuses a track's bytes
// the record fails (and says so), the track still closes, the record still
// seals, and nothing panics: the muxer's default on a write error is a panic,
// which would take the whole node, every room, down with one record.
func TestFullDiskFailsTheRecordNotTheNode(t *testing.T) {
	old := createMedia
	t.Cleanup(func() { createMedia = old })
	createMedia = func(path string) (mediaSink, error) {
		f, err := old(path)
		if err != nil {
			return nil, err
		}
		d := &fullDisk{File: f.(*os.File)}
		d.budget.Store(20 << 10)
		return d, nil
	}
	rec, err := Start(Options{Root: t.TempDir(), Room: "summit", Key: newKey(t), CheckpointEvery: time.Hour, ChunkEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	video, err := rec.Track(TrackInfo{ID: "T1", Participant: "PA_1", Identity: "head-a", Source: "camera", MimeType: "video/VP8", ClockRate: 90000})
	if err != nil {
		t.Fatal(err)
	}
	for f := range 120 { // ~100 KB: the disk fills a fifth of the way in
		video.WriteRTP(rawRTP(t, 96, uint16(f), uint32(f*3000), vp8Frame(f%30 == 0, 900)))
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	go func() { video.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the track did not close after the disk filled")
	}
	rec.mu.Lock()
	failed := rec.failed
	rec.mu.Unlock()
	if !errors.Is(failed, syscall.ENOSPC) {
		t.Errorf("the record's failure is %v, want the full disk", failed)
	}
	if _, err := rec.Seal(); err != nil {
		t.Logf("seal: %v", err)
	}
	if err := rec.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	// What reached the disk is committed, and only that.
	b, err := os.ReadFile(rec.Dir() + "/" + LogFile)
	if err != nil || !bytes.Contains(b, []byte(`"type":"chunk"`)) {
		t.Errorf("no chunk of what was written is in the log (%v)", err)
	}
}
