// Package config holds Parley's settings and their embedded defaults: with no
// file and no flags, a single node on loopback that contacts nothing.
package config

import (
	"fmt"
	"net"
	"strconv"
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

	// Metrics serves Prometheus metrics at /metrics.
	Metrics bool
	// Webhooks receive room events as JSON signed with HMAC-SHA256.
	Webhooks []Webhook
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
		JoinsPerMinute:    120,
		MessagesPerSecond: 50,

		Metrics: true,
	}
}

// Validate checks the configuration and says which key is wrong and why.
func (c Config) Validate() error {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("listen: %q is not host:port: %w", c.Listen, err)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return fmt.Errorf("listen: host %q must be an IP address or localhost", host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("listen: port %q is not a port number", port)
	}
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		return fmt.Errorf("udp-port: %d is not a port number", c.UDPPort)
	}
	if c.PublicIP != "" && net.ParseIP(c.PublicIP) == nil {
		return fmt.Errorf("public-ip: %q is not an IP address", c.PublicIP)
	}
	if c.DataDir == "" {
		return fmt.Errorf("data: the data folder must be named")
	}
	if c.CheckpointInterval < 100*time.Millisecond || c.CheckpointInterval > time.Hour {
		return fmt.Errorf("checkpoint-interval: %s is not between 100ms and 1h", c.CheckpointInterval)
	}
	if c.ReconnectGrace < 0 || c.ReconnectGrace > 10*time.Minute {
		return fmt.Errorf("reconnect-grace: %s is not between 0 and 10m", c.ReconnectGrace)
	}
	for name, v := range map[string]int{"max-participants": c.MaxParticipants, "max-rooms": c.MaxRooms,
		"joins-per-minute": c.JoinsPerMinute, "messages-per-second": c.MessagesPerSecond} {
		if v < 0 {
			return fmt.Errorf("%s: %d is negative (0 means no limit)", name, v)
		}
	}
	if c.TURNPort < 0 || c.TURNPort > 65535 {
		return fmt.Errorf("turn-port: %d is not a port number", c.TURNPort)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("tls-cert and tls-key: give both or neither")
	}
	if c.TLSSelfSigned && c.TLSCert != "" {
		return fmt.Errorf("tls-self-signed: not together with tls-cert")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log-format: %q is not text or json", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log-level: %q is not debug, info, warn or error", c.LogLevel)
	}
	return nil
}

// TLS reports whether HTTPS is served.
func (c Config) TLS() bool { return c.TLSCert != "" || c.TLSSelfSigned }

// ListenIP is the IP part of Listen (nil for all interfaces); media binds there too.
func (c Config) ListenIP() net.IP {
	host, _, _ := net.SplitHostPort(c.Listen)
	if host == "localhost" {
		return net.IPv4(127, 0, 0, 1)
	}
	return net.ParseIP(host)
}
