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
		if c.ASRAPIKey != "" {
			c.ASRAPIKey = config.Redacted
		}
		if c.TranslateAPIKey != "" {
			c.TranslateAPIKey = config.Redacted
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

func TestPrintRedactsCredentialsInURLs(t *testing.T) {
	cases := []struct{ url, want string }{
		{"https://parley:hunter2@hooks.example.org/p?room=all&token=abc123&Sig=zz9&x=1#top",
			"https://parley:<redacted>@hooks.example.org/p?room=all&token=<redacted>&Sig=<redacted>&x=1#top"},
		{"https://ghp_tokenAsUser@hooks.example.org/p", "https://<redacted>@hooks.example.org/p"},
		{"redis://:redispass@cache.internal:6379/0", "redis://:<redacted>@cache.internal:6379/0"},
		{"https://hooks.example.org/p?api_key=K1&access_token=T1&client_secret=S1&password=P1&X-Amz-Signature=A1&key=",
			"https://hooks.example.org/p?api_key=<redacted>&access_token=<redacted>&client_secret=<redacted>&password=<redacted>&X-Amz-Signature=<redacted>&key="},
		{"https://hooks.example.org/p?room=summit&events=all", "https://hooks.example.org/p?room=summit&events=all"},
		{"http://[::1]:9000/audit", "http://[::1]:9000/audit"},
		{"https://user:pa%20ss@host/%zz", config.Redacted}, // does not parse: nothing of it is shown
	}
	secrets := []string{"hunter2", "abc123", "zz9", "tokenAsUser", "redispass", "K1", "T1", "S1", "P1", "A1", "pa%20ss"}
	for _, tc := range cases {
		if got := config.RedactURL(tc.url); got != tc.want {
			t.Errorf("RedactURL(%q)\n got %q\nwant %q", tc.url, got, tc.want)
		}
	}

	c := config.Default()
	for _, tc := range cases {
		c.Webhooks = append(c.Webhooks, config.Webhook{URL: tc.url, Secret: "s"})
	}
	out, err := config.Marshal(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(string(out), s) {
			t.Errorf("%q is printed:\n%s", s, out)
		}
	}
	if !strings.Contains(string(out), "url: https://hooks.example.org/p?room=summit&events=all") {
		t.Errorf("a URL without credentials is not printed as it is:\n%s", out)
	}
	// Reused as a file, a redacted URL is refused, not posted to.
	got := config.Default()
	if err := config.ApplyYAML(&got, "printed", out); err != nil {
		t.Fatal(err)
	}
	got.Webhooks = got.Webhooks[:1]
	got.Webhooks[0].Secret = "s"
	if err := got.Validate(); err == nil || !strings.HasPrefix(err.Error(), "webhooks[0].url: holds \"<redacted>\"") {
		t.Errorf("Validate() = %v, want the placeholder in the URL refused", err)
	}
}

// TestPrintRedactsASRKey: the speech engine's key and the credentials in its
// URL are not printed, and the printed file reused is refused until the key
// is put back.
func TestPrintRedactsASRKey(t *testing.T) {
	c := config.Default()
	c.ASRURL = "https://user:hunter2@asr.example.org/v1/audio/transcriptions"
	c.ASRAPIKey = "sk-correct-horse"
	out, err := config.Marshal(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); strings.Contains(s, "horse") || strings.Contains(s, "hunter2") || !strings.Contains(s, "asr_api_key: "+config.Redacted) {
		t.Fatalf("printed:\n%s", s)
	}
	got := config.Default()
	if err := config.ApplyYAML(&got, "printed", out); err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(); err == nil || !strings.HasPrefix(err.Error(), "asr_url:") {
		t.Errorf("Validate() = %v, want the placeholder in the URL refused", err)
	}
	got.ASRURL = "https://asr.example.org/v1/audio/transcriptions"
	if err := got.Validate(); err == nil || !strings.HasPrefix(err.Error(), "asr_api_key:") {
		t.Errorf("Validate() = %v, want the placeholder key refused", err)
	}
}

// TestRedisURL: the cluster's Redis URL is checked, its password is never
// printed, and --redis is --redis-url.
func TestRedisURL(t *testing.T) {
	c := config.Default()
	c.RedisURL = "rediss://:hunter2@redis.example.org:6380/3"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := config.Marshal(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); strings.Contains(s, "hunter2") || !strings.Contains(s, "redis_url: rediss://:"+config.Redacted+"@redis.example.org:6380/3") {
		t.Fatalf("printed:\n%s", s)
	}
	got := config.Default()
	if err := config.ApplyYAML(&got, "printed", out); err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(); err == nil || !strings.HasPrefix(err.Error(), "redis_url:") {
		t.Errorf("Validate() = %v, want the placeholder in the URL refused", err)
	}
	for _, bad := range []string{"http://127.0.0.1:6379", "redis://", "redis://127.0.0.1:6379/x", "127.0.0.1:6379"} {
		c := config.Default()
		c.RedisURL = bad
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "redis_url:") {
			t.Errorf("redis_url %q: Validate() = %v, want it refused", bad, err)
		}
	}
	// A node on every interface must say where the others reach it.
	c = config.Default()
	c.RedisURL, c.Listen = "redis://127.0.0.1:6379/0", "0.0.0.0:7880"
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "advertise_url:") {
		t.Errorf("Validate() = %v, want advertise_url asked for", err)
	}
	c.AdvertiseURL = "https://node1.example.org:7880"
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"https://node1.example.org/path", "ftp://node1", "http://0.0.0.0:7880", "https://u:p@node1", "node1:7880"} {
		c.AdvertiseURL = bad
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "advertise_url:") {
			t.Errorf("advertise_url %q: Validate() = %v, want it refused", bad, err)
		}
	}
	c = config.Default()
	c.NodeID = "Node_1"
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "node_id:") {
		t.Errorf("Validate() = %v, want the node id refused", err)
	}
}
