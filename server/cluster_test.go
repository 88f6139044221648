package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/adminclient"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/cluster/redistest"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/server/servertest"
	"github.com/parleyhq/parley/signal"
)

// until polls cond until it holds or ctx ends.
func until(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("never: %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func admin(t *testing.T, srv *server.Server) *adminclient.Client {
	return &adminclient.Client{URL: srv.URL() + "/", Token: servertest.Mint(t, srv, auth.AdminRoom, "operator", auth.GrantAdmin)}
}

// roomsOn lists the rooms as node srv's admin API shows them: name -> node.
func roomsOn(t *testing.T, ctx context.Context, srv *server.Server) map[string]string {
	t.Helper()
	list, err := admin(t, srv).RoomList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range list.Rooms {
		out[r.Name] = r.Node
	}
	return out
}

func nodesSeen(srv *server.Server) []string {
	var ids []string
	for _, n := range srv.Cluster().View().Nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

// noRedirects is an HTTP client that shows redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestClusterOfThree(t *testing.T) {
	r := redistest.Start(t)
	nodes := servertest.StartCluster(t, r.URL(), []string{"node-a", "node-b", "node-c"})
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, n := range nodes {
		until(t, ctx, n.Cluster().ID()+" lists three nodes", func() bool {
			return slices.Equal(nodesSeen(n), []string{"node-a", "node-b", "node-c"})
		})
	}

	// A room made through node A is listed by B and C with its node.
	if _, err := admin(t, a).CreateRoom(ctx, "summit", adminclient.SettingsInput{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*server.Server{b, c} {
		until(t, ctx, "summit listed on node-a", func() bool { return roomsOn(t, ctx, n)["summit"] == "node-a" })
	}
	// B cannot open it too: it names the node that hosts it.
	_, err := admin(t, b).CreateRoom(ctx, "summit", adminclient.SettingsInput{})
	var aerr *adminclient.Error
	if !errors.As(err, &aerr) || aerr.Code != "room_exists" || !strings.Contains(aerr.Message, "node-a") {
		t.Errorf("creating summit on B as well: %v", err)
	}

	// A Go client joining through B is redirected to A, and joins there.
	head := servertest.Dial(t, ctx, b, "summit", "head-a", servertest.Everyone...)
	if head.URL() != a.URL() {
		t.Fatalf("joined through B, the client is on %s, want A (%s)", head.URL(), a.URL())
	}
	if rs := a.Rooms().Rooms(); len(rs) != 1 || rs[0].Participants != 1 {
		t.Errorf("A hosts %+v, want summit with one participant", rs)
	}
	if len(b.Rooms().Rooms()) != 0 {
		t.Errorf("B opened a room it should have redirected: %+v", b.Rooms().Rooms())
	}
	guest := servertest.Dial(t, ctx, c, "summit", "head-b", servertest.Everyone...)
	if err := servertest.PublishAV(ctx, head, "head-a"); err != nil {
		t.Fatal(err)
	}
	if err := servertest.WaitInbound(ctx, guest, 2, 2000); err != nil {
		t.Fatalf("the guest redirected from C receives nothing from head-a: %v", err)
	}

	// WHIP and WHEP POSTs to B get 307 to the same path on A.
	tok := servertest.Mint(t, b, "summit", "obs", auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe)
	for _, path := range []string{"/whip/summit", "/whep/summit/head-a"} {
		req, _ := http.NewRequestWithContext(ctx, "POST", b.URL()+path, strings.NewReader(sdpOffer(t, !strings.HasPrefix(path, "/whep"))))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/sdp")
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != a.URL()+path {
			t.Errorf("POST %s on B: %d to %q, want 307 to %s", path, resp.StatusCode, resp.Header.Get("Location"), a.URL()+path)
		}
	}

	// A page of node A may open its signaling on B; a page elsewhere may not.
	for origin, want := range map[string]int{a.URL(): http.StatusSwitchingProtocols, "http://evil.example": http.StatusForbidden} {
		req, _ := http.NewRequestWithContext(ctx, "GET", b.URL()+"/ws", nil)
		for k, v := range map[string]string{"Origin": origin, "Connection": "Upgrade", "Upgrade": "websocket",
			"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="} {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("WebSocket to B from origin %s: %d, want %d", origin, resp.StatusCode, want)
		}
	}
	// And B's pages allow connecting to the other nodes, none else.
	resp, err := http.Get(b.URL() + "/r/summit")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	wsA := "ws" + strings.TrimPrefix(a.URL(), "http")
	if !strings.Contains(csp, "connect-src 'self' ") || !strings.Contains(csp, " "+wsA) || strings.Contains(csp, strings.TrimPrefix(b.URL(), "http://")) {
		t.Errorf("B's pages: Content-Security-Policy %q, want connect-src naming A and C", csp)
	}

	// A new room goes to the least loaded node: A holds two people, so not A.
	fresh := servertest.Dial(t, ctx, a, "fresh", "x", servertest.Everyone...)
	if fresh.URL() == a.URL() {
		t.Errorf("a new room was placed on the loaded node A")
	}
	owner := map[string]string{b.URL(): "node-b", c.URL(): "node-c"}[fresh.URL()]
	until(t, ctx, "fresh listed on its node", func() bool { return roomsOn(t, ctx, a)["fresh"] == owner })

	// The cluster's gauges.
	until(t, ctx, "metrics show the cluster", func() bool {
		m := get(t, b.URL()+"/metrics")
		return strings.Contains(m, "parley_cluster_nodes 3") && strings.Contains(m, `parley_cluster_rooms{node="node-a"} 1`) &&
			strings.Contains(m, "parley_cluster_redis_up 1")
	})
	if body, status := readyz(t, b); status != 200 || body["redis"] != "ok" || body["node"] != "node-b" {
		t.Errorf("/readyz on B: %d %v", status, body)
	}
}

// sdpOffer is a browser-like offer: sending audio and video (publish), or
// receiving them (watch).
func sdpOffer(t *testing.T, send bool) string {
	t.Helper()
	api, err := client.NewAPI()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	dir := webrtc.RTPTransceiverDirectionRecvonly
	if send {
		dir = webrtc.RTPTransceiverDirectionSendonly
	}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func readyz(t *testing.T, srv *server.Server) (map[string]string, int) {
	t.Helper()
	resp, err := http.Get(srv.URL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	return body, resp.StatusCode
}

func TestClusterNodeKilled(t *testing.T) {
	r := redistest.Start(t)
	nodes := servertest.StartCluster(t, r.URL(), []string{"node-a", "node-b"})
	a, b := nodes[0], nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	until(t, ctx, "two nodes", func() bool { return len(nodesSeen(a)) == 2 })
	if _, err := admin(t, b).CreateRoom(ctx, "summit", adminclient.SettingsInput{}); err != nil {
		t.Fatal(err)
	}
	servertest.Dial(t, ctx, b, "summit", "head-a", servertest.Everyone...)
	until(t, ctx, "A lists summit on B", func() bool { return roomsOn(t, ctx, a)["summit"] == "node-b" })

	// B stops beating as a killed process would, and drops off the network.
	b.Cluster().Halt()
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	_ = b.Shutdown(sctx)
	scancel()
	until(t, ctx, "B gone from A's view", func() bool { return slices.Equal(nodesSeen(a), []string{"node-a"}) })
	if _, ok := roomsOn(t, ctx, a)["summit"]; ok {
		t.Fatal("B's room is still listed after B is gone")
	}
	// The room is free again: joined through A, it opens on A.
	c := servertest.Dial(t, ctx, a, "summit", "head-b", servertest.Everyone...)
	if c.URL() != a.URL() {
		t.Errorf("after B died, summit opened on %s, want A", c.URL())
	}
}

func TestClusterRedisRestartedUnderARunningRoom(t *testing.T) {
	r := redistest.Start(t)
	nodes := servertest.StartCluster(t, r.URL(), []string{"node-a", "node-b"})
	a, b := nodes[0], nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	until(t, ctx, "two nodes", func() bool { return len(nodesSeen(b)) == 2 })
	if _, err := admin(t, a).CreateRoom(ctx, "summit", adminclient.SettingsInput{}); err != nil {
		t.Fatal(err)
	}
	head := servertest.Dial(t, ctx, a, "summit", "head-a", servertest.Everyone...)
	guest := servertest.Dial(t, ctx, a, "summit", "head-b", servertest.Everyone...)
	if err := servertest.PublishAV(ctx, head, "head-a"); err != nil {
		t.Fatal(err)
	}
	if err := servertest.WaitInbound(ctx, guest, 2, 2000); err != nil {
		t.Fatal(err)
	}
	until(t, ctx, "B lists summit on A", func() bool { return roomsOn(t, ctx, b)["summit"] == "node-a" })

	r.Stop()
	until(t, ctx, "A's /readyz reports Redis unreachable", func() bool {
		body, status := readyz(t, a)
		return status == http.StatusServiceUnavailable && body["redis"] == "unreachable"
	})
	if resp, err := http.Get(a.URL() + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz while Redis is down: %v %v", resp, err)
	}
	// The call goes on: media keeps coming.
	received := func() uint64 {
		var n uint64
		for _, in := range guest.Inbound() {
			n += in.Bytes.Load()
		}
		return n
	}
	before := received()
	until(t, ctx, "media flows while Redis is down", func() bool { return received() > before+20000 })
	// The room A hosts still admits people; a new room is refused.
	servertest.Dial(t, ctx, a, "summit", "aide-a", servertest.Everyone...)
	_, err := client.Dial(ctx, client.Options{URL: a.URL(), Room: "other", Token: servertest.Mint(t, a, "other", "x", servertest.Everyone...)})
	var serr *signal.Error
	if !errors.As(err, &serr) || serr.Code != signal.CodeClusterUnavailable {
		t.Errorf("a new room while Redis is down: %v, want %s", err, signal.CodeClusterUnavailable)
	}

	r.Restart() // empty: it kept nothing
	until(t, ctx, "A ready again", func() bool {
		body, status := readyz(t, a)
		return status == 200 && body["redis"] == "ok"
	})
	until(t, ctx, "B lists summit on A again, with its three people", func() bool {
		list, err := admin(t, b).RoomList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(list.Rooms) == 1 && list.Rooms[0].Name == "summit" && list.Rooms[0].Node == "node-a" && list.Rooms[0].Participants == 3
	})
	before = received()
	until(t, ctx, "media still flows", func() bool { return received() > before+20000 })
	// Joins through B find the room on A again.
	if late := servertest.Dial(t, ctx, b, "summit", "late", servertest.Everyone...); late.URL() != a.URL() {
		t.Errorf("joined through B after the restart, the client is on %s, want A", late.URL())
	}
}

func TestNodeAloneHasNoCluster(t *testing.T) {
	// A node alone answers /readyz as it always has: plain text.
	srv := servertest.Start(t)
	resp, err := http.Get(srv.URL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ready\n" {
		t.Errorf("/readyz alone: %d %q", resp.StatusCode, b)
	}
	if srv.Cluster() != nil {
		t.Error("a node without redis_url has a cluster")
	}
}

// TestAnyNodeAnswersAboutAnyRoom: the admin API of a node that does not
// host a room passes a request about it to the node that does, and returns
// its answer: the operator can ask any node of the cluster about any room.
func TestAnyNodeAnswersAboutAnyRoom(t *testing.T) {
	r := redistest.Start(t)
	nodes := servertest.StartCluster(t, r.URL(), []string{"node-a", "node-b"})
	a, b := nodes[0], nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	until(t, ctx, "B sees A", func() bool { return len(b.Cluster().Peers()) == 1 })
	if _, err := admin(t, a).CreateRoom(ctx, "summit", adminclient.SettingsInput{}); err != nil {
		t.Fatal(err)
	}
	guest := servertest.Dial(t, ctx, a, "summit", "guest", servertest.Everyone...)
	if err := publishAV(ctx, guest, "guest"); err != nil {
		t.Fatal(err)
	}
	until(t, ctx, "B's view has the room on A", func() bool { return roomsOn(t, ctx, b)["summit"] == "node-a" })

	op := admin(t, b)
	var ps []adminclient.Participant
	until(t, ctx, "B lists the guest on A with its tracks", func() bool {
		var err error
		ps, err = op.ListParticipants(ctx, "summit")
		return err == nil && len(ps) == 1 && ps[0].Identity == "guest" && len(ps[0].Tracks) == 2
	})
	if _, err := op.MuteParticipant(ctx, "summit", "guest", signal.SourceMic, true); err != nil {
		t.Fatal(err)
	}
	if _, err := guest.WaitFor(ctx, func(typ string, raw []byte) bool { return typ == "muted" }); err != nil {
		t.Fatalf("the guest on A was not muted through B: %v", err)
	}
	if got, err := op.GetRoom(ctx, "summit"); err != nil || got.Participants != 1 {
		t.Errorf("the room through B: %+v, %v", got, err)
	}

	// The caller's token is not what B passes on: a request claiming to come
	// from another node must carry the cluster's signature, whatever token it
	// holds.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.URL()+"/api/v1/rooms/summit", nil)
	req.Header.Set("Authorization", "Bearer "+op.Token)
	req.Header.Set("Parley-Forwarded-By", "node-b")
	req.Header.Set("Parley-Forward-To", "node-a")
	req.Header.Set("Parley-Forward-At", strconv.FormatInt(time.Now().Unix(), 10))
	req.Header.Set("Parley-Forward-Mac", strings.Repeat("0", 64))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a request forged as passed on by B: %d %s, want 401", resp.StatusCode, body)
	}
	// Nowhere: not found, as on one node.
	_, err = op.GetRoom(ctx, "nowhere")
	var aerr *adminclient.Error
	if !errors.As(err, &aerr) || aerr.Code != "room_not_found" {
		t.Errorf("a room open nowhere: %v, want room_not_found", err)
	}

	if closed, err := op.CloseRoom(ctx, "summit"); err != nil || closed.Removed != 1 {
		t.Fatalf("closing the room on A through B: %+v, %v", closed, err)
	}
	if _, err := guest.WaitFor(ctx, func(typ string, raw []byte) bool { return typ == "removed" }); err != nil {
		t.Fatalf("the guest on A was not removed through B: %v", err)
	}
}
