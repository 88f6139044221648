package room

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
)

// fakeRecorder signs checkpoints when the test says so, and its Seal waits
// for the test: that wait is the time the real one spends committing files,
// during which a routine checkpoint can still be signed.
type fakeRecorder struct {
	notify  func(CheckpointInfo)
	sealing chan struct{} // closed when Seal begins
	release chan struct{} // Seal signs the final checkpoint once it is closed

	mu          sync.Mutex
	seq         uint64
	final       uint64
	statements  map[uint64]string
	signed      map[string][]uint64 // identity -> seqs countersigned
	sealStarted bool
}

func newFakeRecorder() *fakeRecorder {
	return &fakeRecorder{sealing: make(chan struct{}), release: make(chan struct{}),
		statements: map[uint64]string{}, signed: map[string][]uint64{}}
}

func (f *fakeRecorder) start(_ string, checkpoint func(CheckpointInfo)) (Recorder, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.notify != nil {
		return nil, errors.New("one record per test")
	}
	f.notify = checkpoint
	return f, nil
}

func (f *fakeRecorder) ID() string         { return "rec-1" }
func (f *fakeRecorder) Event(Event)        {}
func (f *fakeRecorder) Key(_, _, _ string) {}
func (f *fakeRecorder) Track(TrackMeta) (TrackRecorder, error) {
	return nil, errors.New("no media here")
}
func (f *fakeRecorder) Close() error { return nil }

// sign makes a checkpoint and hands it to the room, as the record package
// does from its ticker (routine) or from Checkpoint and Seal.
func (f *fakeRecorder) sign(final bool) CheckpointInfo {
	f.mu.Lock()
	f.seq++
	c := CheckpointInfo{Record: f.ID(), Seq: f.seq, Statement: fmt.Sprintf("checkpoint %d", f.seq), Final: final}
	f.statements[c.Seq] = c.Statement
	if final {
		f.final = c.Seq
	}
	notify := f.notify
	f.mu.Unlock()
	notify(c)
	return c
}

func (f *fakeRecorder) Checkpoint() (CheckpointInfo, error) { return f.sign(false), nil }

func (f *fakeRecorder) Seal() error {
	close(f.sealing)
	<-f.release
	f.sign(true)
	return nil
}

func (f *fakeRecorder) Countersign(_, identity string, key ed25519.PublicKey, seq uint64, sig []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.statements[seq]
	if !ok {
		return fmt.Errorf("no checkpoint %d", seq)
	}
	if !ed25519.Verify(key, []byte(st), sig) {
		return errors.New("bad signature")
	}
	f.signed[identity] = append(f.signed[identity], seq)
	return nil
}

func (f *fakeRecorder) hasSigned(identity string, seq uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.signed[identity] {
		if s == seq {
			return true
		}
	}
	return false
}

func (f *fakeRecorder) finalSeq() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.final
}

// keySink is a client that holds a key; it countersigns a checkpoint when the
// test says so, so the test chooses the order in which signatures arrive.
type keySink struct {
	fakeClient
	key ed25519.PrivateKey
	p   *Participant
}

func (s *keySink) isClosed() bool { return s.closedFor() != "" }

