package whip_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
)

// Bad requests get a clear error and change nothing in the room.
func TestWhipWhepErrors(t *testing.T) {
	srv := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	host := dial(t, ctx, srv, "errs", "host", joinSub...)

	pub := newPeer(t)
	pub.publishSynthetic(t, ctx)
	offer := []byte(pub.offer(t, false))
	player := newPeer(t)
	player.receiveAV(t)
	playerOffer := []byte(player.offer(t, false))
	sendOnly := newPeer(t)
	sendOnly.publishSynthetic(t, ctx)
	sendOnlyOffer := []byte(sendOnly.offer(t, false))
	recvOnlyOffer := playerOffer

	pubTok := mint(t, srv, "errs", "obs", joinPub...)
	subTok := mint(t, srv, "errs", "viewer", joinSub...)
	expired, err := srv.Signer().Mint(auth.Claims{Subject: "obs", Room: "errs", Grants: joinPub,
		IssuedAt: time.Now().Add(-2 * time.Hour).Unix(), ExpiresAt: time.Now().Add(-time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	big := append([]byte(nil), offer...)
	for len(big) <= 64<<10 {
		big = append(big, "a=x-padding:0123456789abcdef0123456789abcdef\r\n"...)
	}
	const sdp = "application/sdp"
	cases := []struct {
		name, method, path, token, ctype string
		body                             []byte
		status                           int
		code                             string
	}{
		{"no token", "POST", "/whip/errs", "", sdp, offer, 401, "token_missing"},
		{"not a token", "POST", "/whip/errs", "x.y.z", sdp, offer, 401, "token_invalid"},
		{"expired token", "POST", "/whip/errs", expired, sdp, offer, 401, "token_expired"},
		{"token of another room", "POST", "/whip/errs", mint(t, srv, "elsewhere", "obs", joinPub...), sdp, offer, 401, "wrong_room"},
		{"no publish grant", "POST", "/whip/errs", subTok, sdp, offer, 403, "forbidden"},
		{"no join grant", "POST", "/whip/errs", mint(t, srv, "errs", "obs", auth.GrantPublish), sdp, offer, 403, "forbidden"},
		{"wrong content type", "POST", "/whip/errs", pubTok, "application/json", offer, 415, "unsupported_media_type"},
		{"no content type", "POST", "/whip/errs", pubTok, "", offer, 415, "unsupported_media_type"},
		{"over 64 KiB", "POST", "/whip/errs", pubTok, sdp, big, 413, "too_large"},
		{"empty body", "POST", "/whip/errs", pubTok, sdp, nil, 400, "bad_request"},
		{"not SDP", "POST", "/whip/errs", pubTok, sdp, []byte("hello"), 400, "bad_request"},
		{"an offer that sends nothing", "POST", "/whip/errs", pubTok, sdp, recvOnlyOffer, 400, "bad_request"},
		{"GET", "GET", "/whip/errs", pubTok, "", nil, 405, "method_not_allowed"},
		{"no such URL", "POST", "/whip/errs/a/b", pubTok, sdp, offer, 404, "not_found"},
		{"PATCH of no session", "PATCH", "/whip/errs/nosuchsession", pubTok, "application/trickle-ice-sdpfrag", []byte("a=end-of-candidates\r\n"), 404, "not_found"},
		{"DELETE of no session", "DELETE", "/whip/errs/nosuchsession", pubTok, "", nil, 404, "not_found"},
		{"WHEP without subscribe grant", "POST", "/whep/errs/host", pubTok, sdp, playerOffer, 403, "forbidden"},
		{"WHEP into a room nobody is in", "POST", "/whep/empty/host", mint(t, srv, "empty", "viewer", joinSub...), sdp, playerOffer, 404, "room_not_found"},
		{"WHEP of an invalid identity", "POST", "/whep/errs/no%20body", subTok, sdp, playerOffer, 400, "bad_request"},
		{"WHEP wrong content type", "POST", "/whep/errs/host", subTok, "text/plain", playerOffer, 415, "unsupported_media_type"},
		{"WHEP offer that receives nothing", "POST", "/whep/errs/host", subTok, sdp, sendOnlyOffer, 400, "bad_request"},
		{"WHEP not SDP", "POST", "/whep/errs/host", subTok, sdp, []byte("v=0\r\nnonsense"), 400, "bad_request"},
		{"WHEP DELETE of no session", "DELETE", "/whep/errs/host/nosuchsession", subTok, "", nil, 404, "not_found"},
	}
	for _, c := range cases {
		resp, body := request(t, c.method, srv.URL()+c.path, c.token, c.ctype, c.body)
		wantError(t, c.name, resp, body, c.status, c.code)
		if c.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: no WWW-Authenticate: Bearer", c.name)
		}
	}
	// None of it reached the room.
	ps, err := srv.Rooms().Participants(ctx, "errs")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 {
		t.Errorf("the room has %d participants after refused requests, want the host alone", len(ps))
	}
	for _, raw := range host.Messages() {
		if strings.Contains(string(raw), `"participant-joined"`) {
			t.Errorf("the host heard of a join: %s", raw)
		}
	}
}

// A session refuses bad PATCHes and keeps working.
func TestWhipPatchErrors(t *testing.T) {
	srv := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := newPeer(t)
	pub.publishSynthetic(t, ctx)
	offer := pub.offer(t, true)
	token := mint(t, srv, "patch", "obs", joinPub...)
	resp, body := request(t, "POST", srv.URL()+"/whip/patch", token, "application/sdp", []byte(offer))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	loc, etag := resp.Header.Get("Location"), resp.Header.Get("ETag")
	ufrag := between(offer, "a=ice-ufrag:", "\r\n")
	cand := "a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n"
	good := "a=ice-ufrag:" + ufrag + "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n" + cand
	const frag = "application/trickle-ice-sdpfrag"

	cases := []struct {
		name, token, ctype, body string
		hdr                      []string
		status                   int
		code                     string
	}{
		{"no token", "", frag, good, nil, 401, "token_missing"},
		{"another token", mint(t, srv, "patch", "obs", joinPub...), frag, good, nil, 403, "forbidden"},
		{"wrong content type", token, "application/sdp", good, nil, 415, "unsupported_media_type"},
		{"stale ETag", token, frag, good, []string{"If-Match", `"0000"`}, 412, "precondition_failed"},
		{"ICE restart", token, frag, "a=ice-ufrag:new1\r\na=ice-pwd:newpasswordnewpassword12\r\n" + cand, []string{"If-Match", "*"}, 422, "ice_restart_unsupported"},
		{"new credentials", token, frag, "a=ice-ufrag:new1\r\na=ice-pwd:newpasswordnewpassword12\r\n" + cand, nil, 422, "ice_restart_unsupported"},
		{"not a fragment", token, frag, "hello\r\n", nil, 400, "bad_request"},
		{"bad candidate", token, frag, "m=audio 9 RTP/AVP 0\r\na=mid:0\r\na=candidate:nonsense\r\n", nil, 400, "bad_request"},
		{"nothing in it", token, frag, "a=ice-options:trickle\r\n", nil, 400, "bad_request"},
		{"over 64 KiB", token, frag, good + strings.Repeat("a=x-padding:0123456789\r\n", 3000), nil, 413, "too_large"},
	}
	for _, c := range cases {
		resp, body := request(t, "PATCH", srv.URL()+loc, c.token, c.ctype, []byte(c.body), c.hdr...)
		wantError(t, c.name, resp, body, c.status, c.code)
	}
	// The session is intact: a good fragment is taken.
	resp, body = request(t, "PATCH", srv.URL()+loc, token, frag, []byte(good+"a=end-of-candidates\r\n"), "If-Match", etag)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("good PATCH: %d %s", resp.StatusCode, body)
	}
}

func between(s, from, to string) string {
	_, after, _ := strings.Cut(s, from)
	v, _, _ := strings.Cut(after, to)
	return v
}

func TestWhipOptions(t *testing.T) {
	srv := start(t)
	for _, path := range []string{"/whip/r", "/whip/r/someid", "/whep/r/who", "/whep/r/who/someid"} {
		resp, body := request(t, "OPTIONS", srv.URL()+path, "", "", nil,
			"Origin", "https://player.example", "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "authorization, content-type")
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("OPTIONS %s: %d %s", path, resp.StatusCode, body)
			continue
		}
		h := resp.Header
		if h.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "PATCH") ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "If-Match") {
			t.Errorf("OPTIONS %s: CORS headers %v", path, h)
		}
		if h.Get("Accept-Patch") != "application/trickle-ice-sdpfrag" {
			t.Errorf("OPTIONS %s: Accept-Patch %q", path, h.Get("Accept-Patch"))
		}
		if endpoint := strings.Count(path, "/") == 2 || strings.HasPrefix(path, "/whep/") && strings.Count(path, "/") == 3; endpoint && h.Get("Accept-Post") != "application/sdp" {
			t.Errorf("OPTIONS %s: Accept-Post %q", path, h.Get("Accept-Post"))
		}
	}
}

