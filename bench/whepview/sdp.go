package whepview

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Payload types the offer uses; the server's answer keeps them.
const (
	ptOpus = 111
	ptVP8  = 96
)

// offer is a recvonly audio and video offer, bundled, with our one host
// candidate: no trickle, nothing to gather.
func (v *Viewer) offer(port int) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\r\n", a...) }
	w("v=0")
	w("o=- %d 2 IN IP4 127.0.0.1", tieBreaker>>1)
	w("s=-")
	w("t=0 0")
	w("a=group:BUNDLE 0 1")
	w("a=msid-semantic: WMS")
	for i, m := range []struct {
		kind, rtpmap, fb string
		pt               int
	}{
		{"audio", "opus/48000/2", "", ptOpus},
		{"video", "VP8/90000", "nack pli", ptVP8},
	} {
		w("m=%s 9 UDP/TLS/RTP/SAVPF %d", m.kind, m.pt)
		w("c=IN IP4 0.0.0.0")
		w("a=mid:%d", i)
		w("a=ice-ufrag:%s", v.ice.lufrag)
		w("a=ice-pwd:%s", v.ice.lpwd)
		w("a=fingerprint:%s", v.opt.Cert.fingerprint)
		w("a=setup:actpass")
		w("a=recvonly")
		w("a=rtcp-mux")
		w("a=rtpmap:%d %s", m.pt, m.rtpmap)
		if m.fb != "" {
			w("a=rtcp-fb:%d %s", m.pt, m.fb)
		}
		w("a=candidate:1 1 udp 2130706431 127.0.0.1 %d typ host", port)
		w("a=end-of-candidates")
	}
	return b.String()
}

// answer is what a viewer needs of the server's answer.
type answer struct {
	ufrag, pwd  string
	fingerprint string // sha-256, hex pairs
	setup       string // the server's DTLS role: active or passive
	candidate   *net.UDPAddr
	kinds       map[uint8]string
}

func parseAnswer(raw string) (*answer, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return nil, fmt.Errorf("whep: the answer cannot be parsed: %w", err)
	}
	a := &answer{kinds: map[uint8]string{}}
	take := func(attrs []sdp.Attribute) {
		for _, at := range attrs {
			switch at.Key {
			case "ice-ufrag":
				a.ufrag = at.Value
			case "ice-pwd":
				a.pwd = at.Value
			case "setup":
				a.setup = at.Value
			case "fingerprint":
				if alg, fp, ok := strings.Cut(at.Value, " "); ok && strings.EqualFold(alg, "sha-256") {
					a.fingerprint = fp
				}
			case "candidate":
				if a.candidate == nil {
					a.candidate = udpCandidate(at.Value)
				}
			}
		}
	}
	take(sd.Attributes)
	for _, md := range sd.MediaDescriptions {
		take(md.Attributes)
		if md.MediaName.Port.Value == 0 {
			continue
		}
		for _, f := range md.MediaName.Formats {
			if pt, err := strconv.Atoi(f); err == nil && pt >= 0 && pt < 128 {
				a.kinds[uint8(pt)] = md.MediaName.Media
			}
		}
	}
	switch {
	case a.ufrag == "" || a.pwd == "":
		return nil, errors.New("whep: the answer has no ICE credentials")
	case a.fingerprint == "":
		return nil, errors.New("whep: the answer has no sha-256 fingerprint")
	case a.setup != "active" && a.setup != "passive":
		return nil, fmt.Errorf("whep: the answer's DTLS role %q is neither active nor passive", a.setup)
	case a.candidate == nil:
		return nil, errors.New("whep: the answer has no IPv4 UDP candidate")
	case len(a.kinds) == 0:
		return nil, errors.New("whep: the answer accepts no media")
	}
	return a, nil
}

// udpCandidate reads a host or server-reflexive IPv4 UDP candidate.
func udpCandidate(v string) *net.UDPAddr {
	f := strings.Fields(v)
	if len(f) < 8 || !strings.EqualFold(f[2], "udp") {
		return nil
	}
	ip := net.ParseIP(f[4]).To4()
	port, err := strconv.Atoi(f[5])
	if ip == nil || err != nil || port <= 0 || port > 65535 {
		return nil
	}
	return &net.UDPAddr{IP: ip, Port: port}
}
