package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pion/rtp"

	"github.com/parleyhq/parley/record"
)

// sealOpus protects an Opus frame as web/static/sframe.js does (TOC byte in clear).
func sealOpus(t *testing.T, secret []byte, kid, ctr uint64, frame []byte) []byte {
	t.Helper()
	suffix := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint64(nil, kid), 5)
	key, _ := hkdf.Key(sha512.New, secret, nil, "SFrame 1.0 Secret key "+string(suffix), 32)
	salt, _ := hkdf.Key(sha512.New, secret, nil, "SFrame 1.0 Secret salt "+string(suffix), 12)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, _ := cipher.NewGCM(block)
	// kid > 7 and ctr > 7: the long forms, 8 and 1-2 bytes.
	header := append([]byte{0x80 | 7<<4 | 0x08 | 1}, binary.BigEndian.AppendUint64(nil, kid)...)
	header = binary.BigEndian.AppendUint16(header, uint16(ctr))
	nonce := binary.BigEndian.AppendUint64(make([]byte, 4), ctr)
	for i := range nonce {
		nonce[i] ^= salt[i]
	}
	out := append(append([]byte(nil), frame[0]), header...)
	return gcm.Seal(out, nonce, frame[1:], append(append([]byte(nil), header...), frame[0]))
}

// encryptedRecord records a microphone whose frames are sealed under kid, as an
// end-to-end encrypted meeting's are, and seals the record.
func encryptedRecord(t *testing.T, secret []byte, kid uint64, frames int) (dir string, pub ed25519.PublicKey) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	rec, err := record.Start(record.Options{Root: t.TempDir(), Room: "summit", Key: priv})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := rec.Track(record.TrackInfo{ID: "TR_mic", Participant: "PA_a", Identity: "head-a", Source: "mic", MimeType: "audio/opus", ClockRate: 48000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range frames {
		frame := []byte(fmt.Sprintf("\xfcframe %d, of words that matter", i))
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(1000 + i), Timestamp: uint32(960 * i), SSRC: 1},
			Payload: sealOpus(t, secret, kid, uint64(100+i), frame)}
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		tr.WriteRTP(b)
	}
	rec.CloseTrack(tr)
	if _, err := rec.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return rec.Dir(), pub
}

func keysFile(t *testing.T, record string, secret []byte, kid uint64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.json")
	doc := fmt.Sprintf(`{"format":"parley-media-keys-v1","record":%q,"identity":"head-b","keys":[{"kid":"%d","sender":{"participant":"PA_a","identity":"head-a"},"secret":%q}]}`,
		record, kid, base64.RawURLEncoding.EncodeToString(secret))
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The decrypted copies go to --out; the record folder is left as it was, and
// still verifies. Without the right keys nothing decrypts and it says so.
func TestRecordDecrypt(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	const kid = 3<<40 | 0xabcdef
	dir, pub := encryptedRecord(t, secret, kid, 50)
	id := filepath.Base(dir)
	before, err := os.ReadDir(filepath.Join(dir, record.MediaDir))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "plain")
	code, stdout, stderr := runCLI("record", "decrypt", dir, "--keys", keysFile(t, id, secret, kid), "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	t.Log(stdout)
	if !strings.Contains(stdout, "50 frames: 50 decrypted, 0 without a key, 0 failed authentication; keys of head-a") {
		t.Errorf("the summary does not count 50 decrypted frames:\n%s", stdout)
	}
	copies, _ := filepath.Glob(filepath.Join(out, "*.webm"))
	if len(copies) != 1 {
		t.Fatalf("copies: %v", copies)
	}
	b, _ := os.ReadFile(copies[0])
	if !strings.Contains(string(b), "frame 7, of words that matter") {
		t.Error("the copy does not hold the decrypted frames")
	}
	after, _ := os.ReadDir(filepath.Join(dir, record.MediaDir))
	if len(after) != len(before) {
		t.Errorf("the record's media folder changed: %d files, then %d", len(before), len(after))
	}
	if _, err := record.Verify(dir, record.VerifyOptions{ServerKey: pub}); err != nil {
		t.Errorf("the record no longer verifies: %v", err)
	}

	// Another secret under the same key id fails authentication; another key id is missing.
	for name, keys := range map[string]string{
		"wrong secret": keysFile(t, id, []byte("another secret, thirty-two bytes"), kid),
		"other key id": keysFile(t, id, secret, kid+1),
	} {
		out := filepath.Join(t.TempDir(), "plain")
		code, stdout, _ := runCLI("record", "decrypt", dir, "--keys", keys, "--out", out)
		if code != 1 || !strings.Contains(stdout, "nothing decrypted") {
			t.Errorf("%s: exit %d, want 1 and nothing decrypted:\n%s", name, code, stdout)
		}
		want := map[string]string{"wrong secret": "0 without a key, 50 failed authentication", "other key id": "50 without a key, 0 failed"}[name]
		if !strings.Contains(stdout, want) {
			t.Errorf("%s: the summary does not say %q:\n%s", name, want, stdout)
		}
		if copies, _ := filepath.Glob(filepath.Join(out, "*")); len(copies) != 0 {
			t.Errorf("%s: files written: %v", name, copies)
		}
	}

	// Usage: exit 2, nothing written.
	good := keysFile(t, id, secret, kid)
	for name, args := range map[string][]string{
		"no --keys":               {"record", "decrypt", dir, "--out", out},
		"no --out":                {"record", "decrypt", dir, "--keys", good},
		"keys that are not keys":  {"record", "decrypt", dir, "--keys", "/etc/hostname", "--out", out},
		"--out inside the record": {"record", "decrypt", dir, "--keys", good, "--out", filepath.Join(dir, "plain")},
		"--out is the record":     {"record", "decrypt", dir, "--keys", good, "--out", dir},
		"not a record":            {"record", "decrypt", t.TempDir(), "--keys", good, "--out", out},
		"no subcommand":           {"record"},
	} {
		if code, stdout, stderr := runCLI(args...); code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s%s", name, code, stdout, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "plain")); err == nil {
		t.Error("a folder was made inside the record")
	}
}
