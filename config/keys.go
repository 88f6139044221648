package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A Key is one setting, named once for every source so the YAML file, the
// environment, the flags and `parley config print` cannot drift apart: the
// YAML key is Name, the flag is Name with "-" for "_", the environment
// variable is PARLEY_ and Name in upper case.
type Key struct {
	// Name is the YAML key, e.g. "udp_port".
	Name string
	// Usage is the flag's help; a `word` in back quotes names its value.
	Usage string
	// Secret keys are printed redacted.
	Secret bool
	// URL keys have the credentials they may carry redacted when printed.
	URL bool
	// Alias is a second, shorter flag name ("redis" for --redis-url).
	Alias string
	// field points into a Config at *string, *int, *bool or *time.Duration.
	field func(*Config) any
}

// Flag is the command-line flag of the key, without dashes.
func (k Key) Flag() string { return strings.ReplaceAll(k.Name, "_", "-") }

// Env is the environment variable of the key.
func (k Key) Env() string { return envPrefix + strings.ToUpper(k.Name) }

// Get formats the key's value in c as the YAML file, environment and flags accept it.
func (k Key) Get(c Config) string { return format(k.field(&c)) }

// Set parses s into the key's field of c.
func (k Key) Set(c *Config, s string) error { return parse(k.field(c), s) }

const envPrefix = "PARLEY_"

// WebhooksKey is the YAML key of the webhook list, which has no flag.
const WebhooksKey = "webhooks"

// Environment variables for a single webhook; a YAML list is the way to have several.
const (
	EnvWebhookURL    = "PARLEY_WEBHOOK_URL"
	EnvWebhookSecret = "PARLEY_WEBHOOK_SECRET"
	EnvWebhookEvents = "PARLEY_WEBHOOK_EVENTS"
	// EnvConfig names the YAML file when --config is not given.
	EnvConfig = "PARLEY_CONFIG"
)

var keys = []Key{
	{Name: "listen", Usage: "HTTP and WebSocket `address` (host:port)",
		field: func(c *Config) any { return &c.Listen }},
	{Name: "udp_port", Usage: "media `port`: ICE over UDP, with ICE-TCP on the same number",
		field: func(c *Config) any { return &c.UDPPort }},
	{Name: "public_ip", Usage: "`IP` address announced to clients for media (behind 1:1 NAT)",
		field: func(c *Config) any { return &c.PublicIP }},
	{Name: "ice_deny", Usage: "`networks` (comma-separated CIDR) clients' ICE candidates may not name; with a public IP, private ranges are denied too",
		field: func(c *Config) any { return &c.ICEDeny }},
	{Name: "ice_allow", Usage: "`networks` (comma-separated CIDR) clients' ICE candidates may name even if denied (e.g. your LAN)",
		field: func(c *Config) any { return &c.ICEAllow }},
	{Name: "data", Usage: "data `folder` (signing key, records)",
		field: func(c *Config) any { return &c.DataDir }},
	{Name: "log_level", Usage: "`level`: debug, info, warn or error",
		field: func(c *Config) any { return &c.LogLevel }},
	{Name: "log_format", Usage: "`format`: text or json",
		field: func(c *Config) any { return &c.LogFormat }},
	{Name: "record_all", Usage: "record every room (a tamper-evident record in DATA/records)",
		field: func(c *Config) any { return &c.RecordAll }},
	{Name: "tls_cert", Usage: "TLS certificate `file` (PEM) for HTTPS",
		field: func(c *Config) any { return &c.TLSCert }},
	{Name: "tls_key", Usage: "TLS private key `file` (PEM) for HTTPS",
		field: func(c *Config) any { return &c.TLSKey }},
	{Name: "tls_self_signed", Usage: "serve HTTPS with a self-signed certificate kept in the data folder (for tests)",
		field: func(c *Config) any { return &c.TLSSelfSigned }},
	{Name: "turn", Usage: "run the embedded TURN relay (for clients behind strict firewalls)",
		field: func(c *Config) any { return &c.TURN }},
	{Name: "turn_port", Usage: "UDP `port` of the embedded TURN relay (0: the media port + 1)",
		field: func(c *Config) any { return &c.TURNPort }},
	{Name: "refuse_duplicates", Usage: "refuse a second connection of a connected identity instead of moving the seat to it",
		field: func(c *Config) any { return &c.RefuseDuplicates }},
	{Name: "max_participants", Usage: "`participants` per room (0: no limit)",
		field: func(c *Config) any { return &c.MaxParticipants }},
	{Name: "max_rooms", Usage: "`rooms` on this node (0: no limit)",
		field: func(c *Config) any { return &c.MaxRooms }},
	{Name: "joins_per_minute", Usage: "signaling `connections` per client IP per minute (0: no limit)",
		field: func(c *Config) any { return &c.JoinsPerMinute }},
	{Name: "messages_per_second", Usage: "sustained signaling `messages` per second per connection (0: no limit)",
		field: func(c *Config) any { return &c.MessagesPerSecond }},
	{Name: "max_conns_per_ip", Usage: "open TCP `connections` per client address (IPv6: per /64) (0: no limit)",
		field: func(c *Config) any { return &c.MaxConnsPerIP }},
	{Name: "request_timeout", Usage: "`time` a client has to send an HTTP request's body (twice that to take the response; WebSockets exempt)",
		field: func(c *Config) any { return &c.RequestTimeout }},
	{Name: "reconnect_grace", Usage: "`time` a participant whose connection dropped keeps their seat",
		field: func(c *Config) any { return &c.ReconnectGrace }},
	{Name: "checkpoint_interval", Usage: "`interval` between signatures of a record's chain",
		field: func(c *Config) any { return &c.CheckpointInterval }},
	{Name: "metrics", Usage: "serve Prometheus metrics at /metrics",
		field: func(c *Config) any { return &c.Metrics }},
	{Name: "asr_url", Usage: "OpenAI-compatible speech-to-text `URL` (.../v1/audio/transcriptions) to transcribe meetings with; empty: none", URL: true,
		field: func(c *Config) any { return &c.ASRURL }},
	{Name: "asr_model", Usage: "`model` name sent to the speech-to-text engine",
		field: func(c *Config) any { return &c.ASRModel }},
	{Name: "asr_api_key", Usage: "`key` sent as a bearer token to the speech-to-text engine", Secret: true,
		field: func(c *Config) any { return &c.ASRAPIKey }},
	{Name: "asr_language", Usage: "`language` hint for floor speech (e.g. en); empty lets the engine detect it",
		field: func(c *Config) any { return &c.ASRLanguage }},
	{Name: "asr_stall", Usage: "`time` the speech-to-text engine may take to answer before captions pause",
		field: func(c *Config) any { return &c.ASRStall }},
	{Name: "asr_queue", Usage: "speech `segments` that may wait for the speech-to-text engine; when full the oldest is dropped",
		field: func(c *Config) any { return &c.ASRQueue }},
	{Name: "translate_url", Usage: "machine translation engine's base `URL` (LibreTranslate or Apertium APY) for captions in a language no interpreter covers; empty: none", URL: true,
		field: func(c *Config) any { return &c.TranslateURL }},
	{Name: "translate_kind", Usage: "the translation engine's `API`: libretranslate or apertium",
		field: func(c *Config) any { return &c.TranslateKind }},
	{Name: "translate_api_key", Usage: "`key` sent to the translation engine (LibreTranslate's api_key)", Secret: true,
		field: func(c *Config) any { return &c.TranslateAPIKey }},
	{Name: "redis_url", Alias: "redis", Usage: "join a cluster through Redis or Valkey at this `URL` (redis://[:password@]host:port/db, rediss:// for TLS); empty: run alone", URL: true,
		field: func(c *Config) any { return &c.RedisURL }},
	{Name: "node_id", Usage: "this node's `id` in the cluster (lower-case letters, digits, dashes); empty: a random one at each start",
		field: func(c *Config) any { return &c.NodeID }},
	{Name: "advertise_url", Usage: "this node's base `URL` as browsers and the other nodes reach it (cluster redirects point there); empty: the URL it listens on",
		field: func(c *Config) any { return &c.AdvertiseURL }},
	{Name: "span_rooms", Usage: "in a cluster, serve a client on the node it reached even when another node hosts its room: rooms span nodes, which relay media between them; off: redirect it to that node",
		field: func(c *Config) any { return &c.SpanRooms }},
	{Name: "relay_ports", Usage: "UDP `ports` (LOW-HIGH) of the media relay between nodes of a cluster whose rooms span nodes; empty: the system's ephemeral ports",
		field: func(c *Config) any { return &c.RelayPorts }},
	{Name: "spill_participants", Usage: "with span_rooms, a node holding this many `participants` sends later joins of its rooms to a node that holds fewer (preferring one with a part of the room already); 0: not counted",
		field: func(c *Config) any { return &c.SpillParticipants }},
	{Name: "spill_cpu", Usage: "with span_rooms, a node whose CPU over the last heartbeat reached this `percent` of every core sends later joins of its rooms to a node below it; 0: not measured",
		field: func(c *Config) any { return &c.SpillCPU }},
}

