package record

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// VerifyOptions say which keys to trust.
type VerifyOptions struct {
	// ServerKey is the server's public key, obtained independently of the
	// record. Without it the key written in the record is used, which proves
	// only that the record is consistent, not who made it.
	ServerKey ed25519.PublicKey
	// Signers maps identities to public keys they published; each must have
	// countersigned the record with that key.
	Signers map[string]ed25519.PublicKey
	// Progress, when set, receives progress lines.
	Progress io.Writer
}

// Report is what verification found.
type Report struct {
	Record       string
	Room         string
	Entries      uint64
	Start, End   time.Time
	Sealed       bool
	Participants []string            // identities that joined
	Files        map[string]int64    // media file -> bytes committed
	SignedUpTo   map[string]uint64   // identity -> entries covered by its last countersignature
	Checkpoints  int                 // server checkpoints verified
	LastSigned   uint64              // entries covered by the last server checkpoint
	Unsigned     uint64              // entries after the last server checkpoint
	Warnings     []string            // not failures: what a reader should know
	ServerKey    string              // the key the checkpoints were checked with
	keys         map[string][]string // participant id -> announced keys
}

// Failure is a verification failure naming the first item found altered.
type Failure struct {
	Entry  uint64 // the event's seq (line number) where it was found, or 0
	File   string // the media file, if it is about one
	From   int64  // byte range of the file
	To     int64
	Reason string
}

func (f *Failure) Error() string {
	switch {
	case f.File != "" && f.To > f.From:
		return fmt.Sprintf("%s bytes %d-%d: %s", f.File, f.From, f.To-1, f.Reason)
	case f.File != "":
		return fmt.Sprintf("%s: %s", f.File, f.Reason)
	case f.Entry > 0:
		return fmt.Sprintf("event %d: %s", f.Entry, f.Reason)
	}
	return f.Reason
}

type fileState struct {
	f       *os.File
	covered int64 // bytes committed by chunk entries so far
	ended   bool
	size    int64 // on disk
}

// Verify checks the record in dir. It returns a report and nil when the record
// is intact, or the report so far and a *Failure naming the first problem.
func Verify(dir string, o VerifyOptions) (*Report, error) {
	rep := &Report{Files: map[string]int64{}, SignedUpTo: map[string]uint64{}, keys: map[string][]string{}}
	v := &verifier{dir: dir, o: o, rep: rep, files: map[string]*fileState{}, checkpoints: map[uint64]Entry{}, identities: map[string]string{}}
	defer v.closeFiles()
	if err := v.run(); err != nil {
		return rep, err
	}
	return rep, nil
}

type verifier struct {
	dir         string
	o           VerifyOptions
	rep         *Report
	files       map[string]*fileState
	checkpoints map[uint64]Entry
	identities  map[string]string // participant id -> identity
	serverKey   ed25519.PublicKey
	done, total int64
	lastShown   time.Time
	buf         []byte
}

func (v *verifier) closeFiles() {
	for _, fs := range v.files {
		if fs.f != nil {
			fs.f.Close()
		}
	}
}

func (v *verifier) progress(n int64) {
	v.done += n
	if v.o.Progress == nil || v.total < 64<<20 || time.Since(v.lastShown) < 500*time.Millisecond {
		return
	}
	v.lastShown = time.Now()
	pct := 100.0
	if v.total > 0 {
		pct = 100 * float64(v.done) / float64(v.total)
	}
	fmt.Fprintf(v.o.Progress, "verifying: %5.1f%% (%d of %d MiB)\n", pct, v.done>>20, v.total>>20)
}

