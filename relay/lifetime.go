package relay

import (
	"encoding/binary"
	"net"
	"time"

	"github.com/pion/stun/v4"
)

// STUN message types (RFC 8656 §17) of the requests that ask for a lifetime.
const (
	allocateRequest = 0x0003
	refreshRequest  = 0x0004
)

// lifetimeConn is the relay's socket as pion reads it: it cuts the LIFETIME
// that an Allocate or Refresh request asks for down to MaxLifetime. pion
// grants any lifetime under an hour and offers no maximum of its own; cut
// before it reads the request, the shorter lifetime is also what its answer
// tells the client, which refreshes in time. MESSAGE-INTEGRITY covers the
// LIFETIME, so a request whose integrity holds is signed again with the same
// key after the cut; any other request passes unchanged, for pion to judge.
type lifetimeConn struct {
	net.PacketConn
	s *Server
}

func (c *lifetimeConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if err == nil {
		n = c.s.capLifetime(p, n)
	}
	return n, addr, err
}

// capLifetime rewrites the request in p[:n] if it asks for more than
// MaxLifetime, and returns its length.
func (s *Server) capLifetime(p []byte, n int) int {
	b := p[:n]
	if !stun.IsMessage(b) {
		return n // channel data: the media path
	}
	if t := binary.BigEndian.Uint16(b); t != allocateRequest && t != refreshRequest {
		return n
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if m.Decode() != nil {
		return n
	}
	v, err := m.Get(stun.AttrLifetime)
	limit := uint32(s.cfg.MaxLifetime / time.Second)
	if err != nil || len(v) != 4 || binary.BigEndian.Uint32(v) <= limit {
		return n
	}
	var user stun.Username
	var realm stun.Realm
	if user.GetFrom(m) != nil || realm.GetFrom(m) != nil || realm.String() != Realm {
		return n
	}
	key := stun.MessageIntegrity(s.key(user.String()))
	if key.Check(m) != nil {
		return n
	}
	out := stun.New()
	out.Type = m.Type
	out.TransactionID = m.TransactionID
	out.WriteHeader()
	for _, a := range m.Attributes {
		if a.Type == stun.AttrMessageIntegrity {
			break // what follows it (but FINGERPRINT) is ignored (RFC 8489 §14.5)
		}
		if a.Type == stun.AttrLifetime {
			out.Add(a.Type, binary.BigEndian.AppendUint32(nil, limit))
		} else {
			out.Add(a.Type, a.Value)
		}
	}
	if key.AddTo(out) != nil {
		return n
	}
	if m.Contains(stun.AttrFingerprint) && stun.Fingerprint.AddTo(out) != nil {
		return n
	}
	if len(out.Raw) > len(p) {
		return n
	}
	s.count(&s.stats.LifetimesCapped)
	return copy(p, out.Raw)
}
