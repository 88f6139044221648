package room

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/sfu"
	"github.com/parleyhq/parley/signal"
)

// Fuzzers of the SDP the server accepts from clients: the offer on the "pub"
// connection (read by sdpoffer for the publish grant, fuzzed there by
// FuzzSendingMids, then by pion) and the answer on the "sub" connection. CI
// runs each for a bounded time, e.g.
//
//	go test ./room -run='^$' -fuzz='^FuzzPubOffer$' -fuzztime=30s -fuzzminimizetime=100x -parallel=1

// chromeOffer is a publish offer as Chrome makes it: audio (Opus, RED, level
// extension), video with three simulcast layers (VP8, VP9, H264, AV1, each
// with RTX) and a data channel, bundled, trickle ICE.
const chromeOffer = "v=0\r\n" +
	"o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"a=group:BUNDLE 0 1 2\r\n" +
	"a=extmap-allow-mixed\r\n" +
	"a=msid-semantic: WMS 5c8bd1a6-6d0e-4b0e-9f4e-2f1a3c5e7d90\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=rtcp:9 IN IP4 0.0.0.0\r\n" +
	"a=ice-ufrag:EsAw\r\n" +
	"a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\n" +
	"a=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09:DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF\r\n" +
	"a=setup:actpass\r\n" +
	"a=mid:0\r\n" +
	"a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n" +
	"a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n" +
	"a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n" +
	"a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n" +
	"a=sendonly\r\n" +
	"a=msid:5c8bd1a6-6d0e-4b0e-9f4e-2f1a3c5e7d90 0c7b1a2e-3d4f-4a5b-8c6d-7e8f9a0b1c2d\r\n" +
	"a=rtcp-mux\r\n" +
	"a=rtcp-rsize\r\n" +
	"a=rtpmap:111 opus/48000/2\r\n" +
	"a=rtcp-fb:111 transport-cc\r\n" +
	"a=fmtp:111 minptime=10;useinbandfec=1\r\n" +
	"a=rtpmap:63 red/48000/2\r\n" +
	"a=fmtp:63 111/111\r\n" +
	"a=rtpmap:9 G722/8000\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:13 CN/8000\r\n" +
	"a=rtpmap:110 telephone-event/48000\r\n" +
	"a=rtpmap:126 telephone-event/8000\r\n" +
	"a=ssrc:3735928559 cname:Vz2bWXaXqLxyVmIw\r\n" +
	"a=ssrc:3735928559 msid:5c8bd1a6-6d0e-4b0e-9f4e-2f1a3c5e7d90 0c7b1a2e-3d4f-4a5b-8c6d-7e8f9a0b1c2d\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 102 103 45 46\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=rtcp:9 IN IP4 0.0.0.0\r\n" +
	"a=ice-ufrag:EsAw\r\n" +
	"a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\n" +
	"a=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09:DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF\r\n" +
	"a=setup:actpass\r\n" +
	"a=mid:1\r\n" +
	"a=extmap:14 urn:ietf:params:rtp-hdrext:toffset\r\n" +
	"a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n" +
	"a=extmap:13 urn:3gpp:video-orientation\r\n" +
	"a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n" +
	"a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\n" +
	"a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n" +
	"a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n" +
	"a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\n" +
	"a=sendonly\r\n" +
	"a=msid:5c8bd1a6-6d0e-4b0e-9f4e-2f1a3c5e7d90 9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d\r\n" +
	"a=rtcp-mux\r\n" +
	"a=rtcp-rsize\r\n" +
	"a=rtpmap:96 VP8/90000\r\n" +
	"a=rtcp-fb:96 goog-remb\r\n" +
	"a=rtcp-fb:96 transport-cc\r\n" +
	"a=rtcp-fb:96 ccm fir\r\n" +
	"a=rtcp-fb:96 nack\r\n" +
	"a=rtcp-fb:96 nack pli\r\n" +
	"a=rtpmap:97 rtx/90000\r\n" +
	"a=fmtp:97 apt=96\r\n" +
	"a=rtpmap:98 VP9/90000\r\n" +
	"a=rtcp-fb:98 goog-remb\r\n" +
	"a=rtcp-fb:98 transport-cc\r\n" +
	"a=rtcp-fb:98 ccm fir\r\n" +
	"a=rtcp-fb:98 nack\r\n" +
	"a=rtcp-fb:98 nack pli\r\n" +
	"a=fmtp:98 profile-id=0\r\n" +
	"a=rtpmap:99 rtx/90000\r\n" +
	"a=fmtp:99 apt=98\r\n" +
	"a=rtpmap:102 H264/90000\r\n" +
	"a=rtcp-fb:102 goog-remb\r\n" +
	"a=rtcp-fb:102 transport-cc\r\n" +
	"a=rtcp-fb:102 ccm fir\r\n" +
	"a=rtcp-fb:102 nack\r\n" +
	"a=rtcp-fb:102 nack pli\r\n" +
	"a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n" +
	"a=rtpmap:103 rtx/90000\r\n" +
	"a=fmtp:103 apt=102\r\n" +
	"a=rtpmap:45 AV1/90000\r\n" +
	"a=rtcp-fb:45 goog-remb\r\n" +
	"a=rtcp-fb:45 transport-cc\r\n" +
	"a=rtcp-fb:45 ccm fir\r\n" +
	"a=rtcp-fb:45 nack\r\n" +
	"a=rtcp-fb:45 nack pli\r\n" +
	"a=fmtp:45 level-idx=5;profile=0;tier=0\r\n" +
	"a=rtpmap:46 rtx/90000\r\n" +
	"a=fmtp:46 apt=45\r\n" +
	"a=rid:q send\r\n" +
	"a=rid:h send\r\n" +
	"a=rid:f send\r\n" +
	"a=simulcast:send q;h;f\r\n" +
	"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=ice-ufrag:EsAw\r\n" +
	"a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\n" +
	"a=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09:DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF\r\n" +
	"a=setup:actpass\r\n" +
	"a=mid:2\r\n" +
	"a=sctp-port:5000\r\n" +
	"a=max-message-size:262144\r\n"

