package record

import (
	"crypto/ed25519"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestContinuationLinksTwoRecords: a record that continues a lost one
// verifies when the checkpoint it quotes carries the server's signature, and
// CheckContinuation ties it to the lost record's own checkpoint; a forged
// quote, or another record given as the previous one, fails.
func TestContinuationLinksTwoRecords(t *testing.T) {
	key := newKey(t)
	pub := key.Public().(ed25519.PublicKey)
	lost, err := Start(Options{Root: t.TempDir(), Room: "r", Key: key, CheckpointEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	lost.Event("join", "PA_1", "a", nil, time.Now())
	cp, err := lost.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	lost.log.sync() // the node dies here: no seal, no end

	next := func(data map[string]string) string {
		t.Helper()
		r, err := Start(Options{Root: t.TempDir(), Room: "r", Key: key, CheckpointEvery: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		r.Event(EventContinues, "", "", data, time.Now())
		if _, err := r.Checkpoint(); err != nil {
			t.Fatal(err)
		}
		r.log.sync()
		return r.Dir()
	}
	link := func() map[string]string {
		return map[string]string{"previous": cp.Record, "previous_seq": strconv.FormatUint(cp.Seq, 10),
			"previous_checkpoint": string(cp.Statement()), "previous_signature": cp.Sig}
	}
	o := VerifyOptions{ServerKey: pub}
	prev, err := Verify(lost.Dir(), o)
	if err != nil {
		t.Fatal(err)
	}

	rep, err := Verify(next(link()), o)
	if err != nil || rep.Continues == nil || rep.Continues.Record != cp.Record || rep.Continues.Seq != cp.Seq {
		t.Fatalf("the continuing record: %v %+v", err, rep.Continues)
	}
	if err := CheckContinuation(rep, prev); err != nil {
		t.Fatalf("the link: %v", err)
	}

	// A quote the server never signed: a forged head.
	forged := link()
	forged["previous_checkpoint"] = strings.Replace(forged["previous_checkpoint"], cp.Head, strings.Repeat("0", 64), 1)
	if _, err := Verify(next(forged), o); err == nil || !strings.Contains(err.Error(), "not signed by the server key") {
		t.Errorf("a forged quote: %v", err)
	}
	// Another record given as the previous one.
	other, err := Start(Options{Root: t.TempDir(), Room: "r", Key: key, CheckpointEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	other.Event("join", "PA_2", "b", nil, time.Now())
	if _, err := other.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	other.log.sync()
	otherRep, err := Verify(other.Dir(), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckContinuation(rep, otherRep); err == nil {
		t.Error("a record continues a record it does not name")
	}
	// The right record, altered to another head at that checkpoint, is
	// caught by its own verification; a head that differs here is too.
	prev.heads[cp.Seq] = strings.Repeat("1", 64)
	if err := CheckContinuation(rep, prev); err == nil || !strings.Contains(err.Error(), "another head") {
		t.Errorf("a previous record whose checkpoint signs another head: %v", err)
	}
}
