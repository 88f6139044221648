package readout_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/parleyhq/parley/readout"
)

// FuzzParse feeds readout bodies, signed so that parsing gets past the
// signature, to Parse and then Check against a real record: whatever the
// body says, the answer is a readout or an error, never a panic.
func FuzzParse(f *testing.F) {
	m := newMeeting(f)
	good, _ := json.Marshal(m.body(f))
	f.Add(string(good))
	f.Add(`{"record":"x","end":"` + m.log.End + `","author":"a","title":"","published":"2026-12-06T10:00:00Z","text":"t[^1]","citations":[{"id":"1","from":0,"to":1e308,"channel":"floor","events":[{"seq":18446744073709551615,"hash":"` + m.log.End + `"}]}]}`)
	f.Add(`{"citations":[{"interpretation":{}}]}`)
	key := m.authorB
	pub := base64.RawURLEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	f.Fuzz(func(t *testing.T, body string) {
		file, _ := json.Marshal(readout.File{Format: readout.Format, Body: body, Key: pub,
			Sig: base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, readout.SignedText(body)))})
		r, err := readout.Parse(file)
		if err != nil {
			return
		}
		_, _ = readout.Check(r, m.log, readout.Options{})
	})
}
