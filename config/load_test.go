package config_test

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/config"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parley.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// load resolves a configuration the way `parley serve` does.
func load(t *testing.T, args, environ []string) (config.Config, config.Sources, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return config.Config{}, nil, err
	}
	return flags.Load(environ)
}

func TestPrecedenceFileEnvFlag(t *testing.T) {
	file := writeFile(t, "udp_port: 1001\nrecord_all: true\nreconnect_grace: 30s\nlog_level: debug\n")
	fileArg := []string{"--config", file}
	cases := []struct {
		name    string
		args    []string
		env     []string
		port    int
		from    string
		record  bool
		grace   time.Duration
		level   string
		logFrom string
	}{
		{"defaults", nil, nil, 7881, "", false, 20 * time.Second, "info", ""},
		{"file", fileArg, nil, 1001, file + " line 1", true, 30 * time.Second, "debug", file + " line 4"},
		{"file via PARLEY_CONFIG", nil, []string{"PARLEY_CONFIG=" + file}, 1001, file + " line 1", true, 30 * time.Second, "debug", file + " line 4"},
		{"env over file", fileArg, []string{"PARLEY_UDP_PORT=2002", "PARLEY_RECORD_ALL=false", "PARLEY_RECONNECT_GRACE=1m"},
			2002, "PARLEY_UDP_PORT", false, time.Minute, "debug", file + " line 4"},
		{"flag over env over file", append(fileArg, "--udp-port", "3003", "--record-all", "--reconnect-grace", "5s"),
			[]string{"PARLEY_UDP_PORT=2002", "PARLEY_RECORD_ALL=false", "PARLEY_RECONNECT_GRACE=1m", "PARLEY_LOG_LEVEL=warn"},
			3003, "--udp-port", true, 5 * time.Second, "warn", "PARLEY_LOG_LEVEL"},
		{"flag false beats env true", []string{"--record-all=false"}, []string{"PARLEY_RECORD_ALL=true"},
			7881, "", false, 20 * time.Second, "info", ""},
		{"empty env counts as unset", fileArg, []string{"PARLEY_UDP_PORT="}, 1001, file + " line 1", true, 30 * time.Second, "debug", file + " line 4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, src, err := load(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.UDPPort != tc.port || c.RecordAll != tc.record || c.ReconnectGrace != tc.grace || c.LogLevel != tc.level {
				t.Errorf("got udp_port=%d record_all=%v reconnect_grace=%s log_level=%s, want %d %v %s %s",
					c.UDPPort, c.RecordAll, c.ReconnectGrace, c.LogLevel, tc.port, tc.record, tc.grace, tc.level)
			}
			if src["udp_port"] != tc.from || src["log_level"] != tc.logFrom {
				t.Errorf("sources udp_port=%q log_level=%q, want %q %q", src["udp_port"], src["log_level"], tc.from, tc.logFrom)
			}
			// Keys no source named keep their defaults.
			if c.MaxRooms != config.Default().MaxRooms {
				t.Errorf("max_rooms = %d, want the default", c.MaxRooms)
			}
		})
	}
}

