// Package config holds Parley's settings and their embedded defaults: with no
// file and no flags, a single node on loopback that contacts nothing.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is the effective configuration of one node.
type Config struct {
	// Listen is the HTTP/WebSocket address (host:port).
	Listen string
	// UDPPort is the media port: ICE over UDP and ICE-TCP share the number.
	UDPPort int
	// PublicIP, when set, is announced to clients instead of local addresses.
	PublicIP string
	// ICEDeny and ICEAllow are comma-separated networks (CIDR) clients'
	// candidates may not name, and may name even if denied. With a public
	// address the private ranges are denied by default.
	ICEDeny, ICEAllow string
	// DataDir holds the signing key and, later, records.
	DataDir string
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// LogFormat is text or json.
	LogFormat string
	// RecordAll records every room from its first join.
	RecordAll bool
	// CheckpointInterval is how often a record's chain head is signed.
	CheckpointInterval time.Duration
	// ReconnectGrace is how long a participant whose connection dropped keeps their seat.
	ReconnectGrace time.Duration

	// TLSCert and TLSKey are PEM files; TLSSelfSigned makes (once) and uses a
	// self-signed certificate in the data folder instead.
	TLSCert, TLSKey string
	TLSSelfSigned   bool

	// TURN runs the embedded TURN relay on TURNPort (UDP); 0 means the media
	// port + 1, or any free port when the media port is picked freely.
	TURN     bool
	TURNPort int

	// RefuseDuplicates refuses a second connection of a connected identity
	// (by default the newer connection takes the seat).
	RefuseDuplicates bool

	// Limits; 0 means unlimited.
	MaxParticipants   int // per room
	MaxRooms          int // per node
	JoinsPerMinute    int // signaling connections per client IP per minute
	MessagesPerSecond int // sustained signaling messages per connection
	MaxConnsPerIP     int // open TCP connections per client address

	// RequestTimeout is how long a client has to send an HTTP request's body;
	// the response must be taken within twice that. WebSocket sessions are
	// exempt: they last as long as the meeting.
	RequestTimeout time.Duration

	// Metrics serves Prometheus metrics at /metrics.
	Metrics bool
	// Webhooks receive room events as JSON signed with HMAC-SHA256.
	Webhooks []Webhook

	// ASRURL is an OpenAI-compatible speech-to-text endpoint
	// (.../v1/audio/transcriptions); empty: no transcription (the default).
	ASRURL string
	// ASRModel is sent as the request's model.
	ASRModel string
	// ASRAPIKey, when set, is sent as a bearer token; printed redacted.
	ASRAPIKey string
	// ASRLanguage is the hint for floor speech ("en"); empty lets the
	// engine detect it. Interpretation channels are hinted with their own.
	ASRLanguage string
	// ASRQueue is how many speech segments may wait for the engine; when
	// full, the oldest is dropped (and counted).
	ASRQueue int
	// ASRStall is how long the engine may take to answer before it counts
	// as not answering: captions pause until it answers in time again.
	ASRStall time.Duration
	// TranslateURL is a machine translation engine (LibreTranslate's or
	// Apertium APY's API, per TranslateKind) for captions in a language no
	// interpreter is live on; empty: captions are not translated.
	TranslateURL    string
	TranslateKind   string
	TranslateAPIKey string // printed redacted

	// RedisURL joins the node to a cluster coordinated through Redis (or
	// Valkey): redis://[[user]:password@]host:port/db, or rediss:// for TLS.
	// Empty: the node runs alone. Its password is printed redacted.
	RedisURL string
	// NodeID names the node in the cluster; empty: a random id at each start.
	NodeID string
	// AdvertiseURL is the node's base URL as browsers and the other nodes
	// reach it (redirects point there); empty: the URL it serves on.
	AdvertiseURL string
	// SpanRooms lets a room span nodes: a client joining a room that another
	// node hosts is served where it connected, and the nodes relay the
	// room's media between them. Off: it is redirected to that node.
	SpanRooms bool
	// RelayPorts bounds the UDP ports of the media relay between nodes
	// ("40000-40999"); empty: the system's ephemeral ports.
	RelayPorts string
	// SpillParticipants and SpillCPU (percent of every core) say when a
	// node is busy (span_rooms): a join that reaches a busy node for a room
	// already open goes to a node that is not, preferring one that holds a
	// part of the room. 0 leaves that measure out.
	SpillParticipants int
	SpillCPU          int
}

