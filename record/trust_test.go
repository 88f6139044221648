package record

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// meeting writes a record in which head-a (key a) and head-b meet; script
// runs between their joins and the seal with a clock it can move, and gets a
// countersign function for head-a. head-b never countersigns.
func meeting(t *testing.T, server, a ed25519.PrivateKey, script func(r *Recorder, at func(time.Duration) time.Time, sign func() uint64)) string {
	t.Helper()
	start := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	now := start
	rec, err := Start(Options{Root: t.TempDir(), Room: "summit", Key: server, CheckpointEvery: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) time.Time { now = start.Add(d); return now }
	pub := a.Public().(ed25519.PublicKey)
	rec.Event("join", "PA_1", "head-a", nil, at(time.Second))
	rec.Key("PA_1", "head-a", b64.EncodeToString(pub))
	rec.Event("join", "PA_2", "head-b", nil, at(2*time.Second))
	sign := func() uint64 {
		c, err := rec.Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		if err := rec.Countersign("PA_1", "head-a", pub, c.Seq, ed25519.Sign(a, c.Statement())); err != nil {
			t.Fatal(err)
		}
		return c.Entries
	}
	script(rec, at, sign)
	if _, err := rec.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return rec.Dir()
}

func signerOpts(server, a ed25519.PrivateKey) VerifyOptions {
	return VerifyOptions{ServerKey: server.Public().(ed25519.PublicKey), RequireEnd: true,
		Signers: map[string]ed25519.PublicKey{"head-a": a.Public().(ed25519.PublicKey)}}
}

// A signer must attest what happened while they were in the room: up to their
// leave, but for their own departure within about 2 s.
func TestSignerAttestsUpToTheirLeave(t *testing.T) {
	server, a := newKey(t), newKey(t)
	t.Run("countersigned, then left", func(t *testing.T) {
		dir := meeting(t, server, a, func(r *Recorder, at func(time.Duration) time.Time, sign func() uint64) {
			r.Event("chat", "PA_2", "head-b", map[string]string{"text": "noted"}, at(3*time.Second))
			sign()
			r.Event("unpublish", "PA_1", "head-a", nil, at(3500*time.Millisecond))
			r.Event("leave", "PA_1", "head-a", nil, at(3600*time.Millisecond))
			r.Event("chat", "PA_2", "head-b", map[string]string{"text": "after head-a left"}, at(5*time.Second))
		})
		rep, err := Verify(dir, signerOpts(server, a))
		if err != nil {
			t.Fatal(err)
		}
		if a := rep.Attested[0]; a.Identity != "head-a" || len(a.Gap) != 0 || a.Needed != a.UpTo+4 {
			t.Fatalf("head-a: %+v", a)
		}
		// head-b announced no key: listed, attesting nothing, from their join.
		if b := rep.Attested; len(b) != 2 || b[1].Identity != "head-b" || b[1].UpTo != 0 || len(b[1].Keys) != 0 || b[1].Gap[0].Type != "join" {
			t.Fatalf("head-b, without a key: %+v", b)
		}
	})
	t.Run("another's line after the last countersignature", func(t *testing.T) {
		dir := meeting(t, server, a, func(r *Recorder, at func(time.Duration) time.Time, sign func() uint64) {
			sign()
			r.Event("chat", "PA_2", "head-b", map[string]string{"text": "vote no"}, at(3*time.Second))
			r.Event("leave", "PA_1", "head-a", nil, at(3100*time.Millisecond))
		})
		f := failsWith(t, dir, signerOpts(server, a), false, "did not attest events")
		if !strings.Contains(f.Reason, "(chat of head-b)") {
			t.Fatalf("the gap is not named: %v", f)
		}
		gaps := signerOpts(server, a)
		gaps.AllowGaps = true
		rep, err := Verify(dir, gaps)
		if err != nil {
			t.Fatalf("--allow-gaps: %v", err)
		}
		if g := rep.Attested[0].Gap; len(g) != 1 || g[0].Type != "chat" || g[0].Identity != "head-b" {
			t.Fatalf("gap reported: %+v", g)
		}
	})
	t.Run("their own line after the last countersignature", func(t *testing.T) {
		dir := meeting(t, server, a, func(r *Recorder, at func(time.Duration) time.Time, sign func() uint64) {
			sign()
			r.Event("chat", "PA_1", "head-a", map[string]string{"text": "I agree"}, at(3*time.Second))
			r.Event("leave", "PA_1", "head-a", nil, at(3100*time.Millisecond))
		})
		failsWith(t, dir, signerOpts(server, a), false, "(chat of head-a)")
	})
	t.Run("a dropped connection that never came back", func(t *testing.T) {
		// A killed tab: its seat waits, others go on; it had to attest only
		// up to the drop.
		dir := meeting(t, server, a, func(r *Recorder, at func(time.Duration) time.Time, sign func() uint64) {
			sign()
			r.Event("reconnecting", "PA_1", "head-a", nil, at(3500*time.Millisecond))
			r.Event("chat", "PA_2", "head-b", map[string]string{"text": "are you there?"}, at(10*time.Second))
			r.Event("leave", "PA_1", "head-a", map[string]string{"reason": "disconnected"}, at(33*time.Second))
		})
		rep, err := Verify(dir, signerOpts(server, a))
		if err != nil {
			t.Fatal(err)
		}
		if att := rep.Attested[0]; att.Needed != att.UpTo+3 || len(att.Gap) != 0 {
			t.Fatalf("head-a: %+v", att)
		}
	})
	t.Run("a departure that took too long", func(t *testing.T) {
		dir := meeting(t, server, a, func(r *Recorder, at func(time.Duration) time.Time, sign func() uint64) {
			sign()
			r.Event("leave", "PA_1", "head-a", nil, at(9*time.Second))
		})
		failsWith(t, dir, signerOpts(server, a), false, "of the meeting before they left")
	})
	t.Run("present at the seal without countersigning it", func(t *testing.T) {
		dir := meeting(t, server, a, func(r *Recorder, at func(time.Duration) time.Time, sign func() uint64) {
			sign()
			r.Event("mute", "PA_2", "head-b", nil, at(3*time.Second))
		})
		failsWith(t, dir, signerOpts(server, a), false, "(mute of head-b)")
	})
}

// Only the given key, and keys it endorsed, speak for a signer.
func TestSignerKeysMustBeEndorsed(t *testing.T) {
	server, a, next := newKey(t), newKey(t), newKey(t)
	nextPub := b64.EncodeToString(next.Public().(ed25519.PublicKey))
	announce := func(by ed25519.PrivateKey) func(*Recorder, func(time.Duration) time.Time, func() uint64) {
		return func(r *Recorder, at func(time.Duration) time.Time, sign func() uint64) {
			sign()
			e := Entry{Type: TypeKey, Participant: "PA_1", Identity: "head-a", Key: nextPub, Time: at(3 * time.Second)}
			if by != nil {
				e.By = b64.EncodeToString(by.Public().(ed25519.PublicKey))
				e.Sig = b64.EncodeToString(ed25519.Sign(by, KeyChangeStatement("head-a", nextPub)))
			}
			if _, _, err := r.log.append(e); err != nil {
				t.Fatal(err)
			}
			c, err := r.Checkpoint()
			if err != nil {
				t.Fatal(err)
			}
			// The new key signs from now on.
			if err := r.Countersign("PA_1", "head-a", next.Public().(ed25519.PublicKey), c.Seq, ed25519.Sign(next, c.Statement())); err != nil {
				t.Fatal(err)
			}
			r.Event("leave", "PA_1", "head-a", nil, at(3100*time.Millisecond))
		}
	}
	t.Run("a key the signer's key endorsed", func(t *testing.T) {
		rep, err := Verify(meeting(t, server, a, announce(a)), signerOpts(server, a))
		if err != nil {
			t.Fatal(err)
		}
		if att := rep.Attested[0]; len(att.Keys) != 2 || att.UpTo < 6 {
			t.Fatalf("head-a: %+v", att)
		}
	})
	t.Run("a key nobody endorsed", func(t *testing.T) {
		failsWith(t, meeting(t, server, a, announce(nil)), signerOpts(server, a), false, "does not endorse")
	})
	t.Run("a key endorsed by another key", func(t *testing.T) {
		failsWith(t, meeting(t, server, a, announce(newKey(t))), signerOpts(server, a), false, "does not endorse")
	})
	t.Run("without --signer it is consistency only", func(t *testing.T) {
		o := signerOpts(server, a)
		o.Signers = nil
		rep, err := Verify(meeting(t, server, a, announce(nil)), o)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(rep.Warnings, "\n"), "consistent, not that its participants agree") {
			t.Fatalf("warnings: %q", rep.Warnings)
		}
	})
}

