package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/record"
)

// folderSum hashes every file of a folder, names and bytes.
func folderSum(t *testing.T, dir string) [32]byte {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		h.Write([]byte(p + "\n"))
		h.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// TestOpenCommand runs the built command on a copied record folder: it
// prints a loopback link, serves the player and the record's data there with
// no token, changes nothing in the folder, and stops cleanly on Ctrl-C. An
// address off this computer, or a folder that is no record, is a usage error.
func TestOpenCommand(t *testing.T) {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.Start(record.Options{Root: t.TempDir(), Room: "summit", Key: key, CheckpointEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rec.Event("join", "PA_1", "head-a", map[string]string{"name": "Head A"}, time.Now())
	rec.Event("chat", "PA_1", "head-a", map[string]string{"text": "agreed"}, time.Now())
	if _, err := rec.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	dir := rec.Dir()
	before := folderSum(t, dir)

	bin := buildParley(t)
	cmd := exec.Command(bin, "open", dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	sc := bufio.NewScanner(out)
	re := regexp.MustCompile(`http://127\.0\.0\.1:\d+/records/` + regexp.QuoteMeta(rec.ID()))
	link := ""
	for link == "" && sc.Scan() {
		link = re.FindString(sc.Text())
	}
	if link == "" {
		t.Fatalf("no link printed (%v)", sc.Err())
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	for path, want := range map[string]string{"": "player/main.js", "/log": `"text":"agreed"`, "/verify": `"status":"intact"`} {
		req, _ := http.NewRequest("GET", link+path, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %.200s", path, resp.StatusCode, body)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	exited = true
	if err != nil {
		t.Errorf("after Ctrl-C: %v", err)
	}
	if folderSum(t, dir) != before {
		t.Error("parley open changed the record's folder")
	}

	for _, args := range [][]string{{"open", dir, "--addr", "0.0.0.0:0"}, {"open", t.TempDir()}, {"open"}, {"open", dir, "--server-key", "nonsense"}} {
		if code, _, errOut := runCLI(args...); code != 2 {
			t.Errorf("%v: exit %d (%s)", args, code, errOut)
		}
	}
}
