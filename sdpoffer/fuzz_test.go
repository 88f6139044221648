package sdpoffer

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/sdp/v3"

	"github.com/parleyhq/parley/signal"
)

// Fuzzers of what clients send: offers (FuzzSendingMids, whose seeds are
// Chrome's offer edited in testdata/fuzz) and trickle fragments
// (FuzzSDPFrag, frag_test.go). CI runs each for a bounded count, e.g.
//
//	go test ./sdpoffer -run='^$' -fuzz='^FuzzSendingMids$' -fuzztime=50000x -fuzzminimizetime=100x -parallel=1

// knownDirectionMismatch: the room once took the last direction attribute
// of a media section and ignored session-level ones, where pion (sdp.go
// getPeerDirection) takes the first, then the session's. Fixed: Parse reads
// as pion does. While true, FuzzSendingMids would compare the two only on
// sections that have at most one direction attribute and sessions that have
// none. Seed: testdata/fuzz/FuzzSendingMids/two-directions.
const knownDirectionMismatch = false

// pionSends says whether pion, given md of an offer, will receive media on it:
// the first direction attribute of the section, else of the session, else
// sendrecv (webrtc/v4 sdp.go getPeerDirection), for audio and video sections
// with a port. It is written apart from Parse, so the two check each other.
func pionSends(d *sdp.SessionDescription, md *sdp.MediaDescription) bool {
	dir := "sendrecv"
found:
	for _, attrs := range [][]sdp.Attribute{md.Attributes, d.Attributes} {
		for _, a := range attrs {
			switch a.Key {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				dir = a.Key
				break found
			}
		}
	}
	return dir == "sendrecv" || dir == "sendonly"
}

func directions(attrs []sdp.Attribute) int {
	n := 0
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			n++
		}
	}
	return n
}

// FuzzSendingMids: the parser behind the publish grant must not panic, must
// finish in time whatever the SDP, may name only sections that carry media,
// and must agree with pion on which of them the client sends on (see
// knownDirectionMismatch). The sources a WHIP publisher gets are sections it
// sends on.
func FuzzSendingMids(f *testing.F) {
	clients, err := filepath.Glob("testdata/*.sdp")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range clients {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, raw string) {
		start := time.Now()
		o, err := Parse(raw)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Parse took %v on %d bytes", d, len(raw))
		}
		if err != nil {
			if o != nil {
				t.Fatalf("error %v with an offer %+v", err, o)
			}
			return
		}
		mids := o.SendingMids()
		var d sdp.SessionDescription
		if err := d.UnmarshalString(raw); err != nil {
			t.Fatalf("Parse accepted what sdp cannot parse: %v", err)
		}
		var want []string
		checked := true
		for _, md := range d.MediaDescriptions {
			if md.MediaName.Media != "audio" && md.MediaName.Media != "video" || md.MediaName.Port.Value == 0 {
				continue
			}
			if directions(md.Attributes) > 1 || directions(d.Attributes) > 0 {
				checked = !knownDirectionMismatch
			}
			if pionSends(&d, md) {
				mid, _ := md.Attribute("mid")
				want = append(want, mid)
			}
		}
		if len(mids) > len(d.MediaDescriptions) {
			t.Fatalf("%d sending mids from %d sections", len(mids), len(d.MediaDescriptions))
		}
		if checked && !slices.Equal(mids, want) {
			t.Fatalf("Parse says the client sends on %q, pion will receive on %q", mids, want)
		}
		if sources, err := o.Sources(); err == nil {
			for mid := range sources {
				if !slices.Contains(mids, mid) {
					t.Fatalf("source %q on mid %q, which does not send (%q)", sources[mid], mid, mids)
				}
			}
		}
	})
}

// TestParseBoundedOnHugeSDP: the largest SDP a signaling message can
// carry, in the shapes that cost most, is parsed about as fast per byte as
// real offers are. A ratio in one run, not a time: the machine may be slow or
// busy (or the race detector on), but a parse that grows with the square of
// its input shows hundreds of times over.
func TestParseBoundedOnHugeSDP(t *testing.T) {
	limit := signal.MaxMessageBytes
	var sections, attrs, formats strings.Builder
	sections.WriteString("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")
	attrs.WriteString(sections.String() + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n")
	for i := 0; sections.Len() < limit; i++ {
		fmt.Fprintf(&sections, "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:%d\r\n", i)
	}
	for attrs.Len() < limit {
		attrs.WriteString("a=sendonly\r\n")
	}
	// Half the message lists payload types, half maps them: codecs must not
	// cost one times the other.
	formats.WriteString("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF")
	for formats.Len() < limit/2 {
		formats.WriteString(" 96")
	}
	formats.WriteString("\r\n")
	for i := 0; formats.Len() < limit; i++ {
		fmt.Fprintf(&formats, "a=rtpmap:%d VP8/90000\r\n", i%128)
	}
	chrome, err := os.ReadFile("testdata/chrome-publish.sdp")
	if err != nil {
		t.Fatal(err)
	}
	// As many bytes of real offers as the hostile ones hold, best of three.
	baseline := time.Duration(1 << 62)
	for range 3 {
		start := time.Now()
		for n := 0; n < limit; n += len(chrome) {
			if _, err := Parse(string(chrome)); err != nil {
				t.Fatal(err)
			}
		}
		baseline = min(baseline, time.Since(start))
	}
	for name, s := range map[string]string{
		"sections":   sections.String(),
		"attributes": attrs.String(),
		"formats":    formats.String(),
		"one-line":   "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=" + strings.Repeat("x", limit) + "\r\nt=0 0\r\n",
		"garbage":    strings.Repeat("\x00\r\n=", limit/4),
	} {
		// Best of three, so one pause of the machine is not taken for the parser.
		var o *Offer
		d := time.Duration(1 << 62)
		for range 3 {
			start := time.Now()
			o, err = Parse(s)
			d = min(d, time.Since(start))
		}
		if d > 40*baseline {
			t.Errorf("%s: %v for %d bytes, %.0f times real offers' %v", name, d, len(s), float64(d)/float64(baseline), baseline)
		}
		n := 0
		if o != nil {
			n = len(o.SendingMids())
		}
		t.Logf("%s: %d bytes, %d mids, err %v, %v (%.1f times real offers')", name, len(s), n, err, d, float64(d)/float64(baseline))
	}
}
