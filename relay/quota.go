package relay

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/pion/turn/v5"
)

// PerParticipant is how many allocations one session's credentials may hold
// at once. The web client opens two peer connections (publish and subscribe)
// and is given one TURN URL (UDP); a browser makes one allocation per peer
// connection and per network it gathers on: two for most people, four on a
// machine with two networks (Wi-Fi and Ethernet, or a VPN). An ICE restart
// allocates anew before it releases what it had, which can double that for a
// moment. Eight covers all of it; issue 13's client made 1,289.
const PerParticipant = 8

// sweepEvery is how often Credentials drops sessions whose credentials have
// expired and that hold nothing: sessions whose end was never reported.
const sweepEvery = time.Minute

var (
	errRevoked = errors.New("the credentials' session has ended")
	errQuota   = errors.New("the participant holds its quota of allocations")
	errFull    = errors.New("the relay holds its maximum of allocations")
	errNoUser  = errors.New("an allocation without a user (EVEN-PORT reservations are not offered)")
	errTCP     = errors.New("TCP relaying (RFC 6062) is not offered")
)

// session is a participant's (or viewer's) live credentials and what they hold.
type session struct {
	gen    string
	until  time.Time // the credentials' expiry (the latest handed out)
	conns  map[*relayConn]struct{}
	warned bool // the quota refusal was logged
}

// Stats are the relay's figures: counters since it started, and what it holds now.
type Stats struct {
	Allocations int // allocations held now
	Sessions    int // sessions whose credentials are live

	RefusedQuota   uint64 // allocations refused: the session held PerParticipant
	RefusedFull    uint64 // allocations refused: the node held MaxAllocations
	RefusedRevoked uint64 // allocations refused: credentials of a session that is not live (ended, or minted before a restart)
	RefusedExpired uint64 // allocations refused: credentials of a live session, expired

	Revoked         uint64 // allocations closed because their session ended
	LifetimesCapped uint64 // Allocate and Refresh requests whose lifetime was cut to MaxLifetime
}

// Stats reads the relay's figures.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Allocations = s.held
	st.Sessions = len(s.sessions)
	return st
}

func (s *Server) count(c *uint64) {
	s.mu.Lock()
	*c++
	s.mu.Unlock()
}

// live registers participant's session (or extends it) and returns its generation.
func (s *Server) live(participant string, until time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if now.Sub(s.swept) >= sweepEvery {
		s.swept = now
		for id, se := range s.sessions {
			if len(se.conns) == 0 && now.After(se.until) {
				delete(s.sessions, id)
			}
		}
	}
	if se := s.sessions[participant]; se != nil {
		if until.After(se.until) {
			se.until = until
		}
		return se.gen
	}
	s.gen++
	se := &session{gen: strconv.FormatUint(s.gen, 36), until: until, conns: map[*relayConn]struct{}{}}
	s.sessions[participant] = se
	return se.gen
}

// isLive tells whether gen is participant's live session; a refused Allocate is counted.
func (s *Server) isLive(participant, gen string, allocate bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.sessions[participant]
	ok := se != nil && se.gen == gen
	if !ok && allocate {
		s.stats.RefusedRevoked++
	}
	return ok
}

