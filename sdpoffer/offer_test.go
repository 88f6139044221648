package sdpoffer

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parleyhq/parley/signal"
)

// readSeed reads one file of a fuzz corpus: a header line, then one Go
// literal, string("...") or []byte("...").
func readSeed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	header, lit, _ := strings.Cut(string(b), "\n")
	if header != "go test fuzz v1" {
		t.Fatalf("%s: not a fuzz seed", path)
	}
	lit = strings.TrimSpace(lit)
	for _, wrap := range []string{"string(", "[]byte("} {
		if strings.HasPrefix(lit, wrap) {
			lit = strings.TrimSuffix(strings.TrimPrefix(lit, wrap), ")")
		}
	}
	s, err := strconv.Unquote(lit)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

func mustParse(t *testing.T, raw string) *Offer {
	t.Helper()
	o, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if o.SDP != raw {
		t.Fatal("the offer's SDP is not what the client sent")
	}
	return o
}

func codecNames(s Section) []string {
	var out []string
	for _, c := range s.Codecs {
		out = append(out, c.PayloadType+" "+c.Name+"/"+strconv.FormatUint(uint64(c.ClockRate), 10))
	}
	return out
}

// Offers in the shape each client writes them (the Chrome publish offer is
// the one room's fuzzers start from; the others are written after each
// client's output, not captured): Chrome publishing (simulcast, a data
// channel) and playing over WHEP (recvonly), Firefox publishing (sendrecv,
// credentials in each section, fingerprint in the session) and OBS over
// WHIP (libdatachannel: session-level credentials, one codec a section).
func TestParseClientOffers(t *testing.T) {
	for _, c := range []struct {
		file         string
		ufrag, pwd   string
		mids         []string // sections, in order
		sending      []string
		sources      map[string]string
		receiving    []string // audio and video sections the client receives on
		audio, video []string // codecs of the first section of each
	}{
		{
			file: "chrome-publish.sdp", ufrag: "EsAw", pwd: "bP+XJMM09aR8AiX1jdukzR6Y",
			mids: []string{"0", "1", "2"}, sending: []string{"0", "1"},
			sources: map[string]string{"0": signal.SourceMic, "1": signal.SourceCamera},
			audio:   []string{"111 opus/48000", "63 red/48000", "9 G722/8000", "0 PCMU/8000", "8 PCMA/8000", "13 CN/8000", "110 telephone-event/48000", "126 telephone-event/8000"},
			video:   []string{"96 VP8/90000", "97 rtx/90000", "98 VP9/90000", "99 rtx/90000", "102 H264/90000", "103 rtx/90000", "45 AV1/90000", "46 rtx/90000"},
		},
		{
			file: "chrome-whep.sdp", ufrag: "Hk7q", pwd: "Jt0mYfXq1c3b8R2wNl5sVz9e",
			mids: []string{"0", "1"}, receiving: []string{"0", "1"},
			audio: []string{"111 opus/48000", "63 red/48000", "9 G722/8000", "0 PCMU/8000", "8 PCMA/8000", "13 CN/8000", "110 telephone-event/48000", "126 telephone-event/8000"},
			video: []string{"96 VP8/90000", "97 rtx/90000", "98 VP9/90000", "99 rtx/90000", "100 H264/90000", "101 rtx/90000", "45 AV1/90000", "46 rtx/90000", "116 red/90000", "117 rtx/90000", "118 ulpfec/90000"},
		},
		{
			file: "firefox-publish.sdp", ufrag: "9f3e1c2a", pwd: "3c7a4e5b1f0d9e2a8c6b4d2f0e1a3c5b",
			mids: []string{"0", "1"}, sending: []string{"0", "1"}, receiving: []string{"0", "1"},
			sources: map[string]string{"0": signal.SourceMic, "1": signal.SourceCamera},
			audio:   []string{"109 opus/48000", "9 G722/8000", "0 PCMU/8000", "8 PCMA/8000", "101 telephone-event/8000"},
			video:   []string{"120 VP8/90000", "124 rtx/90000", "121 VP9/90000", "125 rtx/90000", "126 H264/90000", "127 rtx/90000", "97 H264/90000", "98 rtx/90000", "123 ulpfec/90000", "122 red/90000", "119 rtx/90000"},
		},
		{
			file: "obs-whip.sdp", ufrag: "mY8T", pwd: "vjnnrEDcXmYjKYSJmBPMr3",
			mids: []string{"0", "1"}, sending: []string{"0", "1"},
			sources: map[string]string{"0": signal.SourceMic, "1": signal.SourceCamera},
			audio:   []string{"111 opus/48000"},
			video:   []string{"96 H264/90000"},
		},
	} {
		t.Run(c.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			o := mustParse(t, string(raw))
			if o.Ufrag != c.ufrag || o.Pwd != c.pwd {
				t.Errorf("ICE credentials %q/%q, want %q/%q", o.Ufrag, o.Pwd, c.ufrag, c.pwd)
			}
			var mids, receiving []string
			var audio, video []string
			for _, s := range o.Sections {
				mids = append(mids, s.Mid)
				if s.AudioVideo() && s.Receiving() {
					receiving = append(receiving, s.Mid)
				}
				if s.Kind == "audio" && audio == nil {
					audio = codecNames(s)
				}
				if s.Kind == "video" && video == nil {
					video = codecNames(s)
				}
			}
			if !slices.Equal(mids, c.mids) {
				t.Errorf("sections %q, want %q", mids, c.mids)
			}
			if got := o.SendingMids(); !slices.Equal(got, c.sending) {
				t.Errorf("sending on %q, want %q", got, c.sending)
			}
			if !slices.Equal(receiving, c.receiving) {
				t.Errorf("receiving on %q, want %q", receiving, c.receiving)
			}
			if !slices.Equal(audio, c.audio) || !slices.Equal(video, c.video) {
				t.Errorf("codecs:\naudio %q\nvideo %q", audio, video)
			}
			sources, err := o.Sources()
			if c.sources == nil {
				if err == nil {
					t.Errorf("a player's offer maps to sources %v", sources)
				}
			} else if err != nil || !maps.Equal(sources, c.sources) {
				t.Errorf("sources %v (%v), want %v", sources, err, c.sources)
			}
			if !o.HasAudioVideo() {
				t.Error("no audio or video found")
			}
		})
	}
}

