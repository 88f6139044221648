package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/cluster"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/metrics"
	"github.com/parleyhq/parley/room"
	"github.com/parleyhq/parley/sfu"
)

// Version is the node's version as the cluster shows it (set by main).
var Version = "dev"

// WithClusterTiming sets the cluster's heartbeat interval, the lifetime of a
// node's record and the grace of an unopened claim (tests; the defaults
// suit deployments).
func WithClusterTiming(interval, ttl, grace time.Duration) Option {
	return func(o *options) { o.clusterInterval, o.clusterTTL, o.clusterGrace = interval, ttl, grace }
}

// newCluster prepares the node's membership of its cluster; nil without
// redis_url. It registers at startCluster, once the rooms exist.
func newCluster(cfg config.Config, o options, key ed25519.PrivateKey, httpAddr net.Addr, mediaPort int, log *slog.Logger) (*cluster.Cluster, error) {
	if cfg.RedisURL == "" {
		return nil, nil
	}
	id := cfg.NodeID
	if id == "" {
		var b [5]byte
		_, _ = rand.Read(b[:])
		id = "n-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	}
	port := 0
	if a, ok := httpAddr.(*net.TCPAddr); ok {
		port = a.Port
	}
	mediaHost := cfg.PublicIP
	if mediaHost == "" {
		mediaHost = cfg.ListenIP().String()
	}
	sum := sha256.Sum256(key.Public().(ed25519.PublicKey))
	return cluster.New(cluster.Options{
		RedisURL: cfg.RedisURL, ID: id, URL: cfg.Advertised(port),
		Media: net.JoinHostPort(mediaHost, strconv.Itoa(mediaPort)),
		// The fingerprint, not the key: enough to tell who shares it.
		Key: hex.EncodeToString(sum[:8]), Version: Version,
		Local:  func() []cluster.Room { return nil }, // replaced in startCluster
		Logger: log, Interval: o.clusterInterval, TTL: o.clusterTTL, Grace: o.clusterGrace,
	})
}

// placement lets the room manager ask the cluster where rooms are.
type placement struct {
	c *cluster.Cluster
	// span: a room open on another node opens a part here (span_rooms),
	// rather than sending the client there.
	span bool
	// busy says when this node sends later joins elsewhere (span only);
	// participants counts its own now.
	busy         cluster.Busy
	participants func() int
}

func (p placement) Claim(ctx context.Context, name string, here bool) (bool, error) {
	if p.span && !here {
		_, elsewhere, err := p.c.Locate(ctx, name)
		switch {
		case err != nil:
			return false, placementError(err)
		case elsewhere:
			return true, nil
		}
	}
	n, err := p.c.Claim(ctx, name, here)
	if err != nil {
		return false, placementError(err)
	}
	if n.ID == p.c.ID() {
		return false, nil
	}
	return false, &room.ElsewhereError{Node: n.ID, URL: n.URL}
}

func (p placement) Locate(ctx context.Context, name string) error {
	n, ok, err := p.c.Locate(ctx, name)
	switch {
	case err != nil:
		return placementError(err)
	case !ok:
		return nil
	}
	return &room.ElsewhereError{Node: n.ID, URL: n.URL}
}

func (p placement) Spill(ctx context.Context, name string) error {
	if !p.span {
		return nil
	}
	n, ok := p.c.Spill(ctx, name, p.busy, p.participants())
	if !ok {
		return nil
	}
	return &room.ElsewhereError{Node: n.ID, URL: n.URL}
}

func placementError(err error) error {
	if errors.Is(err, cluster.ErrUnavailable) {
		return fmt.Errorf("%w: %v", room.ErrPlacementUnavailable, err)
	}
	return err
}

// load measures what placement weighs, once a heartbeat (on the cluster's
// goroutine only).
type load struct {
	rooms  *room.Manager
	engine *sfu.Engine
	last   time.Time
	bytes  uint64
	cpu    time.Duration
}

func (l *load) local() []cluster.Room {
	rooms := l.rooms.Rooms()
	out := make([]cluster.Room, len(rooms))
	for i, r := range rooms {
		out[i] = cluster.Room{Name: r.Name, Participants: r.Participants, Part: r.Part}
	}
	return out
}

func (l *load) measure(local []cluster.Room) cluster.Load {
	out := cluster.Load{Rooms: len(local)}
	for _, r := range local {
		out.Participants += r.Participants
	}
	now, bytes, cpu := time.Now(), l.engine.Totals().BytesOut, processCPU()
	if !l.last.IsZero() {
		if secs := now.Sub(l.last).Seconds(); secs > 0 {
			out.BitrateOut = uint64(float64(bytes-l.bytes) * 8 / secs)
			out.CPU = (cpu - l.cpu).Seconds() / secs / float64(numCPU())
		}
	}
	l.last, l.bytes, l.cpu = now, bytes, cpu
	return out
}

// startCluster registers the node once its rooms exist, and shows the
// cluster to the gateway, the admin API and the metrics.
func (s *Server) startCluster(c *cluster.Cluster, admin *api.Options) {
	l := &load{rooms: s.rooms, engine: s.engine}
	c.SetLocal(l.local, l.measure)
	if s.links != nil {
		c.SetParts(s.relinkParts, s.rooms.Own)
	}
	c.Start()
	s.gateway.SetCluster(&gatewayCluster{c: c})
	admin.Cluster = apiCluster{c}
}

// clusterStats are the metrics' view of the cluster.
func clusterStats(c *cluster.Cluster) func() metrics.ClusterStats {
	return func() metrics.ClusterStats {
		v := c.View()
		out := metrics.ClusterStats{Up: v.Up, Nodes: len(v.Nodes), Rooms: map[string]int{}}
		for _, n := range v.Nodes {
			out.Rooms[n.ID] = 0
		}
		for _, r := range v.Rooms {
			out.Rooms[r.Node]++
		}
		return out
	}
}

// gatewayCluster remembers the nodes it saw for a while after they go: a
// page of a node that died keeps its signaling's origin, and comes back
// through another node.
type gatewayCluster struct {
	c    *cluster.Cluster
	mu   sync.Mutex
	seen map[string]time.Time // peer URL -> when last seen live
}

// peerMemory is how long a node that left still counts as a peer for the
// origins of its pages.
const peerMemory = 10 * time.Minute

func (g *gatewayCluster) Peers() []string {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[string]time.Time{}
	}
	for _, n := range g.c.Peers() {
		g.seen[n.URL] = now
	}
	out := make([]string, 0, len(g.seen))
	for u, at := range g.seen {
		if now.Sub(at) > peerMemory {
			delete(g.seen, u)
			continue
		}
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// Live lists the other live nodes' URLs: where a client may go when this
// node is lost.
func (g *gatewayCluster) Live() []string {
	var out []string
	for _, n := range g.c.Peers() {
		out = append(out, n.URL)
	}
	return out
}

func (g *gatewayCluster) Ready() (bool, map[string]string) {
	// nodes: how many live nodes this one sees (itself included).
	state := map[string]string{"node": g.c.ID(), "redis": "ok", "nodes": strconv.Itoa(len(g.c.View().Nodes))}
	up := g.c.Up()
	if !up {
		state["redis"] = "unreachable"
	}
	return up, state
}

type apiCluster struct{ c *cluster.Cluster }

func (a apiCluster) Node() string { return a.c.ID() }

func (a apiCluster) Rooms() []api.RemoteRoom {
	v := a.c.View()
	urls := map[string]string{}
	for _, n := range v.Nodes {
		urls[n.ID] = n.URL
	}
	var out []api.RemoteRoom
	for _, r := range v.Rooms {
		if r.Node != v.Self {
			out = append(out, api.RemoteRoom{Name: r.Name, Node: r.Node, URL: urls[r.Node], Participants: r.Participants})
		}
	}
	return out
}

func (a apiCluster) Holders() map[string][]string {
	out := map[string][]string{}
	for _, n := range a.c.View().Nodes {
		for _, r := range n.Rooms {
			out[r.Name] = append(out[r.Name], n.ID)
		}
	}
	return out
}

// Cluster is the node's membership of its cluster; nil for a node alone.
func (s *Server) Cluster() *cluster.Cluster { return s.cluster }

// localParticipants counts the participants this node serves now.
func (s *Server) localParticipants() int {
	n := 0
	for _, r := range s.rooms.Rooms() {
		n += r.Participants
	}
	return n
}
