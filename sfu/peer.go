package sfu

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Connection roles (the wire names of docs/protocol.md).
const (
	RolePub = "pub" // the client offers and sends
	RoleSub = "sub" // the server offers and sends
)

// Handler receives a peer's events. Calls come from pion's and the peer's own
// goroutines; implementations must not block and must not call back into the
// Peer synchronously.
type Handler interface {
	// Candidate is a local ICE candidate to trickle to the client. Candidates of
	// a connection are reported only after its first PubAnswer or SubOffer.
	Candidate(role string, c webrtc.ICECandidateInit)
	// PubAnswer is the answer to the client's "pub" offer.
	PubAnswer(sdp string)
	// SubOffer is an offer for the client's "sub" connection; labels maps every
	// mid that carries a forwarded track to the label given to Subscribe.
	SubOffer(sdp string, labels map[string]string)
	// TrackStarted reports a new published track.
	TrackStarted(r *Receiver)
	// TrackEnded reports that a published track stopped.
	TrackEnded(r *Receiver)
	// Failed reports that a connection failed for good.
	Failed(role string)
}

// ErrClosed is returned by a Peer that has been closed.
var ErrClosed = errors.New("peer is closed")

var receiverSeq atomic.Uint64

// Peer is one participant's media: a "pub" connection on which it publishes
// and a "sub" connection on which it receives. Two connections, each with a
// fixed offerer, mean offers never collide.
type Peer struct {
	eng   *Engine
	h     Handler
	id    string
	relay bool // forwards to another node (NewRelayPeer)

	mu          sync.Mutex
	closed      bool
	pub, sub    *webrtc.PeerConnection
	pending     map[string][]webrtc.ICECandidateInit // remote candidates before the remote description
	remote      map[string]int                       // remote candidates admitted since the last remote description
	local       map[string][]webrtc.ICECandidateInit // local candidates before our description went out
	described   map[string]bool                      // our description for the role went out
	subInFlight bool                                 // an offer awaits its answer
	subAgain    bool                                 // changes arrived while in flight
	receivers   map[*Receiver]struct{}
	byRecv      map[*webrtc.RTPReceiver]*Receiver // simulcast layers join their track's Receiver
	// A relay peer's incoming simulcast layers, each on a transceiver of its
	// own: which layer of which track each mid carries, and the Receiver
	// each track's layers join (SetRelayLayers).
	relayLayers map[string]RelayLayer
	groups      map[string]*Receiver
	forwarders  map[*Forwarder]struct{}

	bwe       *estimator  // the "sub" downlink
	q         *sendQueue  // the "sub" connection's writer, made with it
	reporting atomic.Bool // sender reports are being written off the engine's loop (ICE-TCP)
	allocMu   sync.Mutex
	allocAt   atomic.Int64
}

// NewRelayPeer creates a peer that links this engine to another node's: its
// "sub" connection offers the audio level extension and forwarders pass the
// publisher's level on, so the other node can find the active speaker.
func (e *Engine) NewRelayPeer(id string, h Handler) *Peer {
	p := e.NewPeer(id, h)
	p.relay = true
	return p
}

// NewPeer creates a peer; connections are made when first needed.
func (e *Engine) NewPeer(id string, h Handler) *Peer {
	p := &Peer{
		eng: e, h: h, id: id,
		pending:    map[string][]webrtc.ICECandidateInit{},
		remote:     map[string]int{},
		local:      map[string][]webrtc.ICECandidateInit{},
		described:  map[string]bool{},
		receivers:  map[*Receiver]struct{}{},
		byRecv:     map[*webrtc.RTPReceiver]*Receiver{},
		forwarders: map[*Forwarder]struct{}{},
		bwe:        newEstimator(),
	}
	e.mu.Lock()
	e.peers[p] = struct{}{}
	e.mu.Unlock()
	return p
}

