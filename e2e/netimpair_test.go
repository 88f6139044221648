package e2e

// Network impairment for browser tests (test code: it uses the harness in
// call_test.go). The kernel of the test machines has no
// netem or tbf qdiscs, so the tests put their own proxies between a browser and
// the server: a UDP proxy in front of the embedded TURN relay (a browser with
// iceTransportPolicy "relay" sends all its media there) and a TCP proxy in front
// of the HTTP port (page, WebSocket). Everything stays on 127.0.0.1.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/server"
)

// dir names a direction through a proxy.
type dir int

const (
	toServer dir = iota // client -> server
	toClient            // server -> client
)

func (d dir) String() string {
	if d == toServer {
		return "to-server"
	}
	return "to-client"
}

// laneStats counts one direction's packets.
type laneStats struct {
	Forwarded int64 // handed to the socket
	Lost      int64 // dropped by random loss
	Overflow  int64 // dropped because the rate cap's queue was full
	Blocked   int64 // dropped while the proxy was blocked (queued ones included)
}

// Dropped is every packet that did not get through.
func (s laneStats) Dropped() int64 { return s.Lost + s.Overflow + s.Blocked }

func (s laneStats) String() string {
	return fmt.Sprintf("forwarded %d, lost %d, overflow %d, blocked %d", s.Forwarded, s.Lost, s.Overflow, s.Blocked)
}

func (s laneStats) sub(o laneStats) laneStats {
	return laneStats{s.Forwarded - o.Forwarded, s.Lost - o.Lost, s.Overflow - o.Overflow, s.Blocked - o.Blocked}
}

// proxyStats counts both directions of a udpProxy.
type proxyStats struct{ ToServer, ToClient laneStats }

func (s proxyStats) sub(o proxyStats) proxyStats {
	return proxyStats{s.ToServer.sub(o.ToServer), s.ToClient.sub(o.ToClient)}
}

func (s proxyStats) String() string {
	return fmt.Sprintf("to server: %s; to client: %s", s.ToServer, s.ToClient)
}

// packet is a datagram waiting in a lane, with where it goes.
type packet struct {
	data []byte
	flow *udpFlow
}

// lane impairs one direction: random loss, then a token-bucket rate cap with a
// bounded FIFO queue (as tc tbf: what does not fit the queue is dropped, what
// is queued waits its turn, nothing is reordered).
type lane struct {
	deliver func(packet)
	wake    chan struct{} // a packet was queued or the settings changed

	mu      sync.Mutex
	rng     *rand.Rand
	loss    float64
	blocked bool
	rate    int64 // bits per second; 0 is no cap
	limit   int   // queue bound in bytes
	burst   float64
	tokens  float64 // bits
	filled  time.Time
	queue   []packet
	queued  int // bytes in queue
	stats   laneStats
}