// Webhook is one receiver of room events.
type Webhook struct {
	// URL receives a POST per event.
	URL string
	// Secret keys the HMAC-SHA256 signature of each body; it is redacted when
	// the configuration is printed.
	Secret string
	// Events limits delivery to these event types; empty means all.
	Events []string
}

// Default returns the embedded defaults.
func Default() Config {
	return Config{
		Listen:    "127.0.0.1:7880",
		UDPPort:   7881,
		DataDir:   "./parley-data",
		LogLevel:  "info",
		LogFormat: "text",

		CheckpointInterval: 10 * time.Second,
		ReconnectGrace:     20 * time.Second,

		TURN: true,

		MaxParticipants:   200,
		MaxRooms:          1000,
		ASRQueue:          32,
		ASRStall:          20 * time.Second,
		TranslateKind:     "libretranslate",
		JoinsPerMinute:    120,
		MessagesPerSecond: 50,
		// Per participant: one WebSocket, and while the page loads up to six
		// HTTP connections that linger idle for two minutes. 128 lets a whole
		// delegation behind one NAT address join at once (joins_per_minute
		// allows 120), and still bounds what one address can hold.
		MaxConnsPerIP: 128,
		// The largest bodies are admin JSON and SDP offers, at most 64 KiB:
		// 30 s asks for about 2 KB/s, which any client that means to be
		// served manages, while one that dribbles a byte now and then is
		// cut before it can pile up connections.
		RequestTimeout: 30 * time.Second,

		Metrics: true,

		// A node whose CPU is this busy serves its next joins worse than an
		// idle node would, relay included.
		SpillCPU: 80,
	}
}

// A KeyError is a bad value, named by its YAML key ("udp_port",
// "webhooks[0].url"); the flag and the PARLEY_* variable derive from it.
type KeyError struct {
	Key    string
	Reason string
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Reason }

func keyErr(key, format string, args ...any) error {
	return &KeyError{Key: key, Reason: fmt.Sprintf(format, args...)}
}

