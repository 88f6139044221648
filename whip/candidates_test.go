package whip_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server/servertest"
)

// listenUDP counts the datagrams that reach a loopback address.
func listenUDP(t *testing.T, ip string) (*net.UDPConn, *atomic.Int64) {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var n atomic.Int64
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := conn.ReadFrom(buf); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	return conn, &n
}

// The server is not a port scanner: candidates a player names in its offer
// or trickles are checked before the server sends anything to them.
func TestHostileCandidatesGetNothing(t *testing.T) {
	// 127.0.0.2 stands for a network the operator denies; 127.0.0.3 for
	// an admitted one, which proves the server does send checks to
	// candidates it admits (else this test could not fail).
	srv := servertest.Start(t, func(c *config.Config) { c.ICEDeny = "127.0.0.2/32"; c.TURN = true })
	denied, deniedGot := listenUDP(t, "127.0.0.2")
	admitted, admittedGot := listenUDP(t, "127.0.0.3")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	speaker := dial(t, ctx, srv, "hall", "speaker", all...)
	publishAV(t, ctx, speaker, "speaker")

	line := func(ip string, port int) string {
		return fmt.Sprintf("a=candidate:9 1 udp 2130706431 %s %d typ host\r\n", ip, port)
	}
	hostile := []string{
		line("127.0.0.2", denied.LocalAddr().(*net.UDPAddr).Port),
		line("0.0.0.0", 5000),
		line("224.0.0.251", 5353),
		line("169.254.10.10", 5000),
		line("127.0.0.1", srv.TURNPort()), // the node's own relay
		line("127.0.0.1", srv.MediaPort()),
		"a=candidate:9 1 tcp 2130706431 127.0.0.1 443 typ host tcptype passive\r\n",
	}
	refusedBefore := srv.Engine().Totals().CandidatesRefused
	player := newPeer(t)
	player.receiveAV(t)
	offer := player.offer(t, true)
	// The candidates go into the first section: BUNDLE uses its transport.
	at := strings.Index(offer, "a=mid:")
	at += strings.Index(offer[at:], "\r\n") + 2
	offer = offer[:at] + strings.Join(hostile, "") + line("127.0.0.3", admitted.LocalAddr().(*net.UDPAddr).Port) + offer[at:]
	token := mint(t, srv, "hall", "viewer", auth.GrantJoin, auth.GrantSubscribe)
	resp, body := request(t, "POST", srv.URL()+"/whep/hall/speaker", token, "application/sdp", []byte(offer))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP: %d %s", resp.StatusCode, body)
	}
	player.answer(t, string(body))
	// Trickled, the same candidates are refused with an error.
	loc := resp.Header.Get("Location")
	etag := resp.Header.Get("ETag")
	frag := "a=ice-ufrag:" + ufrag(offer) + "\r\na=ice-pwd:" + pwd(offer) + "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n" + hostile[0]
	resp, body = request(t, "PATCH", srv.URL()+loc, token, "application/trickle-ice-sdpfrag", []byte(frag), "If-Match", etag)
	if resp.StatusCode < 400 {
		t.Errorf("a trickled denied candidate: %d %s", resp.StatusCode, body)
	}
	poll(t, "the player to receive video", func() bool { return player.received("video") > 20 })
	poll(t, "checks to the admitted candidate", func() bool { return admittedGot.Load() > 0 })
	time.Sleep(time.Second) // checks go on a few times a second: give denied ones as long
	if n := deniedGot.Load(); n != 0 {
		t.Fatalf("the server sent %d datagrams to a denied candidate", n)
	}
	// Counted from before the player came: the speaker's candidates went
	// through the same policy.
	if n := srv.Engine().Totals().CandidatesRefused - refusedBefore; n < uint64(len(hostile)+1) {
		t.Errorf("%d candidates counted as refused, want at least %d", n, len(hostile)+1)
	}
	t.Logf("admitted candidate: %d datagrams; denied: 0", admittedGot.Load())
}

func ufrag(sdp string) string { return attr(sdp, "a=ice-ufrag:") }
func pwd(sdp string) string   { return attr(sdp, "a=ice-pwd:") }

func attr(sdp, prefix string) string {
	for l := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
