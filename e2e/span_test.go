package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/adminclient"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/cluster/redistest"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/room"
	"github.com/parleyhq/parley/server/servertest"
	"github.com/parleyhq/parley/transcribe/testengine"
	mtengine "github.com/parleyhq/parley/translate/testengine"
)

// TestBrowsersOnTwoNodesThroughTheRelay: with span_rooms, a page of node A
// and a page of node B in one room are each served by their own node, and
// see and hear each other through the relay between the nodes.
func TestBrowsersOnTwoNodesThroughTheRelay(t *testing.T) {
	r := redistest.Start(t)
	nodes := servertest.StartCluster(t, r.URL(), []string{"node-a", "node-b"}, func(c *config.Config) { c.SpanRooms = true })
	a, b := nodes[0], nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// A part links to the parts on the nodes it knows, and a page opens
	// signaling only on nodes its own knew: wait until each sees the other.
	for _, n := range nodes {
		waitFor(t, ctx, n.Cluster().ID()+" to see the other node", func() (bool, string) {
			return len(n.Cluster().Peers()) == 1, fmt.Sprint(n.Cluster().Peers())
		})
	}

	// The room opens on A first: a new room goes to the least loaded node,
	// and a page's first join could be sent to the other one.
	op := &adminclient.Client{URL: a.URL() + "/", Token: servertest.Mint(t, a, auth.AdminRoom, "operator", auth.GrantAdmin)}
	if _, err := op.CreateRoom(ctx, "summit", adminclient.SettingsInput{}); err != nil {
		t.Fatal(err)
	}

	browser := newBrowser(t)
	grants := []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}
	onA := joinTab(t, ctx, browser, roomURL(t, a, "summit", "head-a", grants...))
	onB := joinTab(t, ctx, browser, roomURL(t, b, "summit", "head-b", grants...))
	// Each node hosts its part of the room with its own page in it: no
	// redirect took either page to the other node.
	onItsNode := func(when string) {
		t.Helper()
		for name, rs := range map[string][]room.RoomInfo{"A": a.Rooms().Rooms(), "B": b.Rooms().Rooms()} {
			if len(rs) != 1 || rs[0].Name != "summit" || rs[0].Participants != 1 {
				t.Errorf("%s: %s hosts %+v, want summit with its own page only", when, name, rs)
			}
		}
	}
	onItsNode("once joined")
	waitFlowing(t, ctx, onA, "head-a", []string{"head-b"})
	waitFlowing(t, ctx, onB, "head-b", []string{"head-a"})
	onItsNode("with media flowing")
}

// watchSocketsJS records, in a page, each WebSocket it opens and what
// becomes of it (open, welcome with the nodes it lists, close), with the
// page's clock, before the app's own handlers see it.
const watchSocketsJS = `(() => {
  const seen = window.__sockets = [];
  const Orig = window.WebSocket;
  class WatchedSocket extends Orig {
    constructor(...args) {
      super(...args);
      const url = String(args[0]);
      const note = (type, nodes) => seen.push({url, type, at: Date.now(), nodes: nodes || []});
      note('new');
      this.addEventListener('open', () => note('open'));
      this.addEventListener('close', () => note('close'));
      this.addEventListener('message', (ev) => {
        let m;
        try { m = JSON.parse(ev.data); } catch { return; }
        if (m && m.type === 'welcome') note('welcome', m.nodes);
      });
    }
  }
  window.WebSocket = WatchedSocket;
})();`

// socketEvent is one entry of window.__sockets.
type socketEvent struct {
	URL   string   `json:"url"`
	Type  string   `json:"type"`
	At    int64    `json:"at"` // Unix milliseconds, the page's clock (this machine's)
	Nodes []string `json:"nodes"`
}

func socketEvents(tab context.Context) ([]socketEvent, error) {
	return chromedp.Run(tab, chromedp.Evaluate[[]socketEvent](`window.__sockets || []`))
}

