package whepview_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/parleyhq/parley/bench/whepview"
)

// TestDialGivesUpOnAHandshakeThatNeverComes: a server that answers and
// passes ICE but never starts DTLS must not hold Dial past its context.
// (DTLS stops its read loop through the connection's read deadline; when
// that did nothing, a timed-out handshake waited for ever, and a load run
// with a few slow joins never ended.)
func TestDialGivesUpOnAHandshakeThatNeverComes(t *testing.T) {
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	const pwd = "serverpasswordserverpassword"
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := udp.ReadFromUDP(buf)
			if err != nil {
				return
			}
			m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if m.Decode() != nil || m.Type != stun.BindingRequest {
				continue
			}
			resp, err := stun.Build(m, stun.BindingSuccess, &stun.XORMappedAddress{IP: from.IP, Port: from.Port},
				stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
			if err == nil {
				_, _ = udp.WriteToUDP(resp.Raw, from)
			}
		}
	}()
	port := udp.LocalAddr().(*net.UDPAddr).Port
	answer := fmt.Sprintf("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"+
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:srv\r\na=ice-pwd:%s\r\n"+
		"a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r\n"+
		"a=setup:active\r\na=sendonly\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n"+
		"a=candidate:1 1 udp 2130706431 127.0.0.1 %d typ host\r\n", pwd, port)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodPost {
			w.Header().Set("Location", "/whep/session")
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, answer)
		}
	}))
	defer web.Close()

	cert, reader := viewerKit(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		v, err := whepview.Dial(ctx, whepview.Options{Endpoint: web.URL + "/whep/r/i", Token: "t", Cert: cert, Reader: reader})
		if v != nil {
			v.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Dial: %v, want the context's deadline", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Dial returned %v after its 1 s context ended", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Dial still waits for a handshake 14 s after its context ended")
	}
}
