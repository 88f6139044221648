package main

import (
	"bytes"
	"crypto/tls"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server/servertest"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parley.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigPrintShowsEffectiveConfigWithoutSecrets(t *testing.T) {
	const secret = "s3cret-that-must-not-leak"
	file := writeConfig(t, `# a test node
udp_port: 9100
max_rooms: 3
log_level: warn
webhooks:
  - url: https://hooks.example.org/parley
    secret: `+secret+`
    events: [room_started]
`)
	t.Setenv("PARLEY_MAX_ROOMS", "7")
	var stdout, stderr bytes.Buffer
	code := run([]string{"config", "print", "--config", file, "--log-level", "debug"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	if strings.Contains(out+stderr.String(), secret) {
		t.Fatalf("the webhook secret was printed:\n%s", out)
	}
	for _, want := range []string{
		"udp_port: 9100 # from " + file + " line 2",
		"max_rooms: 7 # from PARLEY_MAX_ROOMS",
		"log_level: debug # from --log-level",
		"secret: " + config.Redacted,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// The printed YAML is a configuration file that gives the same configuration.
	want := config.Default()
	want.UDPPort, want.MaxRooms, want.LogLevel = 9100, 7, "debug"
	want.Webhooks = []config.Webhook{{URL: "https://hooks.example.org/parley", Secret: config.Redacted, Events: []string{"room_started"}}}
	got := config.Default()
	if err := config.ApplyYAML(&got, "printed", stdout.Bytes()); err != nil {
		t.Fatalf("printed configuration does not load: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("printed then loaded:\n got %+v\nwant %+v", got, want)
	}
}

func TestBadConfigFailsNamingKeyAndLine(t *testing.T) {
	bad := writeConfig(t, "# parley\nlisten: 127.0.0.1:0\n\nudp_port: abc\n")
	unknown := writeConfig(t, "listen: 127.0.0.1:0\nstun_server: stun.example.org\n")
	cases := []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"serve", "--config", bad}, "", `parley: config file ` + bad + `: line 4: udp_port: "abc" is not a number`},
		{[]string{"config", "print", "--config", bad}, "", `parley: config file ` + bad + `: line 4: udp_port: "abc" is not a number`},
		{[]string{"serve"}, unknown, `parley: config file ` + unknown + `: line 2: unknown key "stun_server"`},
		{[]string{"config", "print", "--max-rooms", "-2"}, "", `parley: max_rooms: -2 is negative (0 means no limit) (set by --max-rooms)`},
		{[]string{"config"}, "", `parley: config needs a subcommand`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if tc.env != "" {
				t.Setenv(config.EnvConfig, tc.env)
			}
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != 2 || !strings.HasPrefix(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr.String(), tc.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("a refused configuration still printed %q", stdout.String())
			}
		})
	}
}

// TestServeFromYAMLFile starts a real server from a configuration file the
// way serve does (serve itself blocks until a signal) and checks that the
// file's settings are the ones the server runs with.
func TestServeFromYAMLFile(t *testing.T) {
	file := writeConfig(t, `listen: 127.0.0.1:0
udp_port: 0
data: `+t.TempDir()+`
tls_self_signed: true
turn: false
metrics: false
`)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := config.RegisterFlags(fs)
	if err := fs.Parse([]string{"--log-level", "debug"}); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := flags.Load([]string{config.EnvConfig + "=" + file})
	if err != nil {
		t.Fatal(err)
	}
	if flags.File() != file || cfg.LogLevel != "debug" {
		t.Fatalf("loaded %q with log_level %q", flags.File(), cfg.LogLevel)
	}
	srv := servertest.StartConfig(t, cfg)
	if !strings.HasPrefix(srv.URL(), "https://127.0.0.1:") {
		t.Fatalf("server at %s: the file's tls_self_signed and listen were not applied", srv.URL())
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		// The certificate is the one the server just made for itself.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer hc.CloseIdleConnections()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := hc.Get(srv.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, _ := get("/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics: %d with metrics: false in the file", code)
	}
}