// Validate checks the configuration and says which key is wrong and why. It
// is the only validator: the file, the environment and the flags only parse.
func (c Config) Validate() error {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return keyErr("listen", "%q is not host:port: %v", c.Listen, err)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return keyErr("listen", "host %q must be an IP address or localhost", host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return keyErr("listen", "port %q is not a port number", port)
	}
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		return keyErr("udp_port", "%d is not a port number", c.UDPPort)
	}
	if c.PublicIP != "" && net.ParseIP(c.PublicIP) == nil {
		return keyErr("public_ip", "%q is not an IP address", c.PublicIP)
	}
	if _, err := ParseNetworks(c.ICEDeny); err != nil {
		return keyErr("ice_deny", "%v", err)
	}
	if _, err := ParseNetworks(c.ICEAllow); err != nil {
		return keyErr("ice_allow", "%v", err)
	}
	if c.DataDir == "" {
		return keyErr("data", "the data folder must be named")
	}
	if c.CheckpointInterval < 100*time.Millisecond || c.CheckpointInterval > time.Hour {
		return keyErr("checkpoint_interval", "%s is not between 100ms and 1h", c.CheckpointInterval)
	}
	if c.ReconnectGrace < 0 || c.ReconnectGrace > 10*time.Minute {
		return keyErr("reconnect_grace", "%s is not between 0 and 10m", c.ReconnectGrace)
	}
	for _, l := range []struct {
		key string
		v   int
	}{{"max_participants", c.MaxParticipants}, {"max_rooms", c.MaxRooms},
		{"joins_per_minute", c.JoinsPerMinute}, {"messages_per_second", c.MessagesPerSecond},
		{"max_conns_per_ip", c.MaxConnsPerIP}} {
		if l.v < 0 {
			return keyErr(l.key, "%d is negative (0 means no limit)", l.v)
		}
	}
	if c.ASRQueue < 1 || c.ASRQueue > 4096 {
		return keyErr("asr_queue", "%d is not between 1 and 4096", c.ASRQueue)
	}
	if c.ASRStall < time.Second || c.ASRStall > 10*time.Minute {
		return keyErr("asr_stall", "%s is not between 1s and 10m", c.ASRStall)
	}
	if c.RequestTimeout < 100*time.Millisecond || c.RequestTimeout > 10*time.Minute {
		return keyErr("request_timeout", "%s is not between 100ms and 10m", c.RequestTimeout)
	}
	if c.TURNPort < 0 || c.TURNPort > 65535 {
		return keyErr("turn_port", "%d is not a port number", c.TURNPort)
	}
	if c.TLSCert == "" && c.TLSKey != "" {
		return keyErr("tls_key", "needs tls_cert too (give both or neither)")
	}
	if c.TLSCert != "" && c.TLSKey == "" {
		return keyErr("tls_cert", "needs tls_key too (give both or neither)")
	}
	if c.TLSSelfSigned && c.TLSCert != "" {
		return keyErr("tls_self_signed", "not together with tls_cert")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return keyErr("log_format", "%q is not text or json", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return keyErr("log_level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	if err := engineURL("asr_url", c.ASRURL); err != nil {
		return err
	}
	if c.ASRAPIKey == Redacted {
		return keyErr("asr_api_key", "%q is the placeholder that parley config print writes; give the real key", Redacted)
	}
	if err := engineURL("translate_url", c.TranslateURL); err != nil {
		return err
	}
	if c.TranslateKind != "libretranslate" && c.TranslateKind != "apertium" {
		return keyErr("translate_kind", "%q is not libretranslate or apertium", c.TranslateKind)
	}
	if c.TranslateAPIKey == Redacted {
		return keyErr("translate_api_key", "%q is the placeholder that parley config print writes; give the real key", Redacted)
	}
	if err := c.validateCluster(); err != nil {
		return err
	}
	for i, h := range c.Webhooks {
		at := fmt.Sprintf("webhooks[%d]", i)
		if strings.Contains(h.URL, Redacted) {
			return keyErr(at+".url", "holds %q, the placeholder that parley config print writes for credentials; give the real URL", Redacted)
		}
		u, err := url.Parse(h.URL)
		if h.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return keyErr(at+".url", "%q is not an http:// or https:// URL", h.URL)
		}
		if h.Secret == "" {
			// Unsigned events could be forged by anyone who can reach the receiver.
			return keyErr(at+".secret", "is empty; every webhook needs one so the receiver can check signatures")
		}
		if h.Secret == Redacted {
			return keyErr(at+".secret", "%q is the placeholder that parley config print writes; give the real secret", Redacted)
		}
		for _, e := range h.Events {
			if strings.TrimSpace(e) == "" {
				return keyErr(at+".events", "an event name is empty")
			}
		}
	}
	return nil
}

// nodeID is what a node id may be: it is a metrics label and part of Redis keys.
var nodeID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

