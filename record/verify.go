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
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// b64strict rejects spare bits set in a last character: with them ignored, a
// signature could be respelled in the record's last line, which nothing
// after it binds.
var b64strict = b64.Strict()

// VerifyOptions say which keys to trust and what to accept.
type VerifyOptions struct {
	// ServerKey is the server's public key, obtained independently of the
	// record. Without it the key written in the record is used, which proves
	// only that the record is consistent, not who made it.
	ServerKey ed25519.PublicKey
	// Signers maps identities to public keys they published. Only
	// countersignatures made with that key (or with a key it endorsed, see
	// KeyChangeStatement) count for them; any other key announced in their
	// name fails verification. Each must attest everything that happened
	// while they were in the room: their countersignatures must reach their
	// leave (or the seal), but for a gap of about 2 s that holds nothing
	// but their own departure.
	Signers map[string]ed25519.PublicKey
	// AllowGaps reports a given signer's gap in a warning instead of failing.
	AllowGaps bool
	// Receipts are participants' own evidence (each checked with Check): the
	// record must hold every checkpoint in them exactly as they signed it.
	Receipts []Receipt
	// RequireEnd makes a record without its end marker a failure (a *Failure
	// with Incomplete set, naming the last verifiable entry). parley verify
	// sets it unless --allow-unsealed. Without it such a record (crashed, cut
	// short, sealed but not yet ended, or of format v1) is reported as
	// incomplete, Report.Ended false, and the report's facts come only from
	// what its last server checkpoint signs.
	RequireEnd bool
	// Progress, when set, receives progress lines.
	Progress io.Writer
}

// Report is what verification found. For a record that is not Ended, the
// facts (participants, files, end time, countersignatures) are those its last
// server checkpoint covers: what comes after it carries no signature.
type Report struct {
	Record       string
	Room         string
	Format       string
	Entries      uint64 // lines in the log
	Start, End   time.Time
	Sealed       bool              // the final checkpoint is there
	Ended        bool              // the server's end marker closes the record: it is complete
	Participants []string          // identities that joined
	Files        map[string]int64  // media file -> bytes committed (and signed)
	SignedUpTo   map[string]uint64 // identity -> entries covered by its last countersignature
	// Attested says, for every identity that joined or announced a key (and
	// every given signer), how much of the record their countersignatures
	// cover and what rests on the server's word alone. Sorted by identity.
	Attested    []Attestation
	Checkpoints int      // server checkpoints verified
	LastSigned  uint64   // seq of the last server checkpoint (it covers the entries before it)
	Unsigned    uint64   // entries after the last server checkpoint that no signature covers
	Warnings    []string // not failures: what a reader should know
	ServerKey   string   // the key the checkpoints were checked with
	// Continues is set when this record continues one whose node was lost
	// (a room that spans nodes): the last checkpoint of that record its new
	// keeper had heard, whose server signature this record's verification
	// checked. CheckContinuation checks it against that record itself.
	Continues *Continuation

	heads map[uint64]string // checkpoint seq -> head it signs
}

// Continuation is where a record takes over from a previous one.
type Continuation struct {
	Record  string // the previous record's id
	Seq     uint64 // the seq of its checkpoint
	Entries uint64 // the entries that checkpoint covers
	Head    string // the hash of the last of them
	At      uint64 // the entry of this record that says so
}

// EventContinues is the room event that opens a record continuing another:
// data "previous", "previous_seq", "previous_checkpoint" (the statement) and
// "previous_signature" (the server's signature of it).
const EventContinues = "record-continues"

// continues checks a record-continues event: the checkpoint it quotes must
// be signed by the server key, which every node of a cluster shares.
func (v *verifier) continues(e *Entry) error {
	if v.rep.Continues != nil {
		return &Failure{Entry: e.Seq, Reason: "a second record-continues"}
	}
	rec, entries, head, ok := ParseStatement([]byte(e.Data["previous_checkpoint"]))
	seq, err := strconv.ParseUint(e.Data["previous_seq"], 10, 64)
	if !ok || err != nil || rec != e.Data["previous"] || seq != entries+1 {
		return &Failure{Entry: e.Seq, Reason: "record-continues quotes a malformed checkpoint"}
	}
	sig, err := b64strict.DecodeString(e.Data["previous_signature"])
	if err != nil || !ed25519.Verify(v.serverKey, []byte(e.Data["previous_checkpoint"]), sig) {
		return &Failure{Entry: e.Seq, Reason: "the checkpoint record-continues quotes is not signed by the server key " + v.rep.ServerKey}
	}
	v.rep.Continues = &Continuation{Record: rec, Seq: seq, Entries: entries, Head: head, At: e.Seq}
	return nil
}

