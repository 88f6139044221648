package record

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// TestChunkOfAGrowingFileIsNotTruncated: verifying a live record, a file's
// size is read at its file-start, and the file grows after; a chunk past that
// size is checked against the file as it is now, and only bytes still missing
// are reported truncated.
func TestChunkOfAGrowingFileIsNotTruncated(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(MediaDir, "a.webm")
	if err := os.MkdirAll(filepath.Join(dir, MediaDir), 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	v := &verifier{dir: dir, rep: &Report{Files: map[string]int64{}}, files: map[string]*fileState{}, buf: make([]byte, 4096), pre: map[uint64]hashed{}}
	defer v.closeFiles()
	if err := v.fileStart(&Entry{Seq: 2, File: name}); err != nil {
		t.Fatal(err)
	}
	// The recorder writes on, and logs a chunk of the new bytes.
	all := []byte("0123456789abcdefghij")
	if err := os.WriteFile(path, all, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	if err := v.chunk(&Entry{Seq: 3, File: name, Offset: 0, Size: 20, SHA256: sum(all)}); err != nil {
		t.Fatalf("a chunk of bytes written after the file's start was read: %v", err)
	}
	// Bytes that are not there are still missing.
	err := v.chunk(&Entry{Seq: 4, File: name, Offset: 20, Size: 5, SHA256: sum([]byte("klmno"))})
	if f, ok := err.(*Failure); !ok || f.Reason != "missing: the file is truncated" {
		t.Errorf("a chunk past the end of the file: %v", err)
	}
}
