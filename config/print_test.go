package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/parleyhq/parley/config"
)

func TestPrintRoundTrips(t *testing.T) {
	want := allDifferent(t)
	want.Webhooks = []config.Webhook{{URL: "https://hooks.example.org/p", Secret: "x", Events: []string{"room_started"}}}
	for _, c := range []config.Config{config.Default(), want} {
		out, err := config.Marshal(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := config.Default()
		if err := config.ApplyYAML(&got, "printed", out); err != nil {
			t.Fatalf("printed configuration does not load: %v\n%s", err, out)
		}
		// The secret comes back as the placeholder; all else as it was.
		for i := range c.Webhooks {
			c.Webhooks[i].Secret = config.Redacted
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip\n got %+v\nwant %+v\nvia\n%s", got, c, out)
		}
	}
}

// TestPrintQuotesWhatWouldChangeType: text that looks like a number or a
// boolean must come back as text.
func TestPrintQuotesWhatWouldChangeType(t *testing.T) {
	c := config.Default()
	c.DataDir, c.TLSCert, c.TLSKey = "7880", "true", "null"
	out, err := config.Marshal(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := config.Default()
	if err := config.ApplyYAML(&got, "printed", out); err != nil {
		t.Fatal(err)
	}
	if got.DataDir != "7880" || got.TLSCert != "true" || got.TLSKey != "null" {
		t.Errorf("got data=%q tls_cert=%q tls_key=%q from\n%s", got.DataDir, got.TLSCert, got.TLSKey, out)
	}
}

func TestPrintRedactsSecrets(t *testing.T) {
	const secret = "correct-horse-battery-staple"
	c := config.Default()
	c.TLSCert, c.TLSKey = "/etc/parley/cert.pem", "/etc/parley/key.pem"
	c.Webhooks = []config.Webhook{{URL: "https://hooks.example.org/p", Secret: secret}}
	out, err := config.Marshal(c, config.Sources{"webhooks": "PARLEY_WEBHOOK_URL"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Contains(s, secret) || strings.Contains(s, "horse") {
		t.Fatalf("the secret is printed:\n%s", s)
	}
	for _, want := range []string{"secret: " + config.Redacted, "tls_key: /etc/parley/key.pem", "# from PARLEY_WEBHOOK_URL"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	// Reused as a file, the placeholder must not become the signing secret.
	got := config.Default()
	if err := config.ApplyYAML(&got, "printed", out); err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(); err == nil || !strings.HasPrefix(err.Error(), "webhooks[0].secret:") {
		t.Errorf("Validate() = %v, want the placeholder secret refused", err)
	}
}