func newLane(seed uint64, deliver func(packet)) *lane {
	return &lane{
		deliver: deliver,
		wake:    make(chan struct{}, 1),
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

func (l *lane) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// offer passes a packet through the lane's impairments; it reports whether the
// packet must be sent at once by the caller (no cap and nothing queued).
func (l *lane) offer(p packet) (now bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.blocked:
		l.stats.Blocked++
		return false
	case l.loss > 0 && l.rng.Float64() < l.loss:
		l.stats.Lost++
		return false
	case l.rate == 0 && len(l.queue) == 0:
		l.stats.Forwarded++
		return true
	case l.queued+len(p.data) > l.limit && l.rate != 0:
		l.stats.Overflow++
		return false
	}
	l.queue = append(l.queue, p)
	l.queued += len(p.data)
	l.poke()
	return false
}

func (l *lane) setLoss(p float64) {
	l.mu.Lock()
	l.loss = p
	l.mu.Unlock()
}

func (l *lane) setBlocked(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.blocked = on
	if on { // a dead link loses what it was holding too
		l.stats.Blocked += int64(len(l.queue))
		l.queue, l.queued = nil, 0
	}
}

// setRate caps the lane at bitsPerSec with a queue of queueBytes; 0 removes the cap.
func (l *lane) setRate(bitsPerSec int64, queueBytes int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rate, l.limit = bitsPerSec, queueBytes
	// A bucket of 20 ms of traffic, never less than two full-size packets (as
	// tbf, whose burst must hold at least one MTU).
	l.burst = max(float64(bitsPerSec)/50, 2*1500*8)
	l.tokens, l.filled = l.burst, time.Now()
	l.poke()
}

func (l *lane) snapshot() laneStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// run sends queued packets as the bucket allows, until ctx ends.
func (l *lane) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var wait time.Duration = -1
		l.mu.Lock()
		for len(l.queue) > 0 && wait < 0 {
			head := l.queue[0]
			// A packet larger than the bucket goes when the bucket is full.
			need := min(float64(len(head.data)*8), l.burst)
			if l.rate > 0 {
				now := time.Now()
				l.tokens = min(l.burst, l.tokens+now.Sub(l.filled).Seconds()*float64(l.rate))
				l.filled = now
				if l.tokens < need {
					wait = time.Duration((need - l.tokens) / float64(l.rate) * float64(time.Second))
					break
				}
				l.tokens -= need
			}
			l.queue[0] = packet{}
			l.queue = l.queue[1:]
			l.queued -= len(head.data)
			l.stats.Forwarded++
			// Sending under the lock keeps the order of packets; the send is a
			// non-blocking UDP write.
			l.deliver(head)
		}
		l.mu.Unlock()
		var tick <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		case <-tick:
		}
		if wait >= 0 && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// udpFlow is one client address and the upstream socket that speaks for it, so
// that the server's replies go back to the right client.
type udpFlow struct {
	client *net.UDPAddr
	up     *net.UDPConn
}

// maxFlows bounds the upstream sockets a proxy opens (a browser uses a few).
const maxFlows = 256

// udpProxy forwards datagrams between clients and one target, impairing both
// directions as told. Its settings may change while traffic flows.
type udpProxy struct {
	t      testing.TB
	ln     *net.UDPConn
	target *net.UDPAddr
	lanes  [2]*lane
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	flows map[string]*udpFlow
}

// newUDPProxy listens on 127.0.0.1 and forwards to target; seed makes the random
// loss repeatable. The proxy closes at the end of the test.
func newUDPProxy(t testing.TB, target string, seed uint64) *udpProxy {
	t.Helper()
	taddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		t.Fatalf("udp proxy target %q: %v", target, err)
	}
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	// Room for bursts of video while a lane goroutine waits for the CPU.
	_ = ln.SetReadBuffer(1 << 20)
	_ = ln.SetWriteBuffer(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	p := &udpProxy{t: t, ln: ln, target: taddr, ctx: ctx, cancel: cancel, flows: map[string]*udpFlow{}}
	p.lanes[toServer] = newLane(seed, func(pk packet) { _, _ = pk.flow.up.Write(pk.data) })
	p.lanes[toClient] = newLane(seed+1, func(pk packet) { _, _ = p.ln.WriteToUDP(pk.data, pk.flow.client) })
	for _, l := range p.lanes {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			l.run(ctx)
		}()
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.readClients()
	}()
	t.Cleanup(p.Close)
	return p
}

// Port is the port clients send to.
func (p *udpProxy) Port() int { return p.ln.LocalAddr().(*net.UDPAddr).Port }

// Addr is the address clients send to.
func (p *udpProxy) Addr() string { return p.ln.LocalAddr().String() }

// setLoss drops each packet, both ways, with probability prob.
func (p *udpProxy) setLoss(prob float64) {
	for _, l := range p.lanes {
		l.setLoss(prob)
	}
}

// setLaneLoss drops each packet going way d with probability prob.
func (p *udpProxy) setLaneLoss(d dir, prob float64) { p.lanes[d].setLoss(prob) }

// setRate caps both directions at bitsPerSec each, queueing up to queueBytes;
// 0 removes the cap.
func (p *udpProxy) setRate(bitsPerSec int64, queueBytes int) {
	for _, l := range p.lanes {
		l.setRate(bitsPerSec, queueBytes)
	}
}