// CheckContinuation checks that rep continues prev: prev is the record its
// record-continues names, and prev's checkpoint there signs the same head.
// prev may be incomplete (its node was lost), not altered.
func CheckContinuation(rep, prev *Report) error {
	c := rep.Continues
	switch {
	case c == nil:
		return fmt.Errorf("record %s continues no other record", rep.Record)
	case prev.Record != c.Record:
		return fmt.Errorf("record %s continues %s, not %s", rep.Record, c.Record, prev.Record)
	}
	head, ok := prev.heads[c.Seq]
	switch {
	case !ok:
		return fmt.Errorf("record %s has no checkpoint at entry %d, where %s says it continues it", prev.Record, c.Seq, rep.Record)
	case head != c.Head:
		return fmt.Errorf("record %s's checkpoint at entry %d signs another head than the one %s continues from (altered)", prev.Record, c.Seq, rep.Record)
	}
	return nil
}

// Attestation is how far one identity's countersignatures vouch for the record.
type Attestation struct {
	Identity string
	Keys     []string // fingerprints (first 16 characters) of the keys announced in their name
	Given    bool     // a signer given to the verifier: only their given key (and what it endorsed) counts
	UpTo     uint64   // their countersignatures cover events 1 to UpTo (0: none)
	Needed   uint64   // the event their attestation must reach: their leave, or the seal's last event
	// Gap lists the events after UpTo up to Needed that are room events (not
	// checkpoints, countersignatures or media bookkeeping): what rests on the
	// server's word alone for them; GapFrom and GapTo bound the gap in time.
	Gap            []GapEvent
	GapFrom, GapTo time.Time
}

// GapEvent is a room event no countersignature of a signer covers.
type GapEvent struct {
	Seq      uint64
	Type     string
	Identity string
}

// gapTolerance is how long a signer's gap may be: the time between the last
// checkpoint they could countersign and their leaving.
const gapTolerance = 2 * time.Second

// KeyChangeStatement is what a participant signs with their previous key to
// endorse a new one: a key entry carrying it (By naming the previous key, Sig
// this signature) counts for a signer whose given key endorsed the previous.
func KeyChangeStatement(identity, newKey string) []byte {
	return []byte("parley key change\nidentity " + identity + "\nnew key " + newKey + "\n")
}