// Revoke ends participant's credentials and closes, at once, every allocation
// made with them: its relayed sockets close, and pion drops the allocations.
// An unknown participant is ignored. It is safe from any goroutine and does
// not block: it closes at most PerParticipant sockets.
func (s *Server) Revoke(participant string) {
	s.mu.Lock()
	se := s.sessions[participant]
	delete(s.sessions, participant)
	var conns []*relayConn
	if se != nil {
		for c := range se.conns {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.close(true)
	}
	if len(conns) > 0 {
		s.log.Info("TURN allocations closed: their session ended", "participant", participant, "allocations", len(conns))
	}
}

// quota is pion's QuotaHandler: past PerParticipant the client is answered 486
// (Allocation Quota Reached).
func (s *Server) quota(username, _ string, src net.Addr) bool {
	_, gen, participant, _ := parseUsername(username)
	s.mu.Lock()
	se := s.sessions[participant]
	if se == nil || se.gen != gen { // revoked since auth
		s.stats.RefusedRevoked++
		s.mu.Unlock()
		return false
	}
	if n := len(se.conns); n >= PerParticipant {
		s.stats.RefusedQuota++
		first := !se.warned
		se.warned = true
		s.mu.Unlock()
		s.refusedQuota(participant, n, src, first)
		return false
	}
	s.mu.Unlock()
	return true
}

func (s *Server) refusedQuota(participant string, held int, src net.Addr, first bool) {
	level := slog.LevelDebug
	if first {
		level = slog.LevelWarn // once per session: a client looping on Allocate must not flood the log
	}
	s.log.Log(context.Background(), level, "TURN allocation refused: the participant holds its quota (logged once per session)",
		"participant", participant, "allocations", held, "quota", PerParticipant, "from", src)
}

// allocate makes an allocation's relayed socket, if the session is live and
// within its quota, and the node within MaxAllocations; pion answers a refusal
// here with 508 (Insufficient Capacity).
func (s *Server) allocate(conf turn.AllocateListenerConfig, inner turn.RelayAddressGenerator) (net.PacketConn, net.Addr, error) {
	_, gen, participant, ok := parseUsername(conf.UserID)
	if !ok {
		return nil, nil, errNoUser // pion probes ports for EVEN-PORT without a user
	}
	s.mu.Lock()
	se := s.sessions[participant]
	switch {
	case se == nil || se.gen != gen: // revoked since auth
		s.stats.RefusedRevoked++
		s.mu.Unlock()
		return nil, nil, errRevoked
	case len(se.conns) >= PerParticipant: // the QuotaHandler saw fewer: only in a race
		s.stats.RefusedQuota++
		s.mu.Unlock()
		return nil, nil, errQuota
	case s.held >= s.cfg.MaxAllocations:
		s.stats.RefusedFull++
		held := s.held
		now := time.Now()
		warn := now.Sub(s.fullLog) >= time.Minute // at most a line a minute
		if warn {
			s.fullLog = now
		}
		s.mu.Unlock()
		if warn {
			s.log.Warn("TURN allocation refused: the relay holds its maximum of allocations (logged at most once a minute)",
				"allocations", held, "max", s.cfg.MaxAllocations, "participant", participant)
		}
		return nil, nil, errFull
	}
	defer s.mu.Unlock()
	conn, addr, err := inner.AllocatePacketConn(conf)
	if err != nil {
		return nil, nil, err
	}
	c := &relayConn{PacketConn: conn, s: s, se: se}
	se.conns[c] = struct{}{}
	s.held++
	return c, addr, nil
}

// generator hands pion relayed sockets through allocate, and refuses TCP relaying.
type generator struct {
	s     *Server
	inner turn.RelayAddressGenerator
}

func (g *generator) Validate() error { return g.inner.Validate() }

func (g *generator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	return g.s.allocate(conf, g.inner)
}

func (g *generator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errTCP
}

func (g *generator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) { return nil, errTCP }

// relayConn is an allocation's relayed socket, counted against its session
// until it closes: when the allocation ends (expiry, a client's release, the
// relay's shutdown) or when Revoke closes it, which ends the allocation.
type relayConn struct {
	net.PacketConn
	s    *Server
	se   *session
	once sync.Once
}

// Close closes the socket once; pion closes it again when it drops the
// allocation, which must not be an error.
func (c *relayConn) Close() error { return c.close(false) }

func (c *relayConn) close(revoked bool) error {
	var err error
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.se.conns, c)
		c.s.held--
		if revoked {
			c.s.stats.Revoked++
		}
		c.s.mu.Unlock()
		err = c.PacketConn.Close()
	})
	return err
}