// TestEverySourceSetsEveryKey walks the key table so that a key added to one
// source without the others fails here.
func TestEverySourceSetsEveryKey(t *testing.T) {
	want := allDifferent(t)
	var yamlDoc strings.Builder
	var env, args []string
	for _, k := range config.Keys() {
		v := k.Get(want)
		yamlDoc.WriteString(k.Name + ": \"" + v + "\"\n")
		env = append(env, k.Env()+"="+v)
		args = append(args, "--"+k.Flag()+"="+v)
	}
	check := func(name string, got config.Config, src config.Sources, from func(config.Key) string) {
		t.Helper()
		for _, k := range config.Keys() {
			if k.Get(got) != k.Get(want) {
				t.Errorf("%s: %s = %q, want %q", name, k.Name, k.Get(got), k.Get(want))
			}
			if src[k.Name] != from(k) {
				t.Errorf("%s: %s came from %q, want %q", name, k.Name, src[k.Name], from(k))
			}
		}
	}
	file := writeFile(t, yamlDoc.String())
	got, src, err := load(t, []string{"--config", file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]int{}
	for i, k := range config.Keys() {
		lines[k.Name] = i + 1
	}
	check("file", got, src, func(k config.Key) string { return file + " line " + strconv.Itoa(lines[k.Name]) })
	got, src, err = load(t, nil, env)
	if err != nil {
		t.Fatal(err)
	}
	check("env", got, src, config.Key.Env)
	got, src, err = load(t, args, nil)
	if err != nil {
		t.Fatal(err)
	}
	check("flags", got, src, func(k config.Key) string { return "--" + k.Flag() })
}

// allDifferent is a valid configuration in which every key differs from its
// default, and fails the test if a key was added without a value here.
func allDifferent(t *testing.T) config.Config {
	t.Helper()
	c := config.Config{
		Listen: "127.0.0.1:9443", UDPPort: 9444, PublicIP: "203.0.113.7", DataDir: "/var/lib/parley",
		ICEDeny: "198.51.100.0/24", ICEAllow: "10.1.0.0/16",
		LogLevel: "debug", LogFormat: "json", RecordAll: true, TLSCert: "/etc/parley/cert.pem",
		TLSKey: "/etc/parley/key.pem", TLSSelfSigned: false, TURN: false, TURNPort: 9445,
		RefuseDuplicates: true, MaxParticipants: 12, MaxRooms: 0, JoinsPerMinute: 7, MessagesPerSecond: 9,
		MaxConnsPerIP: 5, RequestTimeout: 45 * time.Second,
		ReconnectGrace: 90 * time.Second, CheckpointInterval: 2500 * time.Millisecond, Metrics: false,
		ASRURL: "http://127.0.0.1:8000/v1/audio/transcriptions", ASRModel: "whisper-1", ASRAPIKey: "sk-test", ASRLanguage: "en", ASRQueue: 5, ASRStall: 45 * time.Second,
		TranslateURL: "http://127.0.0.1:2737", TranslateKind: "apertium", TranslateAPIKey: "lt-key",
		RedisURL: "redis://127.0.0.1:6379/2", NodeID: "node-1", AdvertiseURL: "https://203.0.113.7:9443", SpanRooms: true, RelayPorts: "40000-40999", SpillParticipants: 150, SpillCPU: 70,
	}
	def := config.Default()
	for _, k := range config.Keys() {
		// tls_self_signed cannot differ together with tls_cert; it is covered by
		// TestSelfSignedFromEveryKind below.
		if k.Name != "tls_self_signed" && k.Get(c) == k.Get(def) {
			t.Fatalf("allDifferent leaves %s at its default: give it a value", k.Name)
		}
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSelfSignedFromEveryKind(t *testing.T) {
	file := writeFile(t, "tls_self_signed: true\n")
	for _, run := range []struct {
		args, env []string
	}{{[]string{"--config", file}, nil}, {nil, []string{"PARLEY_TLS_SELF_SIGNED=true"}}, {[]string{"--tls-self-signed"}, nil}} {
		c, _, err := load(t, run.args, run.env)
		if err != nil || !c.TLSSelfSigned {
			t.Errorf("%v %v: tls_self_signed=%v err=%v", run.args, run.env, c.TLSSelfSigned, err)
		}
	}
}

func TestBadInputNamesKeyAndPlace(t *testing.T) {
	cases := []struct {
		name string
		file string // YAML, if any
		args []string
		env  []string
		want string // the whole error, with FILE for the file's path
	}{
		{name: "not a number in file", file: "# Parley\nlisten: 127.0.0.1:7880\n\nudp_port: abc\n",
			want: `config file FILE: line 4: udp_port: "abc" is not a number`},
		{name: "unknown key", file: "listen: 127.0.0.1:7880\nudp-port: 7881\n",
			want: `config file FILE: line 2: unknown key "udp-port" (did you mean udp_port?)`},
		{name: "unknown key without a near miss", file: "listen: 127.0.0.1:7880\n\nstun_servers: [a]\n",
			want: `config file FILE: line 3: unknown key "stun_servers"`},
		{name: "key twice", file: "udp_port: 1\nlisten: 127.0.0.1:1\nudp_port: 2\n",
			want: `config file FILE: line 3: udp_port: given twice (first on line 1)`},
		{name: "list for a value", file: "data:\n  - a\n  - b\n",
			want: `config file FILE: line 2: data: expected a single value, not a list or a map`},
		{name: "bad bool", file: "record_all: sometimes\n",
			want: `config file FILE: line 1: record_all: "sometimes" is not true or false`},
		{name: "bad duration", file: "reconnect_grace: 20\n",
			want: `config file FILE: line 1: reconnect_grace: "20" is not a duration (write it like 10s or 1m30s)`},
		{name: "no value for a number", file: "udp_port:\n",
			want: `config file FILE: line 1: udp_port: "" is not a number`},
		{name: "not a mapping", file: "- listen\n",
			want: `config file FILE: line 1: expected keys and values (key: value), one per line`},
		{name: "yaml syntax", file: "listen: [\n",
			want: `config file FILE: line 1: did not find expected node content`},
		{name: "two documents", file: "listen: 127.0.0.1:1\n---\nudp_port: 2\n",
			want: `config file FILE: line 2: a second YAML document; put every key in one`},
		{name: "unknown webhook key", file: "webhooks:\n  - url: https://h.example/x\n    secrett: s\n",
			want: `config file FILE: line 3: webhooks[0]: unknown key "secrett" (a webhook has url, secret and events)`},
		{name: "webhook events not a list", file: "webhooks:\n  - url: https://h.example/x\n    secret: s\n    events: room_started\n",
			want: `config file FILE: line 4: webhooks[0].events: expected a list like [room_started, participant_joined]`},
		{name: "validation names the file line", file: "max_rooms: -1\n",
			want: `max_rooms: -1 is negative (0 means no limit) (set by FILE line 1)`},
		{name: "webhook without secret", file: "webhooks:\n  - url: https://h.example/x\n",
			want: `webhooks[0].secret: is empty; every webhook needs one so the receiver can check signatures (set by FILE line 1)`},
		{name: "webhook bad url", file: "webhooks:\n  - {url: ftp://h.example/x, secret: s}\n",
			want: `webhooks[0].url: "ftp://h.example/x" is not an http:// or https:// URL (set by FILE line 1)`},
		{name: "translation engine bad url", file: "translate_url: ftp://mt.example/\n",
			want: `translate_url: "ftp://mt.example/" is not an http:// or https:// URL (set by FILE line 1)`},
		{name: "translation engine unknown kind", file: "translate_url: http://127.0.0.1:5000\ntranslate_kind: google\n",
			want: `translate_kind: "google" is not libretranslate or apertium (set by FILE line 2)`},
		{name: "missing file", args: []string{"--config", "/nonexistent/parley.yaml"},
			want: `config file: open /nonexistent/parley.yaml: no such file or directory`},

		{name: "env not a number", env: []string{"PARLEY_UDP_PORT=abc"},
			want: `PARLEY_UDP_PORT: "abc" is not a number`},
		{name: "env out of range", env: []string{"PARLEY_UDP_PORT=70000"},
			want: `udp_port: 70000 is not a port number (set by PARLEY_UDP_PORT)`},
		{name: "env misspelt", env: []string{"PARLEY_UDP-PORT=1"},
			want: `PARLEY_UDP-PORT: no such setting (did you mean PARLEY_UDP_PORT?)`},
		{name: "env unknown", env: []string{"PARLEY_STUN=stun.example.org"},
			want: `PARLEY_STUN: no such setting; the PARLEY_* variables are listed in docs/config.md`},
		{name: "env webhook secret alone", env: []string{"PARLEY_WEBHOOK_SECRET=s"},
			want: `PARLEY_WEBHOOK_SECRET: set without PARLEY_WEBHOOK_URL`},

		{name: "flag not a number", args: []string{"--udp-port", "abc"},
			want: `invalid value "abc" for flag -udp-port: "abc" is not a number`},
		{name: "flag out of range", args: []string{"--checkpoint-interval", "2h"},
			want: `checkpoint_interval: 2h0m0s is not between 100ms and 1h (set by --checkpoint-interval)`},
		{name: "request timeout too short", args: []string{"--request-timeout", "10ms"},
			want: `request_timeout: 10ms is not between 100ms and 10m (set by --request-timeout)`},
		{name: "negative connection cap", env: []string{"PARLEY_MAX_CONNS_PER_IP=-1"},
			want: `max_conns_per_ip: -1 is negative (0 means no limit) (set by PARLEY_MAX_CONNS_PER_IP)`},
		{name: "pair of keys", args: []string{"--tls-key", "k.pem"},
			want: `tls_key: needs tls_cert too (give both or neither) (set by --tls-key)`},
		{name: "emptied by a flag", args: []string{"--data="},
			want: `data: the data folder must be named (set by --data)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			path := "FILE"
			if tc.file != "" {
				path = writeFile(t, tc.file)
				args = append([]string{"--config", path}, args...)
			}
			_, _, err := load(t, args, tc.env)
			want := strings.ReplaceAll(tc.want, "FILE", path)
			if err == nil || err.Error() != want {
				t.Fatalf("error\n got: %v\nwant: %s", err, want)
			}
		})
	}
}

func TestKeyErrorIsTyped(t *testing.T) {
	c := config.Default()
	c.PublicIP = "not-an-ip"
	var ke *config.KeyError
	if err := c.Validate(); !errors.As(err, &ke) || ke.Key != "public_ip" {
		t.Fatalf("Validate() = %v, want a KeyError for public_ip", err)
	}
}

func TestEmptyAndCommentOnlyFilesKeepDefaults(t *testing.T) {
	for _, body := range []string{"", "# nothing set yet\n", "---\n"} {
		c := config.Default()
		if err := config.ApplyYAML(&c, "parley.yaml", []byte(body)); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if !reflect.DeepEqual(c, config.Default()) {
			t.Errorf("%q changed the configuration: %+v", body, c)
		}
	}
}

func TestFileAppliesWholeOrNotAtAll(t *testing.T) {
	c := config.Default()
	err := config.ApplyYAML(&c, "parley.yaml", []byte("udp_port: 9\nmax_rooms: many\n"))
	if err == nil {
		t.Fatal("a bad value was accepted")
	}
	if !reflect.DeepEqual(c, config.Default()) {
		t.Errorf("a rejected file still changed udp_port to %d", c.UDPPort)
	}
}

func TestWebhooks(t *testing.T) {
	file := writeFile(t, `
webhooks:
  - url: https://hooks.example.org/parley
    secret: s3cret-one
    events: [room_started, participant_joined]
  - url: http://127.0.0.1:9999/hook
    secret: s3cret-two
`)
	c, src, err := load(t, []string{"--config", file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []config.Webhook{
		{URL: "https://hooks.example.org/parley", Secret: "s3cret-one", Events: []string{"room_started", "participant_joined"}},
		{URL: "http://127.0.0.1:9999/hook", Secret: "s3cret-two"},
	}
	if !reflect.DeepEqual(c.Webhooks, want) || src["webhooks"] != file+" line 2" {
		t.Errorf("webhooks = %+v from %q, want %+v", c.Webhooks, src["webhooks"], want)
	}
	// One webhook from the environment replaces the file's list.
	c, src, err = load(t, []string{"--config", file}, []string{"PARLEY_WEBHOOK_URL=https://env.example/h",
		"PARLEY_WEBHOOK_SECRET=env-secret", "PARLEY_WEBHOOK_EVENTS=room_finished, recording_sealed"})
	if err != nil {
		t.Fatal(err)
	}
	want = []config.Webhook{{URL: "https://env.example/h", Secret: "env-secret", Events: []string{"room_finished", "recording_sealed"}}}
	if !reflect.DeepEqual(c.Webhooks, want) || src["webhooks"] != "PARLEY_WEBHOOK_URL" {
		t.Errorf("webhooks = %+v from %q, want %+v", c.Webhooks, src["webhooks"], want)
	}
}

func TestFlagsHelpNamesEnv(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var help strings.Builder
	fs.SetOutput(&help)
	config.RegisterFlags(fs)
	if err := fs.Parse([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	for _, k := range config.Keys() {
		if !strings.Contains(help.String(), "-"+k.Flag()) || !strings.Contains(help.String(), k.Env()) {
			t.Errorf("help lacks -%s or %s", k.Flag(), k.Env())
		}
	}
	if !strings.Contains(help.String(), "(default 7881)") || strings.Contains(help.String(), "(default false)") {
		t.Errorf("help shows defaults wrongly:\n%s", help.String())
	}
}

// TestDocsNameEveryKey keeps docs/config.md in step with the key table.
func TestDocsNameEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"webhooks", "PARLEY_CONFIG", "--config", config.EnvWebhookURL, config.EnvWebhookSecret, config.EnvWebhookEvents}
	for _, k := range config.Keys() {
		names = append(names, "`"+k.Name+"`", "--"+k.Flag(), k.Env())
	}
	for _, n := range names {
		if !strings.Contains(string(doc), n) {
			t.Errorf("docs/config.md does not mention %s", n)
		}
	}
	for _, name := range []string{"parley.yaml", "cluster/node1.yaml", "cluster/node2.yaml", "cluster/node3.yaml"} {
		sample, err := os.ReadFile("../deploy/" + name)
		if err != nil {
			t.Fatal(err)
		}
		c := config.Default()
		if strings.HasPrefix(name, "cluster/") {
			c.RedisURL = "redis://parley:secret@10.0.0.2:6379/0" // from parley.env, as the example says
		}
		if err := config.ApplyYAML(&c, "deploy/"+name, sample); err != nil {
			t.Fatalf("the sample configuration %s does not load: %v", name, err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("the sample configuration %s is not valid: %v", name, err)
		}
	}
}

// TestRedisFlagAlias: --redis is --redis-url, and says so as its source.
func TestRedisFlagAlias(t *testing.T) {
	got, src, err := load(t, []string{"--redis", "redis://127.0.0.1:6379/1"}, []string{"PARLEY_REDIS_URL=redis://127.0.0.1:6379/2"})
	if err != nil {
		t.Fatal(err)
	}
	if got.RedisURL != "redis://127.0.0.1:6379/1" || src["redis_url"] != "--redis" {
		t.Errorf("redis_url = %q from %q, want the flag's", got.RedisURL, src["redis_url"])
	}
}