func (v *verifier) run() error {
	logPath := filepath.Join(v.dir, LogFile)
	lf, err := os.Open(logPath)
	if err != nil {
		return &Failure{Reason: "no event log: " + err.Error()}
	}
	defer lf.Close()
	if st, err := lf.Stat(); err == nil {
		v.total += st.Size()
	}
	entries, _ := os.ReadDir(filepath.Join(v.dir, MediaDir))
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			v.total += info.Size()
		}
	}
	v.buf = make([]byte, 1<<20)
	v.lastShown = time.Now() // small records finish before the first progress line

	rd := bufio.NewReaderSize(lf, 1<<20)
	prev := zeroHash
	var seq uint64
	var final *Entry
	for {
		line, err := rd.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return &Failure{Entry: seq + 1, Reason: "cannot read the event log: " + err.Error()}
		}
		v.progress(int64(len(line)))
		seq++
		if !bytes.HasSuffix(line, []byte("\n")) {
			return &Failure{Entry: seq, Reason: "the event log ends in the middle of an entry (truncated or appended to)"}
		}
		line = line[:len(line)-1]
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return &Failure{Entry: seq, Reason: "not a valid entry (altered)"}
		}
		switch {
		case e.Seq != seq:
			return &Failure{Entry: seq, Reason: fmt.Sprintf("missing or out of order: event %d stands in its place (events were removed, reordered or added)", e.Seq)}
		case e.Prev != prev:
			return &Failure{Entry: seq - 1, Reason: fmt.Sprintf("altered: event %d no longer links to it", seq)}
		}
		sum := sha256.Sum256(line)
		head := prev
		prev = hex.EncodeToString(sum[:])
		if final != nil && e.Type != TypeCountersign {
			return &Failure{Entry: seq, Reason: fmt.Sprintf("added after the record was sealed at event %d", final.Seq)}
		}
		if err := v.entry(&e, head); err != nil {
			return err
		}
		if e.Type == TypeCheckpoint && e.Final {
			final = &e
		}
		v.rep.Entries = seq
		if v.rep.Start.IsZero() {
			v.rep.Start = e.Time
		}
		if e.Time.After(v.rep.End) {
			v.rep.End = e.Time
		}
	}
	if seq == 0 {
		return &Failure{Reason: "the event log is empty"}
	}
	v.rep.Sealed = final != nil
	v.rep.Unsigned = v.rep.Entries - v.rep.LastSigned
	if final != nil {
		v.rep.Unsigned = 0
	}
	if err := v.finishFiles(); err != nil {
		return err
	}
	if !v.rep.Sealed {
		v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf(
			"the record was not sealed (the server stopped mid-recording): it is verified up to event %d, the last signed checkpoint; %d events after it carry no signature",
			v.rep.LastSigned, v.rep.Unsigned))
	}
	return v.checkSigners()
}

func (v *verifier) entry(e *Entry, head string) error {
	if e.Seq == 1 {
		if e.Type != TypeStart || e.Format != Format {
			return &Failure{Entry: 1, Reason: "the log does not begin with a record-start of format " + Format}
		}
		v.rep.Record, v.rep.Room = e.Record, e.Room
		v.serverKey = v.o.ServerKey
		if v.serverKey == nil {
			k, err := b64.DecodeString(e.ServerKey)
			if err != nil || len(k) != ed25519.PublicKeySize {
				return &Failure{Entry: 1, Reason: "the record's server key is malformed"}
			}
			v.serverKey = k
			v.rep.Warnings = append(v.rep.Warnings, "no --server-key given: checkpoints were checked with the key written in the record itself, which shows the record is consistent but not who made it")
		}
		v.rep.ServerKey = b64.EncodeToString(v.serverKey)
		return nil
	}
	switch e.Type {
	case TypeStart:
		return &Failure{Entry: e.Seq, Reason: "a second record-start (records were spliced)"}
	case "join":
		if !slices.Contains(v.rep.Participants, e.Identity) {
			v.rep.Participants = append(v.rep.Participants, e.Identity)
		}
		v.identities[e.Participant] = e.Identity
	case TypeKey:
		v.rep.keys[e.Participant] = append(v.rep.keys[e.Participant], e.Key)
		v.identities[e.Participant] = e.Identity
	case TypeFileStart:
		return v.fileStart(e)
	case TypeChunk:
		return v.chunk(e)
	case TypeFileEnd:
		fs := v.files[e.File]
		if fs == nil {
			return &Failure{Entry: e.Seq, File: e.File, Reason: "file-end for a file with no chunks"}
		}
		if e.Size != fs.covered {
			return &Failure{Entry: e.Seq, File: e.File, Reason: fmt.Sprintf("file-end says %d bytes, chunks cover %d (altered)", e.Size, fs.covered)}
		}
		fs.ended = true
	case TypeCheckpoint:
		if e.Head != head {
			return &Failure{Entry: e.Seq, Reason: "checkpoint does not name the event before it (altered)"}
		}
		sig, err := b64.DecodeString(e.Sig)
		if err != nil || !ed25519.Verify(v.serverKey, Statement(v.rep.Record, e.Seq-1, e.Head), sig) {
			return &Failure{Entry: e.Seq, Reason: "the checkpoint's signature does not verify with the server key " + v.rep.ServerKey}
		}
		v.checkpoints[e.Seq] = *e
		v.rep.Checkpoints++
		v.rep.LastSigned = e.Seq
	case TypeCountersign:
		cp, ok := v.checkpoints[e.Of]
		if !ok {
			return &Failure{Entry: e.Seq, Reason: fmt.Sprintf("countersigns checkpoint %d, which does not exist", e.Of)}
		}
		sig, err := b64.DecodeString(e.Sig)
		if err != nil {
			return &Failure{Entry: e.Seq, Reason: "countersignature is malformed"}
		}
		ok = false
		for _, k := range v.rep.keys[e.Participant] {
			if pk, err := b64.DecodeString(k); err == nil && len(pk) == ed25519.PublicKeySize && ed25519.Verify(pk, Statement(v.rep.Record, cp.Seq-1, cp.Head), sig) {
				ok = true
			}
		}
		if !ok {
			return &Failure{Entry: e.Seq, Reason: fmt.Sprintf("%s's countersignature does not verify with the key they announced", e.Identity)}
		}
		if e.Identity != v.identities[e.Participant] {
			return &Failure{Entry: e.Seq, Reason: "countersignature names another identity than its key's"}
		}
		if cp.Seq-1 > v.rep.SignedUpTo[e.Identity] {
			v.rep.SignedUpTo[e.Identity] = cp.Seq - 1
		}
	}
	return nil
}

