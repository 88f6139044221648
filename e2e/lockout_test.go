package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/server/servertest"
)

// tappedFrame is one received frame as ciphertext (window.parleyTest.e2eeTap).
type tappedFrame struct {
	Mid      string `json:"mid"`
	Kind     string `json:"kind"`
	Clear    int    `json:"clear"`
	Data     string `json:"data"`
	Identity string `json:"identity"`
}

// generation is the key generation a tapped frame's key id names.
func (f tappedFrame) generation() (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(f.Data)
	if err != nil {
		return 0, err
	}
	kid, _, _, err := sframeHeader(b, f.Clear)
	return int(kid >> 40), err
}

// tap collects n frames from identity as tab receives them (ciphertext), of
// key generation at least minGen.
func tap(t *testing.T, ctx, tab context.Context, identity string, minGen, n int) []tappedFrame {
	t.Helper()
	var out []tappedFrame
	for len(out) < n {
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d frames from %s (generation >= %d) tapped", len(out), n, identity, minGen)
		}
		got, err := chromedp.Run(tab, chromedp.Evaluate[[]tappedFrame](`window.parleyTest.e2eeTap(60)`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range got {
			if g, err := f.generation(); err == nil && f.Identity == identity && g >= minGen {
				out = append(out, f)
			}
		}
	}
	return out
}

// tryOpen asks tab's encryption worker how many of frames the keys it ever held open.
func tryOpen(t *testing.T, tab context.Context, frames []tappedFrame) int {
	t.Helper()
	n, err := chromedp.Run(tab, chromedp.Evaluate[int](`window.parleyTest.e2eeTryOpen(`+jsJSON(t, frames)+`)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// e2eeRoomURL is a deep link with the given grants and a meeting passphrase.
func e2eeRoomURL(t *testing.T, srv *server.Server, room, identity string, grants ...auth.Grant) string {
	t.Helper()
	return roomURL(t, srv, room, identity, grants...) + "#e2ee=" + url.QueryEscape(e2eeRight)
}

// TestE2EELocksOutRemovedParticipant: three participants with the passphrase;
// one is removed but keeps its page, its encryption worker and every key it
// ever held (a modified client that will not let go). The others renew their
// keys without it: of their frames sent after the renewal, taken from the wire,
// its keys open none, while before the removal they opened every one, and the
// two who stay go on seeing and hearing each other.
func TestE2EELocksOutRemovedParticipant(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	ids := []string{"chair", "head-b", "mole"}
	tabs := map[string]context.Context{}
	for _, id := range ids {
		tab := newTab(t, browser)
		if err := chromedp.Do(tab, chromedp.Navigate(e2eeRoomURL(t, srv, "lockout", id, auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe))); err != nil {
			t.Fatal(err)
		}
		tabs[id] = tab
	}
	for _, id := range ids {
		if err := waitJoined(ctx, tabs[id]); err != nil {
			t.Fatalf("%s never joined: %v", id, err)
		}
	}
	for _, id := range ids {
		var others []string
		for _, o := range ids {
			if o != id {
				others = append(others, o)
			}
		}
		waitFlowing(t, ctx, tabs[id], id, others)
	}
	if err := evalVoid(tabs["mole"], `window.parleyTest.keepKeysAfterRemoval()`); err != nil {
		t.Fatal(err)
	}

	// Before: the mole's keys open the chair's frames as head-b receives them.
	before := tap(t, ctx, tabs["head-b"], "chair", 0, 20)
	if n := tryOpen(t, tabs["mole"], before); n != len(before) {
		t.Fatalf("before the removal the mole's keys open %d of %d of the chair's frames: the test proves nothing", n, len(before))
	}

	// A server that presents the chair's stream as the mole's, and the mole's as the
	// chair's: head-b's worker sees each frame's key belongs to someone else and shows
	// neither, until the labels are true again.
	swapped, err := chromedp.Run(tabs["head-b"], chromedp.Evaluate[int](`window.parleyTest.e2eeSwapOwners('chair', 'mole')`))
	if err != nil || swapped < 4 {
		t.Fatalf("relabelled %d tracks (%v), want the chair's and the mole's audio and video", swapped, err)
	}
	// The window starts once the worker's report shows the relabelling at work (it reports
	// twice a second), so no frame opened before it counts.
	var s0 e2eeState
	waitFor(t, ctx, "head-b's worker dropping relabelled frames", func() (bool, string) {
		a, err := readE2EE(tabs["head-b"])
		if err != nil {
			t.Fatal(err)
		}
		ok := s0.MisattributedFrames > 0 && a.MisattributedFrames > s0.MisattributedFrames
		s0 = a
		return ok, fmt.Sprintf("%+v", a)
	})
	in0, err := readInbound(tabs["head-b"])
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	s1, err := readE2EE(tabs["head-b"])
	if err != nil {
		t.Fatal(err)
	}
	in1, err := readInbound(tabs["head-b"])
	if err != nil {
		t.Fatal(err)
	}
	// Both others are relabelled, so head-b's worker opens nothing at all meanwhile. (The
	// decoder's count is only logged: it trails the worker by its own queue.)
	_, f0 := received(in0, "chair")
	_, f1 := received(in1, "chair")
	dropped, opened := s1.MisattributedFrames-s0.MisattributedFrames, s1.DecryptedFrames-s0.DecryptedFrames
	t.Logf("relabelled for 2 s: head-b dropped %d frames under someone else's key, opened %d; the decoder decoded %d video frames of the chair", dropped, opened, f1-f0)
	if dropped < 50 || opened != 0 {
		t.Errorf("relabelled streams: %d frames dropped as another's, %d opened; want them all dropped", dropped, opened)
	}
	if err := evalVoid(tabs["head-b"], `window.parleyTest.e2eeTrueOwners()`); err != nil {
		t.Fatal(err)
	}
	waitFlowing(t, ctx, tabs["head-b"], "head-b", []string{"chair", "mole"})

	if err := srv.Rooms().RemoveParticipant(ctx, "lockout", "mole", false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the mole's page to say it was removed", func() (bool, string) {
		title, err := chromedp.Run(tabs["mole"], chromedp.Evaluate[string](`document.getElementById('end-title').textContent`))
		return err == nil && strings.Contains(title, "removed"), title
	})
	// The two who stay renew their keys and hold each other's new ones.
	gens := map[string]int{}
	for _, id := range []string{"chair", "head-b"} {
		other := map[string]string{"chair": "head-b", "head-b": "chair"}[id]
		waitFor(t, ctx, id+" renewing its key and holding "+other+"'s", func() (bool, string) {
			s, err := readE2EE(tabs[id])
			if err != nil {
				return false, err.Error()
			}
			gens[id] = s.Epoch
			return s.Epoch >= 1 && len(s.Keyed) == 1 && s.Keyed[0] == other, fmt.Sprintf("%+v", s)
		})
	}
	waitFlowing(t, ctx, tabs["chair"], "chair", []string{"head-b"})
	waitFlowing(t, ctx, tabs["head-b"], "head-b", []string{"chair"})

	// After: frames under the renewed keys, from the wire.
	for _, from := range []string{"chair", "head-b"} {
		at := map[string]string{"chair": "head-b", "head-b": "chair"}[from]
		after := tap(t, ctx, tabs[at], from, gens[from], 30)
		if n := tryOpen(t, tabs[at], after); n != len(after) {
			t.Errorf("%s's own keys open %d of %d of %s's frames: the frames are not what the test thinks", at, n, len(after), from)
		}
		if n := tryOpen(t, tabs["mole"], after); n != 0 {
			t.Errorf("the removed participant, keys and passphrase in hand, opens %d of %d of %s's frames sent after the renewal", n, len(after), from)
		} else {
			t.Logf("%s's frames under key generation %d: %s opens %d of %d, the removed participant 0", from, gens[from], at, len(after), len(after))
		}
	}
	s, err := readE2EE(tabs["mole"])
	if err != nil {
		t.Fatal(err)
	}
	if !s.Enabled {
		t.Fatal("the mole's worker stopped: the test hook did not keep it")
	}
}

// replayer is a hostile server's forwarding step: in every `every` Opus
// packets it sends one whose payload is that of a packet sent before (under
// the current packet's sequence number and time), as a server that wants a
// phrase heard twice would.
type replayer struct {
	interceptor.NoOp
	every    int
	replayed atomic.Int64
}

func (r *replayer) NewInterceptor(string) (interceptor.Interceptor, error) { return r, nil }

func (r *replayer) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if !strings.EqualFold(info.MimeType, "audio/opus") {
		return w
	}
	var mu sync.Mutex
	n := 0
	var saved []byte
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		mu.Lock()
		n++
		switch {
		case n%r.every == r.every/2:
			saved = append(saved[:0], payload...)
		case n%r.every == 0 && saved != nil:
			payload = append([]byte(nil), saved...)
			r.replayed.Add(1)
		}
		mu.Unlock()
		return w.Write(h, payload, a)
	})
}

// TestE2EEDropsFramesTheServerReplays: the server sends, once a second, an
// earlier audio frame of the other participant again under a new sequence
// number and timestamp. The frame authenticates (it is the sender's own
// ciphertext) but the receiver's replay window has seen its counter: it is
// dropped and counted, and nothing else suffers.
func TestE2EEDropsFramesTheServerReplays(t *testing.T) {
	r := &replayer{every: 50}
	srv := servertest.StartWith(t, []server.Option{server.WithForwardInterceptor(r)})
	browser := newBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ids := []string{"head-a", "head-b"}
	tabs := map[string]context.Context{}
	for _, id := range ids {
		tab := newTab(t, browser)
		if err := chromedp.Do(tab, chromedp.Navigate(e2eeURL(t, srv, "replayed", id, e2eeRight))); err != nil {
			t.Fatal(err)
		}
		tabs[id] = tab
	}
	for _, id := range ids {
		if err := waitJoined(ctx, tabs[id]); err != nil {
			t.Fatalf("%s never joined: %v", id, err)
		}
	}
	waitFlowing(t, ctx, tabs["head-a"], "head-a", []string{"head-b"})
	waitFlowing(t, ctx, tabs["head-b"], "head-b", []string{"head-a"})
	start := map[string]e2eeState{}
	for _, id := range ids {
		s, err := readE2EE(tabs[id])
		if err != nil {
			t.Fatal(err)
		}
		start[id] = s
	}
	injected := r.replayed.Load()
	time.Sleep(5 * time.Second)
	injected = r.replayed.Load() - injected
	if injected < 4 {
		t.Fatalf("the server replayed only %d frames in 5 s: the test proves nothing", injected)
	}
	for _, id := range ids {
		s, err := readE2EE(tabs[id])
		if err != nil {
			t.Fatal(err)
		}
		replayed := s.ReplayedFrames - start[id].ReplayedFrames
		failed := s.DecryptFailures - start[id].DecryptFailures
		t.Logf("%s: %d replayed frames dropped (the server replayed %d to both), %d failures, %d frames opened", id, replayed, injected, failed, s.DecryptedFrames-start[id].DecryptedFrames)
		if replayed < 2 {
			t.Errorf("%s dropped %d replayed frames in 5 s; the server replayed %d to the two of them", id, replayed, injected)
		}
		if failed != 0 || s.MisattributedFrames != 0 {
			t.Errorf("%s: %d frames failed and %d were misattributed meanwhile: a replay must not look like an attack on the keys", id, failed, s.MisattributedFrames)
		}
	}
	waitFlowing(t, ctx, tabs["head-a"], "head-a", []string{"head-b"})
	waitFlowing(t, ctx, tabs["head-b"], "head-b", []string{"head-a"})
}

// jsJSON is v as a JavaScript expression.
func jsJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
