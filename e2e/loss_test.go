package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// videoOf sums what tab receives of identity's camera (a renegotiation may
// leave more than one inbound stream for it).
func videoOf(tab context.Context, identity string) (inbound, error) {
	in, err := readInbound(tab)
	if err != nil {
		return inbound{}, err
	}
	var sum inbound
	for _, e := range in {
		if e.Identity != identity || e.Kind != "video" || e.Source != "camera" {
			continue
		}
		sum.Identity, sum.Kind, sum.Source = e.Identity, e.Kind, e.Source
		sum.FramesDecoded += e.FramesDecoded
		sum.PacketsReceived += e.PacketsReceived
		sum.BytesReceived += e.BytesReceived
		sum.PacketsLost += e.PacketsLost
		sum.NackCount += e.NackCount
		sum.RTXReceived += e.RTXReceived
		sum.FreezeCount += e.FreezeCount
		sum.TotalFreezesDuration += e.TotalFreezesDuration
		sum.FramesReceived += e.FramesReceived
		sum.FramesDropped += e.FramesDropped
		sum.KeyFramesDecoded += e.KeyFramesDecoded
		sum.PLICount += e.PLICount
		sum.FrameWidth, sum.FrameHeight = max(sum.FrameWidth, e.FrameWidth), max(sum.FrameHeight, e.FrameHeight)
	}
	return sum, nil
}

// TestBrowserVideoUnderLoss: a subscriber whose media crosses a link that
// loses 10% of packets each way keeps decoding the publisher's video: the
// server's packet cache answers its NACKs.
func TestBrowserVideoUnderLoss(t *testing.T) {
	srv := startServer(t)
	path := newImpairedPath(t, srv, 42)
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()
	// Medium capture (640x360) makes frames of several packets, where one
	// lost packet spoils a frame unless it is repaired.
	_, b := watchThroughPath(t, ctx, srv, path, "lossy", "medium")

	// Loss starts once the call is up: this test is about a call on a bad
	// link, not about setting one up over it.
	path.udp.setLoss(0.10)
	proxyBefore := path.udp.stats()
	first, err := videoOf(b, "pub-a")
	if err != nil {
		t.Fatal(err)
	}
	const samples = 15
	t.Logf("before loss: %dx%d, %d frames decoded", first.FrameWidth, first.FrameHeight, first.FramesDecoded)
	trace := newMediaTrace(srv, path, first)
	defer func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("per-second trace of sub-b's video of pub-a and the server:\n%s", trace)
		}
	}()
	prev := first
	var flat []string
	var last inbound
	for i := range samples {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %d samples", i)
		case <-time.After(time.Second):
		}
		now, err := videoOf(b, "pub-a")
		if err != nil {
			t.Fatal(err)
		}
		trace.sample(fmt.Sprint(i+1), now)
		if now.FramesDecoded <= prev.FramesDecoded {
			flat = append(flat, fmt.Sprintf("sample %d: %d frames", i+1, now.FramesDecoded))
		}
		prev, last = now, now
	}
	proxy := path.udp.stats().sub(proxyBefore)
	frames := last.FramesDecoded - first.FramesDecoded
	freezes := last.FreezeCount - first.FreezeCount
	frozen := last.TotalFreezesDuration - first.TotalFreezesDuration
	t.Logf("under 10%% loss for %d s: %d frames decoded (%.1f/s) at %dx%d; %d freezes, %.2f s frozen; "+
		"%d NACKs sent, packetsLost +%d; proxy: %s",
		samples, frames, float64(frames)/samples, last.FrameWidth, last.FrameHeight, freezes, frozen,
		last.NackCount-first.NackCount, last.PacketsLost-first.PacketsLost, proxy)

	// Loss really happened, at about the rate asked, on the media's way in.
	total := proxy.ToClient.Forwarded + proxy.ToClient.Dropped()
	if total < 300 || proxy.ToClient.Lost < total/20 || proxy.ToServer.Lost == 0 {
		t.Fatalf("the proxy did not impair the call: %s", proxy)
	}
	// One flat second in fifteen is scheduling noise on a shared machine; more
	// is video that stalls.
	if len(flat) > 1 {
		t.Errorf("video stopped decoding in %d of %d one-second samples: %v", len(flat), samples, flat)
	}
	// NACK from the server's cache repairs a loss within a round trip (well
	// under a millisecond here), and a retransmission is lost again only one
	// time in ten, so most losses are repaired long before Chrome counts a
	// freeze (a frame gap over max(3 frame intervals, interval + 150 ms)). What
	// repair cannot save ends with a keyframe the server asks for at once: a
	// few short freezes (0 to 1.22 s in all, median 0.22 s, over 40 runs). Chrome itself asks
	// only after 3 s without a decodable frame, so a freeze that the server
	// does not end shows here as 3 s or more.
	if frozen > 2 {
		t.Errorf("video froze %.2f s of %d s (%d freezes)", frozen, samples, freezes)
	}
	if last.NackCount == first.NackCount {
		t.Errorf("sub-b sent no NACK while losing %d packets", proxy.ToClient.Lost)
	}
}
