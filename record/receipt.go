package record

import (
	"cmp"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
)

// ReceiptFormat names the receipt format.
const ReceiptFormat = "parley-receipt-v1"

// Receipt is a participant's own evidence of a record: every checkpoint they
// countersigned, as they signed it. It needs nothing from the server: a
// record that differs from it was altered after they signed, even if the
// server dropped their countersignatures from the record.
type Receipt struct {
	Format      string              `json:"format"`
	Record      string              `json:"record"`
	Identity    string              `json:"identity"`
	Key         string              `json:"key"` // base64url of the raw Ed25519 public key that signed
	Checkpoints []ReceiptCheckpoint `json:"checkpoints"`
}

// ReceiptCheckpoint is one countersigned checkpoint.
type ReceiptCheckpoint struct {
	Seq  uint64 `json:"seq"`  // the checkpoint entry's seq: it covers the entries before it
	Head string `json:"head"` // hex SHA-256 of the entry before it
	Sig  string `json:"sig"`  // base64url signature of Statement(record, seq-1, head)
}

var statementRE = regexp.MustCompile(`^parley checkpoint\nrecord ([^\n]+)\nentries (0|[1-9][0-9]*)\nhead ([0-9a-f]{64})\n$`)

// ParseStatement reads a checkpoint statement. It is the only text a
// participant's key may sign: a client that signed whatever the server sent
// could be made to sign a KeyChangeStatement endorsing the server's own key.
func ParseStatement(s []byte) (record string, entries uint64, head string, ok bool) {
	m := statementRE.FindSubmatch(s)
	if m == nil {
		return "", 0, "", false
	}
	n, err := strconv.ParseUint(string(m[2]), 10, 64)
	if err != nil {
		return "", 0, "", false
	}
	return string(m[1]), n, string(m[3]), true
}

// Add appends a countersigned checkpoint (kept in order of seq, once each).
func (r *Receipt) Add(c ReceiptCheckpoint) {
	i, found := slices.BinarySearchFunc(r.Checkpoints, c.Seq, func(x ReceiptCheckpoint, seq uint64) int { return cmp.Compare(x.Seq, seq) })
	if !found {
		r.Checkpoints = slices.Insert(r.Checkpoints, i, c)
	}
}

// Check reports whether the receipt is well formed and every signature in it
// verifies with its key: only then is it evidence.
func (r *Receipt) Check() error {
	if r.Format != ReceiptFormat {
		return fmt.Errorf("not a receipt of format %s", ReceiptFormat)
	}
	key, err := b64strict.DecodeString(r.Key)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return errors.New("the receipt's key is malformed")
	}
	if len(r.Checkpoints) == 0 {
		return errors.New("the receipt holds no checkpoint")
	}
	for _, c := range r.Checkpoints {
		sig, err := b64strict.DecodeString(c.Sig)
		if c.Seq == 0 || err != nil || !ed25519.Verify(key, Statement(r.Record, c.Seq-1, c.Head), sig) {
			return fmt.Errorf("the receipt's signature of checkpoint %d does not verify with its key", c.Seq)
		}
	}
	return nil
}

// ReadReceipt reads and checks a receipt file.
func ReadReceipt(path string) (Receipt, error) {
	var r Receipt
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s is not a receipt: %w", path, err)
	}
	if err := r.Check(); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// checkReceipts compares the record with what each receipt's holder signed.
func (v *verifier) checkReceipts() error {
	for _, r := range v.o.Receipts {
		if r.Record != v.rep.Record {
			return &Failure{Reason: fmt.Sprintf("%s's receipt is for record %s, not this one", r.Identity, r.Record)}
		}
		var matched uint64 // the last of their checkpoints the record still has as they signed it
		for _, c := range r.Checkpoints {
			e, ok := v.checkpoints[c.Seq]
			switch {
			case ok && e.Head == c.Head:
				matched = c.Seq
				continue
			case c.Seq > v.rep.Entries:
				return &Failure{Entry: v.rep.Entries, Reason: fmt.Sprintf("the record ends at event %d, before checkpoint %d that %s countersigned (their receipt): it was cut short",
					v.rep.Entries, c.Seq, r.Identity)}
			}
			from := "the record's start"
			if matched > 0 {
				from = fmt.Sprintf("checkpoint %d (the last of theirs it still matches)", matched)
			}
			return &Failure{Entry: max(matched, 1), Reason: fmt.Sprintf("the record differs from what %s signed at checkpoint %d (their receipt): something between %s and event %d was altered, removed or added",
				r.Identity, c.Seq, from, c.Seq-1)}
		}
	}
	return nil
}
