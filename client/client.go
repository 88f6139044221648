// Package client is a Go client for Parley's signaling protocol
// (docs/protocol.md) built on Pion: it joins a room, publishes tracks and
// receives what the server forwards. Tests and the load tool use it.
package client

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/signal"
)

// Options say where and how to join.
type Options struct {
	URL   string // the server's base URL, e.g. http://127.0.0.1:7880
	Room  string
	Token string
	Name  string
	// Key, when set, is announced at join and countersigns every record checkpoint.
	Key ed25519.PrivateKey
	// Resume is the secret of an earlier welcome: take that seat back.
	Resume string
	// E2EE joins as a client that encrypts end to end (it takes part in the
	// key exchange; this client itself encrypts nothing).
	E2EE bool
	// HTTPClient, when set, makes the WebSocket connection (e.g. to trust a test certificate).
	HTTPClient *http.Client
	// RelayOnly sends all media through the TURN servers the welcome names.
	RelayOnly bool
}

// Inbound counts what arrived on one forwarded track.
type Inbound struct {
	Participant string
	Identity    string
	Source      string
	Kind        string
	Packets     atomic.Uint64
	Bytes       atomic.Uint64
}

// Client is one participant.
type Client struct {
	ws      *websocket.Conn
	api     *webrtc.API
	welcome *signal.Welcome
	url     string // the node joined
	key     ed25519.PrivateKey
	pcConf  webrtc.Configuration
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	writeMu sync.Mutex

	mu       sync.Mutex
	msgs     [][]byte      // every message received, in order
	notify   chan struct{} // closed and replaced on each new message
	pub      *webrtc.PeerConnection
	sub      *webrtc.PeerConnection
	subMap   map[string]signal.SubTrack
	inbound  map[*webrtc.TrackRemote]*Inbound
	answered chan string // pub answers
	pubPend  []webrtc.ICECandidateInit
	subPend  []webrtc.ICECandidateInit
	readErr  error
	receipts map[string]*record.Receipt // by record: the checkpoints this client countersigned
	identity string                     // as the welcome names it (set by the read loop)
}

// NewAPI returns a Pion API that gathers loopback candidates only: tests and
// load runs must stay on this machine.
func NewAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)), nil
}

// maxRedirects is how many redirects in a row Dial follows.
const maxRedirects = 3

// Dial connects and joins. A refused join returns the server's *signal.Error.
// A redirect (a cluster's node sending the client to the node that hosts the
// room) is followed: URL then names the node joined.
func Dial(ctx context.Context, o Options) (*Client, error) {
	return follow(ctx, o, dial)
}

// follow joins with attempt, following redirects.
func follow(ctx context.Context, o Options, attempt func(context.Context, Options) (*Client, *signal.Redirect, error)) (*Client, error) {
	for range maxRedirects + 1 {
		c, moved, err := attempt(ctx, o)
		if err != nil {
			return nil, err
		}
		if moved == nil {
			return c, nil
		}
		u, err := url.Parse(moved.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("redirected to %q, which is not a node's URL", moved.URL)
		}
		o.URL = moved.URL
	}
	return nil, fmt.Errorf("more than %d redirects in a row", maxRedirects)
}

// URL is the base URL of the node the client joined (after redirects).
func (c *Client) URL() string { return c.url }

// dial joins at o.URL, or answers the redirect the node sent instead.
func dial(ctx context.Context, o Options) (*Client, *signal.Redirect, error) {
	api, err := NewAPI()
	if err != nil {
		return nil, nil, err
	}
	wsURL := "ws" + strings.TrimPrefix(strings.TrimRight(o.URL, "/"), "http") + "/ws"
	ws, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{}, HTTPClient: o.HTTPClient})
	if err != nil {
		return nil, nil, fmt.Errorf("websocket: %w", err)
	}
	ws.SetReadLimit(1 << 20)
	cctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		ws: ws, api: api, ctx: cctx, cancel: cancel, url: strings.TrimRight(o.URL, "/"),
		notify: make(chan struct{}), subMap: map[string]signal.SubTrack{},
		inbound: map[*webrtc.TrackRemote]*Inbound{}, answered: make(chan string, 4), key: o.Key, receipts: map[string]*record.Receipt{},
	}
	join := &signal.Join{Type: "join", Version: signal.Version, Room: o.Room, Token: o.Token, Name: o.Name, Resume: o.Resume, E2EE: o.E2EE}
	if o.Key != nil {
		join.Key = base64.RawURLEncoding.EncodeToString(o.Key.Public().(ed25519.PublicKey))
	}
	if err := c.Send(join); err != nil {
		c.Close()
		return nil, nil, err
	}
	if o.RelayOnly {
		c.pcConf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	c.wg.Add(1)
	go c.readLoop()
	return c.answer(ctx)
}