// setLaneRate caps direction d.
func (p *udpProxy) setLaneRate(d dir, bitsPerSec int64, queueBytes int) {
	p.lanes[d].setRate(bitsPerSec, queueBytes)
}

// block drops every packet both ways while on.
func (p *udpProxy) block(on bool) {
	for _, l := range p.lanes {
		l.setBlocked(on)
	}
}

// stats counts the packets of both directions since the proxy started.
func (p *udpProxy) stats() proxyStats {
	return proxyStats{ToServer: p.lanes[toServer].snapshot(), ToClient: p.lanes[toClient].snapshot()}
}

// Close stops every goroutine of the proxy and closes its sockets.
func (p *udpProxy) Close() {
	p.cancel()
	_ = p.ln.Close()
	p.mu.Lock()
	for _, f := range p.flows {
		_ = f.up.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *udpProxy) readClients() {
	buf := make([]byte, 65536)
	for {
		n, from, err := p.ln.ReadFromUDP(buf)
		if err != nil {
			if p.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				p.t.Logf("udp proxy: reading: %v", err)
			}
			return
		}
		f := p.flow(from)
		if f == nil {
			continue
		}
		pk := packet{data: append([]byte(nil), buf[:n]...), flow: f}
		if p.lanes[toServer].offer(pk) {
			_, _ = f.up.Write(pk.data)
		}
	}
}

// flow finds or opens the upstream socket for a client address.
func (p *udpProxy) flow(client *net.UDPAddr) *udpFlow {
	key := client.String()
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.flows[key]; f != nil {
		return f
	}
	if p.ctx.Err() != nil || len(p.flows) >= maxFlows {
		return nil
	}
	up, err := net.DialUDP("udp", nil, p.target)
	if err != nil {
		p.t.Logf("udp proxy: opening upstream for %s: %v", key, err)
		return nil
	}
	_ = up.SetReadBuffer(1 << 20)
	f := &udpFlow{client: client, up: up}
	p.flows[key] = f
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.readUpstream(f)
	}()
	return f
}

func (p *udpProxy) readUpstream(f *udpFlow) {
	buf := make([]byte, 65536)
	for {
		n, err := f.up.Read(buf)
		if err != nil {
			if p.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP port unreachable from a target that went away: keep listening.
			continue
		}
		pk := packet{data: append([]byte(nil), buf[:n]...), flow: f}
		if p.lanes[toClient].offer(pk) {
			_, _ = p.ln.WriteToUDP(pk.data, f.client)
		}
	}
}

// tcpProxy forwards TCP connections to one target. Blocked, it kills every open
// connection with a reset and holds new ones for a moment before closing them,
// as a dead network looks to a browser's page and WebSocket.
type tcpProxy struct {
	t      testing.TB
	ln     net.Listener
	target string
	hold   time.Duration // how long a connection made while blocked hangs before it closes
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	blocked bool
	conns   map[net.Conn]struct{} // both ends of every forwarded connection
	stalled chan struct{}         // non-nil while stalled; closed when traffic flows again

	accepted, refused atomic.Int64
}

// newTCPProxy listens on 127.0.0.1 and forwards to target (host:port); it closes
// at the end of the test.
func newTCPProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &tcpProxy{t: t, ln: ln, target: target, hold: time.Second, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.accept()
	}()
	t.Cleanup(p.Close)
	return p
}

// URL is the proxy's http:// base URL.
func (p *tcpProxy) URL() string { return "http://" + p.ln.Addr().String() }

// stats reports connections forwarded and connections refused while blocked.
func (p *tcpProxy) stats() (accepted, refused int64) { return p.accepted.Load(), p.refused.Load() }

// block(true) resets every open connection and refuses new ones until block(false).
func (p *tcpProxy) block(on bool) {
	p.mu.Lock()
	p.blocked = on
	var kill []net.Conn
	if on {
		for c := range p.conns {
			kill = append(kill, c)
		}
	}
	p.mu.Unlock()
	for _, c := range kill {
		reset(c)
	}
}

