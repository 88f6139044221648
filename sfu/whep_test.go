package sfu

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/sdpoffer"
)

// whepTestAPI is a player's or publisher's Pion: loopback candidates, no STUN.
func whepTestAPI(t *testing.T) *webrtc.API {
	t.Helper()
	return whepTestAPIOn(t, webrtc.NetworkTypeUDP4)
}

// whepTestAPIOn is whepTestAPI over one network type (UDP4 or TCP4).
func whepTestAPIOn(t *testing.T, nt webrtc.NetworkType) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{nt})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se))
}

func whepTestEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := NewEngine(Config{ListenIP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// whepEvents is a Handler that hands over the answer and the tracks.
type whepEvents struct {
	answer chan string
	tracks chan *Receiver
	failed atomic.Bool
}

func newWhepEvents() *whepEvents {
	return &whepEvents{answer: make(chan string, 1), tracks: make(chan *Receiver, 4)}
}

func (h *whepEvents) Candidate(string, webrtc.ICECandidateInit) {}
func (h *whepEvents) PubAnswer(sdp string)                      { h.answer <- sdp }
func (h *whepEvents) SubOffer(string, map[string]string)        {}
func (h *whepEvents) TrackStarted(r *Receiver)                  { h.tracks <- r }
func (h *whepEvents) TrackEnded(*Receiver)                      {}
func (h *whepEvents) Failed(string)                             { h.failed.Store(true) }

func recvOnlyOffer(t *testing.T, pc *webrtc.PeerConnection, kinds ...webrtc.RTPCodecType) string {
	t.Helper()
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

func TestWhepOfferedCodecs(t *testing.T) {
	e := whepTestEngine(t)
	pc, err := whepTestAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got := e.OfferedCodecs(parseOffer(t, recvOnlyOffer(t, pc, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)))
	video, audio := got[webrtc.RTPCodecTypeVideo], got[webrtc.RTPCodecTypeAudio]
	if len(video) == 0 || !strings.EqualFold(video[0].MimeType, webrtc.MimeTypeVP8) {
		t.Errorf("video codecs %v: want VP8 first, as offered", video)
	}
	for _, c := range video {
		if strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) {
			t.Errorf("RTX listed as a codec: %v", video)
		}
	}
	if len(audio) == 0 || !strings.EqualFold(audio[0].MimeType, webrtc.MimeTypeOpus) {
		t.Errorf("audio codecs %v: want Opus first", audio)
	}
	// A section the offerer only sends on is not for a viewer.
	send, err := whepTestAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	tr, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", "s")
	if _, err := send.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	o, _ := send.CreateOffer(nil)
	if got := e.OfferedCodecs(parseOffer(t, o.SDP)); len(got) != 0 {
		t.Errorf("sendonly offer: %v", got)
	}
}

func parseOffer(t *testing.T, raw string) *sdpoffer.Offer {
	t.Helper()
	o, err := sdpoffer.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// The answering side end to end, without rooms: a publisher's track reaches
// a player that offered, through forwarders AnswerViewer made, on the
// player's own payload types. A player over UDP is written to directly, on
// the publisher's read loop (no writer goroutine is ever started); one over
// ICE-TCP, whose writes can block, through its queue's writer.
func TestWhepAnswerViewerForwards(t *testing.T) {
	e := whepTestEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// A publisher sends VP8 with a payload type of its own choosing.
	pubEvents := newWhepEvents()
	pub := e.NewPeer("pub", pubEvents)
	defer pub.Close()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 120}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	client, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	track, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", "s")
	if _, err := client.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	o, _ := client.CreateOffer(nil)
	gathered := webrtc.GatheringCompletePromise(client)
	_ = client.SetLocalDescription(o)
	<-gathered
	if err := pub.PubOffer(client.LocalDescription().SDP); err != nil {
		t.Fatal(err)
	}
	full, err := pub.LocalDescription(ctx, RolePub)
	if err != nil || !strings.Contains(full, "a=candidate:") {
		t.Fatalf("the gathered answer: %v\n%s", err, full)
	}
	if err := client.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: full}); err != nil {
		t.Fatal(err)
	}
	go func() {
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true}, Payload: []byte{0x10, 0x00, 0, 0, 0x9d, 0x01, 0x2a, 0, 0, 0, 0, 0}}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			pkt.SequenceNumber++
			pkt.Timestamp += 1800
			if err := track.WriteRTP(pkt); err != nil {
				return
			}
		}
	}()
	var src *Receiver
	select {
	case src = <-pubEvents.tracks:
	case <-ctx.Done():
		t.Fatal("the published track did not start")
	}

	t.Run("udp", func(t *testing.T) { playViewer(t, ctx, e, src, webrtc.NetworkTypeUDP4, true) })
	t.Run("tcp", func(t *testing.T) { playViewer(t, ctx, e, src, webrtc.NetworkTypeTCP4, false) })
}