// answer waits for the server's answer to join: a welcome keeps c; an
// error or a redirect closes it.
func (c *Client) answer(ctx context.Context) (*Client, *signal.Redirect, error) {
	raw, err := c.WaitFor(ctx, func(typ string, _ []byte) bool { return typ == "welcome" || typ == "error" || typ == "redirect" })
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	switch typeOf(raw) {
	case "error":
		c.Close()
		var e signal.Error
		_ = json.Unmarshal(raw, &e)
		return nil, nil, &e
	case "redirect":
		c.Close()
		var r signal.Redirect
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, nil, err
		}
		return nil, &r, nil
	}
	var w signal.Welcome
	if err := json.Unmarshal(raw, &w); err != nil {
		c.Close()
		return nil, nil, err
	}
	c.welcome = &w
	return c, nil, nil
}

// Welcome is the server's answer to join.
func (c *Client) Welcome() *signal.Welcome { return c.welcome }

// Send writes one message.
func (c *Client) Send(msg any) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return c.SendRaw(b)
}

// SendRaw writes bytes as one text message, as they are.
func (c *Client) SendRaw(b []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.ws.Write(c.ctx, websocket.MessageText, b)
}

func typeOf(raw []byte) string {
	var env struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(raw, &env)
	return env.Type
}

func (c *Client) readLoop() {
	defer c.wg.Done()
	for {
		_, data, err := c.ws.Read(c.ctx)
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			close(c.notify)
			c.notify = make(chan struct{})
			c.mu.Unlock()
			return
		}
		c.handle(data)
		c.mu.Lock()
		c.msgs = append(c.msgs, data)
		close(c.notify)
		c.notify = make(chan struct{})
		c.mu.Unlock()
	}
}

func (c *Client) handle(data []byte) {
	switch typeOf(data) {
	case "welcome":
		// Here, not in Dial: a "sub" offer may follow at once and needs them.
		var w signal.Welcome
		if json.Unmarshal(data, &w) == nil {
			c.mu.Lock()
			c.identity = w.Self.Identity
			for _, s := range w.ICEServers {
				c.pcConf.ICEServers = append(c.pcConf.ICEServers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
			}
			c.mu.Unlock()
		}
	case "answer":
		var a signal.Answer
		if json.Unmarshal(data, &a) == nil {
			select {
			case c.answered <- a.SDP:
			default: // nobody is waiting for an answer: unsolicited, ignore
			}
		}
	case "offer":
		var o signal.SubOffer
		if json.Unmarshal(data, &o) == nil {
			if err := c.onSubOffer(&o); err != nil {
				c.recordErr(err)
			}
		}
	case "checkpoint":
		var cp signal.Checkpoint
		if json.Unmarshal(data, &cp) == nil && c.key != nil {
			c.countersign(&cp)
		}
	case "candidate":
		var cd signal.Candidate
		if json.Unmarshal(data, &cd) == nil {
			c.onCandidate(&cd)
		}
	}
}

// countersign signs a checkpoint the server announced, and keeps it in the
// receipt of its record. It signs nothing but a checkpoint statement that
// names the announced record and checkpoint: the key must not be made to sign
// other text (such as a key change endorsing the server's own key).
func (c *Client) countersign(cp *signal.Checkpoint) {
	rec, entries, head, ok := record.ParseStatement([]byte(cp.Statement))
	if !ok || rec != cp.Record || entries+1 != cp.Seq {
		c.recordErr(fmt.Errorf("refused to countersign checkpoint %d of %s: its statement is not a checkpoint statement naming them", cp.Seq, cp.Record))
		return
	}
	sig := ed25519.Sign(c.key, []byte(cp.Statement))
	b64sig := base64.RawURLEncoding.EncodeToString(sig)
	c.mu.Lock()
	r := c.receipts[rec]
	if r == nil {
		r = &record.Receipt{Format: record.ReceiptFormat, Record: rec, Identity: c.identity,
			Key: base64.RawURLEncoding.EncodeToString(c.key.Public().(ed25519.PublicKey))}
		c.receipts[rec] = r
	}
	r.Add(record.ReceiptCheckpoint{Seq: cp.Seq, Head: head, Sig: b64sig})
	c.mu.Unlock()
	_ = c.Send(&signal.Countersign{Type: "countersign", Record: cp.Record, Seq: cp.Seq, Sig: b64sig})
}

// Receipts returns this client's receipts, one per record it countersigned:
// its own evidence of what it signed (parley verify --receipt).
func (c *Client) Receipts() []record.Receipt {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]record.Receipt, 0, len(c.receipts))
	for _, r := range c.receipts {
		cp := *r
		cp.Checkpoints = slices.Clone(r.Checkpoints)
		out = append(out, cp)
	}
	slices.SortFunc(out, func(a, b record.Receipt) int { return strings.Compare(a.Record, b.Record) })
	return out
}