// chromeAnswer answers the server's first "sub" offer (one audio track, mid 0).
const chromeAnswer = "v=0\r\n" +
	"o=- 8403615332048243445 2 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"a=group:BUNDLE 0\r\n" +
	"a=msid-semantic: WMS\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=rtcp:9 IN IP4 0.0.0.0\r\n" +
	"a=ice-ufrag:Qz8k\r\n" +
	"a=ice-pwd:9Xl1P0cWm2yY3n6JtUe5Rk7H\r\n" +
	"a=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09:DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF\r\n" +
	"a=setup:active\r\n" +
	"a=mid:0\r\n" +
	"a=recvonly\r\n" +
	"a=rtcp-mux\r\n" +
	"a=rtpmap:111 opus/48000/2\r\n" +
	"a=fmtp:111 minptime=10;useinbandfec=1\r\n"

const hostCandidate = "candidate:842163049 1 udp 1677729535 127.0.0.1 50000 typ host generation 0 ufrag EsAw network-cost 999"

// sdpEdits returns hostile variants of the offer: each is a seed.
func sdpEdits(offer string) map[string]string {
	rep := func(old, new string) string { return strings.Replace(offer, old, new, 1) }
	repAll := func(old, new string) string { return strings.ReplaceAll(offer, old, new) }
	return map[string]string{
		"chrome":            offer,
		"lf-only":           repAll("\r\n", "\n"),
		"port-zero":         rep("m=video 9 ", "m=video 0 "),
		"no-mids":           repAll("a=mid:", "a=x-mid:"),
		"duplicate-mids":    rep("a=mid:1", "a=mid:0"),
		"empty-mid":         rep("a=mid:1", "a=mid:"),
		"two-directions":    rep("a=sendonly\r\na=msid:5c8bd1a6-6d0e-4b0e-9f4e-2f1a3c5e7d90 9a8b", "a=sendonly\r\na=inactive\r\na=msid:5c8bd1a6-6d0e-4b0e-9f4e-2f1a3c5e7d90 9a8b"),
		"session-recvonly":  rep("a=extmap-allow-mixed\r\n", "a=recvonly\r\n"),
		"odd-direction":     repAll("a=sendonly", "a=sendrecv\r\na=SENDONLY\r\na=sendonly:now"),
		"no-bundle":         rep("a=group:BUNDLE 0 1 2\r\n", ""),
		"bundle-unknown":    rep("a=group:BUNDLE 0 1 2", "a=group:BUNDLE 7 0 0"),
		"rtx-apt-loop":      repAll("apt=96", "apt=97"),
		"rtx-apt-missing":   repAll("apt=98", "apt=250"),
		"pt-out-of-range":   rep("m=video 9 UDP/TLS/RTP/SAVPF 96", "m=video 9 UDP/TLS/RTP/SAVPF 300 -1 96"),
		"rtpmap-garbage":    rep("a=rtpmap:96 VP8/90000", "a=rtpmap:96 VP8/-1/99999999999999999999"),
		"fmtp-garbage":      rep("a=fmtp:111 minptime=10;useinbandfec=1", "a=fmtp:111 ;;=;=="),
		"rid-garbage":       rep("a=rid:q send", "a=rid:q send pt=999;max-width=-1\r\na=rid:q recv\r\na=rid: send"),
		"simulcast-garbage": rep("a=simulcast:send q;h;f", "a=simulcast:send ~q;h,,;;f recv x"),
		"simulcast-many":    rep("a=simulcast:send q;h;f", "a=simulcast:send "+strings.Repeat("q;", 300)+"q"),
		"extmap-garbage":    rep("a=extmap:10 urn", "a=extmap:0 urn\r\na=extmap:15/sendrecv urn\r\na=extmap:999999999999 x\r\na=extmap:10 urn"),
		"ssrc-group":        rep("a=ssrc:3735928559 cname", "a=ssrc-group:FID 3735928559 3735928559\r\na=ssrc-group:SIM\r\na=ssrc:0 cname:x\r\na=ssrc:3735928559 cname"),
		"no-fingerprint":    repAll("a=fingerprint:", "a=x-fingerprint:"),
		"fingerprint-bad":   rep("a=fingerprint:sha-256 DA:39", "a=fingerprint:md17 ZZ:39"),
		"ice-bad":           repAll("a=ice-ufrag:EsAw", "a=ice-ufrag:"),
		"setup-bad":         repAll("a=setup:actpass", "a=setup:banana"),
		"sctp-garbage":      rep("a=sctp-port:5000\r\na=max-message-size:262144", "a=sctp-port:-5\r\na=max-message-size:99999999999999999999"),
		"application-rtp":   rep("m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "m=application 9 UDP/TLS/RTP/SAVPF 96"),
		"unknown-media":     rep("m=application 9", "m=text 9"),
		"only-session":      "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
		"candidates-inline": rep("a=mid:0\r\n", "a=mid:0\r\na=candidate:"+strings.TrimPrefix(hostCandidate, "candidate:")+"\r\na=candidate:garbage\r\na=end-of-candidates\r\n"),
		"huge-attribute":    rep("a=mid:1\r\n", "a=mid:1\r\na=x-junk:"+strings.Repeat("A", 60000)+"\r\n"),
		"many-sections":     manySections(offer, 40),
	}
}

// manySections adds n more sending audio sections to offer, all bundled.
func manySections(offer string, n int) string {
	var b strings.Builder
	b.WriteString(offer)
	mids := []string{"0", "1", "2"}
	for i := range n {
		mid := fmt.Sprint(3 + i)
		mids = append(mids, mid)
		b.WriteString("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:" + mid + "\r\na=sendonly\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n")
	}
	return strings.Replace(b.String(), "a=group:BUNDLE 0 1 2", "a=group:BUNDLE "+strings.Join(mids, " "), 1)
}

// --- pion's side: a real engine -------------------------------------------

// nopHandler takes a peer's events and keeps the last answer and offer.
type nopHandler struct {
	mu       sync.Mutex
	answer   string
	offer    string
	failed   int
	started  int
	candsOut int
}

func (h *nopHandler) Candidate(string, webrtc.ICECandidateInit) {
	h.mu.Lock()
	h.candsOut++
	h.mu.Unlock()
}
func (h *nopHandler) PubAnswer(s string)                     { h.mu.Lock(); h.answer = s; h.mu.Unlock() }
func (h *nopHandler) SubOffer(s string, _ map[string]string) { h.mu.Lock(); h.offer = s; h.mu.Unlock() }
func (h *nopHandler) TrackStarted(r *sfu.Receiver)           { h.mu.Lock(); h.started++; h.mu.Unlock(); r.Stop() }
func (h *nopHandler) TrackEnded(*sfu.Receiver)               {}
func (h *nopHandler) Failed(string)                          { h.mu.Lock(); h.failed++; h.mu.Unlock() }

func testEngine(tb testing.TB) *sfu.Engine {
	tb.Helper()
	eng, err := sfu.NewEngine(sfu.Config{ListenIP: net.IPv4(127, 0, 0, 1), Port: 0, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { eng.Close() })
	return eng
}

// within runs f, failing t with every goroutine's stack when it takes longer than d.
func within(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		buf := make([]byte, 1<<20)
		t.Fatalf("%s did not finish in %v:\n%s", what, d, buf[:runtime.Stack(buf, true)])
	}
}

const callLimit = 10 * time.Second

// pubOfferOnce runs one fuzz case on a new peer and closes it.
func pubOfferOnce(t testing.TB, eng *sfu.Engine, offer, again, cand string) {
	t.Helper()
	h := &nopHandler{}
	p := eng.NewPeer("PA_fuzz", h)
	within(t, callLimit, "PubOffer", func() {
		_ = p.AddCandidate(sfu.RolePub, webrtc.ICECandidateInit{Candidate: cand})
		if err := p.PubOffer(offer); err != nil {
			return
		}
		h.mu.Lock()
		answer := h.answer
		h.mu.Unlock()
		checkAnswer(t, answer)
		_ = p.AddCandidate(sfu.RolePub, webrtc.ICECandidateInit{Candidate: cand})
		if again != "" {
			if err := p.PubOffer(again); err == nil {
				h.mu.Lock()
				answer = h.answer
				h.mu.Unlock()
				checkAnswer(t, answer)
			}
		}
	})
	within(t, callLimit, "Close", func() { _ = p.Close() })
	if err := p.PubOffer(offer); !errors.Is(err, sfu.ErrClosed) {
		t.Fatalf("PubOffer on a closed peer: %v", err)
	}
}

// checkAnswer: what the server produces must parse. (pion does not always
// answer every section of a hostile offer in order, as RFC 3264 section 6
// asks: it leaves out m=text sections, and answers a re-offer that changed a
// section's kind with the old kind. That hurts only the client that sent it,
// so it is not checked.)
func checkAnswer(t testing.TB, answer string) {
	t.Helper()
	var a sdp.SessionDescription
	if err := a.UnmarshalString(answer); err != nil {
		t.Fatalf("the server's answer does not parse: %v\n%s", err, answer)
	}
}

// FuzzPubOffer applies a fuzzed offer (and a fuzzed re-offer, and a fuzzed
// trickled candidate before and after it) to a real peer on a real engine,
// then closes the peer. Nothing may panic; each call must return in time;
// answers must be well formed. Goroutines are counted in
// TestPubOfferReleasesGoroutines, outside the fuzz function.
func FuzzPubOffer(f *testing.F) {
	edits := sdpEdits(chromeOffer)
	for _, name := range sortedKeys(edits) {
		f.Add(edits[name], "", hostCandidate)
	}
	f.Add(chromeOffer, chromeOffer, hostCandidate)
	f.Add(chromeOffer, edits["many-sections"], "")
	f.Add(chromeOffer, strings.Replace(chromeOffer, "m=video", "m=audio", 1), "candidate:garbage")
	f.Add(chromeOffer, edits["only-session"], "candidate:1 1 udp 1 ::1 9 typ relay raddr x rport -1")
	f.Add(edits["only-session"], chromeOffer, "candidate:1 1 tcp 1 127.0.0.1 9 typ host tcptype passive")
	eng := testEngine(f)
	f.Fuzz(func(t *testing.T, offer, again, cand string) {
		pubOfferOnce(t, eng, offer, again, cand)
	})
}

// FuzzSubAnswer answers the server's "sub" offer with fuzzed SDP, then makes
// the server renegotiate on top of whatever it accepted, and closes.
func FuzzSubAnswer(f *testing.F) {
	for _, s := range []string{
		chromeAnswer,
		strings.ReplaceAll(chromeAnswer, "\r\n", "\n"),
		strings.Replace(chromeAnswer, "a=mid:0", "a=mid:7", 1),
		strings.Replace(chromeAnswer, "a=recvonly", "a=sendrecv", 1),
		strings.Replace(chromeAnswer, "m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=audio 0 UDP/TLS/RTP/SAVPF 0", 1),
		strings.Replace(chromeAnswer, "m=audio", "m=video", 1),
		strings.Replace(chromeAnswer, "a=setup:active", "a=setup:actpass", 1),
		strings.Replace(chromeAnswer, "a=rtpmap:111 opus/48000/2", "a=rtpmap:111 VP8/90000", 1),
		chromeAnswer + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=rtpmap:96 VP8/90000\r\n",
		chromeOffer,
	} {
		f.Add(s)
	}
	eng := testEngine(f)
	opus := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}}
	f.Fuzz(func(t *testing.T, answer string) {
		h := &nopHandler{}
		p := eng.NewPeer("PA_fuzz", h)
		within(t, callLimit, "SubAnswer", func() {
			if _, err := p.AddSwitchable("ch-en", webrtc.RTPCodecTypeAudio, opus, "channels", "en"); err != nil {
				t.Fatalf("AddSwitchable: %v", err)
			}
			if err := p.SubAnswer(answer); err != nil {
				return
			}
			if _, err := p.AddSwitchable("ch-fr", webrtc.RTPCodecTypeAudio, opus, "channels", "fr"); err != nil {
				return // renegotiating on a hostile answer may fail, but must not hang or panic
			}
			_ = p.SubAnswer(answer)
		})
		within(t, callLimit, "Close", func() { _ = p.Close() })
	})
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestPubOfferReleasesGoroutines runs every seed offer (and re-offer) on peers
// that are then closed: the goroutines pion starts for them must end.
func TestPubOfferReleasesGoroutines(t *testing.T) {
	eng := testEngine(t)
	pubOfferOnce(t, eng, chromeOffer, "", hostCandidate) // the engine's own goroutines start with the first peer
	settle := func(limit int) int {
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= limit || time.Now().After(deadline) {
				return n
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(500 * time.Millisecond) // let the first peer's goroutines end
	before := runtime.NumGoroutine()
	edits := sdpEdits(chromeOffer)
	for round := range 3 {
		for _, name := range sortedKeys(edits) {
			pubOfferOnce(t, eng, edits[name], edits[sortedKeys(edits)[round]], hostCandidate)
		}
	}
	const slack = 5
	after := settle(before + slack)
	t.Logf("%d goroutines before %d peers, %d after they closed", before, 3*len(edits), after)
	if after > before+slack {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before %d peers, %d after they closed:\n%s", before, 3*len(edits), after, buf[:runtime.Stack(buf, true)])
	}
}

// TestPubOfferBoundedOnHugeSDP: the largest offer a signaling message can
// carry, as many media sections as fit, is answered (or refused) in time.
func TestPubOfferBoundedOnHugeSDP(t *testing.T) {
	eng := testEngine(t)
	n := 0
	for len(manySections(chromeOffer, n+100)) < signal.MaxMessageBytes {
		n += 100
	}
	offer := manySections(chromeOffer, n)
	start := time.Now()
	pubOfferOnce(t, eng, offer, "", "")
	t.Logf("an offer of %d bytes with %d media sections took %v", len(offer), n+3, time.Since(start))
}