// A room event is checkpointed soon, whatever the checkpoint interval; a
// burst of them makes one or two checkpoints, not one each.
func TestEventsAreCheckpointedSoon(t *testing.T) {
	cps := make(chan Checkpoint, 100)
	rec, err := Start(Options{Root: t.TempDir(), Room: "r", Key: newKey(t), CheckpointEvery: time.Hour, CheckpointSoon: 200 * time.Millisecond,
		OnCheckpoint: func(c Checkpoint) { cps <- c }})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	rec.Event("join", "PA_1", "head-a", nil, time.Now())
	select {
	case c := <-cps:
		if c.Entries != 2 {
			t.Fatalf("the checkpoint covers %d entries, want the start and the join", c.Entries)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no checkpoint after a join (the interval is an hour)")
	}
	want := rec.Entries() + 100 // the burst's last line
	for i := range 100 {
		rec.Event("chat", "PA_1", "head-a", map[string]string{"text": fmt.Sprint(i)}, time.Now())
	}
	// Every line of the burst is covered by a checkpoint soon, with far
	// fewer checkpoints than lines.
	deadline := time.After(10 * time.Second)
	n := 0
	for covered := uint64(0); covered < want; n++ {
		select {
		case c := <-cps:
			covered = c.Entries
		case <-deadline:
			t.Fatal("the end of the burst was never checkpointed")
		}
	}
	if n > 10 {
		t.Fatalf("%d checkpoints for 100 events", n)
	}
}

// A participant's key signs checkpoint statements and nothing else; above all
// not a key change the server wrote to endorse a key of its own.
func TestOnlyCheckpointStatementsParse(t *testing.T) {
	head := strings.Repeat("ab", 32)
	if rec, n, h, ok := ParseStatement(Statement("summit-1", 41, head)); !ok || rec != "summit-1" || n != 41 || h != head {
		t.Fatalf("a checkpoint statement: %q %d %q %v", rec, n, h, ok)
	}
	for name, s := range map[string][]byte{
		"a key change":       KeyChangeStatement("head-a", "AAAA"),
		"an end marker":      EndStatement("summit-1", 41, head, time.Now()),
		"a line more":        append(Statement("summit-1", 41, head), "key AAAA\n"...),
		"a short head":       Statement("summit-1", 41, head[:62]),
		"a record with a NL": Statement("summit-1\nnew key AAAA", 41, head),
		"nothing":            nil,
	} {
		if _, _, _, ok := ParseStatement(s); ok {
			t.Errorf("%s parses as a checkpoint statement: %q", name, s)
		}
	}
}

// A log cut (or a crash) before a media file is mentioned reports a
// truncated log, not an added file.
func TestTruncatedLogIsNotAnAddedFile(t *testing.T) {
	fx := makeRecord(t)
	dir := copyRecord(t, fx.dir)
	ls := lines(t, dir)
	writeLines(t, dir, ls[:3]) // start, join, key: no file-start yet
	failsWith(t, dir, fx.opts(), true, "no end marker")
	o := fx.opts()
	o.RequireEnd, o.Signers = false, nil
	rep, err := Verify(dir, o)
	if err != nil {
		t.Fatalf("--allow-unsealed: %v", err)
	}
	if !strings.Contains(strings.Join(rep.Warnings, "\n"), "the log ends before it mentions this file") {
		t.Fatalf("warnings: %q", rep.Warnings)
	}
}

// The report names what lies in the folder beside the record, a folder named
// for another record, and refuses a line no server writes.
func TestFolderOddities(t *testing.T) {
	fx := makeRecord(t)
	dir := filepath.Join(t.TempDir(), "renamed")
	if err := os.CopyFS(dir, os.DirFS(fx.dir)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(dir, fx.opts())
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(rep.Warnings, "\n")
	if !strings.Contains(w, "notes.txt is in the record's folder but not part of the record") || !strings.Contains(w, "the folder is named renamed") {
		t.Fatalf("warnings: %q", rep.Warnings)
	}
	if err := os.Mkdir(filepath.Join(dir, MediaDir, "extra"), 0o700); err != nil {
		t.Fatal(err)
	}
	failsWith(t, dir, fx.opts(), false, "a folder inside media/")

	long := copyRecord(t, fx.dir)
	ls := lines(t, long)
	ls[2] = strings.Repeat("x", maxLine+1)
	writeLines(t, long, ls)
	failsWith(t, long, fx.opts(), false, "longer than")
}

// FuzzParseStatement: what parses as a checkpoint statement is exactly the
// statement the server would write for what it names, so a key that signs
// only parsed statements signs nothing else.
func FuzzParseStatement(f *testing.F) {
	f.Add(Statement("summit-20261205T100000Z-1a2b3c4d", 41, strings.Repeat("0f", 32)))
	f.Add(KeyChangeStatement("head-a", "AAAA"))
	f.Add([]byte("parley checkpoint\nrecord r\nentries 007\nhead " + strings.Repeat("a", 64) + "\n"))
	f.Fuzz(func(t *testing.T, s []byte) {
		rec, n, head, ok := ParseStatement(s)
		if !ok {
			return
		}
		if again := Statement(rec, n, head); string(again) != string(s) {
			// A leading zero ("entries 007") or any other respelling would
			// let one signature stand for two texts.
			t.Fatalf("%q parses as (%q, %d, %q), which the server writes as %q", s, rec, n, head, again)
		}
	})
}
