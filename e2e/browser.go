// Package e2e holds end-to-end tests that drive real headless Chromium against
// a real Parley server, and the small harness they share.
package e2e

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// debianChromium is the browser itself behind Debian's /usr/bin/chromium. That
// launcher script sources /etc/chromium.d, which adds flags and API keys of its
// own (GPU rasterisation, remote extensions) and tests /dev/shm's free space
// with a `[ $avail -lt … ]` that breaks where /dev/shm is mounted twice
// (findmnt then prints two numbers: "[: …: unexpected operator"; harmless, as
// the check only adds --disable-dev-shm-usage when /dev/shm is small). The
// tests run the browser directly, with exactly the flags they choose.
const debianChromium = "/usr/lib/chromium/chromium"

// chromiumPath finds a Chromium: Debian's, else one on the PATH. Outside CI a
// missing browser skips the test with instructions; under CI=true it fails the run.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(debianChromium); err == nil {
		return debianChromium
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium on the PATH; install it with: sudo apt-get install -y chromium"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// newBrowser starts one headless Chromium with fake camera and microphone and a
// fresh profile; tabs are made from the returned context with newTab.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// Several tabs share two cores: keep background tabs running at full speed.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.WindowSize(1280, 800),
	}
	opts = append(opts, extra...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil { // launch now so failures name the browser
		t.Fatalf("starting Chromium: %v", err)
	}
	return bctx
}

// newTab opens a tab in the browser of bctx, closed at the end of the test.
func newTab(t *testing.T, bctx context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx
}