func (p *Peer) newPC(role string) (*webrtc.PeerConnection, error) {
	api := p.eng.subAPI
	switch {
	case p.relay && role == RolePub:
		api = p.eng.relayPubAPI
	case p.relay:
		api = p.eng.relaySubAPI
	case role == RolePub:
		api = p.eng.pubAPI
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		switch {
		case p.closed:
		case !p.described[role]:
			// A candidate must not reach the client before the description it belongs to.
			p.local[role] = append(p.local[role], c.ToJSON())
		default:
			p.h.Candidate(role, c.ToJSON())
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed {
			p.h.Failed(role)
		}
	})
	if role == RolePub {
		pc.OnTrack(func(t *webrtc.TrackRemote, rr *webrtc.RTPReceiver) { p.onTrack(pc, t, rr) })
	} else {
		// p.mu is held by both callers.
		q := p.sendQueueLocked()
		// Direct until the connection turns out to run over TCP: before
		// any pair is selected, pion drops what is written at once (there
		// are no SRTP keys yet), and a queue would only start a writer
		// goroutine that a UDP subscriber never needs.
		q.direct.Store(true)
		pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(cp *webrtc.ICECandidatePair) {
			q.direct.Store(viaUDP(cp))
		})
	}
	return pc, nil
}

// viaUDP reports whether a selected candidate pair sends over UDP, where
// writes never wait for the receiver (a client behind a TURN relay included:
// the server still sends it datagrams).
func viaUDP(cp *webrtc.ICECandidatePair) bool {
	return cp != nil && cp.Local != nil && cp.Local.Protocol == webrtc.ICEProtocolUDP
}

func (p *Peer) onTrack(pc *webrtc.PeerConnection, t *webrtc.TrackRemote, rr *webrtc.RTPReceiver) {
	mid := ""
	for _, tr := range pc.GetTransceivers() {
		if tr.Receiver() == rr {
			mid = tr.Mid()
		}
	}
	rid := t.RID()
	idx := layerIndex(rid, rr)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = rr.Stop()
		return
	}
	// A relayed layer joins the Receiver of its track's other layers.
	rl, relayed := p.relayLayers[mid]
	if relayed {
		idx, rid = rl.Layer, ""
		if r := p.groups[rl.Group]; r != nil {
			l, ok := r.addLayer(idx, rid, t)
			if ok {
				l.rr = rr
				p.byRecv[rr] = r
			}
			p.mu.Unlock()
			if ok {
				r.run(l)
			}
			return
		}
	}
	// pion reports each simulcast layer as a track of its own; they are one
	// published track with several encodings.
	if r := p.byRecv[rr]; r != nil {
		l, ok := r.addLayer(idx, rid, t)
		p.mu.Unlock()
		if ok {
			r.run(l)
		}
		return
	}
	id := fmt.Sprintf("%s-T%d", p.id, receiverSeq.Add(1))
	r := newReceiver(id, mid, t.Codec(), t.Kind(), rr, pc.WriteRTCP, p.receiverClosed, p.eng.stats)
	r.simulcast = rid != "" || relayed
	if relayed {
		p.groups[rl.Group] = r
	}
	for _, ext := range rr.GetParameters().HeaderExtensions {
		if ext.URI == sdp.AudioLevelURI && t.Kind() == webrtc.RTPCodecTypeAudio {
			r.levelID = uint8(ext.ID)
		}
	}
	l, _ := r.addLayer(idx, rid, t)
	p.receivers[r] = struct{}{}
	p.byRecv[rr] = r
	p.mu.Unlock()
	p.h.TrackStarted(r)
	r.run(l) // pion runs OnTrack on its own goroutine; it becomes the layer's read loop
}

// layerIndex places a simulcast encoding by its rid: the names browsers and
// WHIP tools use, else its position among the transceiver's encodings.
func layerIndex(rid string, rr *webrtc.RTPReceiver) int {
	switch strings.ToLower(rid) {
	case "", "q", "l", "lo", "low", "0":
		return 0
	case "h", "m", "mid", "medium", "1":
		return 1
	case "f", "hi", "high", "full", "2":
		return 2
	}
	for i, t := range rr.Tracks() {
		if t.RID() == rid {
			return min(i, maxLayers-1)
		}
	}
	return 0
}

func (p *Peer) receiverClosed(r *Receiver) {
	p.mu.Lock()
	delete(p.receivers, r)
	for rr, o := range p.byRecv {
		if o == r { // a relayed simulcast track has a transceiver per layer
			delete(p.byRecv, rr)
		}
	}
	for g, o := range p.groups {
		if o == r {
			delete(p.groups, g)
		}
	}
	p.mu.Unlock()
	p.h.TrackEnded(r)
}