func (c Config) validateCluster() error {
	if c.RedisURL != "" {
		if strings.Contains(c.RedisURL, Redacted) {
			return keyErr("redis_url", "holds %q, the placeholder that parley config print writes for credentials; give the real URL", Redacted)
		}
		u, err := url.Parse(c.RedisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Hostname() == "" {
			return keyErr("redis_url", "%q is not a redis://HOST:PORT/DB or rediss:// URL", RedactURL(c.RedisURL))
		}
		if db := strings.Trim(u.Path, "/"); db != "" {
			if n, err := strconv.Atoi(db); err != nil || n < 0 {
				return keyErr("redis_url", "the database %q is not a number (redis://HOST:PORT/0)", db)
			}
		}
	}
	if _, _, err := c.RelayPortRange(); err != nil {
		return keyErr("relay_ports", "%v", err)
	}
	if c.SpillParticipants < 0 {
		return keyErr("spill_participants", "%d is negative (0: not measured)", c.SpillParticipants)
	}
	if c.SpillCPU < 0 || c.SpillCPU > 100 {
		return keyErr("spill_cpu", "%d is not a percentage from 0 (not measured) to 100", c.SpillCPU)
	}
	if c.NodeID != "" && !nodeID.MatchString(c.NodeID) {
		return keyErr("node_id", "%q is not 1 to 32 lower-case letters, digits and dashes", c.NodeID)
	}
	if c.AdvertiseURL != "" {
		u, err := url.Parse(c.AdvertiseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" ||
			u.User != nil || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			return keyErr("advertise_url", "%q is not a base URL such as https://node1.example.org:7880 (no path, no query)", c.AdvertiseURL)
		}
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
			return keyErr("advertise_url", "%q names no host that others can reach", c.AdvertiseURL)
		}
	} else if c.RedisURL != "" {
		if ip := c.ListenIP(); ip == nil || ip.IsUnspecified() {
			if c.PublicIP == "" {
				return keyErr("advertise_url", "is needed in a cluster when listen is on every interface (%s): the URL the other nodes and the browsers reach this node at", c.Listen)
			}
		}
	}
	return nil
}

// Advertised is the node's base URL for redirects: AdvertiseURL, else the
// public IP or the listen address with the port actually bound (port).
func (c Config) Advertised(port int) string {
	if c.AdvertiseURL != "" {
		return strings.TrimRight(c.AdvertiseURL, "/")
	}
	scheme := "http"
	if c.TLS() {
		scheme = "https"
	}
	host, _, _ := net.SplitHostPort(c.Listen)
	if ip := c.ListenIP(); (ip == nil || ip.IsUnspecified()) && c.PublicIP != "" {
		host = c.PublicIP
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// TLS reports whether HTTPS is served.
func (c Config) TLS() bool { return c.TLSCert != "" || c.TLSSelfSigned }

// ListenIP is the IP part of Listen (nil for all interfaces); media binds there too.
// ParseNetworks parses a comma-separated list of networks in CIDR notation
// (a bare address is one host).
func ParseNetworks(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not a network (CIDR, e.g. 10.0.0.0/8) or an address", f)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a network (CIDR, e.g. 10.0.0.0/8) or an address", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (c Config) ListenIP() net.IP {
	host, _, _ := net.SplitHostPort(c.Listen)
	if host == "localhost" {
		return net.IPv4(127, 0, 0, 1)
	}
	return net.ParseIP(host)
}

// engineURL checks the URL of an engine Parley calls (speech, translation):
// empty (none), or http(s) with a host, and not the placeholder config print
// writes for credentials.
func engineURL(key, v string) error {
	if v == "" {
		return nil
	}
	if strings.Contains(v, Redacted) {
		return keyErr(key, "holds %q, the placeholder that parley config print writes for credentials; give the real URL", Redacted)
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return keyErr(key, "%q is not an http:// or https:// URL", v)
	}
	return nil
}

// RelayPortRange parses RelayPorts: 0, 0 when it is empty.
func (c Config) RelayPortRange() (lo, hi uint16, err error) {
	if c.RelayPorts == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(c.RelayPorts, "-")
	l, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	h, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if !ok || err1 != nil || err2 != nil || l == 0 || h < l {
		return 0, 0, fmt.Errorf("%q is not a range of UDP ports such as 40000-40999", c.RelayPorts)
	}
	return uint16(l), uint16(h), nil
}
