package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
)

// Usage errors of parley verify exit 2, before anything is verified: a
// verifier that silently dropped a malformed --signer, or fell back to the
// record's own key for an empty --server-key, would report INTACT on less
// than the user asked for.
func TestVerifyUsageExits2(t *testing.T) {
	dir := t.TempDir()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	key := base64.RawURLEncoding.EncodeToString(pub)
	for name, args := range map[string][]string{
		"a malformed --signer":         {"verify", dir, "--signer", "head-a"},
		"a --signer with a bad key":    {"verify", dir, "--signer", "head-a=notakey"},
		"a --signer given two keys":    {"verify", dir, "--signer", "head-a=" + key, "--signer", "head-a=" + base64.RawURLEncoding.EncodeToString(make([]byte, 32))},
		"an unknown flag":              {"verify", dir, "--signers", "head-a=" + key},
		"a missing value":              {"verify", dir, "--server-key"},
		"an empty --server-key":        {"verify", dir, "--server-key", ""},
		"an empty --server-key (=)":    {"verify", dir, "--server-key="},
		"a receipt that is not one":    {"verify", dir, "--receipt", "/etc/hostname"},
		"no folder":                    {"verify"},
		"two folders":                  {"verify", dir, dir},
		"a folder that does not exist": {"verify", dir + "/nope"},
	} {
		code, out, errOut := runCLI(args...)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2\nstdout: %s\nstderr: %s", name, code, out, errOut)
		}
		if strings.Contains(out, "INTACT") {
			t.Errorf("%s: reported INTACT: %s", name, out)
		}
	}
}
