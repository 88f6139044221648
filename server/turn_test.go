package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
)

func TestMediaThroughTheEmbeddedTURNRelay(t *testing.T) {
	srv := startServer(t)
	if srv.TURNPort() == 0 {
		t.Fatal("the TURN relay is not running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "r", RelayOnly: true, Token: mint(t, srv, "r", "behind-firewall", allGrants...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	ice := pub.Welcome().ICEServers
	if len(ice) != 1 || !strings.HasPrefix(ice[0].URLs[0], "turn:127.0.0.1:") || ice[0].Username == "" || ice[0].Credential == "" {
		t.Fatalf("welcome ICE servers: %+v", ice)
	}
	if !strings.HasSuffix(ice[0].Username, ":"+pub.Welcome().Self.ID) {
		t.Errorf("TURN username %q is not bound to the participant", ice[0].Username)
	}
	if err := publishAV(ctx, pub, "behind-firewall"); err != nil {
		t.Fatal(err)
	}
	sub, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "r", RelayOnly: true, Token: mint(t, srv, "r", "also-behind", allGrants...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	if err := waitInbound(ctx, sub, 2, 5000); err != nil {
		t.Fatalf("media through the relay: %v", err)
	}
}
