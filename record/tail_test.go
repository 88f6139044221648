package record

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tests here are the three holes the format v1 left at the end of a
// record (see knownUnsignedTail in fuzz_test.go): (a) its last line could be
// respelled, (b) countersignatures after the seal could be dropped, (c) the
// log could be cut before the seal and pass as a crashed record.

// failsWith verifies dir and requires a *Failure, not about incompleteness
// unless incomplete, whose text holds want.
func failsWith(t *testing.T, dir string, o VerifyOptions, incomplete bool, want string) *Failure {
	t.Helper()
	_, err := Verify(dir, o)
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("verifies (err %v), want a failure naming %q", err, want)
	}
	if f.Incomplete != incomplete || !strings.Contains(err.Error(), want) {
		t.Fatalf("failure %q (incomplete %v), want %q (incomplete %v)", err, f.Incomplete, want, incomplete)
	}
	return f
}

// entries decodes the log of dir.
func entries(t *testing.T, dir string) []Entry {
	t.Helper()
	var es []Entry
	for _, l := range lines(t, dir) {
		var e Entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	return es
}

// (a) Every line must be spelled as the writer spells it, the last one
// included, and every field of the last line is signed.
func TestLastLineIsBound(t *testing.T) {
	fx := makeRecord(t)
	reorder := func(l string) string { // the same keys and values, sorted by name
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	reencode := func(edit func(*Entry)) func(string) string { // a canonical line with other content
		return func(l string) string {
			var e Entry
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatal(err)
			}
			edit(&e)
			b, _ := json.Marshal(e)
			return string(b)
		}
	}
	cases := []struct {
		name string
		edit func(string) string
		want string
	}{
		{"a space before the closing brace", func(l string) string { return l[:len(l)-1] + " }" }, "not written as the server writes it"},
		{"a space after the line", func(l string) string { return l + " " }, "not written as the server writes it"},
		{"keys in another order", reorder, "not written as the server writes it"},
		{"a key in another case", func(l string) string { return strings.Replace(l, `"sig":`, `"Sig":`, 1) }, "not written as the server writes it"},
		{"a character escaped", func(l string) string { return strings.Replace(l, `"record-end"`, `"record\u002dend"`, 1) }, "not written as the server writes it"},
		{"an unknown field added", func(l string) string { return strings.Replace(l, `{`, `{"note":"x",`, 1) }, "not written as the server writes it"},
		{"its zone spelled +00:00", func(l string) string { return strings.Replace(l, `Z","prev"`, `+00:00","prev"`, 1) }, "not written as the server writes it"},
		{"its time changed", reencode(func(e *Entry) { e.Time = e.Time.Add(time.Second) }), "signature does not verify"},
		{"a field the server does not write there", reencode(func(e *Entry) { e.Data = map[string]string{"note": "x"} }), "carries fields the server does not write"},
		{"spare bits set in its signature's last character", func(l string) string {
			// 64 bytes take 86 characters: the last one's 4 low bits are spare.
			const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			i := len(l) - 3 // before `"}`
			return l[:i] + string(alphabet[strings.IndexByte(alphabet, l[i])^1]) + l[i+1:]
		}, "signature does not verify"},
		{"made a checkpoint", reencode(func(e *Entry) { e.Type = TypeCheckpoint }), "added after the record was sealed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyRecord(t, fx.dir)
			ls := lines(t, dir)
			last := strings.TrimSuffix(ls[len(ls)-1], "\n")
			if !strings.Contains(last, `"type":"record-end"`) {
				t.Fatalf("the last line is not the end marker: %s", last)
			}
			edited := c.edit(last)
			if edited == last {
				t.Fatal("the edit changed nothing")
			}
			ls[len(ls)-1] = edited + "\n"
			writeLines(t, dir, ls)
			f := failsWith(t, dir, fx.opts(), false, c.want)
			if f.Entry != uint64(len(ls)) {
				t.Errorf("the failure names event %d, not the last, %d", f.Entry, len(ls))
			}
			// Not an incomplete record either: accepting those changes nothing.
			o := fx.opts()
			o.RequireEnd = false
			failsWith(t, dir, o, false, c.want)
		})
	}

	t.Run("a space in the last line of a crashed record", func(t *testing.T) {
		// Nothing follows that line and no signature covers it, yet it may
		// not be respelled.
		dir := copyRecord(t, fx.dir)
		ls := lines(t, dir)
		i := len(ls) - 1
		for !strings.Contains(ls[i], `"type":"chat"`) {
			i--
		}
		ls = ls[:i+1]
		ls[i] = strings.Replace(ls[i], `,"`, `, "`, 1)
		writeLines(t, dir, ls)
		o := fx.opts()
		o.RequireEnd = false
		failsWith(t, dir, o, false, "not written as the server writes it")
	})
}