// PubOffer applies the client's offer on its "pub" connection; the answer goes
// to the handler's PubAnswer.
func (p *Peer) PubOffer(sdp string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.pub == nil {
		pc, err := p.newPC(RolePub)
		if err != nil {
			return err
		}
		p.pub = pc
	}
	if err := p.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: p.admitLocked(RolePub, sdp)}); err != nil {
		return fmt.Errorf("offer rejected: %w", err)
	}
	p.flushCandidates(RolePub, p.pub)
	answer, err := p.pub.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("cannot answer: %w", err)
	}
	if err := p.pub.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("cannot answer: %w", err)
	}
	p.h.PubAnswer(answer.SDP)
	p.describedLocked(RolePub)
	return nil
}

// describedLocked records that our description for role went out and releases
// the candidates held back until then.
func (p *Peer) describedLocked(role string) {
	p.described[role] = true
	for _, c := range p.local[role] {
		p.h.Candidate(role, c)
	}
	delete(p.local, role)
}

// SubAnswer applies the client's answer to the last "sub" offer.
func (p *Peer) SubAnswer(sdp string) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	if p.sub == nil || !p.subInFlight {
		p.mu.Unlock()
		return errors.New("no offer is waiting for an answer")
	}
	if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: p.admitLocked(RoleSub, sdp)}); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("answer rejected: %w", err)
	}
	p.flushCandidates(RoleSub, p.sub)
	p.subInFlight = false
	again := p.subAgain
	p.mu.Unlock()
	if again {
		return p.negotiate()
	}
	return nil
}

// AddCandidate adds a client's ICE candidate, holding it until the connection
// has a remote description.
func (p *Peer) AddCandidate(role string, c webrtc.ICECandidateInit) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if err := p.admitCandidateLocked(role, c); err != nil {
		return err
	}
	pc := p.pub
	if role == RoleSub {
		pc = p.sub
	}
	if pc == nil || pc.RemoteDescription() == nil {
		if len(p.pending[role]) >= 64 {
			return errors.New("too many candidates before the description")
		}
		p.pending[role] = append(p.pending[role], c)
		return nil
	}
	return pc.AddICECandidate(c)
}

// admitLocked drops the candidates of a remote description that the
// engine's policy refuses (candidates.go).
func (p *Peer) admitLocked(role, sdp string) string {
	cp := p.eng.candidates
	if cp == nil {
		return sdp
	}
	out, kept, refused := cp.filterSDP(sdp, 0)
	p.remote[role] = kept
	if len(refused) > 0 {
		p.eng.stats.candidatesRefused.Add(uint64(len(refused)))
		p.eng.log.Info("remote candidates refused", "peer", p.id, "role", role, "count", len(refused), "first", refused[0])
	}
	return out
}

// admitCandidateLocked checks a trickled candidate against the policy and
// the cap.
func (p *Peer) admitCandidateLocked(role string, c webrtc.ICECandidateInit) error {
	cp := p.eng.candidates
	if cp == nil || c.Candidate == "" { // "": end of candidates
		return nil
	}
	err := cp.check(c.Candidate)
	if err == nil && p.remote[role] >= maxRemoteCandidates {
		err = fmt.Errorf("%w: more than %d candidates", errCandidate, maxRemoteCandidates)
	}
	if err != nil {
		p.eng.stats.candidatesRefused.Add(1)
		return err
	}
	p.remote[role]++
	return nil
}

func (p *Peer) flushCandidates(role string, pc *webrtc.PeerConnection) {
	for _, c := range p.pending[role] {
		_ = pc.AddICECandidate(c) // a bad candidate only loses that path
	}
	delete(p.pending, role)
}

// RelayLayer says a relay mid carries layer Layer of the track named Group.
type RelayLayer struct {
	Group string
	Layer int
}