// Keys lists every scalar setting in the order they are documented and printed.
func Keys() []Key { return slices.Clone(keys) }

// LookupKey finds a key by its YAML name.
func LookupKey(name string) (Key, bool) {
	for _, k := range keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

func lookupFlag(name string) (Key, bool) {
	for _, k := range keys {
		if k.Alias != "" && k.Alias == name {
			return k, true
		}
	}
	return LookupKey(strings.ReplaceAll(name, "-", "_"))
}

// suggest names the key an unknown name was probably meant to be: the
// spellings people reach for first are the flag's dashes and upper case.
func suggest(name string) (string, bool) {
	n := strings.ToLower(strings.ReplaceAll(name, "-", "_"))
	if n == WebhooksKey {
		return WebhooksKey, true
	}
	if k, ok := LookupKey(n); ok {
		return k.Name, true
	}
	return "", false
}

func parse(p any, s string) error {
	switch p := p.(type) {
	case *string:
		*p = s
	case *int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a duration (write it like 10s or 1m30s)", s)
		}
		*p = d
	default:
		panic(fmt.Sprintf("config: key of unsupported type %T", p))
	}
	return nil
}

func format(p any) string {
	switch p := p.(type) {
	case *string:
		return *p
	case *int:
		return strconv.Itoa(*p)
	case *bool:
		return strconv.FormatBool(*p)
	case *time.Duration:
		return p.String()
	}
	panic(fmt.Sprintf("config: key of unsupported type %T", p))
}

// copyField copies one key's value between configs without going through text.
func copyField(k Key, dst, src *Config) {
	switch d := k.field(dst).(type) {
	case *string:
		*d = *k.field(src).(*string)
	case *int:
		*d = *k.field(src).(*int)
	case *bool:
		*d = *k.field(src).(*bool)
	case *time.Duration:
		*d = *k.field(src).(*time.Duration)
	default:
		panic(fmt.Sprintf("config: key of unsupported type %T", d))
	}
}

func isBool(k Key) bool {
	var c Config
	_, ok := k.field(&c).(*bool)
	return ok
}
