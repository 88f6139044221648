package sdpoffer

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The RFC 9725 example fragment, with LF line ends as some clients send.
const rfcFrag = `a=ice-ufrag:EsAw
a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1
m=audio 9 UDP/TLS/RTP/SAVPF 111
a=mid:0
a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1
a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2
a=candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active generation 0 ufrag EsAw network-id 1
a=candidate:2154773085 1 tcp 1518214911 198.51.100.2 9 typ host tcptype active generation 0 ufrag EsAw network-id 2
a=end-of-candidates
`

func TestParseFrag(t *testing.T) {
	f, err := ParseFrag([]byte(rfcFrag))
	if err != nil {
		t.Fatal(err)
	}
	if f.Ufrag != "EsAw" || f.Pwd != "P2uYro0UCOQ4zxjKXaWCBui1" || !f.EndOfCandidates {
		t.Errorf("credentials or end: %+v", f)
	}
	if len(f.Sections) != 1 || f.Sections[0].Mid != "0" || len(f.Sections[0].Candidates) != 4 || !f.Sections[0].End {
		t.Fatalf("sections: %+v", f.Sections)
	}
	cs := f.Candidates()
	if len(cs) != 4 || *cs[0].SDPMid != "0" || !strings.HasPrefix(cs[0].Candidate, "candidate:1387637174 1 udp") {
		t.Errorf("candidates: %+v", cs)
	}
	// CRLF and LF read alike; Marshal reads back to the same fragment.
	crlf, err := ParseFrag([]byte(strings.ReplaceAll(rfcFrag, "\n", "\r\n")))
	if err != nil || !reflect.DeepEqual(crlf, f) {
		t.Errorf("CRLF: %v %+v", err, crlf)
	}
	again, err := ParseFrag(f.Marshal())
	if err != nil || !reflect.DeepEqual(again, f) {
		t.Errorf("round trip: %v\n%s", err, f.Marshal())
	}
}

func TestParseFragLooseAndUnknown(t *testing.T) {
	// Candidates outside sections, attributes that do not concern ICE, an
	// mDNS candidate (skipped by ICE, not an error).
	f, err := ParseFrag([]byte("v=0\r\na=group:BUNDLE 0\r\na=ice-options:trickle\r\na=candidate:1 1 udp 2130706431 4f1c0a35-7b2e.local 50000 typ host\r\na=end-of-candidates\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Loose) != 1 || !f.LooseEnd || len(f.Sections) != 0 || f.Empty() {
		t.Errorf("%+v", f)
	}
	if cs := f.Candidates(); len(cs) != 1 || cs[0].SDPMid != nil {
		t.Errorf("candidates %+v", cs)
	}
}

func TestParseFragErrors(t *testing.T) {
	many := strings.Repeat("a=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\n", maxFragCandidates+1)
	for name, body := range map[string]string{
		"not SDP":              "hello\r\n",
		"upper-case key":       "A=ice-ufrag:x\r\n",
		"control character":    "a=ice-ufrag:x\x00y\r\n",
		"two ufrags":           "a=ice-ufrag:x\r\na=ice-ufrag:y\r\n",
		"empty ufrag":          "a=ice-ufrag:\r\n",
		"mid outside section":  "a=mid:0\r\n",
		"two mids":             "m=audio 9 RTP/AVP 0\r\na=mid:0\r\na=mid:1\r\n",
		"bad candidate":        "m=audio 9 RTP/AVP 0\r\na=candidate:1 1 udp\r\n",
		"end with a value":     "a=end-of-candidates:now\r\n",
		"m= without media":     "m= 9 RTP/AVP 0\r\n",
		"too many candidates":  many,
		"line over the limit":  "a=ice-ufrag:" + strings.Repeat("x", maxFragLine) + "\r\n",
		"too many sections":    strings.Repeat("m=audio 9 RTP/AVP 0\r\n", maxFragSections+1),
		"ufrag with two words": "a=ice-ufrag:a b\r\n",
	} {
		if f, err := ParseFrag([]byte(body)); err == nil {
			t.Errorf("%s: accepted as %+v", name, f)
		}
	}
	if f, err := ParseFrag([]byte("a=ice-options:trickle\r\n")); err != nil || !f.Empty() {
		t.Errorf("a fragment with nothing of ICE: %v %+v", err, f)
	}
}

// The seeds of FuzzSDPFrag are fragments clients send (and one that no
// client should); each must read as below.
func TestParseFragSeeds(t *testing.T) {
	cases := map[string]struct {
		ufrag      string
		candidates int
		mids       []string // of the candidates, "" for none
		end        bool
		bad        bool
	}{
		"end-only":        {end: true},
		"garbage":         {bad: true},
		"ipv6-tcp":        {candidates: 1, mids: []string{"1"}},
		"loose-mdns":      {candidates: 1, mids: []string{""}},
		"restart":         {ufrag: "new1"},
		"rfc9725-example": {ufrag: "EsAw", candidates: 2, mids: []string{"0", "0"}, end: true},
		"srflx-relay":     {candidates: 2, mids: []string{"1", "1"}},
	}
	files, err := filepath.Glob("testdata/fuzz/FuzzSDPFrag/*")
	if err != nil || len(files) == 0 {
		t.Fatal("no seeds", err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		want, ok := cases[name]
		if !ok {
			t.Errorf("%s: a seed this test does not know; say what it must read as", name)
			continue
		}
		delete(cases, name)
		f, err := ParseFrag([]byte(readSeed(t, path)))
		if want.bad {
			if err == nil {
				t.Errorf("%s: accepted as %+v", name, f)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var mids []string
		for _, c := range f.Candidates() {
			mid := ""
			if c.SDPMid != nil {
				mid = *c.SDPMid
			}
			mids = append(mids, mid)
		}
		if f.Ufrag != want.ufrag || len(mids) != want.candidates || !slices.Equal(mids, want.mids) || f.EndOfCandidates != want.end || f.Empty() {
			t.Errorf("%s: %+v, candidates in %q", name, f, mids)
		}
	}
	for name := range cases {
		t.Errorf("%s: no such seed", name)
	}
}

// FuzzSDPFrag: the parser never panics, what it accepts respects its
// limits, and Marshal writes what reads back the same.
func FuzzSDPFrag(f *testing.F) {
	f.Add([]byte(rfcFrag))
	f.Add([]byte("a=end-of-candidates\r\n"))
	f.Add([]byte("m=video 9 UDP/TLS/RTP/SAVPF 96\na=mid:1\na=candidate:1 1 tcp 1 ::1 9 typ host tcptype passive\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		frag, err := ParseFrag(body)
		if err != nil {
			return
		}
		n := len(frag.Loose)
		for _, s := range frag.Sections {
			n += len(s.Candidates)
		}
		if n > maxFragCandidates || len(frag.Sections) > maxFragSections {
			t.Fatalf("limits exceeded: %d candidates, %d sections", n, len(frag.Sections))
		}
		if len(frag.Candidates()) != n {
			t.Fatalf("Candidates lists %d of %d", len(frag.Candidates()), n)
		}
		again, err := ParseFrag(frag.Marshal())
		if err != nil {
			t.Fatalf("Marshal wrote what does not parse: %v\n%q", err, frag.Marshal())
		}
		if !reflect.DeepEqual(again, frag) {
			t.Fatalf("round trip changed the fragment:\n%+v\n%+v", frag, again)
		}
	})
}