// SetRelayLayers tells a relay peer, before the offer that brings them,
// which of its mids are simulcast layers of one track: they arrive as one
// simulcast Receiver, among whose layers this node's subscribers choose.
func (p *Peer) SetRelayLayers(m map[string]RelayLayer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.relayLayers == nil {
		p.relayLayers, p.groups = map[string]RelayLayer{}, map[string]*Receiver{}
	}
	for mid, l := range m {
		if l.Layer >= 0 && l.Layer < maxLayers {
			p.relayLayers[mid] = l
		}
	}
}

// SubscribeLayer forwards one simulcast layer of r, and only it, to a relay
// peer: the other node receives each layer once and chooses for its own.
func (p *Peer) SubscribeLayer(r *Receiver, layer int, streamID, label string) (*Forwarder, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	f := newForwarder(r.id, r.Kind(), r.codec, streamID, label, p.eng.stats)
	f.pinned = layer
	if err := p.addForwarderLocked(f); err != nil {
		p.mu.Unlock()
		return nil, err
	}
	p.mu.Unlock()
	f.SwitchTo(r)
	f.setTarget(r, layer)
	return f, p.negotiate()
}

// Subscribe starts forwarding r to this peer. streamID groups the owner's
// tracks on the client; label comes back in SubOffer for the track's mid.
func (p *Peer) Subscribe(r *Receiver, streamID, label string) (*Forwarder, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	f := newForwarder(r.id, r.Kind(), r.codec, streamID, label, p.eng.stats)
	if p.relay {
		f.levelIn = r.levelID
	}
	if err := p.addForwarderLocked(f); err != nil {
		p.mu.Unlock()
		return nil, err
	}
	p.mu.Unlock()
	f.SwitchTo(r)
	return f, p.negotiate()
}

// AddSwitchable adds an outgoing track with no source yet: the caller points it
// at receivers with SwitchTo as routing changes (a language channel follows its
// interpreter). codec must be what every future source sends.
func (p *Peer) AddSwitchable(id string, kind webrtc.RTPCodecType, codec webrtc.RTPCodecParameters, streamID, label string) (*Forwarder, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	f := newForwarder(id, kind, codec, streamID, label, p.eng.stats)
	if err := p.addForwarderLocked(f); err != nil {
		p.mu.Unlock()
		return nil, err
	}
	p.mu.Unlock()
	return f, p.negotiate()
}

func (p *Peer) addForwarderLocked(f *Forwarder) error {
	if p.sub == nil {
		pc, err := p.newPC(RoleSub)
		if err != nil {
			return err
		}
		p.sub = pc
	}
	sender, err := p.sub.AddTrack(f)
	if err != nil {
		return err
	}
	// Offer only the codec the source sends: every other codec would cost
	// about 2 KB of SDP per track and can never be used.
	for _, t := range p.sub.GetTransceivers() {
		if t.Sender() == sender {
			_ = t.SetCodecPreferences(subCodecs(p.eng.subCodecs, f.codec, f.kind))
		}
	}
	f.sender = sender
	f.bwe = p.bwe
	f.q = p.sendQueueLocked()
	f.realloc = p.reallocate
	p.forwarders[f] = struct{}{}
	go f.readRTCP() // ends when the sender stops (Unsubscribe or Close)
	return nil
}

// sendQueueLocked is the "sub" connection's send queue, made with the first
// forwarder; p.mu is held.
func (p *Peer) sendQueueLocked() *sendQueue {
	if p.q == nil {
		p.q = newSendQueue()
	}
	return p.q
}

// Unsubscribe stops forwarding f and renegotiates.
func (p *Peer) Unsubscribe(f *Forwarder) error {
	f.close()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	if _, ok := p.forwarders[f]; !ok {
		p.mu.Unlock()
		return nil
	}
	delete(p.forwarders, f)
	err := p.sub.RemoveTrack(f.sender)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return p.negotiate()
}

// negotiate sends a new "sub" offer, or marks one as due when an offer is in flight.
func (p *Peer) negotiate() error {
	p.mu.Lock()
	if p.closed || p.sub == nil {
		p.mu.Unlock()
		return nil
	}
	if p.subInFlight {
		p.subAgain = true
		p.mu.Unlock()
		return nil
	}
	offer, err := p.sub.CreateOffer(nil)
	if err == nil {
		err = p.sub.SetLocalDescription(offer)
	}
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("sub offer: %w", err)
	}
	p.subInFlight, p.subAgain = true, false
	labels := map[string]string{}
	for _, t := range p.sub.GetTransceivers() {
		if s := t.Sender(); s != nil {
			if f, ok := s.Track().(*Forwarder); ok && t.Mid() != "" {
				labels[t.Mid()] = f.label
			}
		}
	}
	p.h.SubOffer(offer.SDP, labels)
	p.describedLocked(RoleSub)
	p.mu.Unlock()
	return nil
}

