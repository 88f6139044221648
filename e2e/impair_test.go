package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// udpPeer is a test endpoint: it records what it receives (sequence number in
// the first 4 bytes) and may echo it back.
type udpPeer struct {
	conn *net.UDPConn
	echo bool

	mu    sync.Mutex
	seqs  []uint32
	at    []time.Time
	bytes int
	last  *net.UDPAddr
}

func newUDPPeer(t *testing.T, echo bool) *udpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(1 << 20)
	p := &udpPeer{conn: c, echo: echo}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			now := time.Now()
			p.mu.Lock()
			if n >= 4 {
				p.seqs = append(p.seqs, binary.BigEndian.Uint32(buf))
				p.at = append(p.at, now)
			}
			p.bytes += n
			p.last = from
			p.mu.Unlock()
			if echo {
				_, _ = c.WriteToUDP(buf[:n], from)
			}
		}
	}()
	t.Cleanup(func() {
		_ = c.Close()
		<-done
	})
	return p
}

func (p *udpPeer) received() (seqs []uint32, at []time.Time, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]uint32(nil), p.seqs...), append([]time.Time(nil), p.at...), p.bytes
}

func (p *udpPeer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.seqs)
}

func (p *udpPeer) sender() *net.UDPAddr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

func datagram(seq uint32, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b, seq)
	return b
}

// pollUntil waits for cond with a generous deadline; the tests compare counts,
// never how long something took.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestImpairUDPLoss: 10% random loss each way drops close to 10% of each
// direction's packets, and exactly the counted ones.
func TestImpairUDPLoss(t *testing.T) {
	server := newUDPPeer(t, true)
	proxy := newUDPProxy(t, server.conn.LocalAddr().String(), 7)
	client := newUDPPeer(t, false)
	proxy.setLoss(0.10)
	to, _ := net.ResolveUDPAddr("udp", proxy.Addr())

	const n = 4000
	for i := range n {
		if _, err := client.conn.WriteToUDP(datagram(uint32(i), 200), to); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 { // let the sockets drain: kernel drops would blur the count
			pollUntil(t, "the proxy has handled the batch", func() bool {
				s := proxy.stats()
				return s.ToServer.Forwarded+s.ToServer.Dropped() == int64(i+1) &&
					int64(server.count()) == s.ToServer.Forwarded &&
					int64(client.count()) == s.ToClient.Forwarded &&
					s.ToClient.Forwarded+s.ToClient.Dropped() == s.ToServer.Forwarded
			})
		}
	}
	s := proxy.stats()
	t.Logf("after %d datagrams: %s", n, s)
	for _, c := range []struct {
		d  dir
		ls laneStats
	}{{toServer, s.ToServer}, {toClient, s.ToClient}} {
		total := c.ls.Forwarded + c.ls.Dropped()
		ratio := float64(c.ls.Lost) / float64(total)
		// 10% of thousands: the binomial spread is well under a point.
		if ratio < 0.08 || ratio > 0.12 {
			t.Errorf("%s: lost %.3f of %d packets, want about 0.10", c.d, ratio, total)
		}
		if c.ls.Overflow != 0 || c.ls.Blocked != 0 {
			t.Errorf("%s: drops other than loss: %s", c.d, c.ls)
		}
	}
	if got := server.count(); int64(got) != s.ToServer.Forwarded {
		t.Errorf("the server got %d datagrams, the proxy forwarded %d", got, s.ToServer.Forwarded)
	}

	// No loss: everything goes through.
	proxy.setLoss(0)
	before := proxy.stats()
	for i := range 50 {
		_, _ = client.conn.WriteToUDP(datagram(uint32(n+i), 200), to)
	}
	pollUntil(t, "50 clean datagrams are echoed", func() bool { return proxy.stats().sub(before).ToClient.Forwarded == 50 })
	if d := proxy.stats().sub(before); d.ToServer.Dropped()+d.ToClient.Dropped() != 0 {
		t.Errorf("loss 0 still drops: %s", d)
	}
}

// TestImpairUDPBlock: blocked, the proxy passes nothing either way; unblocked,
// traffic flows again on the same flow.
func TestImpairUDPBlock(t *testing.T) {
	server := newUDPPeer(t, false)
	proxy := newUDPProxy(t, server.conn.LocalAddr().String(), 1)
	client := newUDPPeer(t, false)
	to, _ := net.ResolveUDPAddr("udp", proxy.Addr())

	send := func(from *net.UDPConn, dst *net.UDPAddr, seq uint32) {
		if _, err := from.WriteToUDP(datagram(seq, 100), dst); err != nil {
			t.Fatal(err)
		}
	}
	// Open the flow and learn the proxy's upstream address.
	send(client.conn, to, 0)
	pollUntil(t, "the first datagram arrives", func() bool { return server.count() == 1 })
	upstream := server.sender()
	send(server.conn, upstream, 0)
	pollUntil(t, "the first reply arrives", func() bool { return client.count() == 1 })

	proxy.block(true)
	for i := 1; i <= 100; i++ {
		send(client.conn, to, uint32(i))
		send(server.conn, upstream, uint32(i))
	}
	pollUntil(t, "the proxy has seen the blocked datagrams", func() bool {
		s := proxy.stats()
		return s.ToServer.Blocked == 100 && s.ToClient.Blocked == 100
	})
	proxy.block(false)
	// One datagram each way after the block: packets through a proxy keep their
	// order, so if it arrives and nothing from the block did, the block held.
	send(client.conn, to, 1000)
	send(server.conn, upstream, 1000)
	pollUntil(t, "datagrams pass after unblocking", func() bool { return server.count() == 2 && client.count() == 2 })
	for name, p := range map[string]*udpPeer{"server": server, "client": client} {
		seqs, _, _ := p.received()
		if len(seqs) != 2 || seqs[0] != 0 || seqs[1] != 1000 {
			t.Errorf("%s received %v, want [0 1000]", name, seqs)
		}
	}
	if s := proxy.stats(); s.ToServer.Forwarded != 2 || s.ToClient.Forwarded != 2 {
		t.Errorf("counters: %s", s)
	}
}

