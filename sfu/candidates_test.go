package sfu

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestCandidatePolicy(t *testing.T) {
	public := &CandidatePolicy{Own: []netip.Addr{netip.MustParseAddr("203.0.113.7")}, Ports: []int{443, 3478},
		Deny: PrivateNetworks, Allow: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	local := &CandidatePolicy{Loopback: true, Own: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, Ports: []int{8080, 50000}}
	cand := func(addr string, port int, extra ...string) string {
		proto := "udp"
		if len(extra) > 0 {
			proto = "tcp"
		}
		return "candidate:1 1 " + proto + " 2130706431 " + addr + " " + strconv.Itoa(port) + " typ host" + strings.Join(extra, "")
	}
	cases := []struct {
		cp    *CandidatePolicy
		c     string
		allow bool
	}{
		{public, cand("198.51.100.20", 50123), true},
		{public, cand("0.0.0.0", 5000), false},
		{public, cand("::", 5000), false},
		{public, cand("224.0.0.251", 5353), false},
		{public, cand("255.255.255.255", 5000), false},
		{public, cand("169.254.1.1", 5000), false},
		{public, cand("fe80::1", 5000), false},
		{public, cand("127.0.0.1", 5000), false},
		{public, cand("192.168.1.10", 5000), false},
		{public, cand("10.1.2.3", 5000), true}, // allowed by the operator
		{public, cand("10.2.2.3", 5000), false},
		{public, cand("203.0.113.7", 3478), false}, // the node's own TURN port
		{public, cand("203.0.113.7", 50123), true},
		{public, cand("198.51.100.20", 0), false},
		{public, cand("host.example", 443), false},
		{public, cand("198.51.100.20", 443, " tcptype passive"), false},
		{public, cand("198.51.100.20", 9, " tcptype active"), true},
		{public, cand("198.51.100.20", 443, " tcptype so"), false},
		{local, cand("127.0.0.1", 51234), true},
		{local, cand("127.0.0.1", 8080), false},
		{local, cand("127.0.0.2", 50000), false}, // any loopback address is the node's
		{local, cand("192.168.1.10", 5000), true},
		{local, "candidate:garbage", false},
	}
	for _, c := range cases {
		err := c.cp.check(c.c)
		if (err == nil) != c.allow {
			t.Errorf("%s: %v, want allowed=%v", c.c, err, c.allow)
		}
		if err != nil && !errors.Is(err, errCandidate) {
			t.Errorf("%s: %v is not errCandidate", c.c, err)
		}
	}
}

func TestCandidatePolicyFiltersDescriptionsAndCaps(t *testing.T) {
	cp := &CandidatePolicy{Loopback: true}
	var b strings.Builder
	b.WriteString("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n")
	b.WriteString("a=candidate:1 1 udp 2130706431 224.0.0.1 5000 typ host\r\n")
	for i := range maxRemoteCandidates + 5 {
		b.WriteString("a=candidate:1 1 udp 2130706431 127.0.0.1 " + strconv.Itoa(40000+i) + " typ host\r\n")
	}
	b.WriteString("a=end-of-candidates\r\n")
	out, kept, refused := cp.filterSDP(b.String(), 0)
	if kept != maxRemoteCandidates || len(refused) != 6 || strings.Contains(out, "224.0.0.1") || strings.Count(out, "a=candidate:") != maxRemoteCandidates {
		t.Fatalf("kept %d, refused %d:\n%s", kept, len(refused), out)
	}
	if !strings.HasSuffix(out, "a=end-of-candidates\r\n") || !strings.HasPrefix(out, "v=0\r\nm=audio") {
		t.Fatalf("the rest of the description changed:\n%s", out)
	}
}

func FuzzCandidatePolicy(f *testing.F) {
	f.Add("candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host")
	f.Add("candidate:1 1 tcp 1518280447 192.168.1.2 9 typ host tcptype active")
	f.Add("candidate:842163049 1 udp 1677729535 203.0.113.9 61234 typ srflx raddr 0.0.0.0 rport 0")
	cp := &CandidatePolicy{Deny: PrivateNetworks}
	f.Fuzz(func(t *testing.T, c string) {
		if cp.check(c) == nil {
			// Whatever passes names an address the policy admits.
			out, kept, _ := cp.filterSDP("a=candidate:"+strings.TrimPrefix(c, "candidate:")+"\r\n", 0)
			if kept > 1 || (kept == 1 && !strings.Contains(out, "a=candidate:")) {
				t.Fatalf("%q: kept %d: %q", c, kept, out)
			}
		}
	})
}