// Failure is a verification failure naming the first item found altered, or,
// with Incomplete set, a record that cannot prove its end.
type Failure struct {
	Entry      uint64 // the event's seq (line number) where it was found, or 0; for Incomplete, the last verifiable entry
	File       string // the media file, if it is about one
	From       int64  // byte range of the file
	To         int64
	Reason     string
	Incomplete bool // the record lacks its end marker (RequireEnd); nothing was found altered
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

// keyAnnounce is a participant's key as a key entry announced it, with the
// key-change endorsement it carries, if any.
type keyAnnounce struct {
	key      ed25519.PublicKey
	identity string
	seq      uint64
	by       string // base64url of the endorsing previous key; "" if none
	sig      string
}

// countersig is a countersignature that verified: who, how far, with which
// key, and where that key was announced.
type countersig struct {
	identity string
	upTo     uint64
	key      ed25519.PublicKey
	keySeq   uint64
}

// brief is what the coverage check needs of each entry.
type brief struct {
	typ      string
	identity string
	at       time.Time
}

// departure is what a participant's own leaving writes: their leave, the end
// of their tracks, and any change of their state on the way out. In a
// signer's gap these are expected; their chat, or anyone else's event, is not.
var departure = map[string]bool{"leave": true, "unpublish": true, "mute": true, "interpret": true,
	"listen": true, "reconnecting": true, "speaker": true}

// bookkeeping entries are the record's own machinery, not things that
// happened in the room.
var bookkeeping = map[string]bool{TypeCheckpoint: true, TypeCountersign: true, TypeKey: true,
	TypeFileStart: true, TypeChunk: true, TypeFileEnd: true, TypeEnd: true}

type joined struct {
	pid      string
	identity string
	seq      uint64
}

// signedState is what the last server checkpoint covers.
type signedState struct {
	seq   uint64 // the checkpoint's seq; 0: none yet
	end   time.Time
	files map[string]int64
}

// Verify checks the record in dir. It returns a report and nil when the record
// is intact, or the report so far and a *Failure naming the first problem.
func Verify(dir string, o VerifyOptions) (*Report, error) {
	rep := &Report{Files: map[string]int64{}, SignedUpTo: map[string]uint64{}}
	v := &verifier{dir: dir, o: o, rep: rep, files: map[string]*fileState{}, checkpoints: map[uint64]Entry{},
		keys: map[string][]keyAnnounce{}, ids: map[string]string{}}
	defer v.closeFiles()
	err := v.run()
	if err == nil {
		err = v.checkReceipts()
	}
	v.facts()
	if err != nil {
		return rep, err
	}
	return rep, nil
}

type verifier struct {
	dir          string
	o            VerifyOptions
	rep          *Report
	files        map[string]*fileState
	checkpoints  map[uint64]Entry
	keys         map[string][]keyAnnounce // participant id -> announced keys
	ids          map[string]string        // participant id -> identity, as first named
	joins        []joined
	leaves       []joined
	drops        []joined // reconnecting: a participant's connection dropped
	briefs       []brief  // by seq-1
	sealSeq      uint64   // the final checkpoint's seq, 0 before it
	countersigns []countersig
	signed       signedState
	latest       time.Time // latest entry time so far
	factsDone    bool
	serverKey    ed25519.PublicKey
	done, total  int64
	lastShown    time.Time
	buf          []byte
	pre          map[uint64]hashed // chunk entries hashed ahead, by line
	enc          bytes.Buffer
	encoder      *json.Encoder
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

// canonical reports whether line (with its newline) is exactly how the writer
// encodes e: any other spelling of the same entry is an alteration.
func (v *verifier) canonical(e *Entry, line []byte) bool {
	v.enc.Reset()
	if v.encoder == nil {
		v.encoder = json.NewEncoder(&v.enc) // Encode is Marshal plus a newline, escaping alike
	}
	return v.encoder.Encode(e) == nil && bytes.Equal(v.enc.Bytes(), line)
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
	v.prehashFiles()

	rd := bufio.NewReaderSize(lf, 1<<20)
	prev := zeroHash
	var seq uint64
	var final, end *Entry
	torn := false
	for {
		line, err := readLine(rd, maxLine)
		if len(line) == 0 && errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errLongLine) {
			return &Failure{Entry: seq + 1, Reason: fmt.Sprintf("longer than %d bytes: no server writes such an entry (altered)", maxLine)}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return &Failure{Entry: seq + 1, Reason: "cannot read the event log: " + err.Error()}
		}
		v.progress(int64(len(line)))
		seq++
		if end != nil {
			return &Failure{Entry: seq, Reason: fmt.Sprintf("added after the record ended at event %d", end.Seq)}
		}
		if !bytes.HasSuffix(line, []byte("\n")) {
			if seq == 1 {
				return &Failure{Entry: seq, Reason: "the event log ends in the middle of its first entry"}
			}
			// A crash can leave a last line half written; a record that
			// ends has none, and one that does not proves nothing here.
			torn = true
			seq--
			break
		}
		var e Entry
		if err := json.Unmarshal(line[:len(line)-1], &e); err != nil {
			return &Failure{Entry: seq, Reason: "not a valid entry (altered)"}
		}
		switch {
		case e.Seq != seq:
			return &Failure{Entry: seq, Reason: fmt.Sprintf("missing or out of order: event %d stands in its place (events were removed, reordered or added)", e.Seq)}
		case e.Prev != prev && seq == 1:
			return &Failure{Entry: 1, Reason: "altered: the first event names a previous one"}
		case e.Prev != prev:
			return brokenLink(seq, line, rd)
		case !v.canonical(&e, line):
			return &Failure{Entry: seq, Reason: "altered: the entry is not written as the server writes it (spaces, key order or case, escapes or unknown fields changed)"}
		}
		sum := sha256.Sum256(line[:len(line)-1])
		head := prev
		prev = hex.EncodeToString(sum[:])
		if err := v.sameIdentity(&e); err != nil {
			return err
		}
		v.briefs = append(v.briefs, brief{e.Type, e.Identity, e.Time})
		if final != nil && e.Type != TypeCountersign && e.Type != TypeEnd {
			return &Failure{Entry: seq, Reason: fmt.Sprintf("added after the record was sealed at event %d", final.Seq)}
		}
		if e.Type == TypeEnd {
			if err := v.end(&e, line, head, final); err != nil {
				return err
			}
			end = &e
		} else if err := v.entry(&e, head); err != nil {
			return err
		}
		if e.Type == TypeCheckpoint && e.Final {
			final = &e
			v.sealSeq = e.Seq
		}
		v.rep.Entries = seq
		if v.rep.Start.IsZero() {
			v.rep.Start = e.Time
		}
		if e.Type == TypeCheckpoint {
			// Its own time is not signed: what it covers ends before it.
			v.signed = signedState{seq: e.Seq, end: v.latest, files: maps.Clone(v.rep.Files)}
		}
		if e.Time.After(v.latest) {
			v.latest = e.Time
		}
	}
	if seq == 0 {
		return &Failure{Reason: "the event log is empty"}
	}
	v.rep.Sealed = final != nil
	v.rep.Ended = end != nil
	if err := v.finishFiles(); err != nil {
		return err
	}
	if !v.rep.Ended {
		if err := v.incomplete(torn); err != nil {
			return err
		}
	}
	for pid, id := range v.ids {
		if !slices.ContainsFunc(v.joins, func(j joined) bool { return j.pid == pid }) {
			return &Failure{Reason: fmt.Sprintf("participant %s (%s) appears in the record but never joined (altered)", pid, id)}
		}
	}
	return v.checkSigners()
}

// brokenLink blames a link that does not hold on the one edit that explains
// it: if the next line still links to this one, this line is as it was and
// the one before it was altered; if not, this line was (its prev field, or
// more).
func brokenLink(seq uint64, line []byte, rd *bufio.Reader) error {
	sum := sha256.Sum256(line[:len(line)-1])
	next, _ := readLine(rd, maxLine)
	var e struct {
		Prev string `json:"prev"`
	}
	if len(next) == 0 {
		return &Failure{Entry: seq - 1, Reason: fmt.Sprintf("altered: the last event, %d, no longer links to it (or its own prev field was changed)", seq)}
	}
	if json.Unmarshal(next, &e) == nil && e.Prev == hex.EncodeToString(sum[:]) {
		return &Failure{Entry: seq - 1, Reason: fmt.Sprintf("altered: event %d no longer links to it", seq)}
	}
	return &Failure{Entry: seq, Reason: fmt.Sprintf("altered: it does not link to event %d, and event %d does not link to it", seq-1, seq+1)}
}

// sameIdentity checks that an entry naming a participant names the identity
// that participant joined as: a server cannot move a line to another person
// by changing only the name, nor the participant only.
func (v *verifier) sameIdentity(e *Entry) error {
	if e.Participant == "" {
		return nil
	}
	id, seen := v.ids[e.Participant]
	switch {
	case !seen:
		v.ids[e.Participant] = e.Identity
	case id != e.Identity:
		return &Failure{Entry: e.Seq, Reason: fmt.Sprintf("names participant %s as %q, who is %q in the rest of the record (altered)", e.Participant, e.Identity, id)}
	}
	return nil
}

// maxLine bounds one line of the log: the longest entries (a chat line, a
// participant's name) are a few kilobytes; a verifier must not be made to
// read gigabytes into memory.
const maxLine = 1 << 20

var errLongLine = errors.New("line too long")

// readLine reads up to and including the next newline, refusing lines longer than limit.
func readLine(rd *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		frag, err := rd.ReadSlice('\n')
		if len(line)+len(frag) > limit {
			return nil, errLongLine
		}
		line = append(line, frag...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}

// incomplete explains a record without its end marker, or fails it when the
// options require the end.
func (v *verifier) incomplete(torn bool) error {
	last := v.signed.seq
	v.rep.Unsigned = v.rep.Entries - last
	why := "the record has no end marker (it was cut short, or the server stopped before ending it)"
	switch {
	case v.rep.Format == FormatV1:
		why = "the record is of format " + FormatV1 + ", which has no end marker: its last line and the countersignatures written after its seal can be altered or removed unnoticed"
	case v.rep.Sealed:
		why = "the record is sealed but has no end marker (the server stopped before ending it, or its end was cut off): countersignatures after the seal are not provable"
	}
	var upTo string
	switch {
	case last == 0:
		upTo = "no server checkpoint signs any of it"
	case v.rep.Unsigned == 0:
		upTo = fmt.Sprintf("it is verified up to event %d, its last signed checkpoint", last)
	case v.rep.Unsigned == 1:
		upTo = fmt.Sprintf("it is verified up to event %d, its last signed checkpoint; the event after it carries no signature", last)
	default:
		upTo = fmt.Sprintf("it is verified up to event %d, its last signed checkpoint; the %d events after it carry no signature", last, v.rep.Unsigned)
	}
	if torn {
		upTo += "; its last line is cut in the middle and was ignored"
	}
	if v.o.RequireEnd {
		return &Failure{Entry: last, Reason: "incomplete: " + why + "; " + upTo, Incomplete: true}
	}
	v.rep.Warnings = append(v.rep.Warnings, "incomplete: "+why+"; "+upTo)
	return nil
}

// end checks the end marker: it follows the seal, names the entry before it,
// carries nothing but what the server signs, and its signature verifies.
func (v *verifier) end(e *Entry, line []byte, head string, final *Entry) error {
	switch {
	case v.rep.Format != Format:
		return &Failure{Entry: e.Seq, Reason: "an end marker in a record of format " + v.rep.Format + ", which has none (altered)"}
	case final == nil:
		return &Failure{Entry: e.Seq, Reason: "an end marker before the record was sealed (altered)"}
	case e.Head != head:
		return &Failure{Entry: e.Seq, Reason: "the end marker does not name the event before it (altered)"}
	}
	// Nothing follows this line to bind its bytes: every field must be one the
	// signature covers or the chain checks.
	bare := Entry{Seq: e.Seq, Time: e.Time, Prev: e.Prev, Type: e.Type, Head: e.Head, Sig: e.Sig}
	if !v.canonical(&bare, line) {
		return &Failure{Entry: e.Seq, Reason: "the end marker carries fields the server does not write (altered)"}
	}
	sig, err := b64strict.DecodeString(e.Sig)
	if err != nil || !ed25519.Verify(v.serverKey, EndStatement(v.rep.Record, e.Seq-1, e.Head, e.Time), sig) {
		return &Failure{Entry: e.Seq, Reason: "the end marker's signature does not verify with the server key " + v.rep.ServerKey}
	}
	v.signed = signedState{seq: e.Seq, end: v.latest, files: maps.Clone(v.rep.Files)}
	if e.Time.After(v.latest) {
		v.signed.end = e.Time // signed too
	}
	return nil
}

func (v *verifier) entry(e *Entry, head string) error {
	if e.Seq == 1 {
		if e.Type != TypeStart || e.Format != Format && e.Format != FormatV1 {
			return &Failure{Entry: 1, Reason: "the log does not begin with a record-start of format " + Format + " or " + FormatV1}
		}
		v.rep.Record, v.rep.Room, v.rep.Format = e.Record, e.Room, e.Format
		v.serverKey = v.o.ServerKey
		if v.serverKey == nil {
			k, err := b64strict.DecodeString(e.ServerKey)
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
		v.joins = append(v.joins, joined{e.Participant, e.Identity, e.Seq})
	case "leave":
		v.leaves = append(v.leaves, joined{e.Participant, e.Identity, e.Seq})
	case "reconnecting":
		v.drops = append(v.drops, joined{e.Participant, e.Identity, e.Seq})
	case EventContinues:
		return v.continues(e)
	case TypeKey:
		if k, err := b64strict.DecodeString(e.Key); err == nil && len(k) == ed25519.PublicKeySize {
			v.keys[e.Participant] = append(v.keys[e.Participant], keyAnnounce{k, e.Identity, e.Seq, e.By, e.Sig})
		}
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
		sig, err := b64strict.DecodeString(e.Sig)
		if err != nil || !ed25519.Verify(v.serverKey, Statement(v.rep.Record, e.Seq-1, e.Head), sig) {
			return &Failure{Entry: e.Seq, Reason: "the checkpoint's signature does not verify with the server key " + v.rep.ServerKey}
		}
		v.checkpoints[e.Seq] = *e
		if v.rep.heads == nil {
			v.rep.heads = map[uint64]string{}
		}
		v.rep.heads[e.Seq] = e.Head
		v.rep.Checkpoints++
		v.rep.LastSigned = e.Seq
	case TypeCountersign:
		cp, ok := v.checkpoints[e.Of]
		if !ok {
			return &Failure{Entry: e.Seq, Reason: fmt.Sprintf("countersigns checkpoint %d, which does not exist", e.Of)}
		}
		sig, err := b64strict.DecodeString(e.Sig)
		if err != nil {
			return &Failure{Entry: e.Seq, Reason: "countersignature is malformed"}
		}
		var by *keyAnnounce
		for i, k := range v.keys[e.Participant] {
			if ed25519.Verify(k.key, Statement(v.rep.Record, cp.Seq-1, cp.Head), sig) {
				by = &v.keys[e.Participant][i]
				break
			}
		}
		if by == nil {
			return &Failure{Entry: e.Seq, Reason: fmt.Sprintf("%s's countersignature does not verify with the key they announced", e.Identity)}
		}
		if e.Identity != by.identity {
			return &Failure{Entry: e.Seq, Reason: "countersignature names another identity than its key's"}
		}
		v.countersigns = append(v.countersigns, countersig{by.identity, cp.Seq - 1, by.key, by.seq})
	}
	return nil
}

// facts fills the report with what the signed part of the record shows: all
// of it for a record that ended, what the last checkpoint covers otherwise.
// A countersignature anywhere counts if the key it verifies with was
// announced in the signed part: no one else could have made it.
func (v *verifier) facts() {
	if v.factsDone {
		return
	}
	v.factsDone = true
	s := v.signed
	if s.seq == 0 {
		clear(v.rep.Files)
		for n := range v.files {
			v.rep.Files[n] = 0
		}
		return
	}
	if s.files != nil {
		v.rep.Files = s.files
	}
	v.rep.End = s.end
	for _, j := range v.joins {
		if j.seq < s.seq && !slices.Contains(v.rep.Participants, j.identity) {
			v.rep.Participants = append(v.rep.Participants, j.identity)
		}
	}
	for _, c := range v.countersigns {
		if c.keySeq < s.seq && c.upTo > v.rep.SignedUpTo[c.identity] {
			v.rep.SignedUpTo[c.identity] = c.upTo
		}
	}
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
		// A live record's file grows while it is verified: the size read at its file-start
		// may predate this chunk. Only what is still short now is missing.
		if st, err := fs.f.Stat(); err == nil {
			fs.size = st.Size()
		}
	}
	if fs.size < end {
		return &Failure{Entry: e.Seq, File: e.File, From: max(fs.size, e.Offset), To: end, Reason: "missing: the file is truncated"}
	}
	ok, err := v.matches(fs, e)
	if err != nil {
		return &Failure{Entry: e.Seq, File: e.File, From: e.Offset, To: end, Reason: "cannot read: " + err.Error()}
	}
	if !ok {
		return &Failure{Entry: e.Seq, File: e.File, From: e.Offset, To: end, Reason: "altered: the bytes do not match their hash in event " + formatUint(e.Seq)}
	}
	fs.covered = end
	v.rep.Files[e.File] = end
	return nil
}

// matches reports whether the chunk's bytes have the hash e names, as hashed
// ahead or, for a chunk prehash did not reach, read now.
func (v *verifier) matches(fs *fileState, e *Entry) (bool, error) {
	if r, ok := v.pre[e.Seq]; ok && r.file == e.File && r.offset == e.Offset && r.size == e.Size && r.sum == e.SHA256 {
		return r.matches, nil
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(fs.f, e.Offset, e.Size), v.buf); err != nil {
		return false, err
	}
	v.progress(e.Size)
	return hex.EncodeToString(h.Sum(nil)) == e.SHA256, nil
}

func (v *verifier) finishFiles() error {
	names := make([]string, 0, len(v.files))
	for n := range v.files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fs := v.files[n]
		signed := v.signed.files[n] // what a signature covers; the rest of covered is in the unsigned tail
		switch {
		case fs.size > fs.covered && (fs.ended || v.rep.Sealed):
			return &Failure{File: n, From: fs.covered, To: fs.size, Reason: "added: bytes beyond what the record committed"}
		case fs.size > signed && !v.rep.Ended:
			v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf("%s: bytes %d-%d are not covered by a signature", n, signed, fs.size-1))
		}
	}
	if top, err := os.ReadDir(v.dir); err == nil {
		for _, e := range top {
			// Readouts cite the record from beside it; they are signed
			// documents of their own, checked by parley readout verify.
			if n := e.Name(); n != LogFile && n != MediaDir && !(n == ReadoutsDir && e.IsDir()) {
				v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf("%s is in the record's folder but not part of the record: nothing signs it", n))
			}
		}
	}
	if name := filepath.Base(filepath.Clean(v.dir)); v.rep.Record != "" && name != v.rep.Record {
		v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf("the folder is named %s, but the record inside is %s", name, v.rep.Record))
	}
	entries, err := os.ReadDir(filepath.Join(v.dir, MediaDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return &Failure{Reason: err.Error()}
	}
	for _, e := range entries {
		name := MediaDir + "/" + e.Name()
		if _, ok := v.files[name]; ok {
			continue
		}
		if e.IsDir() {
			return &Failure{File: name, Reason: "added: a folder inside media/, which a record never has"}
		}
		if !v.rep.Ended && !v.rep.Sealed {
			// The log stops short (a crash, or a cut): what it never reached
			// is unsigned, like its tail, not proven added.
			v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf("%s: the log ends before it mentions this file; nothing signs it", name))
			continue
		}
		return &Failure{File: name, Reason: "added: the record does not mention this file"}
	}
	return nil
}