// WriteReceipt writes the receipt of record id to path.
func (c *Client) WriteReceipt(id, path string) error {
	for _, r := range c.Receipts() {
		if r.Record == id {
			b, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				return err
			}
			return os.WriteFile(path, append(b, '\n'), 0o600)
		}
	}
	return fmt.Errorf("no receipt of record %s: this client countersigned none of its checkpoints", id)
}

func (c *Client) recordErr(err error) {
	b, _ := json.Marshal(&signal.Error{Type: "client-error", Code: "client", Message: err.Error()})
	c.mu.Lock()
	c.msgs = append(c.msgs, b)
	c.mu.Unlock()
}

func (c *Client) onCandidate(cd *signal.Candidate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pc, pend := c.pub, &c.pubPend
	if cd.PC == signal.PCSub {
		pc, pend = c.sub, &c.subPend
	}
	if pc == nil || pc.RemoteDescription() == nil {
		*pend = append(*pend, cd.Candidate)
		return
	}
	_ = pc.AddICECandidate(cd.Candidate)
}

func (c *Client) newPC(role string) (*webrtc.PeerConnection, error) {
	pc, err := c.api.NewPeerConnection(c.pcConf)
	if err != nil {
		return nil, err
	}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			_ = c.Send(&signal.Candidate{Type: "candidate", PC: role, Candidate: cand.ToJSON()})
		}
	})
	return pc, nil
}

func (c *Client) onSubOffer(o *signal.SubOffer) error {
	c.mu.Lock()
	if c.sub == nil {
		pc, err := c.newPC(signal.PCSub)
		if err != nil {
			c.mu.Unlock()
			return err
		}
		pc.OnTrack(c.onTrack)
		c.sub = pc
	}
	for mid, t := range o.Tracks {
		c.subMap[mid] = t
	}
	pc := c.sub
	c.mu.Unlock()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: o.SDP}); err != nil {
		return err
	}
	c.mu.Lock()
	for _, cd := range c.subPend {
		_ = pc.AddICECandidate(cd)
	}
	c.subPend = nil
	c.mu.Unlock()
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := pc.SetLocalDescription(ans); err != nil {
		return err
	}
	return c.Send(&signal.Answer{Type: "answer", PC: signal.PCSub, SDP: ans.SDP})
}

func (c *Client) onTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
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
	buf := make([]byte, 1500)
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		in.Packets.Add(1)
		in.Bytes.Add(uint64(n))
	}
}

// Inbound returns what has arrived so far, one entry per forwarded track.
func (c *Client) Inbound() []*Inbound {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Inbound, 0, len(c.inbound))
	for _, in := range c.inbound {
		out = append(out, in)
	}
	return out
}

