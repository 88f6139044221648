package sfu

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/pion/ice/v4"
)

// A remote candidate is an address the server will send STUN checks to, and
// any joined token can name one. Unchecked, that makes the server a port
// scanner for whoever holds a token: of the internet, of its own LAN, of its
// own loopback services. CandidatePolicy says which addresses a client may
// name: nothing that cannot be the client itself.

// maxRemoteCandidates bounds the candidates one connection may name: a
// browser gives a host, a reflexive and a relayed candidate per interface
// and transport, rarely more than a dozen.
const maxRemoteCandidates = 32

// errCandidate is why a candidate is refused.
var errCandidate = errors.New("candidate refused")

// CandidatePolicy decides which remote candidates connections may use.
type CandidatePolicy struct {
	// Loopback admits 127.0.0.0/8 and ::1: only for a node that is itself
	// on loopback (tests, a single machine), whose clients are local too.
	Loopback bool
	// Own are the node's addresses and Ports its service ports (HTTP, media,
	// TURN): a candidate naming one would have the server check itself.
	Own   []netip.Addr
	Ports []int
	// Deny lists networks no candidate may be in, unless Allow lists it.
	Deny, Allow []netip.Prefix
}

// PrivateNetworks are denied by default on a node with a public address:
// its clients come from the internet, and what is behind it is not theirs to
// reach. An operator whose clients share the node's LAN allows theirs.
var PrivateNetworks = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

// check returns nil if the server may send checks to the candidate (an SDP
// candidate attribute value, with or without "candidate:").
func (cp *CandidatePolicy) check(value string) error {
	c, err := ice.UnmarshalCandidate(strings.TrimPrefix(strings.TrimSpace(value), "a="))
	if err != nil {
		return fmt.Errorf("%w: %v", errCandidate, err)
	}
	if c.NetworkType().IsTCP() && c.TCPType() != ice.TCPTypeActive {
		// The server only accepts ICE-TCP: a passive or simultaneous-open
		// candidate would have it dial out.
		return fmt.Errorf("%w: TCP %s candidates would have the server connect out", errCandidate, c.TCPType())
	}
	addr, err := netip.ParseAddr(c.Address())
	if err != nil {
		// A name: the server resolves none (mDNS is off, and DNS would let a
		// client point it anywhere).
		return fmt.Errorf("%w: %q is not an IP address", errCandidate, c.Address())
	}
	return cp.checkAddr(netip.AddrPortFrom(addr.Unmap(), uint16(c.Port())))
}

func (cp *CandidatePolicy) checkAddr(ap netip.AddrPort) error {
	a := ap.Addr()
	switch {
	case !a.IsValid() || a.IsUnspecified() || ap.Port() == 0:
		return fmt.Errorf("%w: %s is unspecified", errCandidate, ap)
	case a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%w: %s is multicast or broadcast", errCandidate, ap)
	case a.IsLinkLocalUnicast():
		return fmt.Errorf("%w: %s is link-local", errCandidate, ap)
	case a.IsLoopback() && !cp.Loopback:
		return fmt.Errorf("%w: %s is loopback, and this node is not", errCandidate, ap)
	}
	if a.IsLoopback() || containsAddr(cp.Own, a) {
		for _, p := range cp.Ports {
			if int(ap.Port()) == p {
				return fmt.Errorf("%w: %s is one of this node's own services", errCandidate, ap)
			}
		}
	}
	for _, n := range cp.Allow {
		if n.Contains(a) {
			return nil
		}
	}
	for _, n := range cp.Deny {
		if n.Contains(a) {
			return fmt.Errorf("%w: %s is in a denied network (%s)", errCandidate, ap, n)
		}
	}
	return nil
}

func containsAddr(set []netip.Addr, a netip.Addr) bool {
	for _, s := range set {
		if s.Unmap() == a {
			return true
		}
	}
	return false
}

// filterSDP drops the candidate lines of a remote description the policy
// refuses and any beyond the cap; it returns the description and how many
// candidates it kept.
func (cp *CandidatePolicy) filterSDP(sdp string, kept int) (string, int, []error) {
	if !strings.Contains(sdp, "a=candidate:") {
		return sdp, kept, nil
	}
	var b strings.Builder
	var refused []error
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(line, "a=candidate:"); ok {
			err := cp.check(strings.TrimRight(v, "\r\n"))
			if err == nil && kept >= maxRemoteCandidates {
				err = fmt.Errorf("%w: more than %d candidates", errCandidate, maxRemoteCandidates)
			}
			if err != nil {
				refused = append(refused, err)
				continue
			}
			kept++
		}
		b.WriteString(line)
	}
	return b.String(), kept, refused
}