// playViewer plays src to a player over nt, and checks that its queue is
// direct or not, as wanted.
func playViewer(t *testing.T, ctx context.Context, e *Engine, src *Receiver, nt webrtc.NetworkType, wantDirect bool) {
	// A player offers to receive video (VP8 among others, on pion's default
	// payload types, not the publisher's 120).
	player, err := whepTestAPIOn(t, nt).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer player.Close()
	var got atomic.Uint64
	var lastTS atomic.Uint32
	reports := make(chan *rtcp.SenderReport, 16)
	player.OnTrack(func(tr *webrtc.TrackRemote, rr *webrtc.RTPReceiver) {
		go func() {
			for {
				pkts, _, err := rr.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == uint32(tr.SSRC()) {
						select {
						case reports <- sr:
						default:
						}
					}
				}
			}
		}()
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			lastTS.Store(pkt.Timestamp)
			got.Add(1)
		}
	})
	offer := recvOnlyOffer(t, player, webrtc.RTPCodecTypeVideo)
	gatheredPlayer := webrtc.GatheringCompletePromise(player)
	<-gatheredPlayer
	viewer := e.NewPeer("viewer-"+nt.String(), newWhepEvents())
	defer viewer.Close()
	answer, fwds, err := viewer.AnswerViewer(ctx, player.LocalDescription().SDP, []ViewerTrack{{ID: "v", Kind: webrtc.RTPCodecTypeVideo, Codec: src.Codec(), StreamID: "pub", Label: "pub:video"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(answer, "a=candidate:") || !strings.Contains(answer, "a=sendonly") {
		t.Fatalf("answer:\n%s", answer)
	}
	if strings.Contains(answer, "a=rtpmap:120 ") || !strings.Contains(answer, "a=rtpmap:96 VP8/90000") {
		t.Errorf("the answer does not keep the offer's payload type for VP8:\n%s", answer)
	}
	if err := player.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	fwds[0].SwitchTo(src)
	for got.Load() < 20 {
		select {
		case <-ctx.Done():
			t.Fatalf("the player received %d packets", got.Load())
		case <-time.After(20 * time.Millisecond):
		}
	}
	// The engine's sender report: this stream's SSRC, what was sent, the
	// wall clock now and the RTP time of now (packets go every 20 ms at
	// 90 kHz: within a second of the last one received).
	select {
	case sr := <-reports:
		now := time.Now()
		ntp := time.Unix(int64(sr.NTPTime>>32)-2208988800, int64((sr.NTPTime&0xffffffff)*1e9>>32))
		if d := now.Sub(ntp); d < 0 || d > 2*time.Second {
			t.Errorf("sender report's NTP time %v is %v from now", ntp, d)
		}
		if sr.PacketCount == 0 || sr.OctetCount < sr.PacketCount {
			t.Errorf("sender report counts %d packets, %d octets", sr.PacketCount, sr.OctetCount)
		}
		if d := int32(sr.RTPTime - lastTS.Load()); d < -90000 || d > 90000 {
			t.Errorf("sender report's RTP time %d is %d ticks from the last packet's %d", sr.RTPTime, d, lastTS.Load())
		}
	case <-time.After(3 * time.Second):
		t.Error("no sender report for the stream in 3 s")
	}
	viewer.mu.Lock()
	q := viewer.q
	viewer.mu.Unlock()
	q.mu.Lock()
	started := q.started
	q.mu.Unlock()
	if q.direct.Load() != wantDirect || started == wantDirect {
		t.Errorf("over %s: direct %v, writer started %v; want direct %v", nt, q.direct.Load(), started, wantDirect)
	}
	// A second offer on the same peer is refused, not half-applied.
	if _, _, err := viewer.AnswerViewer(ctx, offer, nil); err == nil {
		t.Error("a second AnswerViewer succeeded")
	}
}

func TestWhepAnswerViewerRefusesAKindNotOffered(t *testing.T) {
	e := whepTestEngine(t)
	player, err := whepTestAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer player.Close()
	offer := recvOnlyOffer(t, player, webrtc.RTPCodecTypeAudio)
	viewer := e.NewPeer("viewer", newWhepEvents())
	defer viewer.Close()
	_, _, err = viewer.AnswerViewer(context.Background(), offer, []ViewerTrack{{ID: "v", Kind: webrtc.RTPCodecTypeVideo, Codec: webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}}})
	if !errors.Is(err, ErrBadOffer) {
		t.Errorf("video into an audio-only offer: %v, want ErrBadOffer", err)
	}
}
