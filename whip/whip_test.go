package whip_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/signal"
)

var (
	joinSub = []auth.Grant{auth.GrantJoin, auth.GrantSubscribe}
	joinPub = []auth.Grant{auth.GrantJoin, auth.GrantPublish}
	all     = []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}
)

// A WHIP publisher joins as a participant that only publishes; a
// participant of the room receives its camera and microphone; DELETE makes
// it leave.
func TestWhipPublisherReachesParticipant(t *testing.T) {
	srv := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watcher := dial(t, ctx, srv, "studio", "watcher", joinSub...)

	pub := newPeer(t)
	pub.publishSynthetic(t, ctx)
	offer := pub.offer(t, true)
	// Its token grants subscribe too: the server must drop it, or it would
	// offer the publisher a connection it cannot answer.
	token := mint(t, srv, "studio", "obs", all...)
	resp, body := request(t, "POST", srv.URL()+"/whip/studio", token, "application/sdp", []byte(offer))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/sdp" {
		t.Errorf("Content-Type %q", ct)
	}
	loc := resp.Header.Get("Location")
	if !regexp.MustCompile(`^/whip/studio/[a-z2-7]{26}$`).MatchString(loc) {
		t.Errorf("Location %q is not /whip/studio/<128-bit id>", loc)
	}
	if resp.Header.Get("ETag") == "" {
		t.Error("no ETag")
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Errorf("CORS headers missing: %v", resp.Header)
	}
	if !strings.Contains(string(body), "a=candidate:") {
		t.Fatalf("the answer carries no candidate:\n%s", body)
	}
	pub.answer(t, string(body))

	joined := waitMessage(t, ctx, watcher, "participant-joined", func(raw []byte) bool { return strings.Contains(string(raw), `"identity":"obs"`) })
	var ev signal.ParticipantEvent
	if err := json.Unmarshal(joined, &ev); err != nil {
		t.Fatal(err)
	}
	for _, g := range ev.Participant.Grants {
		if g == string(auth.GrantSubscribe) {
			t.Errorf("the WHIP participant kept the subscribe grant: %v", ev.Participant.Grants)
		}
	}
	poll(t, "the watcher to receive the WHIP camera and microphone", func() bool {
		in := inboundFrom(watcher, "obs")
		return in[signal.SourceCamera] != nil && in[signal.SourceCamera].Packets.Load() > 20 &&
			in[signal.SourceMic] != nil && in[signal.SourceMic].Packets.Load() > 20
	})

	// Another token may not end it; the one that opened it may.
	other := mint(t, srv, "studio", "obs", all...)
	resp, body = request(t, "DELETE", srv.URL()+loc, other, "", nil)
	wantError(t, "DELETE with another token", resp, body, http.StatusForbidden, "forbidden")
	resp, body = request(t, "DELETE", srv.URL()+loc, token, "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	waitMessage(t, ctx, watcher, "participant-left", func(raw []byte) bool {
		return strings.Contains(string(raw), `"identity":"obs"`) && strings.Contains(string(raw), `"reason":"left"`)
	})
	resp, body = request(t, "DELETE", srv.URL()+loc, token, "", nil)
	wantError(t, "DELETE again", resp, body, http.StatusNotFound, "not_found")
}

// Candidates trickled with PATCH reach the server. The publisher ignores
// the server's candidates, so only checks from the server, to candidates it
// learnt through PATCH, can connect the two.
func TestWhipTrickle(t *testing.T) {
	srv := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watcher := dial(t, ctx, srv, "trickle", "watcher", joinSub...)

	pub := newPeer(t)
	pub.publishSynthetic(t, ctx)
	var cands []string
	gathered := make(chan struct{})
	pub.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			close(gathered)
			return
		}
		cands = append(cands, c.ToJSON().Candidate)
	})
	offer := pub.offer(t, false)
	if strings.Contains(offer, "a=candidate") {
		t.Fatal("the offer was meant to carry no candidate")
	}
	token := mint(t, srv, "trickle", "obs", joinPub...)
	resp, body := request(t, "POST", srv.URL()+"/whip/trickle", token, "application/sdp", []byte(offer))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	loc, etag := resp.Header.Get("Location"), resp.Header.Get("ETag")
	pub.answer(t, stripCandidates(string(body)))
	<-gathered
	if len(cands) == 0 {
		t.Fatal("the publisher gathered no candidate")
	}
	ufrag := regexp.MustCompile(`a=ice-ufrag:(\S+)`).FindStringSubmatch(offer)[1]
	frag := "a=ice-ufrag:" + ufrag + "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
	for _, c := range cands {
		frag += "a=" + c + "\r\n"
	}
	frag += "a=end-of-candidates\r\n"
	resp, body = request(t, "PATCH", srv.URL()+loc, token, "application/trickle-ice-sdpfrag", []byte(frag), "If-Match", etag)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	poll(t, "the trickled publisher to connect and reach the watcher", func() bool {
		in := inboundFrom(watcher, "obs")
		return pub.connected() && in[signal.SourceCamera] != nil && in[signal.SourceCamera].Packets.Load() > 20
	})
}

