package record

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

type fixture struct {
	dir       string
	serverKey ed25519.PrivateKey
	headKey   ed25519.PrivateKey
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// vp8Frame returns an RTP payload: a VP8 descriptor and a frame, a keyframe
// (with a 320x180 header) when key is set.
func vp8Frame(key bool, n int) []byte {
	p := make([]byte, n)
	p[0] = 0x10 // S: start of partition
	if key {
		copy(p[1:], []byte{0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4, 0x00})
	} else {
		p[1] = 0x01
	}
	return p
}

func rawRTP(t *testing.T, pt uint8, seq uint16, ts uint32, payload []byte) []byte {
	t.Helper()
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: 1, Marker: true}, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// makeRecord writes a small sealed record: two participants, one countersigning,
// 3 s of VP8 video and Opus audio, a chat message and checkpoints.
func makeRecord(t *testing.T) fixture {
	t.Helper()
	fx := fixture{serverKey: newKey(t), headKey: newKey(t)}
	var cps []Checkpoint
	// Chunks every 20 ms: media is committed on both sides of the checkpoint
	// in the middle, so cutting the log after it leaves media signed in part.
	rec, err := Start(Options{Root: t.TempDir(), Room: "summit", Key: fx.serverKey, CheckpointEvery: time.Hour,
		ChunkEvery: 20 * time.Millisecond, OnCheckpoint: func(c Checkpoint) { cps = append(cps, c) }})
	if err != nil {
		t.Fatal(err)
	}
	fx.dir = rec.Dir()
	now := time.Now()
	rec.Event("join", "PA_1", "head-a", map[string]string{"name": "Head A"}, now)
	rec.Key("PA_1", "head-a", b64.EncodeToString(fx.headKey.Public().(ed25519.PublicKey)))
	rec.Event("join", "PA_2", "head-b", nil, now)
	video, err := rec.Track(TrackInfo{ID: "T1", Participant: "PA_1", Identity: "head-a", Source: "camera", MimeType: "video/VP8", ClockRate: 90000})
	if err != nil {
		t.Fatal(err)
	}
	audio, err := rec.Track(TrackInfo{ID: "T2", Participant: "PA_1", Identity: "head-a", Source: "mic", MimeType: "audio/opus", ClockRate: 48000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 150 { // 3 s at 50 packets/s audio, 30 frames/s video
		audio.WriteRTP(rawRTP(t, 111, uint16(i), uint32(i*960), bytes.Repeat([]byte{byte(i)}, 60)))
		if i%5 < 3 {
			f := i/5*3 + i%5
			video.WriteRTP(rawRTP(t, 96, uint16(f), uint32(f*3000), vp8Frame(f%30 == 0, 900)))
		}
		if i == 75 {
			c, err := rec.Checkpoint()
			if err != nil {
				t.Fatal(err)
			}
			if err := rec.Countersign("PA_1", "head-a", fx.headKey.Public().(ed25519.PublicKey), c.Seq, ed25519.Sign(fx.headKey, c.Statement())); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Millisecond) // let the writer goroutines interleave with us
	}
	rec.Event("chat", "PA_2", "head-b", map[string]string{"text": "see https://example.org/agenda"}, time.Now())
	rec.Event("leave", "PA_1", "head-a", map[string]string{"reason": "left"}, time.Now())
	final, err := rec.Seal()
	if err != nil {
		t.Fatal(err)
	}
	if !final.Final || len(cps) != 2 {
		t.Fatalf("final checkpoint %+v, %d checkpoints announced", final, len(cps))
	}
	// A late countersignature of the seal is allowed.
	if err := rec.Countersign("PA_1", "head-a", fx.headKey.Public().(ed25519.PublicKey), final.Seq, ed25519.Sign(fx.headKey, final.Statement())); err != nil {
		t.Fatal(err)
	}
	if err := rec.Countersign("PA_1", "head-a", fx.headKey.Public().(ed25519.PublicKey), final.Seq, []byte("forged")); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a bad countersignature was accepted: %v", err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	// The end marker closed the record: a countersignature after it is refused.
	if err := rec.Countersign("PA_1", "head-a", fx.headKey.Public().(ed25519.PublicKey), final.Seq, ed25519.Sign(fx.headKey, final.Statement())); !errors.Is(err, ErrEnded) {
		t.Fatalf("a countersignature after the end: %v", err)
	}
	return fx
}

func (fx fixture) opts() VerifyOptions {
	return VerifyOptions{
		ServerKey:  fx.serverKey.Public().(ed25519.PublicKey),
		Signers:    map[string]ed25519.PublicKey{"head-a": fx.headKey.Public().(ed25519.PublicKey)},
		RequireEnd: true,
	}
}

func TestIntactRecordVerifies(t *testing.T) {
	fx := makeRecord(t)
	rep, err := Verify(fx.dir, fx.opts())
	if err != nil {
		t.Fatalf("intact record: %v", err)
	}
	if !rep.Sealed || !rep.Ended || rep.Format != Format || rep.Checkpoints != 2 || len(rep.Participants) != 2 || len(rep.Files) != 2 || len(rep.Warnings) != 0 {
		t.Fatalf("report: %+v", rep)
	}
	// The log ends: seal, head-a's countersignature of it, the end marker.
	if rep.SignedUpTo["head-a"] != rep.Entries-3 || rep.LastSigned != rep.Entries-2 {
		t.Errorf("head-a signed up to %d of %d", rep.SignedUpTo["head-a"], rep.Entries)
	}
	for f, n := range rep.Files {
		if n < 1000 {
			t.Errorf("%s: only %d bytes recorded", f, n)
		}
	}
}

// lines and writeLines edit the event log like an attacker with a text editor.
func lines(t *testing.T, dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
}

func writeLines(t *testing.T, dir string, ls []string) {
	s := strings.Join(ls, "")
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, LogFile), []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyRecord(t *testing.T, src string) string {
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func mediaFile(t *testing.T, dir, kind string) string {
	ms, _ := filepath.Glob(filepath.Join(dir, MediaDir, "*"+kind+"*"))
	if len(ms) != 1 {
		t.Fatalf("media files for %s: %v", kind, ms)
	}
	return ms[0]
}

func TestTamperingIsNamed(t *testing.T) {
	fx := makeRecord(t)
	n := len(lines(t, fx.dir))
	chat := slices.IndexFunc(lines(t, fx.dir), func(l string) bool { return strings.Contains(l, "example.org/agenda") })
	otherKey := newKey(t)
	cases := []struct {
		name   string
		tamper func(dir string)
		opts   func() VerifyOptions
		want   string // in the failure
	}{
		{"flip a media byte", func(dir string) {
			p := mediaFile(t, dir, "camera")
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x01
			os.WriteFile(p, b, 0o600)
		}, fx.opts, "camera-T1.webm bytes"},
		{"delete an event", func(dir string) {
			ls := lines(t, dir)
			writeLines(t, dir, append(ls[:3:3], ls[4:]...))
		}, fx.opts, "event 4: missing or out of order"},
		{"swap two events", func(dir string) {
			ls := lines(t, dir)
			ls[2], ls[3] = ls[3], ls[2]
			writeLines(t, dir, ls)
		}, fx.opts, "event 3: missing or out of order"},
		{"alter a chat message", func(dir string) {
			ls := lines(t, dir)
			for i, l := range ls {
				ls[i] = strings.Replace(l, "example.org/agenda", "example.org/agendb", 1)
			}
			writeLines(t, dir, ls)
		}, fx.opts, ": altered"},
		{"edit an event's prev field", func(dir string) {
			ls := lines(t, dir)
			at := strings.Index(ls[4], `"prev":"`) + len(`"prev":"`)
			c := byte('a')
			if ls[4][at] == c {
				c = 'b'
			}
			ls[4] = ls[4][:at] + string(c) + ls[4][at+1:]
			writeLines(t, dir, ls)
		}, fx.opts, "event 5: altered: it does not link to event 4, and event 6 does not link to it"},
		{"alter the text of an event", func(dir string) {
			ls := lines(t, dir)
			ls[chat] = strings.Replace(ls[chat], "example.org/agenda", "example.org/agendb", 1)
			writeLines(t, dir, ls)
		}, fx.opts, fmt.Sprintf("event %d: altered: event %d no longer links to it", chat+1, chat+2)},
		{"truncate a media file", func(dir string) {
			p := mediaFile(t, dir, "mic")
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-100)
		}, fx.opts, "missing: the file is truncated"},
		{"append a forged event", func(dir string) {
			forge(t, dir, fx.serverKey, func(es []Entry) []Entry {
				return slices.Insert(es, len(es)-1, Entry{Type: "chat", Identity: "head-b", Data: map[string]string{"text": "we agreed to everything"}})
			})
		}, fx.opts, "added after the record was sealed"},
		{"append an event after the end", func(dir string) {
			forge(t, dir, fx.serverKey, func(es []Entry) []Entry {
				return append(es, Entry{Type: "chat", Identity: "head-b", Data: map[string]string{"text": "we agreed to everything"}})
			})
		}, fx.opts, "added after the record ended"},
		{"re-sign with another key", func(dir string) {
			forge(t, dir, otherKey, func(es []Entry) []Entry { return es })
		}, fx.opts, "does not verify with the server key"},
		{"drop a participant's signature and re-sign", func(dir string) {
			forge(t, dir, fx.serverKey, func(es []Entry) []Entry {
				var out []Entry
				for _, e := range es {
					if e.Type != TypeCountersign {
						out = append(out, e)
					}
				}
				return out
			})
		}, fx.opts, "head-a's countersignature is missing"},
		{"drop a participant's signature line", func(dir string) {
			ls := lines(t, dir)
			for i, l := range ls {
				if strings.Contains(l, `"type":"countersign"`) && i < n-1 {
					writeLines(t, dir, append(ls[:i:i], ls[i+1:]...))
					return
				}
			}
			t.Fatal("no countersign line")
		}, fx.opts, "missing"},
		{"add a media file", func(dir string) {
			os.WriteFile(filepath.Join(dir, MediaDir, "extra.webm"), []byte("x"), 0o600)
		}, fx.opts, "extra.webm: added"},
		{"append bytes to a media file", func(dir string) {
			f, _ := os.OpenFile(mediaFile(t, dir, "mic"), os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte("more"))
			f.Close()
		}, fx.opts, "added: bytes beyond"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyRecord(t, fx.dir)
			if _, err := Verify(dir, c.opts()); err != nil {
				t.Fatalf("the untouched copy fails: %v", err)
			}
			c.tamper(dir)
			_, err := Verify(dir, c.opts())
			var f *Failure
			if !errors.As(err, &f) {
				t.Fatalf("tampering went unnoticed (err %v)", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("failure %q does not name %q", err, c.want)
			}
		})
	}
}

// forge rewrites the whole log as an operator holding key could: edit the
// entries, then recompute every link and re-sign every checkpoint.
func forge(t *testing.T, dir string, key ed25519.PrivateKey, edit func([]Entry) []Entry) string {
	t.Helper()
	return forgeAs(t, dir, key, nil, edit)
}

// forgeAs is forge by someone who also holds participants' keys (by
// identity): their countersignatures are signed again too.
func forgeAs(t *testing.T, dir string, key ed25519.PrivateKey, cosigners map[string]ed25519.PrivateKey, edit func([]Entry) []Entry) string {
	t.Helper()
	var es []Entry
	for _, l := range lines(t, dir) {
		var e Entry
		if err := jsonUnmarshal([]byte(strings.TrimSuffix(l, "\n")), &e); err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	es = edit(es)
	os.Remove(filepath.Join(dir, LogFile))
	lg, err := createLog(filepath.Join(dir, LogFile), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	record := es[0].Record
	type moved struct {
		seq       uint64
		statement []byte
	}
	checkpoints := map[uint64]moved{} // by the checkpoint's seq before forging
	for _, e := range es {
		if e.Type == TypeCheckpoint {
			seq, head := lg.head()
			e.Head = head
			checkpoints[e.Seq] = moved{seq + 1, Statement(record, seq, head)}
			e.Sig = b64.EncodeToString(ed25519.Sign(key, checkpoints[e.Seq].statement))
		}
		if cp, ok := checkpoints[e.Of]; ok && e.Type == TypeCountersign {
			e.Of = cp.seq
			if k := cosigners[e.Identity]; k != nil {
				e.Sig = b64.EncodeToString(ed25519.Sign(k, cp.statement))
			}
		}
		if e.Type == TypeEnd {
			seq, head := lg.head()
			e.Head = head
			e.Sig = b64.EncodeToString(ed25519.Sign(key, EndStatement(record, seq, head, e.Time)))
		}
		if e.Type == TypeStart {
			e.ServerKey = b64.EncodeToString(key.Public().(ed25519.PublicKey))
		}
		e.Seq, e.Prev = 0, ""
		if _, _, err := lg.append(e); err != nil {
			t.Fatal(err)
		}
	}
	lg.close()
	return record
}

func TestCrashedRecordVerifiesUpToItsLastCheckpoint(t *testing.T) {
	key := newKey(t)
	rec, err := Start(Options{Root: t.TempDir(), Room: "r", Key: key, CheckpointEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rec.Event("join", "PA_1", "a", nil, time.Now())
	if _, err := rec.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	rec.Event("chat", "PA_1", "a", map[string]string{"text": "after the checkpoint"}, time.Now())
	rec.log.sync() // what reached the disk before the crash; no Seal, no Close
	rep, err := Verify(rec.Dir(), VerifyOptions{ServerKey: key.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatalf("a crashed record fails: %v", err)
	}
	if rep.Sealed || rep.Ended || rep.LastSigned != 3 || rep.Unsigned != 1 || len(rep.Warnings) == 0 ||
		!strings.Contains(rep.Warnings[0], "verified up to event 3") {
		t.Fatalf("report of a crashed record: %+v", rep)
	}
	// Required to be complete, it fails, naming its last verifiable entry.
	_, err = Verify(rec.Dir(), VerifyOptions{ServerKey: key.Public().(ed25519.PublicKey), RequireEnd: true})
	var f *Failure
	if !errors.As(err, &f) || !f.Incomplete || f.Entry != 3 || !strings.Contains(err.Error(), "no end marker") {
		t.Fatalf("a crashed record required to end: %v", err)
	}

	// A last line torn by the crash is ignored, and said so.
	lf, err := os.OpenFile(filepath.Join(rec.Dir(), LogFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	lf.WriteString(`{"seq":5,"time":"20`)
	lf.Close()
	rep, err = Verify(rec.Dir(), VerifyOptions{ServerKey: key.Public().(ed25519.PublicKey)})
	if err != nil || rep.Entries != 4 || rep.Unsigned != 1 || !strings.Contains(strings.Join(rep.Warnings, "\n"), "cut in the middle") {
		t.Fatalf("a crashed record with a torn last line: %v %+v", err, rep)
	}
}
