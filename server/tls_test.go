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

// TestTLSOnlyModernSuitesAndHSTS: nothing below TLS 1.2, no CBC suite in 1.2,
// and browsers told to keep to HTTPS; plain HTTP sends no HSTS (browsers
// would ignore it, and it would mislead).
func TestTLSOnlyModernSuitesAndHSTS(t *testing.T) {
	srv := startServer(t, func(c *config.Config) { c.TLSSelfSigned = true })
	addr := strings.TrimPrefix(srv.URL(), "https://")
	handshake := func(tc *tls.Config) (tls.ConnectionState, error) {
		tc.InsecureSkipVerify = true // the suite and version are under test, not the certificate
		c, err := tls.Dial("tcp", addr, tc)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer c.Close()
		return c.ConnectionState(), nil
	}
	if _, err := handshake(&tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("a TLS 1.1 handshake succeeded")
	}
	cbc := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256}
	if st, err := handshake(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: cbc}); err == nil {
		t.Errorf("a TLS 1.2 handshake offering only CBC and RSA key exchange succeeded with %s", tls.CipherSuiteName(st.CipherSuite))
	}
	for _, suite := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
		st, err := handshake(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		if err != nil || st.CipherSuite != suite {
			t.Errorf("TLS 1.2 with %s: %v", tls.CipherSuiteName(suite), err)
		}
	}
	if st, err := handshake(&tls.Config{}); err != nil || st.Version != tls.VersionTLS13 {
		t.Errorf("a default client: version %x, %v; want TLS 1.3", st.Version, err)
	}

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, path := range []string{"/healthz", "/r/summit", "/api/v1/rooms"} {
		resp, err := hc.Get(srv.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
			t.Errorf("GET %s over TLS: Strict-Transport-Security %q", path, got)
		}
	}
	plain := startServer(t)
	resp, err := http.Get(plain.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("plain HTTP sends Strict-Transport-Security %q", got)
	}
}
