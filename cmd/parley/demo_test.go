package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
)

// serveOnce runs serve with args until the node has started and printed what
// it prints at start, then stops it, and returns its standard output.
func serveOnce(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // serve starts, prints, and then finds it must stop
	var stdout, stderr bytes.Buffer
	args = append([]string{"--listen", "127.0.0.1:0", "--udp-port", "0", "--turn=false", "--log-level", "error"}, args...)
	if err := serveUntil(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("serve %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

var demoLinkRE = regexp.MustCompile(`http://127\.0\.0\.1:\d+/r/demo\?token=(\S+)`)

func TestDemoInviteOnlyOnAFreshLoopbackNode(t *testing.T) {
	data := t.TempDir()
	out := serveOnce(t, "--data", data)
	m := demoLinkRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the first start on loopback printed no demo link:\n%s", out)
	}
	tok, err := url.QueryUnescape(m[1])
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.LoadKey(data)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := auth.NewVerifier(key.Public().(ed25519.PublicKey)).Verify(tok, "demo")
	if err != nil {
		t.Fatalf("the demo link's token: %v", err)
	}
	want := []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}
	if !slices.Equal(claims.Grants, want) || !claims.Invite {
		t.Errorf("demo invite grants %v (invite %v), want %v for many guests", claims.Grants, claims.Invite, want)
	}
	if ttl := time.Until(time.Unix(claims.ExpiresAt, 0)); ttl < 23*time.Hour || ttl > 24*time.Hour {
		t.Errorf("the demo invite is valid for %s, want 24h", ttl)
	}

	// The same node started again: no invite, but the way to mint one.
	out = serveOnce(t, "--data", data)
	if strings.Contains(out, "token=") {
		t.Errorf("a second start printed an invite:\n%s", out)
	}
	if !strings.Contains(out, "parley token --data "+data+" --room demo --identity guest --invite --url http://127.0.0.1:") {
		t.Errorf("a second start does not say how to get a link:\n%s", out)
	}

	for _, args := range [][]string{
		{"--no-demo"},
		{"--tls-self-signed"},
	} {
		if out := serveOnce(t, append([]string{"--data", t.TempDir()}, args...)...); out != "" {
			t.Errorf("a fresh node with %v printed:\n%s", args, out)
		}
	}
}

func TestDemoOnlyForPlainLoopback(t *testing.T) {
	for _, c := range []struct {
		listen string
		tls    bool
		want   bool
	}{
		{"127.0.0.1:7880", false, true},
		{"localhost:7880", false, true},
		{"[::1]:7880", false, true},
		{"127.0.0.1:7880", true, false},
		{"0.0.0.0:7880", false, false},
		{":7880", false, false},
		{"[::]:7880", false, false},
		{"192.0.2.10:7880", false, false},
	} {
		cfg := config.Default()
		cfg.Listen, cfg.TLSSelfSigned = c.listen, c.tls
		if got := localPlain(cfg); got != c.want {
			t.Errorf("listen %s, tls %v: demo %v, want %v", c.listen, c.tls, got, c.want)
		}
	}
}

func TestServiceUnitAsksForNoDemo(t *testing.T) {
	for _, name := range []string{"parley.service", "cluster/parley.service"} {
		b, err := os.ReadFile("../../deploy/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^ExecStart=\S*parley serve .*--no-demo`).MatchString(string(b)) {
			t.Errorf("deploy/%s starts parley without --no-demo", name)
		}
	}
	// config print takes serve's command line as it is.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"config", "print", "--no-demo"}, &stdout, &stderr); code != 0 {
		t.Errorf("config print --no-demo: exit %d: %s", code, stderr.String())
	}
}
