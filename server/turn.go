package server

import (
	"crypto/ed25519"
	"crypto/sha256"
	"log/slog"
	"net"
	"time"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/relay"
	"github.com/parleyhq/parley/room"
)

// maxTURNCredential bounds how long TURN credentials last, whatever the token says.
const maxTURNCredential = 12 * time.Hour

// startRelay runs the embedded TURN server, relaying only to the SFU's media port.
func startRelay(cfg config.Config, key ed25519.PrivateKey, mediaPort int, log *slog.Logger) (*relay.Server, error) {
	listen := cfg.ListenIP()
	var public net.IP
	if cfg.PublicIP != "" {
		public = net.ParseIP(cfg.PublicIP)
	}
	if (listen == nil || listen.IsUnspecified()) && public == nil {
		log.Warn("TURN relay off: it needs --listen on a specific address or --public-ip")
		return nil, nil
	}
	var peers []net.IP
	for _, ip := range []net.IP{listen, public} {
		if ip != nil && !ip.IsUnspecified() {
			peers = append(peers, ip)
		}
	}
	// The TURN secret is derived from the signing key: nothing more to keep.
	secret := sha256.Sum256(append([]byte("parley turn secret\n"), key.Seed()...))
	port := cfg.TURNPort
	if port == 0 && cfg.UDPPort != 0 {
		port = cfg.UDPPort + 1
	}
	r, err := relay.Start(relay.Config{ListenIP: listen, Port: port, RelayIP: public, Peers: peers, Secret: secret[:], Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("TURN relay is serving", "urls", r.URLs(), "relays_to_port", mediaPort)
	return r, nil
}

// iceServers hands a participant TURN credentials that end with its token.
func (s *Server) iceServers(participant string, until time.Time) []room.ICEServer {
	if s.relay == nil {
		return nil
	}
	if limit := time.Now().Add(maxTURNCredential); until.After(limit) {
		until = limit
	}
	user, pass := s.relay.Credentials(participant, until)
	return []room.ICEServer{{URLs: s.relay.URLs(), Username: user, Credential: pass}}
}

// sessionEnded revokes the TURN credentials of a participant or viewer whose
// session ended, closing what it allocated; it fits room.Config.SessionEnded.
func (s *Server) sessionEnded(id string) {
	if s.relay != nil {
		s.relay.Revoke(id)
	}
}

// TURNStats are the embedded relay's figures (zero when it is off).
func (s *Server) TURNStats() relay.Stats {
	if s.relay == nil {
		return relay.Stats{}
	}
	return s.relay.Stats()
}

// TURNPort is the embedded relay's UDP port, or 0 when it is off.
func (s *Server) TURNPort() int {
	if s.relay == nil {
		return 0
	}
	return s.relay.Port()
}