// stripCandidates removes candidate lines from an SDP.
func stripCandidates(sdp string) string {
	var out []string
	for _, l := range strings.Split(sdp, "\r\n") {
		if !strings.HasPrefix(l, "a=candidate:") && l != "a=end-of-candidates" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\r\n")
}

// A WHEP player watches a participant who publishes through the signaling
// protocol; it follows them through leaving and coming back; DELETE ends it.
func TestWhepPlayerFollowsParticipant(t *testing.T) {
	srv := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The room is open, but the speaker has not arrived: the player waits.
	dial(t, ctx, srv, "stage", "host", joinSub...)

	player := newPeer(t)
	player.receiveAV(t)
	offer := player.offer(t, true)
	token := mint(t, srv, "stage", "viewer", joinSub...)
	resp, body := request(t, "POST", srv.URL()+"/whep/stage/speaker", token, "application/sdp", []byte(offer))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	if !regexp.MustCompile(`^/whep/stage/speaker/[a-z2-7]{26}$`).MatchString(loc) {
		t.Errorf("Location %q", loc)
	}
	if !strings.Contains(string(body), "a=candidate:") {
		t.Fatalf("the answer carries no candidate:\n%s", body)
	}
	player.answer(t, string(body))

	speakerCtx, leave := context.WithCancel(ctx)
	speaker := dial(t, speakerCtx, srv, "stage", "speaker", all...)
	publishAV(t, speakerCtx, speaker, "speaker")
	poll(t, "the player to receive video and audio", func() bool {
		return player.received("video") > 20 && player.received("audio") > 20
	})

	// The speaker drops and comes back with new tracks: the player follows.
	leave()
	speaker.Close()
	video, audio := player.received("video"), player.received("audio")
	again := dial(t, ctx, srv, "stage", "speaker", all...)
	publishAV(t, ctx, again, "speaker")
	poll(t, "the player to receive the speaker's new tracks", func() bool {
		return player.received("video") > video+20 && player.received("audio") > audio+20
	})

	resp, body = request(t, "DELETE", srv.URL()+loc, token, "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	poll(t, "the player's connection to end", func() bool { return !player.connected() })
	resp, body = request(t, "PATCH", srv.URL()+loc, token, "application/trickle-ice-sdpfrag", []byte("a=end-of-candidates\r\n"))
	wantError(t, "PATCH after DELETE", resp, body, http.StatusNotFound, "not_found")
}

// A viewer ends with its room, and the server shuts down without waiting on it.
func TestWhepEndsWithRoom(t *testing.T) {
	srv := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	speaker := dial(t, ctx, srv, "hall", "speaker", all...)
	publishAV(t, ctx, speaker, "speaker")

	player := newPeer(t)
	player.receiveAV(t)
	token := mint(t, srv, "hall", "viewer", joinSub...)
	resp, body := request(t, "POST", srv.URL()+"/whep/hall/speaker", token, "application/sdp", []byte(player.offer(t, true)))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	player.answer(t, string(body))
	poll(t, "the player to receive video", func() bool { return player.received("video") > 20 })

	// The last participant leaves: the room closes.
	if err := speaker.Send(&signal.Leave{Type: "leave"}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the session to end with the room", func() bool {
		resp, _ := request(t, "PATCH", srv.URL()+loc, token, "application/trickle-ice-sdpfrag", []byte("a=end-of-candidates\r\n"))
		return resp.StatusCode == http.StatusNotFound
	})
	poll(t, "the player's connection to end", func() bool { return !player.connected() })
}

func TestWhepRefusesPlayerWithoutTheCodec(t *testing.T) {
	srv := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	speaker := dial(t, ctx, srv, "codec", "speaker", all...)
	publishAV(t, ctx, speaker, "speaker")
	waitMessage(t, ctx, speaker, "participant-updated", func(raw []byte) bool { return strings.Contains(string(raw), `"source":"camera"`) })

	// A player that decodes only H.264 cannot watch a VP8 camera.
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
		PayloadType:        102,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	token := mint(t, srv, "codec", "viewer", joinSub...)
	resp, body := request(t, "POST", srv.URL()+"/whep/codec/speaker", token, "application/sdp", []byte(o.SDP))
	wantError(t, "an H.264-only player", resp, body, http.StatusBadRequest, "bad_request")
	if !strings.Contains(string(body), "VP8") {
		t.Errorf("the message does not name the codec: %s", body)
	}
}
