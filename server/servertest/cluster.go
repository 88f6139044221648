package servertest

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server"
)

// Heartbeats of test clusters: a node that stops beating is gone within 3
// seconds, a claim nobody opened is dropped after 3. Not shorter: under the
// race detector, on two busy cores, a heartbeat can take a second.
const (
	ClusterInterval = 200 * time.Millisecond
	ClusterTTL      = 3 * time.Second
	ClusterGrace    = 3 * time.Second
)

// StartCluster runs one node per id, joined through the Redis at redisURL,
// all holding one signing key as a cluster's nodes must. Each node's id is
// its node_id; tweaks apply to every node.
func StartCluster(t testing.TB, redisURL string, ids []string, tweaks ...func(*config.Config)) []*server.Server {
	t.Helper()
	_, key := ClusterKey(t)
	opts := []server.Option{server.WithClusterTiming(ClusterInterval, ClusterTTL, ClusterGrace)}
	var out []*server.Server
	for _, id := range ids {
		all := append([]func(*config.Config){func(c *config.Config) {
			c.RedisURL, c.NodeID = redisURL, id
			// Nodes in one process each measure the whole process's CPU:
			// spilling by it would make a test's placement depend on the
			// machine's load. Tests that spill count participants.
			c.SpillCPU = 0
			ShareKey(t, c.DataDir, key)
		}}, tweaks...)
		out = append(out, StartWith(t, opts, all...))
	}
	return out
}

// ClusterKey makes a signing key for the nodes of one cluster to share:
// the key, and its file as a node's data folder holds it (ShareKey).
func ClusterKey(t testing.TB) (ed25519.PrivateKey, []byte) {
	t.Helper()
	shared := t.TempDir()
	key, _, err := auth.LoadOrCreateKey(shared)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(shared, auth.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return key, file
}

// ShareKey writes a cluster's signing key into a node's data folder before
// it starts.
func ShareKey(t testing.TB, dataDir string, key []byte) {
	t.Helper()
	path := filepath.Join(dataDir, auth.KeyFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		t.Fatal(err)
	}
}
