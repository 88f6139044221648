package whepview_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/bench/whepview"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/server/servertest"
)

// arrival is one received packet.
type arrival struct {
	at, latency int64 // Unix ns; ns from send to arrival
	seq         uint16
	key         bool // the first packet of a VP8 keyframe
}

// log keeps what one viewer received of one kind.
type log struct {
	mu  sync.Mutex
	all []arrival
}

func (l *log) add(a arrival) {
	l.mu.Lock()
	l.all = append(l.all, a)
	l.mu.Unlock()
}

// between returns the arrivals in [from, to).
func (l *log) between(from, to time.Time) []arrival {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []arrival
	for _, a := range l.all {
		if a.at >= from.UnixNano() && a.at < to.UnixNano() {
			out = append(out, a)
		}
	}
	return out
}

// missing counts the sequence numbers absent between the first and last of as.
func missing(as []arrival) int {
	if len(as) < 2 {
		return 0
	}
	seen := map[uint16]bool{}
	for _, a := range as {
		seen[a.seq] = true
	}
	n := 0
	for s := as[0].seq; s != as[len(as)-1].seq; s++ {
		if !seen[s] {
			n++
		}
	}
	return n
}

func p99(as []arrival) time.Duration {
	if len(as) == 0 {
		return 0
	}
	l := make([]int64, len(as))
	for i, a := range as {
		l[i] = a.latency
	}
	slices.Sort(l)
	return time.Duration(l[len(l)*99/100])
}

// vp8KeyStart reports whether a VP8 RTP payload starts a keyframe.
func vp8KeyStart(p []byte) bool {
	if len(p) < 1 || p[0]&0x10 == 0 || p[0]&0x07 != 0 {
		return false
	}
	i := 1
	if p[0]&0x80 != 0 {
		if len(p) < 2 {
			return false
		}
		x := p[1]
		i = 2
		if x&0x80 != 0 {
			if len(p) > i && p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 {
			i++
		}
		if x&0x30 != 0 {
			i++
		}
	}
	return len(p) > i && p[i]&0x01 == 0
}

// TestSlowViewerStallsNoOne: one of three viewers stops reading its socket
// for 5 s (its kernel buffer fills, the rest is dropped). The other two see
// no loss and no p99 latency more than 5 ms above what they saw before; the
// slow one, reading again, finds the gap, asks for a keyframe and gets one.
func TestSlowViewerStallsNoOne(t *testing.T) {
	srv := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Keyframes only when asked: the slow viewer's must come from its request.
	publishCamera(t, ctx, srv, "hall", "speaker", client.SourceConfig{Bitrate: 1_000_000, KeyframeInterval: time.Hour})
	cert, reader := viewerKit(t)
	type viewer struct {
		v            *whepview.Viewer
		audio, video *log
	}
	var vs []viewer
	for i := range 3 {
		vw := viewer{audio: &log{}, video: &log{}}
		v, err := whepview.Dial(ctx, whepview.Options{
			Endpoint: whepview.EndpointURL(srv.URL(), "hall", "speaker"),
			Token:    servertest.Mint(t, srv, "hall", "viewer"+string(rune('a'+i)), auth.GrantJoin, auth.GrantSubscribe),
			Cert:     cert, Reader: reader, Sample: 1,
			// 128 KiB (doubled by the kernel): about 2 s of this stream.
			ReceiveBuffer: 128 << 10,
			OnTrack: func(kind string) func([]byte, int64, bool) {
				l := vw.audio
				if kind == "video" {
					l = vw.video
				}
				return func(pkt []byte, at int64, _ bool) {
					seq, payload, ok := client.ParseRTP(pkt)
					sent, ok2 := client.SendTime(payload)
					if ok && ok2 {
						l.add(arrival{at: at, latency: at - sent, seq: seq, key: kind == "video" && vp8KeyStart(payload)})
					}
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		vw.v = v
		vs = append(vs, vw)
	}
	time.Sleep(3 * time.Second) // every viewer has its first keyframe and a steady stream

	// The window before is as long as the stall, so a scheduling hiccup of
	// the machine is as likely in either: the comparison is of like with like.
	t0 := time.Now()
	time.Sleep(5 * time.Second)
	t1 := time.Now()
	vs[0].v.StopReading()
	time.Sleep(5 * time.Second)
	t2 := time.Now()
	vs[0].v.ResumeReading()
	time.Sleep(3 * time.Second)
	t3 := time.Now()

	for i, vw := range vs[1:] {
		for kind, l := range map[string]*log{"audio": vw.audio, "video": vw.video} {
			before, during := l.between(t0, t1), l.between(t1, t2)
			if len(during) < 100 {
				t.Fatalf("viewer %d %s: %d packets while the slow one stalled", i+1, kind, len(during))
			}
			if n := missing(during); n > 0 {
				t.Errorf("viewer %d %s: %d of %d packets lost while the slow one stalled", i+1, kind, n, len(during)+n)
			}
			if pb, pd := p99(before), p99(during); pd > pb+5*time.Millisecond {
				t.Errorf("viewer %d %s: p99 latency %v while the slow one stalled, %v before", i+1, kind, pd, pb)
			}
			t.Logf("viewer %d %s: p99 %v before, %v during the stall, %d packets", i+1, kind, p99(before), p99(during), len(during))
		}
	}
	// The slow viewer lost packets, asked for a keyframe, and got one.
	after := vs[0].video.between(t2, t3)
	if n := missing(vs[0].video.between(t1, t3)); n == 0 {
		t.Fatalf("the slow viewer lost nothing: its socket buffer held the whole stall, so the test tests nothing")
	}
	if vs[0].v.PLIs.Load() == 0 {
		t.Error("the slow viewer never asked for a keyframe")
	}
	key := -1
	for i, a := range after {
		if a.key && time.Duration(a.latency) < time.Second {
			key = i
			break
		}
	}
	if key < 0 {
		t.Fatalf("no fresh keyframe reached the slow viewer within 3 s of reading again (%d packets after)", len(after))
	}
	if len(after)-key < 50 {
		t.Errorf("only %d packets followed the keyframe", len(after)-key)
	}
	t.Logf("slow viewer: keyframe %v after reading again, %d PLIs", time.Duration(after[key].at-t2.UnixNano()), vs[0].v.PLIs.Load())
}
