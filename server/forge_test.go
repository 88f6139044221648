package server_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/signal"
)

// The adversary is the server itself: it holds its private key, rewrites the
// record of a real call and re-signs everything it signs (the chain, every
// checkpoint, the end marker). The participants' countersignatures it cannot
// make; it either drops those that no longer verify, or announces keys of its
// own in the participants' names and countersigns with them.

var b64 = base64.RawURLEncoding

// readEntries parses a record's log.
func readEntries(t *testing.T, dir string) []record.Entry {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, record.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []record.Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e record.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// countersignPolicy is what the forger does with a countersignature its edit broke.
type countersignPolicy int

const (
	dropBroken   countersignPolicy = iota // leave it out
	ownKeysForge                          // announce a key of its own for the participant, countersign with it
)

// forge writes entries (edited) into a copy of the record in dir, chained and
// signed anew with key, and returns the copy.
func forge(t *testing.T, dir string, key ed25519.PrivateKey, entries []record.Entry, policy countersignPolicy) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(dir))
	if err := os.CopyFS(out, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	rec := entries[0].Record
	participantKeys := map[string][]ed25519.PublicKey{} // participant -> keys announced
	forged := map[string]ed25519.PrivateKey{}           // participant -> the forger's key
	if policy == ownKeysForge {
		var with []record.Entry
		for _, e := range entries {
			with = append(with, e)
			if e.Type == record.TypeKey {
				_, k, _ := ed25519.GenerateKey(rand.Reader)
				forged[e.Participant] = k
				with = append(with, record.Entry{Time: e.Time, Type: record.TypeKey, Participant: e.Participant, Identity: e.Identity,
					Key: b64.EncodeToString(k.Public().(ed25519.PublicKey))})
			}
		}
		entries = with
	}
	var lines bytes.Buffer
	prev := strings.Repeat("0", 64)
	newSeq := map[uint64]uint64{} // checkpoint: old seq -> new seq
	heads := map[uint64]string{}  // checkpoint: new seq -> head
	n := uint64(0)
	for _, e := range entries {
		old := e.Seq
		n++
		e.Seq, e.Prev = n, prev
		switch e.Type {
		case record.TypeKey:
			k, _ := b64.DecodeString(e.Key)
			participantKeys[e.Participant] = append(participantKeys[e.Participant], k)
		case record.TypeCheckpoint:
			e.Head = prev
			e.Sig = b64.EncodeToString(ed25519.Sign(key, record.Statement(rec, n-1, e.Head)))
			newSeq[old], heads[n] = n, e.Head
		case record.TypeCountersign:
			of, ok := newSeq[e.Of]
			if !ok {
				n--
				continue // the checkpoint it signed is gone
			}
			e.Of = of
			statement := record.Statement(rec, of-1, heads[of])
			sig, _ := b64.DecodeString(e.Sig)
			valid := false
			for _, k := range participantKeys[e.Participant] {
				valid = valid || ed25519.Verify(k, statement, sig)
			}
			if !valid {
				if policy == dropBroken || forged[e.Participant] == nil {
					n--
					continue
				}
				e.Sig = b64.EncodeToString(ed25519.Sign(forged[e.Participant], statement))
			}
		case record.TypeEnd:
			e.Head = prev
			e.Sig = b64.EncodeToString(ed25519.Sign(key, record.EndStatement(rec, n-1, e.Head, e.Time)))
		}
		line, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(line)
		prev = hex.EncodeToString(sum[:])
		lines.Write(append(line, '\n'))
	}
	if err := os.WriteFile(filepath.Join(out, record.LogFile), lines.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// chatBy finds the chat line with text.
func chatBy(t *testing.T, es []record.Entry, text string) int {
	t.Helper()
	for i, e := range es {
		if e.Type == "chat" && e.Data["text"] == text {
			return i
		}
	}
	t.Fatalf("no chat line %q in the record", text)
	return -1
}

// TestRecordForgedWithTheServerKeyIsRefused: each forgery of a real record
// re-signs all the server signs and passes a check of consistency alone (no
// --signer); with the participants' real keys every one is refused, and again
// with their receipts alone.
func TestRecordForgedWithTheServerKeyIsRefused(t *testing.T) {
	dir, serverKey, keys, receipts := recordedCall(t, func(a, b *client.Client) {
		for _, m := range []struct {
			c    *client.Client
			text string
		}{{a, "I object to item 3"}, {b, "noted"}, {a, "vote yes"}} {
			if err := m.c.Send(&signal.ChatSend{Type: "chat", Text: m.text}); err != nil {
				t.Fatal(err)
			}
		}
	})
	original := readEntries(t, dir)
	var bParticipant string
	for _, e := range original {
		if e.Type == "join" && e.Identity == "head-b" {
			bParticipant = e.Participant
		}
	}
	edits := map[string]func(es []record.Entry) []record.Entry{
		"drops a chat line": func(es []record.Entry) []record.Entry {
			i := chatBy(t, es, "I object to item 3")
			return append(es[:i:i], es[i+1:]...)
		},
		"changes a text": func(es []record.Entry) []record.Entry {
			i := chatBy(t, es, "vote yes")
			es[i].Data = map[string]string{"text": "vote no"}
			return es
		},
		"moves a line to the other side": func(es []record.Entry) []record.Entry {
			i := chatBy(t, es, "vote yes")
			es[i].Participant, es[i].Identity = bParticipant, "head-b"
			return es
		},
	}
	serverPub := serverKey.Public().(ed25519.PublicKey)
	signers := map[string]ed25519.PublicKey{"head-a": keys["head-a"].Public().(ed25519.PublicKey), "head-b": keys["head-b"].Public().(ed25519.PublicKey)}
	for name, edit := range edits {
		for policy, how := range map[countersignPolicy]string{dropBroken: "drops the broken countersignatures", ownKeysForge: "countersigns with keys of its own"} {
			t.Run(name+", "+how, func(t *testing.T) {
				es := edit(readEntries(t, dir))
				forgery := forge(t, dir, serverKey, es, policy)
				// The forgery is perfect as far as the server's signatures go.
				if rep, err := record.Verify(forgery, record.VerifyOptions{ServerKey: serverPub, RequireEnd: true}); err != nil || !rep.Ended {
					t.Fatalf("the forger is broken: the forgery fails even without signers: %v", err)
				}
				rep, err := record.Verify(forgery, record.VerifyOptions{ServerKey: serverPub, RequireEnd: true, Signers: signers})
				if err == nil {
					t.Fatalf("the forgery verified with the participants' keys: %+v", rep.Attested)
				}
				t.Logf("refused: %v", err)
				for id, r := range receipts {
					_, err := record.Verify(forgery, record.VerifyOptions{ServerKey: serverPub, RequireEnd: true, Receipts: []record.Receipt{r}})
					if err == nil {
						t.Fatalf("the forgery verified with %s's receipt", id)
					}
					t.Logf("refused by %s's receipt: %v", id, err)
				}
			})
		}
	}

	// Renaming the speaker of a line, and nothing else, is caught without
	// any key: a participant is one identity throughout.
	es := readEntries(t, dir)
	es[chatBy(t, es, "vote yes")].Identity = "head-b"
	_, err := record.Verify(forge(t, dir, serverKey, es, dropBroken), record.VerifyOptions{ServerKey: serverPub, RequireEnd: true})
	if err == nil || !strings.Contains(err.Error(), "in the rest of the record") {
		t.Fatalf("a line renamed to another identity: %v", err)
	}
}
