// Package relay is Parley's embedded TURN server (RFC 8656, on pion/turn): it
// lets browsers behind strict firewalls reach the SFU through one more UDP
// port. It relays only to the SFU's own media address, never elsewhere, and
// admits only short-lived credentials the server derived for a participant.
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
	"time"

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
}

// Server is a running relay.
type Server struct {
	cfg  Config
	conn net.PacketConn
	srv  *turn.Server
	host string
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
	conn, err := net.ListenPacket("udp4", net.JoinHostPort(cfg.ListenIP.String(), strconv.Itoa(cfg.Port)))
	if err != nil {
		return nil, fmt.Errorf("TURN port: %w", err)
	}
	s := &Server{cfg: cfg, conn: conn, host: cfg.RelayIP.String()}
	s.srv, err = turn.NewServer(turn.ServerConfig{
		Realm:       Realm,
		AuthHandler: s.auth,
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn: conn,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
				RelayAddress: cfg.RelayIP,
				Address:      cfg.ListenIP.String(),
			},
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

// Credentials returns a username and password for participant, valid until expiry.
func (s *Server) Credentials(participant string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + participant
	return username, s.password(username)
}

func (s *Server) password(username string) string {
	mac := hmac.New(sha1.New, s.cfg.Secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func (s *Server) auth(ra *turn.RequestAttributes) (string, []byte, bool) {
	exp, _, ok := strings.Cut(ra.Username, ":")
	t, err := strconv.ParseInt(exp, 10, 64)
	if !ok || err != nil || time.Now().Unix() > t {
		return "", nil, false
	}
	return ra.Username, turn.GenerateAuthKey(ra.Username, Realm, s.password(ra.Username)), true
}

// Close stops the relay.
func (s *Server) Close() error { return s.srv.Close() }
