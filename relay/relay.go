// Package relay is Parley's embedded TURN server (RFC 8656, on pion/turn): it
// lets browsers behind strict firewalls reach the SFU through one more UDP
// port. It relays only to the SFU's own media address, never elsewhere, and
// admits only credentials the server derived for a participant whose session
// is live: Revoke ends them, and closes what they allocated, when the session
// ends. Each participant holds at most PerParticipant allocations, the node
// at most Config.MaxAllocations, each for at most Config.MaxLifetime between
// refreshes (quota.go, lifetime.go).
package relay

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // TURN's long-term credentials (RFC 8489) are defined on HMAC-SHA1
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// Realm is the TURN realm.
const Realm = "parley"

// Config says where the relay listens and whom it may relay to.
type Config struct {
	ListenIP net.IP // address to bind (and relay from); must be a specific address
	Port     int    // UDP port; 0 picks one
	// RelayIP is announced to clients as the relayed address (the public IP behind 1:1 NAT); defaults to ListenIP.
	RelayIP net.IP
	// Peers are the only addresses relayed traffic may reach: the SFU's media addresses.
	Peers  []net.IP
	Secret []byte // HMAC key for credentials
	Logger *slog.Logger
	// MaxAllocations caps the allocations held at once, over all
	// participants; 0 means DefaultMaxAllocations.
	MaxAllocations int
	// MaxLifetime caps the lifetime of an allocation, whatever the client
	// asks, from its creation or last refresh; 0 means DefaultMaxLifetime.
	// STUN counts it in whole seconds: it must be at least one.
	MaxLifetime time.Duration
}

// DefaultMaxAllocations is the node's allocation cap unless configured. Each
// allocation holds a UDP socket and a goroutine; a browser needs two (one per
// peer connection), so a thousand relays some 500 people, well beyond the
// share of a node's participants that cannot reach it directly, and well
// within a process's file limit.
const DefaultMaxAllocations = 1000

// DefaultMaxLifetime is the longest an allocation lives without a refresh
// unless configured: TURN's default lifetime (RFC 8656). Browsers ask for no
// lifetime, get this and refresh before it ends; a client asking for an hour
// gets this too. Revoke closes allocations sooner, when their session ends; this
// bounds the rest (a client gone without a word, an ICE restart's leftovers).
const DefaultMaxLifetime = 10 * time.Minute

// Server is a running relay.
type Server struct {
	cfg  Config
	log  *slog.Logger
	conn net.PacketConn
	srv  *turn.Server
	host string

	mu       sync.Mutex
	sessions map[string]*session // by participant: the live ones
	held     int                 // allocations held, over all sessions
	gen      uint64              // last session generation handed out
	swept    time.Time           // last sweep of expired sessions
	fullLog  time.Time           // last "the relay is full" warning
	stats    Stats               // counters; Allocations and Sessions are filled in by Stats
}

// Start binds the relay's UDP port and serves.
func Start(cfg Config) (*Server, error) {
	if (cfg.ListenIP == nil || cfg.ListenIP.IsUnspecified()) && cfg.RelayIP == nil {
		return nil, errors.New("the TURN relay needs a specific listen address, or a public IP to announce")
	}
	if cfg.ListenIP == nil {
		cfg.ListenIP = net.IPv4zero
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("the TURN relay needs a secret of at least 16 bytes")
	}
	if cfg.RelayIP == nil {
		cfg.RelayIP = cfg.ListenIP
	}
	if cfg.MaxAllocations <= 0 {
		cfg.MaxAllocations = DefaultMaxAllocations
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = DefaultMaxLifetime
	}
	if cfg.MaxLifetime < time.Second {
		return nil, errors.New("the TURN relay's allocation lifetime must be at least a second")
	}
	cfg.MaxLifetime = cfg.MaxLifetime.Truncate(time.Second)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	conn, err := net.ListenPacket("udp4", net.JoinHostPort(cfg.ListenIP.String(), strconv.Itoa(cfg.Port)))
	if err != nil {
		return nil, fmt.Errorf("TURN port: %w", err)
	}
	s := &Server{cfg: cfg, log: log, conn: conn, host: cfg.RelayIP.String(), sessions: map[string]*session{}}
	s.srv, err = turn.NewServer(turn.ServerConfig{
		Realm:        Realm,
		AuthHandler:  s.auth,
		QuotaHandler: s.quota,
		// What a client gets when it asks for no lifetime (browsers); what it
		// asks for beyond this, lifetimeConn cuts down.
		AllocationLifetime: cfg.MaxLifetime,
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn: &lifetimeConn{PacketConn: conn, s: s},
			RelayAddressGenerator: &generator{s: s, inner: &turn.RelayAddressGeneratorStatic{
				RelayAddress: cfg.RelayIP,
				Address:      cfg.ListenIP.String(),
			}},
			// Not an open relay: only the SFU may be reached through it.
			PermissionHandler: func(_ net.Addr, peer net.IP) bool {
				return slices.ContainsFunc(cfg.Peers, peer.Equal)
			},
		}},
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// Port is the relay's UDP port.
func (s *Server) Port() int { return s.conn.LocalAddr().(*net.UDPAddr).Port }

// URLs are the ICE server URLs clients use.
func (s *Server) URLs() []string {
	return []string{"turn:" + net.JoinHostPort(s.host, strconv.Itoa(s.Port())) + "?transport=udp"}
}

// Credentials returns a username and password for participant, valid until
// expiry and only while its session lives: it registers participant as live
// (or keeps it live) until Revoke. The username is
// "<expiry>:<generation>:<participant>"; the generation tells this session's
// credentials from those of an earlier session with the same id (a
// participant that took its seat back, from another tab or after a drop).
func (s *Server) Credentials(participant string, expiry time.Time) (username, password string) {
	gen := s.live(participant, expiry)
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + gen + ":" + participant
	return username, s.password(username)
}

func (s *Server) password(username string) string {
	mac := hmac.New(sha1.New, s.cfg.Secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// key is the long-term credential key of username (RFC 8489 §9.2.2).
func (s *Server) key(username string) []byte {
	return turn.GenerateAuthKey(username, Realm, s.password(username))
}

// parseUsername splits what Credentials made.
func parseUsername(username string) (expiry int64, gen, participant string, ok bool) {
	exp, rest, ok1 := strings.Cut(username, ":")
	gen, participant, ok2 := strings.Cut(rest, ":")
	t, err := strconv.ParseInt(exp, 10, 64)
	if !ok1 || !ok2 || err != nil || gen == "" || participant == "" {
		return 0, "", "", false
	}
	return t, gen, participant, true
}

// auth admits a request whose username is that of a live session's
// credentials and not expired; pion then checks the message's integrity with
// the key returned. It runs for every authenticated request (Allocate,
// Refresh, CreatePermission, ChannelBind), so an ended session can neither
// allocate nor keep what it has.
func (s *Server) auth(ra *turn.RequestAttributes) (string, []byte, bool) {
	exp, gen, participant, ok := parseUsername(ra.Username)
	if !ok {
		return "", nil, false
	}
	allocate := ra.Method == stun.MethodAllocate
	if !s.isLive(participant, gen, allocate) {
		s.log.Debug("TURN request refused: its session is not live (ended, or from before a restart)",
			"participant", participant, "method", ra.Method.String(), "from", ra.SrcAddr)
		return "", nil, false
	}
	if time.Now().Unix() > exp {
		if allocate {
			s.count(&s.stats.RefusedExpired)
		}
		return "", nil, false
	}
	return ra.Username, s.key(ra.Username), true
}

// Close stops the relay.
func (s *Server) Close() error { return s.srv.Close() }
