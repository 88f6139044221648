package web

import (
	"strings"
	"testing"
)

// TestPolicyNamesOnlyOrigins: a peer's URL comes from the cluster's Redis; one
// that is more than a scheme and a host must not add to the policy.
func TestPolicyNamesOnlyOrigins(t *testing.T) {
	if policy(nil) != csp {
		t.Error("without peers the policy changed")
	}
	got := policy([]string{"https://node2.example.org:7880", "http://127.0.0.1:9000",
		"https://evil.example; script-src *", "https://x.example/path", "javascript:alert(1)", "https://a b"})
	want := "connect-src 'self' https://node2.example.org:7880 wss://node2.example.org:7880 http://127.0.0.1:9000 ws://127.0.0.1:9000; worker-src"
	if !strings.Contains(got, want) {
		t.Errorf("policy:\n%s\nwant it to contain\n%s", got, want)
	}
	for _, bad := range []string{"evil", "path", "javascript", "a b"} {
		if strings.Contains(got, bad) {
			t.Errorf("policy names %q: %s", bad, got)
		}
	}
	if strings.Count(got, "script-src") != 1 {
		t.Errorf("policy: %s", got)
	}
}