// (b) Countersignatures of the seal are part of the record: the end marker
// names them; one arriving after it is refused.
func TestCountersignaturesAfterTheSealAreBound(t *testing.T) {
	fx := makeRecord(t)
	n := len(lines(t, fx.dir))
	allow := fx.opts()
	allow.RequireEnd = false

	t.Run("dropping the seal's countersignature", func(t *testing.T) {
		dir := copyRecord(t, fx.dir)
		ls := lines(t, dir)
		if !strings.Contains(ls[n-2], `"type":"countersign"`) {
			t.Fatalf("line %d is not the seal's countersignature: %s", n-1, ls[n-2])
		}
		writeLines(t, dir, append(ls[:n-2:n-2], ls[n-1]))
		failsWith(t, dir, fx.opts(), false, "missing or out of order")
		failsWith(t, dir, allow, false, "missing or out of order")
	})

	t.Run("dropping it with the end marker", func(t *testing.T) {
		dir := copyRecord(t, fx.dir)
		writeLines(t, dir, lines(t, dir)[:n-2])
		es := entries(t, dir)
		seal := es[len(es)-1]
		if seal.Type != TypeCheckpoint || !seal.Final {
			t.Fatalf("not the seal: %+v", seal)
		}
		f := failsWith(t, dir, fx.opts(), true, "sealed but has no end marker")
		if f.Entry != seal.Seq {
			t.Errorf("the last verifiable entry is %d, not the seal %d", f.Entry, seal.Seq)
		}
		// Accepted as incomplete, it still fails for head-a: with their
		// countersignature of the seal gone, what happened after their last
		// one (head-b's chat) rests on the server's word alone.
		failsWith(t, dir, allow, false, "did not attest events")
		// Accepting gaps too: sealed, not ended, and head-a's
		// countersignature of the seal is gone from the report.
		gaps := allow
		gaps.AllowGaps = true
		rep, err := Verify(dir, gaps)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Sealed || rep.Ended || rep.SignedUpTo["head-a"] >= seal.Seq-1 || rep.SignedUpTo["head-a"] == 0 {
			t.Fatalf("report: %+v", rep)
		}
		var left uint64
		for _, e := range es {
			if e.Type == "leave" && e.Identity == "head-a" {
				left = e.Seq
			}
		}
		if a := rep.Attested[0]; a.Identity != "head-a" || a.UpTo != rep.SignedUpTo["head-a"] || a.Needed != left || len(a.Gap) != 1 || a.Gap[0].Type != "chat" {
			t.Fatalf("head-a's attestation: %+v (left at %d)", a, left)
		}
	})

	t.Run("a countersignature after the end", func(t *testing.T) {
		key, head := newKey(t), newKey(t)
		rec, err := Start(Options{Root: t.TempDir(), Room: "r", Key: key, CheckpointEvery: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		pub := head.Public().(ed25519.PublicKey)
		rec.Event("join", "PA_1", "a", nil, time.Now())
		rec.Key("PA_1", "a", b64.EncodeToString(pub))
		seal, err := rec.Seal()
		if err != nil {
			t.Fatal(err)
		}
		if err := rec.Countersign("PA_1", "a", pub, seal.Seq, ed25519.Sign(head, seal.Statement())); err != nil {
			t.Fatalf("a countersignature in time: %v", err)
		}
		if rec.Ended() {
			t.Fatal("ended before Close")
		}
		if err := rec.Close(); err != nil {
			t.Fatal(err)
		}
		if !rec.Ended() || rec.Entries() != seal.Seq+2 { // the countersignature, the end marker
			t.Fatalf("after Close: ended %v, %d entries (seal at %d)", rec.Ended(), rec.Entries(), seal.Seq)
		}
		before, _ := os.ReadFile(filepath.Join(rec.Dir(), LogFile))
		if err := rec.Countersign("PA_1", "a", pub, seal.Seq, ed25519.Sign(head, seal.Statement())); !errors.Is(err, ErrEnded) {
			t.Fatalf("a countersignature after the end: %v", err)
		}
		if err := rec.Close(); err != nil {
			t.Fatalf("closing twice: %v", err)
		}
		after, _ := os.ReadFile(filepath.Join(rec.Dir(), LogFile))
		if !bytes.Equal(before, after) {
			t.Fatal("the log changed after its end")
		}
		rep, err := Verify(rec.Dir(), VerifyOptions{ServerKey: key.Public().(ed25519.PublicKey), RequireEnd: true,
			Signers: map[string]ed25519.PublicKey{"a": pub}})
		if err != nil || !rep.Ended || rep.SignedUpTo["a"] != seal.Entries {
			t.Fatalf("verify: %v %+v", err, rep)
		}
	})
}

// chunkedRecord writes a sealed record whose camera file is committed in
// 10 kB chunks, three before a countersigned checkpoint and three after.
func chunkedRecord(t *testing.T) (fx fixture, camera string) {
	t.Helper()
	fx = fixture{serverKey: newKey(t), headKey: newKey(t)}
	pub := fx.headKey.Public().(ed25519.PublicKey)
	rec, err := Start(Options{Root: t.TempDir(), Room: "r", Key: fx.serverKey, CheckpointEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fx.dir = rec.Dir()
	rec.Event("join", "PA_1", "head-a", nil, time.Now())
	rec.Key("PA_1", "head-a", b64.EncodeToString(pub))
	camera = MediaDir + "/head-a-camera-T1.webm"
	cw, err := newChunkWriter(rec, camera)
	if err != nil {
		t.Fatal(err)
	}
	chunks := func(b byte) {
		for range 3 {
			if _, err := cw.Write(bytes.Repeat([]byte{b}, 10000)); err != nil {
				t.Fatal(err)
			}
			cw.commit(true)
		}
	}
	chunks(1)
	c, err := rec.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Countersign("PA_1", "head-a", pub, c.Seq, ed25519.Sign(fx.headKey, c.Statement())); err != nil {
		t.Fatal(err)
	}
	chunks(2)
	rec.Event("chat", "PA_1", "head-a", map[string]string{"text": "agreed"}, time.Now())
	cw.end(0)
	seal, err := rec.Seal()
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Countersign("PA_1", "head-a", pub, seal.Seq, ed25519.Sign(fx.headKey, seal.Statement())); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return fx, camera
}

// (c) A log cut before its seal is incomplete: a failure by default, and
// when accepted, it claims only what its last checkpoint signs.
func TestCutRecord(t *testing.T) {
	fx, camera := chunkedRecord(t)
	if _, err := Verify(fx.dir, fx.opts()); err != nil {
		t.Fatalf("the untouched record: %v", err)
	}
	es := entries(t, fx.dir)
	var mid Entry
	for _, e := range es {
		if e.Type == TypeCheckpoint && !e.Final {
			mid = e
		}
	}
	const signed = 30000 // camera bytes committed before the checkpoint
	// Cut after the countersignature and one more chunk, before the seal: the
	// cut entries committed the camera's last 20 kB.
	cut := func(t *testing.T) string {
		dir := copyRecord(t, fx.dir)
		ls := lines(t, dir)
		k := int(mid.Seq) + 1 // the countersignature
		if !strings.Contains(ls[k-1], `"countersign"`) || !strings.Contains(ls[k], `"chunk"`) {
			t.Fatalf("unexpected log:\n%s", strings.Join(ls, ""))
		}
		writeLines(t, dir, ls[:k+1])
		return dir
	}
	allow := fx.opts()
	allow.RequireEnd = false

	t.Run("required to end, it fails naming its last verifiable entry", func(t *testing.T) {
		f := failsWith(t, cut(t), fx.opts(), true, "no end marker")
		if f.Entry != mid.Seq || !strings.Contains(f.Reason, "verified up to event") {
			t.Fatalf("names event %d, want the checkpoint %d: %v", f.Entry, mid.Seq, f)
		}
	})

	t.Run("accepted, it claims only what is signed", func(t *testing.T) {
		dir := cut(t)
		// Alter camera bytes that only the cut entries committed.
		p := filepath.Join(dir, camera)
		b, _ := os.ReadFile(p)
		for i := signed + 10000; i < len(b); i++ {
			b[i] ^= 0xff
		}
		os.WriteFile(p, b, 0o600)
		rep, err := Verify(dir, allow)
		if err != nil {
			t.Fatalf("an incomplete record, accepted: %v", err)
		}
		if rep.Sealed || rep.Ended || rep.LastSigned != mid.Seq || rep.Unsigned != 2 || rep.Files[camera] != signed {
			t.Fatalf("report: sealed %v ended %v last signed %d (want %d) unsigned %d camera %d bytes (want %d)",
				rep.Sealed, rep.Ended, rep.LastSigned, mid.Seq, rep.Unsigned, rep.Files[camera], signed)
		}
		w := strings.Join(rep.Warnings, "\n")
		if !strings.Contains(w, "incomplete") || !strings.Contains(w, camera+": bytes 30000-59999 are not covered by a signature") {
			t.Fatalf("warnings: %q", rep.Warnings)
		}
		if rep.SignedUpTo["head-a"] != mid.Seq-1 || rep.End.After(mid.Time) {
			t.Errorf("head-a signed up to %d, the report ends at %v (checkpoint %d at %v)", rep.SignedUpTo["head-a"], rep.End, mid.Seq, mid.Time)
		}
	})

	t.Run("accepted, signed media still may not change", func(t *testing.T) {
		dir := cut(t)
		p := filepath.Join(dir, camera)
		b, _ := os.ReadFile(p)
		b[signed-1] ^= 0x01
		os.WriteFile(p, b, 0o600)
		failsWith(t, dir, allow, false, "altered: the bytes do not match")
	})

	t.Run("cut at the end marker", func(t *testing.T) {
		dir := copyRecord(t, fx.dir)
		ls := lines(t, dir)
		writeLines(t, dir, ls[:len(ls)-1])
		failsWith(t, dir, fx.opts(), true, "sealed but has no end marker")
		rep, err := Verify(dir, allow)
		if err != nil || !rep.Sealed || rep.Ended || rep.Files[camera] != 60000 {
			t.Fatalf("accepted: %v %+v", err, rep)
		}
	})
}

// A v1 record verifies for what its checkpoints sign and is never complete.
func TestFormatV1Record(t *testing.T) {
	fx := makeRecord(t)
	dir := copyRecord(t, fx.dir)
	forgeAs(t, dir, fx.serverKey, map[string]ed25519.PrivateKey{"head-a": fx.headKey}, func(es []Entry) []Entry {
		es[0].Format = FormatV1
		return es[:len(es)-1] // v1 had no end marker
	})
	f := failsWith(t, dir, fx.opts(), true, "format "+FormatV1+", which has no end marker")
	es := entries(t, dir)
	seal := es[len(es)-2]
	if !seal.Final || f.Entry != seal.Seq {
		t.Fatalf("names event %d, want the seal %+v", f.Entry, seal)
	}
	o := fx.opts()
	o.RequireEnd = false
	rep, err := Verify(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	// The seal's countersignature is genuine (head-a's key was announced under
	// the signature) but it could have been removed: it counts, the record
	// is not complete.
	if rep.Format != FormatV1 || !rep.Sealed || rep.Ended || rep.SignedUpTo["head-a"] != seal.Seq-1 ||
		!strings.Contains(strings.Join(rep.Warnings, "\n"), FormatV1) {
		t.Fatalf("report: %+v", rep)
	}

	t.Run("an end marker in a v1 record", func(t *testing.T) {
		dir := copyRecord(t, fx.dir)
		forgeAs(t, dir, fx.serverKey, map[string]ed25519.PrivateKey{"head-a": fx.headKey}, func(es []Entry) []Entry {
			es[0].Format = FormatV1
			return es
		})
		failsWith(t, dir, o, false, "an end marker in a record of format "+FormatV1)
	})
}

// Whatever the room hands it, the writer writes lines the verifier accepts as
// canonical, and leaves the caller's data alone.
func TestWriterIsCanonical(t *testing.T) {
	key := newKey(t)
	rec, err := Start(Options{Root: t.TempDir(), Room: "r", Key: key, CheckpointEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]string{"text": "a\x00b<>&\u2028\"\\\xff\xfe end", "k\xff": "v", "\b\f": "\t\r\n"}
	rec.Event("join", "PA\xff", "id\xfe", nil, time.Now())
	rec.Event("join", "PA_1", "a", nil, time.Now())
	rec.Event("chat", "PA\xff", "id\xfe", data, time.Now().In(time.FixedZone("odd", 3600+30)))
	rec.Event("chat", "PA_1", "a", nil, time.Time{})
	if _, err := rec.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := data["k\xff"]; !ok || len(data) != 3 {
		t.Fatalf("the caller's map was changed: %q", data)
	}
	rep, err := Verify(rec.Dir(), VerifyOptions{ServerKey: key.Public().(ed25519.PublicKey), RequireEnd: true})
	if err != nil || !rep.Ended {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	es := entries(t, rec.Dir())
	if es[3].Data["k\ufffd"] != "v" || es[3].Time.Location() != time.UTC {
		t.Fatalf("entry: %+v", es[3])
	}
}