// The 201 carries the participant's TURN server as RFC 9725 Link headers.
func TestWhipICEServerLinks(t *testing.T) {
	srv := start(t)
	if srv.TURNPort() == 0 {
		t.Fatal("the TURN relay is not running")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := newPeer(t)
	pub.publishSynthetic(t, ctx)
	token := mint(t, srv, "links", "obs", joinPub...)
	resp, body := request(t, "POST", srv.URL()+"/whip/links", token, "application/sdp", []byte(pub.offer(t, true)))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	checkLinks(t, "WHIP", resp.Header.Values("Link"))

	player := newPeer(t)
	player.receiveAV(t)
	resp, body = request(t, "POST", srv.URL()+"/whep/links/obs", mint(t, srv, "links", "viewer", joinSub...), "application/sdp", []byte(player.offer(t, true)))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP POST: %d %s", resp.StatusCode, body)
	}
	checkLinks(t, "WHEP", resp.Header.Values("Link"))
}

func checkLinks(t *testing.T, what string, links []string) {
	t.Helper()
	if len(links) == 0 {
		t.Fatalf("%s: no Link header", what)
	}
	for _, l := range links {
		if !strings.HasPrefix(l, "<turn:127.0.0.1:") || !strings.Contains(l, `rel="ice-server"`) ||
			!strings.Contains(l, `username="`) || !strings.Contains(l, `credential="`) {
			t.Errorf("%s: Link %q is not a TURN server with credentials", what, l)
		}
	}
}
