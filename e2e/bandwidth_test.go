package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestBrowserVideoUnderBandwidthCap: a viewer whose downlink is capped at
// 300 kbit/s gets the publisher's low simulcast layer and no sustained loss;
// when the cap is lifted it climbs to a larger layer by itself.
func TestBrowserVideoUnderBandwidthCap(t *testing.T) {
	srv := startServer(t)
	path := newImpairedPath(t, srv, 7)
	// Like tc tbf with a 300 kbit/s rate and a 20 kB queue (about half a
	// second at the cap): what does not fit is dropped.
	path.udp.setLaneRate(toClient, 300_000, 20_000)
	ctx, cancel := context.WithTimeout(context.Background(), 110*time.Second)
	defer cancel()
	// A 720p camera: layers of 320x180, 640x360 and 1280x720.
	_, b := watchThroughPath(t, ctx, srv, path, "narrow", "high")

	// Let the estimate settle (the first seconds probe the link), then watch.
	time.Sleep(8 * time.Second)
	first, err := videoOf(b, "pub-a")
	if err != nil {
		t.Fatal(err)
	}
	proxyBefore := path.udp.stats()
	trace := newMediaTrace(srv, path, first)
	defer func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("per-second trace of sub-b's video of pub-a and the server:\n%s", trace)
		}
	}()
	const samples = 20
	var low, flat int
	widths := map[int]int{}
	prev, last := first, first
	for range samples {
		select {
		case <-ctx.Done():
			t.Fatal("timed out while capped")
		case <-time.After(time.Second):
		}
		now, err := videoOf(b, "pub-a")
		if err != nil {
			t.Fatal(err)
		}
		trace.sample(fmt.Sprint(len(trace.rows)+1), now)
		widths[now.FrameWidth]++
		if now.FrameWidth > 0 && now.FrameWidth <= 320 {
			low++
		}
		if now.FramesDecoded <= prev.FramesDecoded {
			flat++
		}
		prev, last = now, now
	}
	proxy := path.udp.stats().sub(proxyBefore)
	received := last.PacketsReceived - first.PacketsReceived
	lost := last.PacketsLost - first.PacketsLost
	frames := last.FramesDecoded - first.FramesDecoded
	t.Logf("capped at 300 kbit/s for %d s: frame widths %v; %d frames (%.1f/s); %d packets, %d lost, %d NACKs, %d repaired over RTX; %.2f s frozen; proxy: %s",
		samples, widths, frames, float64(frames)/samples, received, lost, last.NackCount-first.NackCount, last.RTXReceived-first.RTXReceived,
		last.TotalFreezesDuration-first.TotalFreezesDuration, proxy)

	// The low layer, nearly all the time: the estimator may try the next
	// layer now and then (it cannot know the cap is still there without
	// trying), and steps back within a second when the queue grows.
	if low < samples*3/4 {
		t.Errorf("the low layer showed in only %d of %d samples: %v", low, samples, widths)
	}
	// No sustained loss: under 3% of packets, and the video keeps decoding.
	if received < 200 || lost*100 > received*3 {
		t.Errorf("%d of %d packets lost under the cap", lost, received)
	}
	if flat > 2 {
		t.Errorf("video stopped decoding in %d of %d one-second samples", flat, samples)
	}
	if proxy.ToClient.Forwarded == 0 {
		t.Fatalf("nothing crossed the capped path: %s", proxy)
	}

	// Lift the cap: a larger layer follows without anyone doing anything.
	path.udp.setLaneRate(toClient, 0, 0)
	lifted := time.Now()
	var up inbound
	waitFor(t, ctx, "a larger layer once the cap is lifted", func() (bool, string) {
		v, err := videoOf(b, "pub-a")
		if err != nil {
			t.Fatal(err)
		}
		up = v
		return v.FrameWidth >= 640, fmt.Sprintf("frame width %d after %.0f s", v.FrameWidth, time.Since(lifted).Seconds())
	})
	t.Logf("cap lifted: %dx%d after %.1f s", up.FrameWidth, up.FrameHeight, time.Since(lifted).Seconds())
}