func (v *verifier) checkSigners() error {
	v.facts()
	given := slices.Sorted(maps.Keys(v.o.Signers))
	ids := map[string]bool{}
	for _, keys := range v.keys {
		for _, k := range keys {
			if k.seq < v.signed.seq {
				ids[k.identity] = true
			}
		}
	}
	for _, j := range v.joins {
		if j.seq < v.signed.seq {
			ids[j.identity] = true
		}
	}
	for _, id := range given {
		ids[id] = true
	}
	var fail error
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		a, err := v.attest(id)
		v.rep.Attested = append(v.rep.Attested, a)
		if err != nil && fail == nil {
			fail = err
		}
	}
	if len(given) == 0 {
		v.rep.Warnings = append(v.rep.Warnings, "no --signer given: this shows the record is consistent, not that its participants agree with it; "+
			"ask each for their key (and receipt) and verify again with --signer IDENTITY=KEY")
	}
	return fail
}

// announced lists the keys announced in identity's name in the signed part
// of the record, in the order they were announced.
func (v *verifier) announced(identity string) []keyAnnounce {
	var out []keyAnnounce
	for _, keys := range v.keys {
		for _, k := range keys {
			if k.identity == identity && k.seq < v.signed.seq {
				out = append(out, k)
			}
		}
	}
	slices.SortFunc(out, func(a, b keyAnnounce) int { return int(a.seq) - int(b.seq) })
	return out
}