// TestImpairUDPRate: a 400 kbit/s cap on a sender offering about twice that
// carries close to 400 kbit/s, in order, and drops the excess.
func TestImpairUDPRate(t *testing.T) {
	server := newUDPPeer(t, false)
	proxy := newUDPProxy(t, server.conn.LocalAddr().String(), 1)
	client := newUDPPeer(t, false)
	to, _ := net.ResolveUDPAddr("udp", proxy.Addr())

	const (
		rate  = 400_000 // bits/s
		size  = 1000    // bytes a datagram
		queue = 10_000  // bytes
		sent  = 300
	)
	proxy.setLaneRate(toServer, rate, queue)
	// 100 datagrams of 1000 bytes a second offer 800 kbit/s; the sleep only
	// paces the sender, nothing below depends on it being exact.
	for i := range sent {
		if _, err := client.conn.WriteToUDP(datagram(uint32(i), size), to); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	pollUntil(t, "the queue drains", func() bool {
		s := proxy.stats().ToServer
		return s.Forwarded+s.Dropped() == sent && int64(server.count()) == s.Forwarded
	})
	s := proxy.stats()
	seqs, at, n := server.received()
	t.Logf("%s; received %d bytes", s, n)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("reordered: %d after %d", seqs[i], seqs[i-1])
		}
	}
	if s.ToServer.Overflow == 0 {
		t.Errorf("a sender above the cap lost nothing: %s", s.ToServer)
	}
	if s.ToServer.Lost != 0 || s.ToServer.Blocked != 0 {
		t.Errorf("drops other than overflow: %s", s.ToServer)
	}
	// Throughput from the first to the last arrival, the first bucketful aside:
	// the cap is a ceiling (a little slack for timestamps taken by a busy
	// reader); the floor is loose because a starved proxy goroutine sends less.
	span := at[len(at)-1].Sub(at[0]).Seconds()
	burst := max(float64(rate)/50, 2*1500*8)
	got := (float64((n-size)*8) - burst) / span
	t.Logf("throughput %.0f bit/s through a %d bit/s cap", got, rate)
	if got > 1.15*rate || got < 0.6*rate {
		t.Errorf("throughput %.0f bit/s through a %d bit/s cap", got, rate)
	}
	// Removing the cap lets everything queued and new through.
	proxy.setLaneRate(toServer, 0, 0)
	before := proxy.stats()
	for i := range 20 {
		_, _ = client.conn.WriteToUDP(datagram(uint32(sent+i), size), to)
	}
	pollUntil(t, "uncapped datagrams arrive", func() bool { return proxy.stats().sub(before).ToServer.Forwarded == 20 })
	if d := proxy.stats().sub(before).ToServer; d.Dropped() != 0 {
		t.Errorf("uncapped lane drops: %s", d)
	}
}

// TestImpairTCPBlock: the TCP proxy forwards; blocked, it resets open
// connections and new ones close without reaching the target; unblocked, new
// connections reach it again.
func TestImpairTCPBlock(t *testing.T) {
	var hits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/stream" { // a long response, as a WebSocket is
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		_, _ = io.WriteString(w, "hello")
	}))
	t.Cleanup(target.Close)
	proxy := newTCPProxy(t, strings.TrimPrefix(target.URL, "http://"))
	proxy.hold = 50 * time.Millisecond
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	get := func() (string, error) {
		resp, err := client.Get(proxy.URL() + "/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := get(); err != nil || body != "hello" {
		t.Fatalf("through the proxy: %q, %v", body, err)
	}

	// An open long-lived connection dies when the block starts.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", proxy.URL()+"/stream", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	readErr := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, resp.Body)
		readErr <- err
	}()
	proxy.block(true)
	select {
	case err := <-readErr:
		if err == nil {
			t.Error("the open connection ended cleanly; want it reset")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the open connection survived the block")
	}

	before := hits.Load()
	for range 3 {
		if body, err := get(); err == nil {
			t.Fatalf("a request went through the block: %q", body)
		}
	}
	if _, refused := proxy.stats(); refused != 3 {
		t.Errorf("refused %d connections, want 3", refused)
	}
	if hits.Load() != before {
		t.Errorf("the target saw %d requests during the block", hits.Load()-before)
	}

	proxy.block(false)
	if body, err := get(); err != nil || body != "hello" {
		t.Fatalf("after unblocking: %q, %v", body, err)
	}
	if hits.Load() != before+1 {
		t.Errorf("the target saw %d requests after unblocking, want 1", hits.Load()-before)
	}
}

// TestImpairTCPRaw: bytes go both ways unchanged through the TCP proxy.
func TestImpairTCPRaw(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	proxy := newTCPProxy(t, ln.Addr().String())
	c, err := net.Dial("tcp", strings.TrimPrefix(proxy.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("parley "), 10000)
	go func() { _, _ = c.Write(msg) }()
	got := make([]byte, len(msg))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("the echo differs from what was sent")
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	proxy.block(true)
	if _, err := c.Read(got); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after block: %v; want the connection dead", err)
	}
}
