package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The SFrame replay window (web/static/sframe.js), run in the browser that
// uses it: a frame opened once is refused again, as is one older than the
// window; frames reordered within the window pass once each.
func TestSFrameReplayWindow(t *testing.T) {
	srv := startServer(t)
	tab := newTab(t, newBrowser(t))
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL()+"/")); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]bool](`(async () => {
		const { ReplayWindow, REPLAY_WINDOW } = await import('/assets/sframe.js');
		const w = new ReplayWindow();
		const a = 7n, b = 8n;
		return [
			w.accept(a, 10n),                   // first
			w.accept(a, 10n),                   // replayed
			w.accept(a, 12n),                   // ahead
			w.accept(a, 11n),                   // late, within the window
			w.accept(a, 11n),                   // replayed late
			w.accept(b, 10n),                   // another sender's counter 10
			w.accept(a, 12n + REPLAY_WINDOW),   // far ahead
			w.accept(a, 12n),                   // now older than the window
			w.accept(a, 13n),                   // inside the window, never seen
			w.accept(a, 13n + REPLAY_WINDOW + REPLAY_WINDOW), // a jump past the whole window
			w.accept(a, 12n + REPLAY_WINDOW),   // fell out of it
		];
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{true, false, true, true, false, true, true, false, true, true, false}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d: accepted %v, want %v (all: %v)", i, got[i], want[i], got)
		}
	}
}
