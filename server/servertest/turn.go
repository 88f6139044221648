package servertest

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/parleyhq/parley/relay"
	"github.com/parleyhq/parley/signal"
)

// TURNAllocate makes one allocation on the node's relay with the credentials
// of ice (as a welcome hands them out), closed at the end of the test; the
// error is the relay's answer.
func TURNAllocate(t testing.TB, ice signal.ICEServer) (net.PacketConn, error) {
	t.Helper()
	addr := strings.TrimSuffix(strings.TrimPrefix(ice.URLs[0], "turn:"), "?transport=udp")
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: addr, STUNServerAddr: addr, Username: ice.Username, Password: ice.Credential,
		Realm: relay.Realm, Conn: conn, RTO: 200 * time.Millisecond})
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
	return rc, err
}