func (v *verifier) fileStart(e *Entry) error {
	name := filepath.Clean(e.File)
	if !strings.HasPrefix(name, MediaDir+string(filepath.Separator)) || strings.Contains(name, "..") || name != e.File {
		return &Failure{Entry: e.Seq, Reason: fmt.Sprintf("names a file outside %s/: %q", MediaDir, e.File)}
	}
	if v.files[e.File] != nil {
		return &Failure{Entry: e.Seq, File: e.File, Reason: "the file is started twice (altered)"}
	}
	f, err := os.Open(filepath.Join(v.dir, name))
	if err != nil {
		return &Failure{Entry: e.Seq, File: e.File, Reason: "the file is missing"}
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return &Failure{Entry: e.Seq, File: e.File, Reason: err.Error()}
	}
	v.files[e.File] = &fileState{f: f, size: st.Size()}
	v.rep.Files[e.File] = 0
	return nil
}

func (v *verifier) chunk(e *Entry) error {
	fs := v.files[e.File]
	if fs == nil {
		return &Failure{Entry: e.Seq, File: e.File, Reason: "a chunk of a file the record never started (altered)"}
	}
	if fs.ended {
		return &Failure{Entry: e.Seq, File: e.File, Reason: "a chunk after the file ended (altered)"}
	}
	if e.Offset != fs.covered || e.Size <= 0 {
		return &Failure{Entry: e.Seq, File: e.File, Reason: fmt.Sprintf("chunk at %d does not follow the previous one, which ended at %d (altered)", e.Offset, fs.covered)}
	}
	end := e.Offset + e.Size
	if fs.size < end {
		return &Failure{Entry: e.Seq, File: e.File, From: max(fs.size, e.Offset), To: end, Reason: "missing: the file is truncated"}
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(fs.f, e.Offset, e.Size), v.buf); err != nil {
		return &Failure{Entry: e.Seq, File: e.File, From: e.Offset, To: end, Reason: "cannot read: " + err.Error()}
	}
	v.progress(e.Size)
	if hex.EncodeToString(h.Sum(nil)) != e.SHA256 {
		return &Failure{Entry: e.Seq, File: e.File, From: e.Offset, To: end, Reason: "altered: the bytes do not match their hash in event " + formatUint(e.Seq)}
	}
	fs.covered = end
	v.rep.Files[e.File] = end
	return nil
}

func (v *verifier) finishFiles() error {
	names := make([]string, 0, len(v.files))
	for n := range v.files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fs := v.files[n]
		switch {
		case fs.size > fs.covered && (fs.ended || v.rep.Sealed):
			return &Failure{File: n, From: fs.covered, To: fs.size, Reason: "added: bytes beyond what the record committed"}
		case fs.size > fs.covered:
			v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf("%s: bytes %d-%d were written after the last chunk and are not covered", n, fs.covered, fs.size-1))
		}
	}
	entries, err := os.ReadDir(filepath.Join(v.dir, MediaDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return &Failure{Reason: err.Error()}
	}
	for _, e := range entries {
		name := MediaDir + "/" + e.Name()
		if _, ok := v.files[name]; !ok {
			return &Failure{File: name, Reason: "added: the record does not mention this file"}
		}
	}
	return nil
}

func (v *verifier) checkSigners() error {
	ids := make([]string, 0, len(v.o.Signers))
	for id := range v.o.Signers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		want := b64.EncodeToString(v.o.Signers[id])
		announced := false
		for pid, keys := range v.rep.keys {
			if v.identities[pid] == id && slices.Contains(keys, want) {
				announced = true
			}
		}
		if !announced {
			return &Failure{Reason: fmt.Sprintf("%s never announced the key %s in this record", id, want)}
		}
		if v.rep.SignedUpTo[id] == 0 {
			return &Failure{Reason: fmt.Sprintf("%s's countersignature is missing: no checkpoint signed by them", id)}
		}
	}
	return nil
}
