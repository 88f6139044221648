package server

import (
	"net"
	"net/netip"
	"strconv"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/sfu"
)

// candidatePolicy says which addresses clients' ICE candidates may name
// (sfu/candidates.go): loopback only on a loopback node, never the node's
// own service ports, the operator's deny and allow lists, and on a node with
// a public address no private range unless allowed. Ports are filled in as
// the node binds them.
func candidatePolicy(cfg config.Config) *sfu.CandidatePolicy {
	cp := &sfu.CandidatePolicy{}
	if ip, ok := netip.AddrFromSlice(cfg.ListenIP()); ok {
		cp.Loopback = ip.Unmap().IsLoopback()
		if !ip.IsUnspecified() {
			cp.Own = append(cp.Own, ip.Unmap())
		} else if addrs, err := net.InterfaceAddrs(); err == nil {
			// Bound to every address: each is the node's own.
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(n.IP); ok {
						cp.Own = append(cp.Own, ip.Unmap())
					}
				}
			}
		}
	}
	if ip, err := netip.ParseAddr(cfg.PublicIP); err == nil {
		cp.Own = append(cp.Own, ip.Unmap())
		if ip.IsGlobalUnicast() && !ip.IsPrivate() {
			cp.Deny = append(cp.Deny, sfu.PrivateNetworks...)
		}
	}
	deny, _ := config.ParseNetworks(cfg.ICEDeny) // Validate checked them
	allow, _ := config.ParseNetworks(cfg.ICEAllow)
	cp.Deny = append(cp.Deny, deny...)
	cp.Allow = allow
	return cp
}

// addPort adds the port of a bound address to the policy's own ports.
func addPort(cp *sfu.CandidatePolicy, addr net.Addr) {
	_, port, err := net.SplitHostPort(addr.String())
	if n, err2 := strconv.Atoi(port); err == nil && err2 == nil {
		cp.Ports = append(cp.Ports, n)
	}
}