// stall(true) makes the network silent without telling anyone: connections
// stay open, bytes are held (as TCP holds them while it retransmits into a
// dead link) and new connections hang before reaching the server. stall(false)
// lets everything through again, in order.
func (p *tcpProxy) stall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case on && p.stalled == nil:
		p.stalled = make(chan struct{})
	case !on && p.stalled != nil:
		close(p.stalled)
		p.stalled = nil
	}
}

// flowing waits while the proxy is stalled; false when it is closing.
func (p *tcpProxy) flowing() bool {
	p.mu.Lock()
	ch := p.stalled
	p.mu.Unlock()
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	case <-p.ctx.Done():
		return false
	}
}

// reset closes c with an RST rather than a FIN where it can: the peer sees the
// connection die, not end.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// Close stops accepting, resets every connection and waits for every goroutine.
func (p *tcpProxy) Close() {
	p.cancel()
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *tcpProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if p.ctx.Err() == nil {
				p.t.Logf("tcp proxy: accepting: %v", err)
			}
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

func (p *tcpProxy) serve(c net.Conn) {
	p.mu.Lock()
	blocked := p.blocked
	p.mu.Unlock()
	if blocked {
		p.refused.Add(1)
		// Nothing answers on a dead network: hang a moment, then give up.
		select {
		case <-time.After(p.hold):
		case <-p.ctx.Done():
		}
		reset(c)
		return
	}
	if !p.flowing() {
		reset(c)
		return
	}
	var d net.Dialer
	up, err := d.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		reset(c)
		return
	}
	p.mu.Lock()
	if p.blocked || p.ctx.Err() != nil { // blocked while dialing
		p.mu.Unlock()
		reset(c)
		reset(up)
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	p.accepted.Add(1)
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		delete(p.conns, up)
		p.mu.Unlock()
	}()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if !p.flowing() {
					break
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		// Either side ending ends the pair: a half-open proxy would hide a dead end.
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}

// turnRewriteJS runs in a page before its own scripts: every RTCPeerConnection
// it makes sends its TURN traffic to the UDP proxy instead of the relay. The
// count of rewritten URLs lets a test see the wrapper took effect.
const turnRewriteJS = `(() => {
  const from = 'turn:127.0.0.1:%d';
  const to = 'turn:127.0.0.1:%d';
  window.__impairRewrites = 0;
  const rewriteURL = (u) => {
    if (typeof u !== 'string' || !u.startsWith(from)) return u;
    const rest = u.slice(from.length);
    if (rest !== '' && rest[0] !== '?') return u; // another port that starts alike
    window.__impairRewrites++;
    return to + rest;
  };
  const rewrite = (cfg) => {
    if (!cfg || !Array.isArray(cfg.iceServers)) return cfg;
    return { ...cfg, iceServers: cfg.iceServers.map((s) => ({
      ...s, urls: Array.isArray(s.urls) ? s.urls.map(rewriteURL) : rewriteURL(s.urls),
    })) };
  };
  const Orig = window.RTCPeerConnection;
  class ImpairedPeerConnection extends Orig {
    constructor(cfg, ...rest) { super(rewrite(cfg), ...rest); }
    setConfiguration(cfg) { return super.setConfiguration(rewrite(cfg)); }
  }
  window.RTCPeerConnection = ImpairedPeerConnection;
})();`

// impairedPath is how one browser tab reaches the server: its page and
// WebSocket through a tcpProxy, all its media (relay only) through a udpProxy
// in front of the embedded TURN relay.
type impairedPath struct {
	srv interface {
		URL() string
		TURNPort() int
	}
	tcp *tcpProxy
	udp *udpProxy
}

func newImpairedPath(t *testing.T, srv interface {
	URL() string
	TURNPort() int
}, seed uint64) *impairedPath {
	t.Helper()
	if srv.TURNPort() == 0 {
		t.Fatal("the TURN relay is not running: an impaired path needs it")
	}
	return &impairedPath{
		srv: srv,
		tcp: newTCPProxy(t, strings.TrimPrefix(srv.URL(), "http://")),
		udp: newUDPProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.TURNPort())), seed),
	}
}

