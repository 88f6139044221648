package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/config"
)

func TestSelfSignedTLS(t *testing.T) {
	var dataDir string
	srv := startServer(t, func(c *config.Config) { c.TLSSelfSigned = true; dataDir = c.DataDir })
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("URL %s is not https", srv.URL())
	}
	// Trust exactly the certificate the server made and kept in its data folder.
	pem, err := os.ReadFile(filepath.Join(dataDir, "keys", "tls-self-signed.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("the self-signed certificate does not parse")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(srv.URL() + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS with the server's own certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz over TLS: %d", resp.StatusCode)
	}
	// Plain HTTP on the TLS port is refused.
	if resp, err := http.Get(strings.Replace(srv.URL(), "https", "http", 1) + "/healthz"); err == nil && resp.StatusCode == http.StatusOK {
		t.Fatal("plain HTTP is served on the TLS port")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "r", HTTPClient: hc,
		Token: mint(t, srv, "r", "a", auth.GrantJoin)})
	if err != nil {
		t.Fatalf("joining over wss: %v", err)
	}
	c.Close()
}
