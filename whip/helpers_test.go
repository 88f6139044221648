package whip_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/server/servertest"
)

func start(t *testing.T) *server.Server {
	t.Helper()
	return servertest.Start(t)
}

func mint(t *testing.T, srv *server.Server, room, identity string, grants ...auth.Grant) string {
	return servertest.Mint(t, srv, room, identity, grants...)
}

func dial(t *testing.T, ctx context.Context, srv *server.Server, room, identity string, grants ...auth.Grant) *client.Client {
	return servertest.Dial(t, ctx, srv, room, identity, grants...)
}

// publishAV publishes a synthetic microphone and camera, pumped until ctx ends.
func publishAV(t *testing.T, ctx context.Context, c *client.Client, name string) {
	t.Helper()
	if err := servertest.PublishAV(ctx, c, name); err != nil {
		t.Fatalf("%s: publish: %v", name, err)
	}
}

// poll retries cond until it holds or the deadline passes.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// inboundFrom returns the client's inbound tracks owned by identity, by source.
func inboundFrom(c *client.Client, identity string) map[string]*client.Inbound {
	out := map[string]*client.Inbound{}
	for _, in := range c.Inbound() {
		if in.Identity == identity {
			out[in.Source] = in
		}
	}
	return out
}

// waitMessage waits for a message of type typ that satisfies pred.
func waitMessage(t *testing.T, ctx context.Context, c *client.Client, typ string, pred func(raw []byte) bool) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	raw, err := c.WaitFor(ctx, func(ty string, raw []byte) bool { return ty == typ && pred(raw) })
	if err != nil {
		t.Fatalf("waiting for %s: %v", typ, err)
	}
	return raw
}

// request sends one HTTP request; the answer's body is read whole.
func request(t *testing.T, method, url, token, ctype string, body []byte, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// wantError checks an error answer: its status and its JSON code.
func wantError(t *testing.T, what string, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s: status %d, want %d (body %s)", what, resp.StatusCode, status, body)
		return
	}
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != code || e.Error.Message == "" {
		t.Errorf("%s: body %s, want error code %q with a message", what, body, code)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, resp.Header.Get("Content-Type"))
	}
}

// peer is a Pion client standing in for a WHIP publisher or WHEP player.
type peer struct {
	pc *webrtc.PeerConnection

	mu      sync.Mutex
	packets map[string]*atomic.Uint64 // by kind, received
}

func newPeer(t *testing.T) *peer {
	t.Helper()
	api, err := client.NewAPI() // loopback candidates only, no STUN
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	p := &peer{pc: pc, packets: map[string]*atomic.Uint64{}}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		n := p.counter(tr.Kind().String())
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
			n.Add(1)
		}
	})
	return p
}

func (p *peer) counter(kind string) *atomic.Uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.packets[kind] == nil {
		p.packets[kind] = &atomic.Uint64{}
	}
	return p.packets[kind]
}

func (p *peer) received(kind string) uint64 { return p.counter(kind).Load() }

// publishSynthetic adds a synthetic Opus microphone and VP8 camera, sendonly.
func (p *peer) publishSynthetic(t *testing.T, ctx context.Context) {
	t.Helper()
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		tr, err := client.SyntheticTrack(kind, "whip-"+kind.String(), "whip")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
		go client.Pump(ctx, tr)
	}
}

// receiveAV adds recvonly audio and video sections, as a WHEP player does.
func (p *peer) receiveAV(t *testing.T) {
	t.Helper()
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := p.pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
}

// offer makes the local offer; with gather it waits for the candidates.
func (p *peer) offer(t *testing.T, gather bool) string {
	t.Helper()
	o, err := p.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	if !gather {
		return o.SDP
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("gathering did not complete")
	}
	return p.pc.LocalDescription().SDP
}

func (p *peer) answer(t *testing.T, sdp string) {
	t.Helper()
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatalf("the server's answer: %v", err)
	}
}

func (p *peer) connected() bool {
	return p.pc.ConnectionState() == webrtc.PeerConnectionStateConnected
}