// open loads roomURL (made for the server) in tab through the path.
func (ip *impairedPath) open(tab context.Context, roomURL string) error {
	if !strings.HasPrefix(roomURL, ip.srv.URL()+"/") {
		return fmt.Errorf("%s is not a URL of the server", roomURL)
	}
	u := ip.tcp.URL() + strings.TrimPrefix(roomURL, ip.srv.URL()) + "&relay=1"
	js := fmt.Sprintf(turnRewriteJS, ip.srv.TURNPort(), ip.udp.Port())
	return addScript(tab, js, chromedp.Navigate(u))
}

// addScript has js run in tab before any page script, from the next document
// on, then runs then.
func addScript(tab context.Context, js string, then ...chromedp.Action[chromedp.Void]) error {
	if _, err := chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: js}); err != nil {
		return fmt.Errorf("injecting a script: %w", err)
	}
	return chromedp.Do(tab, then...)
}

// rewrites is how many TURN URLs the page's wrapper pointed at the proxy.
func (ip *impairedPath) rewrites(tab context.Context) (int, error) {
	return chromedp.Run(tab, chromedp.Evaluate[int](`window.__impairRewrites || 0`))
}

// block cuts (or restores) the tab's whole network: page, WebSocket and media.
func (ip *impairedPath) block(on bool) {
	ip.udp.block(on)
	ip.tcp.block(on)
}

// silence drops the tab's media and holds its TCP bytes (or lets all through
// again): a network that dies without a word, where no connection is reset.
func (ip *impairedPath) silence(on bool) {
	ip.udp.block(on)
	ip.tcp.stall(on)
}

// carried fails the test unless the path carried the tab's media: the page
// rewrote its TURN URLs, and the proxy forwarded at least as many packets to
// the tab as the tab says it received (the proxy carries STUN and RTCP too). A
// harness that the media bypassed would make an impairment test meaningless.
func (ip *impairedPath) carried(t *testing.T, tab context.Context, name string) {
	t.Helper()
	if n, err := ip.rewrites(tab); err != nil || n == 0 {
		t.Fatalf("%s: the page's TURN servers were not pointed at the proxy (%d rewrites, %v)", name, n, err)
	}
	in, err := readInbound(tab)
	if err != nil {
		t.Fatal(err)
	}
	var received int64
	for _, e := range in {
		received += e.PacketsReceived
	}
	s := ip.udp.stats() // read after the tab's count: both only grow
	if received == 0 || s.ToClient.Forwarded < received || s.ToServer.Forwarded == 0 {
		t.Fatalf("%s's media did not cross the proxy: the tab received %d RTP packets; proxy: %s", name, received, s)
	}
}

// watchThroughPath starts a call in room: "pub-a" publishes from a tab with a
// direct path, at the client's quality setting; "sub-b" only watches, through
// path. It returns the two tabs once sub-b decodes pub-a and the path carries
// sub-b's media.
func watchThroughPath(t *testing.T, ctx context.Context, srv *server.Server, path *impairedPath, room, quality string) (a, b context.Context) {
	t.Helper()
	browser := newBrowser(t)
	a = newTab(t, browser)
	aURL := strings.Replace(roomURL(t, srv, room, "pub-a", auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe), "quality=low", "quality="+quality, 1)
	if err := chromedp.Do(a, chromedp.Navigate(aURL)); err != nil {
		t.Fatal(err)
	}
	b = newTab(t, browser)
	if err := path.open(b, roomURL(t, srv, room, "sub-b", auth.GrantJoin, auth.GrantSubscribe)); err != nil {
		t.Fatal(err)
	}
	for name, tab := range map[string]context.Context{"pub-a": a, "sub-b": b} {
		if err := waitJoined(ctx, tab); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	waitFlowing(t, ctx, b, "sub-b", []string{"pub-a"})
	path.carried(t, b, "sub-b")
	return a, b
}