// Receivers returns the tracks this peer currently publishes.
func (p *Peer) Receivers() []*Receiver {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Receiver, 0, len(p.receivers))
	for r := range p.receivers {
		out = append(out, r)
	}
	return out
}

// Close tears down both connections, detaches every forwarder and waits for
// the peer's receivers to end.
func (p *Peer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.eng.mu.Lock()
	delete(p.eng.peers, p)
	p.eng.mu.Unlock()
	pub, sub, q := p.pub, p.sub, p.q
	fwds := p.forwarders
	p.forwarders = map[*Forwarder]struct{}{}
	recvs := make([]*Receiver, 0, len(p.receivers))
	for r := range p.receivers {
		recvs = append(recvs, r)
	}
	p.mu.Unlock()

	for f := range fwds {
		f.close()
	}
	if q != nil {
		q.stop()
	}
	var errs []error
	// Closing outside the lock: pion fires state callbacks that may reach the handler.
	if sub != nil {
		errs = append(errs, sub.Close()) // a write blocked on the connection returns
	}
	if q != nil {
		q.wait()
	}
	if pub != nil {
		errs = append(errs, pub.Close())
	}
	for _, r := range recvs {
		<-r.done
	}
	return errors.Join(errs...)
}

// subCodecs is what to offer a subscriber for a source's codec: that codec
// with the subscriber connection's own payload type (unique across the
// bundle) and the feedback the forwarder serves, and its RTX codec, so
// retransmissions travel apart from the stream.
func subCodecs(table []webrtc.RTPCodecParameters, c webrtc.RTPCodecParameters, kind webrtc.RTPCodecType) []webrtc.RTPCodecParameters {
	c.PayloadType = 0
	for _, t := range table {
		if strings.EqualFold(t.MimeType, c.MimeType) && fmtpMatch(t.SDPFmtpLine, c.SDPFmtpLine) {
			c.PayloadType = t.PayloadType
			break
		}
	}
	c.RTCPFeedback = []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}
	if kind != webrtc.RTPCodecTypeVideo {
		return []webrtc.RTPCodecParameters{c}
	}
	c.RTCPFeedback = append(c.RTCPFeedback,
		webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBGoogREMB},
		webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
		webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBNACK},
		webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"})
	out := []webrtc.RTPCodecParameters{c}
	if c.PayloadType == 0 {
		return out
	}
	apt := fmt.Sprintf("apt=%d", c.PayloadType)
	for _, t := range table {
		if strings.EqualFold(t.MimeType, webrtc.MimeTypeRTX) && t.SDPFmtpLine == apt {
			out = append(out, t)
		}
	}
	return out
}

// fmtpMatch compares format parameters as sets: "a=1;b=2" is "b=2;a=1".
func fmtpMatch(a, b string) bool {
	split := func(s string) []string {
		var out []string
		for _, p := range strings.Split(s, ";") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, strings.ToLower(p))
			}
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(split(a), split(b))
}

// SetViewports sets how large the subscriber draws each received video, by
// its mid on the "sub" connection (device pixels). Unknown mids are ignored.
func (p *Peer) SetViewports(sizes map[string][2]int) {
	type view struct {
		f    *Forwarder
		w, h int
	}
	var views []view
	p.mu.Lock()
	if p.sub != nil && !p.closed {
		for _, t := range p.sub.GetTransceivers() {
			sz, ok := sizes[t.Mid()]
			if !ok || t.Sender() == nil {
				continue
			}
			if f, ok := t.Sender().Track().(*Forwarder); ok {
				views = append(views, view{f, sz[0], sz[1]})
			}
		}
	}
	p.mu.Unlock()
	for _, v := range views {
		v.f.SetViewport(v.w, v.h) // outside p.mu: it may re-choose layers
	}
}
