package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/signal"
)

// TrackObserver is told about each track forwarded to the client when its
// first packet arrives. The function it returns (nil for none) is then called
// for every RTP packet of that track, on the track's read goroutine, with the
// whole packet after SRTP and its arrival time in Unix nanoseconds; pkt is
// only valid during the call.
type TrackObserver func(in *Inbound) func(pkt []byte, at int64)

// DialObserved is Dial with obs watching every packet the server forwards:
// the load tool measures loss and latency with it. Inbound keeps counting.
// Its connections run what a browser's RTP behaviour needs and no more (see
// NewLoadAPI), so that one load generator can drive many participants.
func DialObserved(ctx context.Context, o Options, obs TrackObserver) (*Client, error) {
	return follow(ctx, o, func(ctx context.Context, o Options) (*Client, *signal.Redirect, error) {
		return dialObserved(ctx, o, obs)
	})
}

func dialObserved(ctx context.Context, o Options, obs TrackObserver) (*Client, *signal.Redirect, error) {
	api, err := NewLoadAPI()
	if err != nil {
		return nil, nil, err
	}
	wsURL := "ws" + strings.TrimPrefix(strings.TrimRight(o.URL, "/"), "http") + "/ws"
	ws, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{}})
	if err != nil {
		return nil, nil, fmt.Errorf("websocket: %w", err)
	}
	ws.SetReadLimit(1 << 20)
	cctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		ws: ws, api: api, ctx: cctx, cancel: cancel, url: strings.TrimRight(o.URL, "/"),
		notify: make(chan struct{}), subMap: map[string]signal.SubTrack{},
		inbound: map[*webrtc.TrackRemote]*Inbound{}, answered: make(chan string, 4),
	}
	// The "sub" connection exists before the first offer can arrive, so the
	// observer sees every track (onSubOffer reuses it).
	sub, err := c.newPC(signal.PCSub)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	sub.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) { c.observeTrack(t, r, obs) })
	c.sub = sub
	if err := c.Send(&signal.Join{Type: "join", Version: signal.Version, Room: o.Room, Token: o.Token, Name: o.Name}); err != nil {
		c.Close()
		return nil, nil, err
	}
	c.wg.Add(1)
	go c.readLoop()
	return c.answer(ctx)
}

// NewLoadAPI is NewAPI with a lean set of interceptors: NACK (generating
// and answering), RTCP sender and receiver reports, and transport-wide
// congestion control sequence numbers on what it sends, as browsers do. It
// leaves out Pion's statistics interceptor (getStats), which costs the load
// generator time on every packet and is of no use to it.
func NewLoadAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(m, ir); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, ir); err != nil {
		return nil, err
	}
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetNet(bigBufferNet{n})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// loadSocketBuffer is the receive buffer asked for each load client's UDP
// socket (the kernel caps it at net.core.rmem_max). The default, about
// 200 KB, holds well under a second of one stream: a load generator that
// stalls for a moment would lose packets of its own and blame the server.
const loadSocketBuffer = 2 << 20

// bigBufferNet is the standard network with larger UDP receive buffers.
type bigBufferNet struct{ *stdnet.Net }

func (n bigBufferNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err == nil {
		_ = c.SetReadBuffer(loadSocketBuffer) // best effort
	}
	return c, err
}

func (c *Client) observeTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver, obs TrackObserver) {
	in := &Inbound{Kind: t.Kind().String()}
	c.mu.Lock()
	for _, tr := range c.sub.GetTransceivers() {
		if tr.Receiver() == r {
			st := c.subMap[tr.Mid()]
			in.Participant, in.Identity, in.Source = st.Participant, st.Identity, st.Source
		}
	}
	c.inbound[t] = in
	c.mu.Unlock()
	var fn func([]byte, int64)
	if obs != nil {
		fn = obs(in)
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		at := time.Now().UnixNano()
		in.Packets.Add(1)
		in.Bytes.Add(uint64(n))
		if fn != nil {
			fn(buf[:n], at)
		}
	}
}

// WaitPublishing blocks until the "pub" connection is connected (ICE and
// DTLS done, media flowing), it fails, or ctx ends.
func (c *Client) WaitPublishing(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		c.mu.Lock()
		pub := c.pub
		c.mu.Unlock()
		if pub == nil {
			return errors.New("not publishing")
		}
		switch pub.ConnectionState() {
		case webrtc.PeerConnectionStateConnected:
			return nil
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			return fmt.Errorf("publishing connection %s", pub.ConnectionState())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Health returns the first sign, after message number mark (see Mark), that
// the session is no longer sound: an "error" from the server, a failure of
// the client itself (such as a rejected offer), or the end of the socket. It
// returns nil while all is well.
func (c *Client) Health(mark int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.msgs[min(mark, len(c.msgs)):] {
		if t := typeOf(m); t == "error" || t == "client-error" {
			var e signal.Error
			_ = json.Unmarshal(m, &e)
			return &e
		}
	}
	if c.readErr != nil {
		return fmt.Errorf("signaling connection ended: %w", c.readErr)
	}
	return nil
}

// Mark is the number of messages received so far, for Health and ErrorSince.
func (c *Client) Mark() int { return c.mark() }