// countersign answers checkpoint seq once it has arrived.
func (s *keySink) countersign(t *testing.T, seq uint64) {
	t.Helper()
	c := s.await(t, "Checkpoint", func(v any) bool { return v.(CheckpointInfo).Seq == seq }).(CheckpointInfo)
	sig := ed25519.Sign(s.key, []byte(c.Statement))
	if err := s.p.Countersign(context.Background(), c.Record, c.Seq, sig); err != nil {
		t.Fatalf("%s countersigns checkpoint %d: %v", s.p.identity, seq, err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// present reports, once the room has run everything posted so far, whether p
// is still in it.
func present(t *testing.T, p *Participant) bool {
	t.Helper()
	res := make(chan bool, 1)
	if !p.room.box.post(func() { res <- p.room.participants[p.id] == p }) {
		return false // the room closed: everyone left
	}
	select {
	case in := <-res:
		return in
	case <-time.After(20 * time.Second):
		t.Fatal("the room loop does not answer")
		return false
	}
}

// recordedRoom starts a manager that records every room with rec; the leave
// bound is lengthened so that only countersignatures let anyone go here.
func recordedRoom(t *testing.T, rec *fakeRecorder) *Manager {
	t.Helper()
	grace := sealGrace
	sealGrace = time.Hour
	t.Cleanup(func() { sealGrace = grace }) // runs after the manager's Close below
	m := NewManager(Config{Engine: testEngine(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		StartRecorder: rec.start, RecordAll: true})
	t.Cleanup(func() {
		// A Seal still waiting for the test would hold Close forever.
		select {
		case <-rec.release:
		default:
			close(rec.release)
		}
		m.Close()
	})
	return m
}

func joinWithKey(t *testing.T, m *Manager, identity string) *keySink {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	s := &keySink{key: key}
	claims := &auth.Claims{Subject: identity, Room: "summit", Grants: []auth.Grant{auth.GrantJoin},
		ExpiresAt: time.Now().Add(time.Hour).Unix()}
	p, err := m.Join(context.Background(), JoinRequest{Claims: claims, Key: base64.RawURLEncoding.EncodeToString(pub), Client: s})
	if err != nil {
		t.Fatal(err)
	}
	s.p = p
	return s
}

// The last participant who can countersign leaves: the room seals the record.
// While the seal is being made (files committed), a routine checkpoint is
// signed and they countersign it, as clients countersign every checkpoint.
// That must not let them go: the seal is what they stay for.
func TestLeavingSealerWaitsForTheSeal(t *testing.T) {
	rec := newFakeRecorder()
	m := recordedRoom(t, rec)
	b := joinWithKey(t, m, "head-b")

	b.p.Leave()
	select {
	case <-rec.sealing:
	case <-time.After(20 * time.Second):
		t.Fatal("leaving as the last key holder did not seal the record")
	}
	routine := rec.sign(false)
	b.countersign(t, routine.Seq)
	waitUntil(t, "the routine countersignature is taken", func() bool { return rec.hasSigned("head-b", routine.Seq) })
	if !present(t, b.p) {
		t.Fatal("head-b was let go on countersigning a routine checkpoint made during the seal; the seal will lack their signature")
	}

	close(rec.release)
	waitUntil(t, "the seal is signed", func() bool { return rec.finalSeq() != 0 })
	b.countersign(t, rec.finalSeq())
	waitUntil(t, "head-b leaves once the seal is countersigned", func() bool { return !present(t, b.p) })
	if !rec.hasSigned("head-b", rec.finalSeq()) {
		t.Fatal("the seal was not countersigned")
	}
	if !b.isClosed() {
		t.Fatal("head-b left but its connection was not closed")
	}
}

// A participant who leaves while another stays countersigns the checkpoint
// made at their leave; a countersignature of an earlier checkpoint, still in
// flight when they asked to leave, does not cover their leaving.
func TestLeaverWaitsForTheCheckpointOfTheirLeave(t *testing.T) {
	rec := newFakeRecorder()
	m := recordedRoom(t, rec)
	a := joinWithKey(t, m, "head-a")
	joinWithKey(t, m, "head-b")

	earlier := rec.sign(false)
	a.p.Leave()
	leaveSeq := earlier.Seq + 1 // the fake numbers checkpoints in order
	a.countersign(t, earlier.Seq)
	waitUntil(t, "the earlier countersignature is taken", func() bool { return rec.hasSigned("head-a", earlier.Seq) })
	if !present(t, a.p) {
		t.Fatal("head-a was let go on countersigning a checkpoint from before their leave")
	}
	a.countersign(t, leaveSeq)
	waitUntil(t, "head-a leaves once the checkpoint of their leave is countersigned", func() bool { return !present(t, a.p) })
	select {
	case <-rec.sealing:
		t.Fatal("the record was sealed though head-b stays")
	default:
	}
}