// nodeProcess is a `parley serve` running as its own process, so that it
// can die as a crash kills it.
type nodeProcess struct {
	id, url string
	cmd     *exec.Cmd
	log     *lockedLog
	exited  chan struct{} // closed once the process is gone
}

// lockedLog keeps a node's log for the test's failure report, and spots the
// line that says where it serves.
type lockedLog struct {
	mu    sync.Mutex
	buf   []byte
	url   string
	found chan struct{}
}

var servingRE = regexp.MustCompile(`http=(http://127\.0\.0\.1:\d+)`)

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if l.url == "" {
		if m := servingRE.FindSubmatch(l.buf); m != nil {
			l.url = string(m[1])
			close(l.found)
		}
	}
	return len(p), nil
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

// startNodeProcess runs `parley serve` as cluster node id, on loopback
// ports of its choosing, with a data folder of its own that holds the
// cluster's signing key. The process is killed at the end of the test; its
// log is in the test's output when the test fails.
func startNodeProcess(t *testing.T, bin, id, redisURL string, key []byte) *nodeProcess {
	t.Helper()
	data := t.TempDir()
	if err := os.Chmod(data, 0o700); err != nil {
		t.Fatal(err)
	}
	servertest.ShareKey(t, data, key)
	log := &lockedLog{found: make(chan struct{})}
	cmd := exec.Command(bin, "serve", "--data", data, "--listen", "127.0.0.1:0", "--udp-port", "0",
		"--redis", redisURL, "--node-id", id, "--span-rooms", "--no-demo")
	cmd.Stdout, cmd.Stderr = log, log
	// The node's configuration is its flags: a PARLEY_* variable meant for
	// the tests (PARLEY_SCREENSHOTS) is an unknown setting to it.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &nodeProcess{id: id, cmd: cmd, log: log, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-n.exited
		if t.Failed() {
			t.Logf("%s's log:\n%s", id, log.String())
		}
	})
	select {
	case <-log.found:
	case <-n.exited:
		t.Fatalf("%s exited: %v\n%s", id, cmd.ProcessState, log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not say where it serves:\n%s", id, log.String())
	}
	n.url = log.url
	return n
}

// kill9 ends the node as a crash would: no goodbye to the cluster, its
// clients or the other nodes.
func (n *nodeProcess) kill9(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-n.exited
}

// term stops the node as an operator does (SIGTERM): it drains, and ends
// when its meetings have moved off or ended.
func (n *nodeProcess) term(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop 30 s after SIGTERM", n.id)
	}
}

// knows reports whether n's meeting page lets its signaling go to other:
// its Content-Security-Policy names other once n has seen it in the cluster.
func (n *nodeProcess) knows(other *nodeProcess) (bool, string) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(n.url + "/r/summit")
	if err != nil {
		return false, err.Error()
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	return strings.Contains(csp, " "+other.url+" "), csp
}

