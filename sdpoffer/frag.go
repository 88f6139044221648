package sdpoffer

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// Limits of one trickle ICE fragment (whip bounds the body's size too).
const (
	maxFragCandidates = 64
	maxFragSections   = 16
	maxFragLine       = 1024
)

// Frag is an SDP fragment of trickle ICE (RFC 8840), the body of a WHIP or
// WHEP PATCH: the ICE credentials it belongs to and candidates by media
// section. Attributes that do not concern ICE are not kept.
type Frag struct {
	Ufrag string
	Pwd   string
	// Candidates before any m= line: clients that do not bother with
	// sections send them so; they belong to the bundle.
	Loose           []string
	LooseEnd        bool // a=end-of-candidates before any m= line
	Sections        []FragSection
	EndOfCandidates bool // anywhere: the client has sent its last candidate
}

// FragSection is one m= section of a fragment.
type FragSection struct {
	MLine      string   // the m= line's value, e.g. "audio 9 UDP/TLS/RTP/SAVPF 0"
	Mid        string   // a=mid, "" when absent
	Candidates []string // a=candidate values, "candidate:" included
	End        bool     // a=end-of-candidates in this section
}

// ParseFrag reads an application/trickle-ice-sdpfrag body. It accepts LF or
// CRLF line ends, skips blank lines and attributes it does not use, and
// rejects malformed lines, control characters, conflicting credentials and
// candidates ICE cannot parse.
func ParseFrag(body []byte) (*Frag, error) {
	f := &Frag{}
	var sec *FragSection
	count := 0
	for n, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		where := fmt.Sprintf("line %d", n+1)
		if len(line) > maxFragLine {
			return nil, fmt.Errorf("%s is longer than %d bytes", where, maxFragLine)
		}
		for _, c := range []byte(line) {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return nil, fmt.Errorf("%s has a control character", where)
			}
		}
		if len(line) < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' {
			return nil, fmt.Errorf("%s is not an SDP line (x=value)", where)
		}
		key, value := line[0], line[2:]
		if key == 'm' {
			if len(f.Sections) == maxFragSections {
				return nil, fmt.Errorf("more than %d media sections", maxFragSections)
			}
			if media, _, _ := strings.Cut(value, " "); media == "" {
				return nil, fmt.Errorf("%s: the m= line has no media type", where)
			}
			f.Sections = append(f.Sections, FragSection{MLine: value})
			sec = &f.Sections[len(f.Sections)-1]
			continue
		}
		if key != 'a' {
			continue // v=, o=, s=, t=, c= ... mean nothing to trickle
		}
		name, val, hasVal := strings.Cut(value, ":")
		switch name {
		case "ice-ufrag", "ice-pwd":
			if !hasVal || val == "" || strings.ContainsAny(val, " \t") {
				return nil, fmt.Errorf("%s: a=%s needs one value", where, name)
			}
			dst := &f.Ufrag
			if name == "ice-pwd" {
				dst = &f.Pwd
			}
			if *dst != "" && *dst != val {
				return nil, fmt.Errorf("%s: a second, different a=%s", where, name)
			}
			*dst = val
		case "mid":
			if sec == nil {
				return nil, fmt.Errorf("%s: a=mid outside a media section", where)
			}
			if !hasVal || val == "" || len(val) > 32 || strings.ContainsAny(val, " \t") {
				return nil, fmt.Errorf("%s: a=mid needs a value of 1-32 characters without spaces", where)
			}
			if sec.Mid != "" && sec.Mid != val {
				return nil, fmt.Errorf("%s: a second a=mid in one section", where)
			}
			sec.Mid = val
		case "candidate":
			if count == maxFragCandidates {
				return nil, fmt.Errorf("more than %d candidates", maxFragCandidates)
			}
			count++
			cand := "candidate:" + val
			// A type or network ICE does not know (a future one, an mDNS
			// name) is not an error: such a candidate is skipped, as
			// browsers skip it.
			_, err := ice.UnmarshalCandidate(cand)
			if err != nil && !errors.Is(err, ice.ErrUnknownCandidateTyp) && !errors.Is(err, ice.ErrDetermineNetworkType) {
				return nil, fmt.Errorf("%s: the candidate cannot be parsed: %v", where, err)
			}
			if sec == nil {
				f.Loose = append(f.Loose, cand)
			} else {
				sec.Candidates = append(sec.Candidates, cand)
			}
		case "end-of-candidates":
			if hasVal {
				return nil, fmt.Errorf("%s: a=end-of-candidates takes no value", where)
			}
			f.EndOfCandidates = true
			if sec == nil {
				f.LooseEnd = true
			} else {
				sec.End = true
			}
		}
	}
	return f, nil
}

// ErrEmptyFrag is the answer to a fragment that is Empty: one with nothing
// in it is malformed, not a no-op.
var ErrEmptyFrag = errors.New("the fragment has neither candidates, nor end-of-candidates, nor ICE credentials")

// Empty reports whether the fragment carries nothing at all.
func (f *Frag) Empty() bool {
	if f.Ufrag != "" || f.Pwd != "" || f.EndOfCandidates || len(f.Loose) > 0 {
		return false
	}
	for _, s := range f.Sections {
		if len(s.Candidates) > 0 {
			return false
		}
	}
	return true
}

// Marshal writes the fragment back in SDP form, CRLF line ends.
func (f *Frag) Marshal() []byte {
	var b strings.Builder
	line := func(s string) { b.WriteString(s); b.WriteString("\r\n") }
	if f.Ufrag != "" {
		line("a=ice-ufrag:" + f.Ufrag)
	}
	if f.Pwd != "" {
		line("a=ice-pwd:" + f.Pwd)
	}
	for _, c := range f.Loose {
		line("a=" + c)
	}
	if f.LooseEnd {
		line("a=end-of-candidates")
	}
	for _, s := range f.Sections {
		line("m=" + s.MLine)
		if s.Mid != "" {
			line("a=mid:" + s.Mid)
		}
		for _, c := range s.Candidates {
			line("a=" + c)
		}
		if s.End {
			line("a=end-of-candidates")
		}
	}
	return []byte(b.String())
}

// Candidates lists the fragment's candidates as pion takes them. Every
// section shares the bundle's one transport, so the mid only labels them.
func (f *Frag) Candidates() []webrtc.ICECandidateInit {
	var out []webrtc.ICECandidateInit
	for _, c := range f.Loose {
		out = append(out, webrtc.ICECandidateInit{Candidate: c})
	}
	for _, s := range f.Sections {
		for _, c := range s.Candidates {
			init := webrtc.ICECandidateInit{Candidate: c}
			if s.Mid != "" {
				mid := s.Mid
				init.SDPMid = &mid
			}
			out = append(out, init)
		}
	}
	return out
}