// Publish opens the "pub" connection with the given tracks (track -> source)
// and waits for the server's answer. A refusal returns the server's *signal.Error.
func (c *Client) Publish(ctx context.Context, tracks map[webrtc.TrackLocal]string) error {
	c.mu.Lock()
	if c.pub != nil {
		c.mu.Unlock()
		return errors.New("already publishing")
	}
	pc, err := c.newPC(signal.PCPub)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	c.pub = pc
	c.mu.Unlock()
	type added struct {
		tr     *webrtc.RTPTransceiver
		source string
	}
	var all []added
	for t, src := range tracks {
		tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		all = append(all, added{tr, src})
		go ReadRTCP(tr.Sender(), t)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	srcs := map[string]string{}
	for _, a := range all {
		srcs[a.tr.Mid()] = a.source
	}
	mark := c.mark()
	if err := c.Send(&signal.Offer{Type: "offer", PC: signal.PCPub, SDP: offer.SDP, Tracks: srcs}); err != nil {
		return err
	}
	select {
	case sdp := <-c.answered:
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
			return err
		}
		c.mu.Lock()
		for _, cd := range c.pubPend {
			_ = pc.AddICECandidate(cd)
		}
		c.pubPend = nil
		c.mu.Unlock()
		return nil
	case <-ctx.Done():
		if e := c.ErrorSince(mark); e != nil {
			return e
		}
		return ctx.Err()
	}
}

// ReadRTCP reads a sender's RTCP until it stops (the interceptors see it all:
// NACKs are answered), and asks t for a keyframe on a picture loss or full
// intra request when t can be asked (KeyframeRequester).
func ReadRTCP(s *webrtc.RTPSender, t webrtc.TrackLocal) {
	kr, _ := t.(KeyframeRequester)
	buf := make([]byte, 1500)
	for {
		n, _, err := s.Read(buf)
		if err != nil {
			return
		}
		if kr == nil {
			continue
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				kr.RequestKeyframe()
			}
		}
	}
}

// mark returns a position in the message log.
func (c *Client) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// ErrorSince returns the first "error" message received after mark, if any.
func (c *Client) ErrorSince(mark int) *signal.Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.msgs[min(mark, len(c.msgs)):] {
		if typeOf(m) == "error" {
			var e signal.Error
			_ = json.Unmarshal(m, &e)
			return &e
		}
	}
	return nil
}

// WaitFor blocks until a message (past or future) matches pred, or ctx ends.
func (c *Client) WaitFor(ctx context.Context, pred func(typ string, raw []byte) bool) ([]byte, error) {
	seen := 0
	for {
		c.mu.Lock()
		msgs, ch, rerr := c.msgs, c.notify, c.readErr
		c.mu.Unlock()
		for ; seen < len(msgs); seen++ {
			if pred(typeOf(msgs[seen]), msgs[seen]) {
				return msgs[seen], nil
			}
		}
		if rerr != nil {
			return nil, fmt.Errorf("connection ended: %w", rerr)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Messages returns every message received so far.
func (c *Client) Messages() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.msgs...)
}

// Leave leaves the room as the browser's Leave button does: in a recorded
// room the server writes a last checkpoint, this client countersigns it (so
// its attestation reaches its departure), and the server then ends the
// connection, or gives up waiting after a few seconds. Leave waits for that
// (or ctx), then closes the client.
func (c *Client) Leave(ctx context.Context) error {
	defer c.Close()
	if err := c.Send(&signal.Leave{Type: "leave"}); err != nil {
		return err
	}
	for {
		c.mu.Lock()
		ended, ch := c.readErr != nil, c.notify
		c.mu.Unlock()
		if ended {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close leaves (without a leave message: like a dropped connection) and
// releases everything.
func (c *Client) Close() {
	c.cancel()
	_ = c.ws.CloseNow()
	c.mu.Lock()
	pub, sub := c.pub, c.sub
	c.mu.Unlock()
	if pub != nil {
		_ = pub.Close()
	}
	if sub != nil {
		_ = sub.Close()
	}
	c.wg.Wait()
}
