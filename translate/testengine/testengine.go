// Package testengine starts a real machine translation engine for tests:
// Debian's apertium-apy with the apertium-eng-spa pair, bound to loopback.
// Without the packages a test skips, except under CI=true, where it fails:
// CI installs them (.ci/run).
package testengine

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"
)

const (
	modes   = "/usr/share/apertium/modes"
	python  = "/usr/bin/python3"
	install = "apt-get install -y apertium-apy apertium-eng-spa"
)

// launcher runs apertium-apy with its HTTP server bound to 127.0.0.1: APY
// itself has no option for the address and would listen on every interface.
const launcher = `
import sys, tornado.tcpserver
bind = tornado.tcpserver.TCPServer.bind
def loopback(self, port, address=None, *a, **k):
    return bind(self, port, "127.0.0.1", *a, **k)
tornado.tcpserver.TCPServer.bind = loopback
from apertium_apy.apy import main
sys.argv = ["apertium-apy"] + sys.argv[1:]
main()
`

// Start starts apertium-apy on a free loopback port and returns its base
// URL; it stops with the test.
func Start(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(modes + "/eng-spa.mode"); err != nil {
		missing(t, "apertium-eng-spa")
	}
	if err := exec.Command(python, "-c", "import apertium_apy.apy").Run(); err != nil {
		missing(t, "apertium-apy")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, python, "-c", launcher, "-p", fmt.Sprint(port), "-j", "1", "-l", os.DevNull, modes)
	cmd.Dir = t.TempDir()
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/listPairs")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("apertium-apy did not answer in 30 s: %v\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing: %s", what, install)
	}
	t.Skipf("%s is missing: %s", what, install)
}