// linkOn is a deep link into room on the node at base, for a token signed
// with the cluster's key; it joins at once with low-resolution capture.
func linkOn(t *testing.T, signer *auth.Signer, base, room, identity string) string {
	t.Helper()
	tok, err := signer.Mint(auth.Claims{
		Subject: identity, Room: room, Name: identity, Grants: []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe},
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s/r/%s?token=%s&autojoin=1&quality=low", base, room, url.QueryEscape(tok))
}

// adminOn is an operator of the node at base, over its admin API.
func adminOn(t *testing.T, signer *auth.Signer, base string) *adminclient.Client {
	t.Helper()
	tok, err := signer.Mint(auth.Claims{Subject: "operator", Room: auth.AdminRoom, Grants: []auth.Grant{auth.GrantAdmin},
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return &adminclient.Client{URL: base + "/", Token: tok}
}

// roomsOn lists the rooms the node of op holds a part of, by name, with the
// participants each has as the node sees it (on every node). Rooms only
// other nodes hold are left out.
func roomsOn(ctx context.Context, op *adminclient.Client) (map[string]int, error) {
	list, err := op.RoomList(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, r := range list.Rooms {
		if r.Node == list.Node {
			out[r.Name] = r.Participants
		}
	}
	return out, nil
}

// TestBrowserComesBackAfterItsNodeIsKilled: two nodes run as processes, a
// room spans them; the node of one page dies (SIGKILL). The page comes back
// in the room through the other node, in its own seat, within seconds, and
// sees and hears the others again; the page never leaves its reconnecting
// state for an error.
func TestBrowserComesBackAfterItsNodeIsKilled(t *testing.T) {
	comesBackThroughAnotherNode(t, "killed", (*nodeProcess).kill9)
}

// TestBrowserMovesWhenItsNodeDrains: the same, with the node stopped as an
// operator stops it (SIGTERM): it tells its pages the nodes live now, and
// they take their seats there, as after a crash but without waiting for a
// dead socket.
func TestBrowserMovesWhenItsNodeDrains(t *testing.T) {
	comesBackThroughAnotherNode(t, "drained", (*nodeProcess).term)
}

// comesBackThroughAnotherNode runs the page of a node that stop ends (how,
// for the logs) and checks it comes back through the other node.
func comesBackThroughAnotherNode(t *testing.T, how string, stop func(*nodeProcess, *testing.T)) {
	bin := parleyCommand(t)
	r := redistest.Start(t)
	key, keyFile := servertest.ClusterKey(t)
	signer := auth.NewSigner(key)
	a := startNodeProcess(t, bin, "node-a", r.URL(), keyFile)
	b := startNodeProcess(t, bin, "node-b", r.URL(), keyFile)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	// The nodes beat every second: each sees the other within a few.
	waitFor(t, ctx, "A to know B", func() (bool, string) { return a.knows(b) })
	waitFor(t, ctx, "B to know A", func() (bool, string) { return b.knows(a) })

	// The room opens on A first: a new room goes to the least loaded node,
	// and a page's first join could be sent to the other one.
	opA, opB := adminOn(t, signer, a.url), adminOn(t, signer, b.url)
	if _, err := opA.CreateRoom(ctx, "summit", adminclient.SettingsInput{}); err != nil {
		t.Fatal(err)
	}

	browser := newBrowser(t)
	steady := newTab(t, browser)
	if err := addScript(steady, watchRosterJS+watchSocketsJS, chromedp.Navigate(linkOn(t, signer, a.url, "summit", "steady-a"))); err != nil {
		t.Fatal(err)
	}
	pg := newTab(t, browser)
	if err := addScript(pg, watchSocketsJS, chromedp.Navigate(linkOn(t, signer, b.url, "summit", "page-b"))); err != nil {
		t.Fatal(err)
	}
	for name, tab := range map[string]context.Context{"steady-a": steady, "page-b": pg} {
		if err := waitJoined(ctx, tab); err != nil {
			t.Fatalf("%s never joined: %v", name, err)
		}
	}
	waitFlowing(t, ctx, pg, "page-b", []string{"steady-a"})
	waitFlowing(t, ctx, steady, "steady-a", []string{"page-b"})
	// Each page's signaling went to its own node only, which welcomed it,
	// and both nodes hold a part of the room with the two in it.
	wsOf := func(n *nodeProcess) string { return "ws" + strings.TrimPrefix(n.url, "http") + "/ws" }
	var listed []string // the nodes B's welcome names
	for _, tab := range []struct {
		name string
		ctx  context.Context
		node *nodeProcess
	}{{"steady-a", steady, a}, {"page-b", pg, b}} {
		events, err := socketEvents(tab.ctx)
		if err != nil {
			t.Fatal(err)
		}
		welcomed := false
		for _, e := range events {
			if e.URL != wsOf(tab.node) {
				t.Fatalf("%s opened signaling on %s, want its own node's %s only: %+v", tab.name, e.URL, wsOf(tab.node), events)
			}
			if e.Type == "welcome" {
				welcomed, listed = true, e.Nodes
			}
		}
		if !welcomed {
			t.Fatalf("%s has no welcome: %+v", tab.name, events)
		}
	}
	if len(listed) != 1 || listed[0] != a.url {
		t.Fatalf("B's welcome lists the nodes %v, want A's %s", listed, a.url)
	}
	for id, op := range map[string]*adminclient.Client{"node-a": opA, "node-b": opB} {
		rooms, err := roomsOn(ctx, op)
		if err != nil {
			t.Fatalf("%s's rooms: %v", id, err)
		}
		if len(rooms) != 1 || rooms["summit"] != 2 {
			t.Fatalf("%s holds %v, want a part of summit with the two in it", id, rooms)
		}
	}
	selfID, err := chromedp.Run(pg, chromedp.Evaluate[string](`window.parleyTest.state().self.id`))
	if err != nil || selfID == "" {
		t.Fatalf("page-b's own id: %q, %v", selfID, err)
	}
	before, err := videoByMid(pg, "steady-a")
	if err != nil {
		t.Fatal(err)
	}

	killedAt := time.Now()
	stop(b, t)
	t.Logf("node-b %s", how)
	var (
		reconnecting     bool          // the page showed its reconnecting state
		welcomed         time.Duration // A welcomed the page (the page's clock)
		seated, decoding time.Duration // steady-a saw the page active again; the page decodes steady-a again
	)
	deadline := time.After(10 * time.Second)
	for welcomed == 0 || seated == 0 || decoding == 0 {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-deadline:
			t.Fatalf("10 s after node-b %s: reconnecting shown %v, welcomed by A after %v, seated again after %v, decoding again after %v",
				how, reconnecting, welcomed, seated, decoding)
		case <-time.After(100 * time.Millisecond):
		}
		// The page says it is reconnecting, never that the meeting ended.
		ui, err := chromedp.Run(pg, chromedp.Evaluate[struct {
			State        string `json:"state"`
			View         string `json:"view"`
			Reconnecting bool   `json:"reconnecting"`
		}](`({state: document.body.dataset.state || '', view: document.body.dataset.view || '', reconnecting: !document.getElementById('reconnecting').hidden})`))
		if err != nil {
			t.Fatal(err)
		}
		if ui.State == "error" || ui.View == "ended" {
			t.Fatalf("the page gave up: %s", pageText(pg))
		}
		if ui.Reconnecting && !reconnecting {
			reconnecting = true
			said, _ := chromedp.Run(pg, chromedp.Evaluate[string](`document.getElementById('reconnecting').textContent.trim()`))
			t.Logf("%v after node-b stopped the page says: %q", time.Since(killedAt).Round(time.Millisecond), said)
			screenshot(t, pg, "node-"+how+"-reconnecting")
		}
		if welcomed == 0 {
			events, err := socketEvents(pg)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range events {
				if e.Type == "welcome" && e.URL == wsOf(a) {
					welcomed = time.UnixMilli(e.At).Sub(killedAt)
				}
			}
		}
		if seated == 0 {
			roster, err := chromedp.Run(steady, chromedp.Evaluate[[]rosterEvent](`window.__roster || []`))
			if err != nil {
				t.Fatal(err)
			}
			var away bool
			for _, e := range roster {
				if e.ID != selfID {
					continue
				}
				switch {
				case e.Type == "participant-left":
					t.Fatalf("steady-a was told page-b left (%s): %+v", e.Reason, roster)
				case e.Type == "participant-updated" && e.State == "reconnecting":
					away = true
				case e.Type == "participant-updated" && away && e.State == "active":
					seated = time.Since(killedAt)
				}
			}
		}
		// Only frames of the session the page made after the kill count:
		// the one before closed when the page began to reconnect.
		if decoding == 0 && welcomed != 0 && reconnecting {
			now, err := videoByMid(pg, "steady-a")
			if err != nil {
				t.Fatal(err)
			}
			if decodedSince(before, now) {
				decoding = time.Since(killedAt)
			}
		}
	}
	t.Logf("after node-b stopped: A welcomed the page after %v, steady-a saw it active again after %v, it decodes steady-a again after %v",
		welcomed.Round(time.Millisecond), seated.Round(time.Millisecond), decoding.Round(time.Millisecond))
	if !reconnecting {
		t.Error("the page never showed that it was reconnecting")
	}
	screenshot(t, pg, "node-"+how+"-back")

	// The same seat, now on A, and media flows both ways again.
	after, err := chromedp.Run(pg, chromedp.Evaluate[string](`window.parleyTest.state().self.id`))
	if err != nil || after != selfID {
		t.Errorf("page-b came back as %q (%v), was %q", after, err, selfID)
	}
	waitFlowing(t, ctx, pg, "page-b", []string{"steady-a"})
	waitFlowing(t, ctx, steady, "steady-a", []string{"page-b"})
	// A, the one node left, has both in their seats, active.
	ps, err := opA.ListParticipants(ctx, "summit")
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, p := range ps {
		states[p.Identity+" "+p.ID] = p.State
	}
	if len(ps) != 2 || states["page-b "+selfID] != "active" {
		t.Errorf("A's participants of summit: %+v, want steady-a and page-b as %s, active", ps, selfID)
	}
	if origin, err := chromedp.Run(pg, chromedp.Evaluate[string](`location.origin`)); err != nil || origin != b.url {
		t.Errorf("the page's origin is %q (%v), want B's %s: it was not reloaded", origin, err, b.url)
	}
}

// TestSimulcastAcrossNodes: a 720p camera on node A goes out in three
// layers; the relay carries each layer to node B once, and a viewer on B
// gets a large layer for a large tile and the small one for a thumbnail,
// chosen by B, without the video stopping.
func TestSimulcastAcrossNodes(t *testing.T) {
	r := redistest.Start(t)
	nodes := servertest.StartCluster(t, r.URL(), []string{"node-a", "node-b"}, func(c *config.Config) { c.SpanRooms = true })
	a, b := nodes[0], nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for _, n := range nodes {
		waitFor(t, ctx, n.Cluster().ID()+" to see the other node", func() (bool, string) {
			return len(n.Cluster().Peers()) == 1, fmt.Sprint(n.Cluster().Peers())
		})
	}
	op := &adminclient.Client{URL: a.URL() + "/", Token: servertest.Mint(t, a, auth.AdminRoom, "operator", auth.GrantAdmin)}
	if _, err := op.CreateRoom(ctx, "layers", adminclient.SettingsInput{}); err != nil {
		t.Fatal(err)
	}
	browser := newBrowser(t)
	grants := []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}
	joinTab(t, ctx, browser, strings.Replace(roomURL(t, a, "layers", "presenter", grants...), "quality=low", "quality=high", 1))
	view := joinTab(t, ctx, browser, roomURL(t, b, "layers", "viewer", grants...))
	if rs := b.Rooms().Rooms(); len(rs) != 1 || rs[0].Participants != 1 {
		t.Fatalf("B holds %+v, want a part of layers with the viewer in it", rs)
	}
	waitFlowing(t, ctx, view, "viewer", []string{"presenter"})
	// Each of the camera's layers crosses once: A relays them as three
	// streams of one track, beside the microphone.
	waitFor(t, ctx, "A relays the camera's three layers and the microphone", func() (bool, string) {
		parts, err := a.Rooms().Parts(ctx, "layers")
		return err == nil && len(parts) == 1 && parts[0].Sent == 4, fmt.Sprintf("%+v %v", parts, err)
	})

	big := waitVideo(t, ctx, view, "presenter", "a large layer for a large tile on B", func(v inbound) bool { return v.FrameWidth >= 640 })
	t.Logf("large tile: %dx%d", big.FrameWidth, big.FrameHeight)
	if err := chromedp.Do(view, chromedp.EmulateViewport(300, 220)); err != nil {
		t.Fatal(err)
	}
	small := waitVideo(t, ctx, view, "presenter", "the small layer for a thumbnail on B", func(v inbound) bool { return v.FrameWidth > 0 && v.FrameWidth <= 320 })
	t.Logf("thumbnail: %dx%d", small.FrameWidth, small.FrameHeight)
	before := small.FramesDecoded
	waitVideo(t, ctx, view, "presenter", "frames after the switch", func(v inbound) bool { return v.FramesDecoded > before+10 })
}

// TestCaptionsAcrossNodes: the floor speaker's page is on node A, its
// listeners' pages on node B. A transcribes its speaker once (the real
// recogniser), and B's floor listener reads the English caption; B's
// listener who chose Spanish reads it machine translated (a real engine),
// translated once, by A, which knows what B's listeners follow.
func TestCaptionsAcrossNodes(t *testing.T) {
	engine := testengine.Start(t, 0)
	mt := mtengine.Start(t)
	wav := testengine.SpeechWAV(t, 3*time.Second)
	r := redistest.Start(t)
	nodes := servertest.StartCluster(t, r.URL(), []string{"node-a", "node-b"}, func(c *config.Config) {
		c.SpanRooms = true
		c.ASRURL, c.ASRModel, c.ASRLanguage = engine.URL, "pocketsphinx-en-us", "en"
		c.ASRStall = patientStall
		c.TranslateURL, c.TranslateKind = mt, "apertium"
	})
	a, b := nodes[0], nodes[1]
	// A bound, not a measure: on a busy machine the recogniser takes 20 s a segment.
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()
	for _, n := range nodes {
		waitFor(t, ctx, n.Cluster().ID()+" to see the other node", func() (bool, string) {
			return len(n.Cluster().Peers()) == 1, fmt.Sprint(n.Cluster().Peers())
		})
	}
	op := &adminclient.Client{URL: a.URL() + "/", Token: servertest.Mint(t, a, auth.AdminRoom, "operator", auth.GrantAdmin)}
	langs := []string{"en", "es"}
	if _, err := op.CreateRoom(ctx, "briefing", adminclient.SettingsInput{Languages: &langs}); err != nil {
		t.Fatal(err)
	}
	browser := newBrowser(t, chromedp.Flag("use-file-for-fake-audio-capture", wav))
	joinTab(t, ctx, browser, originalSound(roomURL(t, a, "briefing", "head-a", auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe)))
	floor := joinTab(t, ctx, browser, roomURL(t, b, "briefing", "floor-b", auth.GrantJoin, auth.GrantSubscribe))
	oyente := joinTab(t, ctx, browser, roomURL(t, b, "briefing", "oyente-b", auth.GrantJoin, auth.GrantSubscribe))
	if err := evalVoid(oyente, `window.parleyTest.listen("es")`); err != nil {
		t.Fatal(err)
	}
	if got := len(b.Rooms().Rooms()); got != 1 || b.Rooms().Rooms()[0].Participants != 2 {
		t.Fatalf("B serves %+v, want the room's part with its two listeners", b.Rooms().Rooms())
	}

	c := waitCaption(t, ctx, floor, "the floor listener on B", "head-a", nil)
	t.Logf("the floor listener on B reads %q (%s)", c.Text, c.Lang)
	if c.Lang != "EN" {
		t.Errorf("caption language %q, want EN", c.Lang)
	}
	waitFor(t, ctx, "the Spanish listener on B reads a machine translated caption", func() (bool, string) {
		got, err := captionsReceived(oyente)
		if err != nil {
			return false, err.Error()
		}
		for _, g := range got {
			if g.Identity == "head-a" && g.Channel == "es" && strings.Contains(strings.ToLower(g.Text), "diez metros") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("received: %+v", got)
	})
	// One transcription: only A's engine heard the speaker.
	if n := asrCounter(t, b, "parley_asr_latency_seconds_count"); n != 0 {
		t.Errorf("B transcribed %v segments; its own participants said nothing", n)
	}
}
