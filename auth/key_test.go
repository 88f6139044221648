package auth_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/parleyhq/parley/auth"
)

func TestLoadOrCreateKeyCreatesThenReuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // does not exist yet
	key, created, err := auth.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatalf("first LoadOrCreateKey: %v", err)
	}
	if !created {
		t.Fatal("first call reports created = false")
	}
	if len(key) != ed25519.PrivateKeySize {
		t.Fatalf("key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	path := filepath.Join(dir, auth.KeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if runtime.GOOS != "windows" {
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("key file mode = %v, want 0600", perm)
		}
		di, err := os.Stat(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if perm := di.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("key folder mode = %v, readable by others", perm)
		}
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	again, created, err := auth.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatalf("second LoadOrCreateKey: %v", err)
	}
	if created {
		t.Fatal("second call reports created = true")
	}
	if !key.Equal(again) {
		t.Fatal("second call returned a different key")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("second call rewrote the key file")
	}

	loaded, err := auth.LoadKey(dir)
	if err != nil {
		t.Fatalf("LoadKey: %v", err)
	}
	if !key.Equal(loaded) {
		t.Fatal("LoadKey returned a different key")
	}
	// The key works: what one signs, the other's public half verifies.
	msg := []byte("parley")
	if !ed25519.Verify(loaded.Public().(ed25519.PublicKey), msg, ed25519.Sign(key, msg)) {
		t.Fatal("loaded key does not verify a signature of the created key")
	}
}

func TestLoadOrCreateKeyDiffersPerFolder(t *testing.T) {
	a, _, err := auth.LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := auth.LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if a.Equal(b) {
		t.Fatal("two data folders got the same key")
	}
}

func TestLoadKeyMissing(t *testing.T) {
	_, err := auth.LoadKey(t.TempDir())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadKey on an empty folder: %v, want fs.ErrNotExist", err)
	}
}

func writeKeyFile(t *testing.T, dir string, content []byte) string {
	t.Helper()
	path := filepath.Join(dir, auth.KeyFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadKeyRejectsCorruptFiles(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)

	cases := []struct {
		name    string
		content []byte
		want    string // part of the error message
	}{
		{"empty file", nil, "not a PEM private key"},
		{"garbage", []byte("this is not a key\n"), "not a PEM private key"},
		{"truncated PEM", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER})[:40], "not a PEM private key"},
		{"wrong PEM type", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: edDER}), "not a PEM private key"},
		{"PEM of garbage DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("garbage")}), ""},
		{"ECDSA key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), "not an Ed25519 key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeKeyFile(t, dir, tc.content)
			key, err := auth.LoadKey(dir)
			if err == nil || key != nil {
				t.Fatalf("LoadKey = %d-byte key, %v; want an error", len(key), err)
			}
			if errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("a corrupt key reads as missing: %v", err)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q should name the file %s and say %q", err, path, tc.want)
			}

			// Starting the server on a corrupt key must fail, not replace the key
			// (that would silently invalidate every token already handed out).
			key, created, err := auth.LoadOrCreateKey(dir)
			if err == nil || created || key != nil {
				t.Fatalf("LoadOrCreateKey on a corrupt key = %d-byte key, created %v, %v; want an error", len(key), created, err)
			}
			now, _ := os.ReadFile(path)
			if !bytes.Equal(now, tc.content) {
				t.Fatal("LoadOrCreateKey overwrote the corrupt key file")
			}
		})
	}
}

// Two processes starting on one fresh data folder must end up with one key
// (key.go says so). Goroutines stand in for the processes: each round, all of
// them race to create the key; every one must succeed and get the same key.
func TestLoadOrCreateKeyConcurrentFirstStart(t *testing.T) {
	const rounds, racers = 50, 8
	for round := range rounds {
		dir := t.TempDir()
		keys := make([]ed25519.PrivateKey, racers)
		errs := make([]error, racers)
		created := make([]bool, racers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				keys[i], created[i], errs[i] = auth.LoadOrCreateKey(dir)
			}()
		}
		close(start)
		wg.Wait()
		nCreated := 0
		for i := range racers {
			if errs[i] != nil {
				t.Fatalf("round %d: racer %d: %v", round, i, errs[i])
			}
			if !keys[i].Equal(keys[0]) {
				t.Fatalf("round %d: racers got different keys", round)
			}
			if created[i] {
				nCreated++
			}
		}
		if nCreated != 1 {
			t.Fatalf("round %d: %d racers report creating the key, want 1", round, nCreated)
		}
	}
}