// endorsed is the set of keys that speak for a given signer: the key they
// gave, and each announced key that a key of the set endorsed by signing
// KeyChangeStatement. It also returns the first key announced in their name
// that none of them endorsed.
func (v *verifier) endorsed(identity string, want ed25519.PublicKey, keys []keyAnnounce) ([]ed25519.PublicKey, *keyAnnounce) {
	set := []ed25519.PublicKey{want}
	has := func(k ed25519.PublicKey) bool { return containsKey(set, k) }
	var stranger *keyAnnounce
	for i, k := range keys {
		if has(k.key) {
			continue
		}
		prev, err := b64strict.DecodeString(k.by)
		sig, err2 := b64strict.DecodeString(k.sig)
		if err == nil && err2 == nil && len(prev) == ed25519.PublicKeySize && has(prev) &&
			ed25519.Verify(prev, KeyChangeStatement(identity, b64.EncodeToString(k.key)), sig) {
			set = append(set, k.key)
			continue
		}
		if stranger == nil {
			stranger = &keys[i]
		}
	}
	return set, stranger
}

// attest works out how far identity's countersignatures vouch for the record
// and what rests on the server's word alone; for a given signer it fails
// where that is more than their own departure.
func (v *verifier) attest(id string) (Attestation, error) {
	keys := v.announced(id)
	a := Attestation{Identity: id, Needed: v.needed(id)}
	for _, k := range keys {
		a.Keys = append(a.Keys, fingerprint(k.key))
	}
	want, given := v.o.Signers[id]
	a.Given = given
	counts := func(ed25519.PublicKey) bool { return true }
	var stranger *keyAnnounce
	if given {
		var set []ed25519.PublicKey
		set, stranger = v.endorsed(id, want, keys)
		counts = func(k ed25519.PublicKey) bool { return containsKey(set, k) }
	}
	for _, c := range v.countersigns {
		if c.identity == id && c.keySeq < v.signed.seq && counts(c.key) && c.upTo > a.UpTo {
			a.UpTo = c.upTo
		}
	}
	v.gap(&a)
	if !given {
		return a, nil
	}
	v.rep.SignedUpTo[id] = a.UpTo
	if a.UpTo == 0 {
		delete(v.rep.SignedUpTo, id)
	}
	switch {
	case stranger != nil:
		return a, &Failure{Entry: stranger.seq, Reason: fmt.Sprintf("a key %s was announced in %s's name that their key %s does not endorse: it is not theirs, and nothing signed with it counts for them",
			fingerprint(stranger.key), id, fingerprint(want))}
	case !slices.ContainsFunc(keys, func(k keyAnnounce) bool { return counts(k.key) }):
		return a, &Failure{Reason: fmt.Sprintf("%s never announced the key %s in this record", id, b64.EncodeToString(want))}
	case a.UpTo == 0:
		return a, &Failure{Reason: fmt.Sprintf("%s's countersignature is missing: no checkpoint signed by them", id)}
	case v.o.AllowGaps || a.Needed <= a.UpTo:
		return a, nil
	case len(a.Gap) > 0:
		return a, &Failure{Entry: a.Gap[0].Seq, Reason: fmt.Sprintf("%s did not attest events %d to %d, which were recorded while they were in the room; %s rest on the server's word alone",
			id, a.UpTo+1, a.Needed, describeGap(a.Gap))}
	case a.GapTo.Sub(a.GapFrom) > gapTolerance:
		return a, &Failure{Entry: a.UpTo + 1, Reason: fmt.Sprintf("%s did not attest events %d to %d (%s of the meeting before they left), which rest on the server's word alone",
			id, a.UpTo+1, a.Needed, a.GapTo.Sub(a.GapFrom).Round(time.Millisecond))}
	}
	return a, nil
}