// The seeds of FuzzSendingMids are Chrome's offer edited the ways clients
// (or attackers) get SDP wrong; each must read as below.
func TestParseFuzzSeeds(t *testing.T) {
	chrome := []string{"0", "1"}
	camMic := map[string]string{"0": signal.SourceMic, "1": signal.SourceCamera}
	type want struct {
		sending   []string
		sources   map[string]string
		sourceErr string
		check     func(t *testing.T, o *Offer)
	}
	many := []string{"0", "1"} // and 40 audio sections, mids 3-42
	for i := 3; i < 43; i++ {
		many = append(many, strconv.Itoa(i))
	}
	// Edits that change nothing the server reads.
	same := want{sending: chrome, sources: camMic}
	cases := map[string]want{
		"application-rtp": same, "bundle-unknown": same, "candidates-inline": same,
		"chrome": same, "extmap-garbage": same, "fingerprint-bad": same, "fmtp-garbage": same,
		"huge-attribute": same, "lf-only": same, "no-bundle": same, "no-fingerprint": same,
		"rid-garbage": same, "rtx-apt-loop": same, "rtx-apt-missing": same, "sctp-garbage": same,
		"setup-bad": same, "simulcast-garbage": same, "simulcast-many": same, "ssrc-group": same,

		"duplicate-mids": {sending: []string{"0", "0"}, sourceErr: `two media sections have mid "0"`},
		"empty-mid":      {sending: []string{"0", ""}, sourceErr: "media section 1 (video) needs an a=mid"},
		"no-mids":        {sending: []string{"", ""}, sourceErr: "media section 0 (audio) needs an a=mid"},
		"many-sections": {
			sending:   many,
			sourceErr: "at most 2 audio sections may be published",
		},
		"only-session": {sourceErr: "sends neither audio nor video", check: func(t *testing.T, o *Offer) {
			if len(o.Sections) != 0 || o.HasAudioVideo() || o.Ufrag != "" {
				t.Errorf("%+v", o)
			}
		}},
		// A rejected section sends nothing, whatever its direction says.
		"port-zero": {sending: []string{"0"}, sources: map[string]string{"0": signal.SourceMic}, check: func(t *testing.T, o *Offer) {
			if v := o.Sections[1]; v.Port != 0 || v.Direction != "sendonly" || v.Sending() || v.Receiving() {
				t.Errorf("video %+v", v)
			}
		}},
		// The first direction counts, as pion reads it: sendonly, then inactive.
		"two-directions": {sending: chrome, sources: camMic, check: func(t *testing.T, o *Offer) {
			if d := o.Sections[1].Direction; d != "sendonly" {
				t.Errorf("video is %s", d)
			}
		}},
		// a=sendrecv comes first; a=SENDONLY and a=sendonly:now are no directions.
		"odd-direction": {sending: chrome, sources: camMic, check: func(t *testing.T, o *Offer) {
			if d := o.Sections[0].Direction; d != "sendrecv" {
				t.Errorf("audio is %s", d)
			}
		}},
		// The session's direction is for sections without one: only the data channel here.
		"session-recvonly": {sending: chrome, sources: camMic, check: func(t *testing.T, o *Offer) {
			if d := o.Sections[2].Direction; d != "recvonly" {
				t.Errorf("application is %s", d)
			}
		}},
		// Payload types without a usable rtpmap are no codecs; the others keep their order.
		"rtpmap-garbage": {sending: chrome, sources: camMic, check: func(t *testing.T, o *Offer) {
			if got := codecNames(o.Sections[1]); got[0] != "97 rtx/90000" || slices.ContainsFunc(got, func(c string) bool { return strings.Contains(c, "VP8") }) {
				t.Errorf("video codecs %q", got)
			}
		}},
		"pt-out-of-range": {sending: chrome, sources: camMic, check: func(t *testing.T, o *Offer) {
			if got := codecNames(o.Sections[1]); got[0] != "96 VP8/90000" || len(got) != 8 {
				t.Errorf("video codecs %q", got)
			}
		}},
		"ice-bad": {sending: chrome, sources: camMic, check: func(t *testing.T, o *Offer) {
			if o.Ufrag != "" || o.Pwd != "bP+XJMM09aR8AiX1jdukzR6Y" {
				t.Errorf("credentials %q/%q", o.Ufrag, o.Pwd)
			}
		}},
		// m=text is neither audio nor video: it sends nothing and takes no source.
		"unknown-media": {sending: chrome, sources: camMic, check: func(t *testing.T, o *Offer) {
			if s := o.Sections[2]; s.Kind != "text" || s.AudioVideo() {
				t.Errorf("%+v", s)
			}
		}},
	}
	files, err := filepath.Glob("testdata/fuzz/FuzzSendingMids/*")
	if err != nil || len(files) == 0 {
		t.Fatal("no seeds", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		w, ok := cases[name]
		if !ok {
			t.Errorf("%s: a seed this test does not know; say what it must read as", name)
			continue
		}
		delete(cases, name)
		t.Run(name, func(t *testing.T) {
			o := mustParse(t, readSeed(t, f))
			if got := o.SendingMids(); !slices.Equal(got, w.sending) {
				t.Errorf("sending on %q, want %q", got, w.sending)
			}
			sources, err := o.Sources()
			switch {
			case w.sourceErr != "":
				if err == nil || !strings.Contains(err.Error(), w.sourceErr) {
					t.Errorf("sources %v, error %v; want an error saying %q", sources, err, w.sourceErr)
				}
			case err != nil || !maps.Equal(sources, w.sources):
				t.Errorf("sources %v (%v), want %v", sources, err, w.sources)
			}
			if w.check != nil {
				w.check(t, o)
			}
		})
	}
	for name := range cases {
		t.Errorf("%s: no such seed", name)
	}
}

// What pion does (webrtc sdp.go getPeerDirection): the section's first
// direction, else the session's first, else sendrecv.
func TestParseDirection(t *testing.T) {
	head := "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
	for _, c := range []struct{ session, section, want string }{
		{"", "", "sendrecv"},
		{"a=sendonly\r\n", "", "sendonly"},
		{"a=sendonly\r\n", "a=inactive\r\n", "inactive"},
		{"", "a=recvonly\r\na=sendonly\r\n", "recvonly"},
		{"a=recvonly\r\na=sendrecv\r\n", "a=x-direction:sendonly\r\n", "recvonly"},
	} {
		o := mustParse(t, head+c.session+"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a\r\n"+c.section)
		if got := o.Sections[0].Direction; got != c.want {
			t.Errorf("session %q, section %q: %s, want %s", c.session, c.section, got, c.want)
		}
	}
}

// The first a=rtpmap of a payload type is the one read, usable or not (as
// it always was); a payload type listed twice is a codec twice.
func TestParseCodecs(t *testing.T) {
	o := mustParse(t, "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"+
		"m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 96 99 100\r\n"+
		"a=rtpmap:96 VP8/90000\r\na=rtpmap:96 H264/90000\r\n"+
		"a=rtpmap:97 VP9\r\na=rtpmap:97 VP9/90000\r\n"+
		"a=rtpmap:98 AV1/90000/1/extra\r\n"+
		"a=rtpmap:99\r\na=rtpmap:99 H264/x\r\n"+
		"a=rtpmap:100 H265/4294967296\r\n")
	want := []Codec{{"96", "VP8", 90000}, {"98", "AV1", 90000}, {"96", "VP8", 90000}}
	if got := o.Sections[0].Codecs; !reflect.DeepEqual(got, want) {
		t.Errorf("codecs %+v, want %+v", got, want)
	}
}

func TestParseRefusesWhatIsNotSDP(t *testing.T) {
	for _, raw := range []string{"not sdp", "v=0\r\nnonsense", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio\r\n"} {
		if o, err := Parse(raw); err == nil {
			t.Errorf("%q parsed as %+v", raw, o)
		}
	}
}

// Sources counts sections of each kind in order, skipping those the client
// does not send on, and allows mids of up to 32 characters.
func TestSources(t *testing.T) {
	head := "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
	sec := func(kind, mid, dir string) string {
		return "m=" + kind + " 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:" + mid + "\r\na=" + dir + "\r\n"
	}
	long := strings.Repeat("m", 32)
	o := mustParse(t, head+sec("video", "v1", "recvonly")+sec("video", long, "sendonly")+sec("audio", "a1", "sendrecv")+
		sec("video", "v3", "sendrecv")+sec("audio", "a2", "inactive")+sec("audio", "a3", "sendonly"))
	got, err := o.Sources()
	want := map[string]string{long: signal.SourceCamera, "a1": signal.SourceMic, "v3": signal.SourceScreen, "a3": signal.SourceScreenAudio}
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("sources %v (%v), want %v", got, err, want)
	}
	if _, err := mustParse(t, head+sec("audio", long+"x", "sendonly")).Sources(); err == nil {
		t.Error("a mid of 33 characters was taken")
	}
}

// The package's copy of the protocol's sources is the protocol's.
func TestSourcesAreTheProtocols(t *testing.T) {
	for got, want := range map[string]string{
		SourceCamera: signal.SourceCamera, SourceScreen: signal.SourceScreen,
		SourceMic: signal.SourceMic, SourceScreenAudio: signal.SourceScreenAudio,
	} {
		if got != want {
			t.Errorf("sdpoffer says %q where the protocol says %q", got, want)
		}
	}
}
