package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/server/servertest"
)

func TestRecordsCommandListsRecordsOnly(t *testing.T) {
	data := t.TempDir()
	if code, out, errOut := runCLI("records", "--data", data); code != 0 || strings.TrimSpace(out) != "no records" {
		t.Fatalf("no records folder: exit %d: %s%s", code, out, errOut)
	}
	id := servertest.FakeRecord(t, data, "summit", 3_000_000)
	// A folder that is not a record is not listed.
	if err := os.MkdirAll(filepath.Join(data, record.Dir, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("records", "--data", data)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one record listed:\n%s", out)
	}
	fields := strings.Split(lines[0], "\t")
	abs, _ := filepath.Abs(filepath.Join(data, record.Dir, id))
	if len(fields) != 3 || fields[0] != id || fields[1] != "3.0 MB" || fields[2] != abs {
		t.Fatalf("the record's line: %q", lines[0])
	}
}