// needed is the last event identity must attest: their leave, if they left
// for good (or, where their connection dropped and they never came back, the
// drop: after it nothing of theirs could sign); else the seal's last event
// (or, in a record without one, the last event its last checkpoint signs).
func (v *verifier) needed(id string) uint64 {
	var join, leave uint64
	for _, j := range v.joins {
		if j.identity == id && j.seq < v.signed.seq {
			join = max(join, j.seq)
		}
	}
	for _, l := range v.leaves {
		if l.identity == id && l.seq < v.signed.seq {
			leave = max(leave, l.seq)
		}
	}
	switch {
	case join == 0:
		return 0
	case leave > join:
		for _, d := range v.drops {
			if d.identity == id && d.seq > join && d.seq < leave {
				return d.seq
			}
		}
		return leave
	case v.sealSeq != 0 && v.sealSeq <= v.signed.seq:
		return v.sealSeq - 1
	}
	return v.signed.seq - 1
}

// gap fills in the room events between what a attests and what it needs,
// but for the identity's own departure, and the time the gap spans.
func (v *verifier) gap(a *Attestation) {
	if a.Needed <= a.UpTo || a.Needed > uint64(len(v.briefs)) {
		return
	}
	from := a.UpTo
	if from == 0 {
		for _, j := range v.joins {
			if j.identity == a.Identity {
				from = j.seq
				break
			}
		}
	}
	a.GapFrom, a.GapTo = v.briefs[max(from, 1)-1].at, v.briefs[a.Needed-1].at
	for seq := max(a.UpTo+1, from); seq <= a.Needed; seq++ {
		b := v.briefs[seq-1]
		if bookkeeping[b.typ] || b.identity == a.Identity && departure[b.typ] {
			continue
		}
		a.Gap = append(a.Gap, GapEvent{Seq: seq, Type: b.typ, Identity: b.identity})
	}
}

// describeGap names a gap's events, the first few of them.
func describeGap(g []GapEvent) string {
	var parts []string
	for i, e := range g {
		if i == 4 {
			parts = append(parts, fmt.Sprintf("and %d more", len(g)-i))
			break
		}
		who := ""
		if e.Identity != "" {
			who = " of " + e.Identity
		}
		parts = append(parts, fmt.Sprintf("event %d (%s%s)", e.Seq, e.Type, who))
	}
	if len(g) == 1 {
		return parts[0]
	}
	return strings.Join(parts, ", ")
}

// fingerprint is how a key is shown: its first 16 characters (as the client shows it).
func fingerprint(k ed25519.PublicKey) string { return b64.EncodeToString(k)[:16] }

func containsKey(set []ed25519.PublicKey, k ed25519.PublicKey) bool {
	return slices.ContainsFunc(set, func(x ed25519.PublicKey) bool { return x.Equal(k) })
}
