package relay

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

func startTest(t *testing.T, peers ...net.IP) *Server {
	t.Helper()
	s, err := Start(Config{ListenIP: net.IPv4(127, 0, 0, 1), Peers: peers, Secret: []byte("0123456789abcdef0123")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// allocate asks the relay for an allocation with the given credentials.
func allocate(t *testing.T, s *Server, user, pass string) (*turn.Client, net.PacketConn, error) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port()))
	c, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: addr, STUNServerAddr: addr, Username: user, Password: pass, Realm: Realm, Conn: conn, RTO: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	rc, err := c.Allocate()
	if err == nil {
		t.Cleanup(func() { rc.Close() })
	}
	return c, rc, err
}

func TestRelayAdmitsOnlyValidCredentials(t *testing.T) {
	s := startTest(t, net.IPv4(127, 0, 0, 1))
	user, pass := s.Credentials("PA_1", time.Now().Add(time.Hour))
	if _, _, err := allocate(t, s, user, pass); err != nil {
		t.Fatalf("valid credentials refused: %v", err)
	}
	if _, _, err := allocate(t, s, user, pass+"x"); err == nil {
		t.Error("a wrong password was accepted")
	}
	old, oldPass := s.Credentials("PA_1", time.Now().Add(-time.Minute))
	if _, _, err := allocate(t, s, old, oldPass); err == nil {
		t.Error("expired credentials were accepted")
	}
	if _, _, err := allocate(t, s, "PA_1", pass); err == nil {
		t.Error("a username without an expiry was accepted")
	}
}

func TestRelayIsNotAnOpenRelay(t *testing.T) {
	sfu, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sfu.Close()
	s := startTest(t, net.IPv4(127, 0, 0, 1))
	user, pass := s.Credentials("PA_1", time.Now().Add(time.Hour))
	c, _, err := allocate(t, s, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CreatePermission(sfu.LocalAddr()); err != nil {
		t.Fatalf("permission to the SFU's address refused: %v", err)
	}
	elsewhere := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 9}
	if err := c.CreatePermission(elsewhere); err == nil {
		t.Fatal("the relay agreed to relay to an address that is not the SFU")
	}
}
