package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/cluster"
	"github.com/parleyhq/parley/cluster/redistest"
)

// node is a cluster member whose open rooms the test sets.
type node struct {
	*cluster.Cluster
	mu    sync.Mutex
	rooms map[string]int // name -> participants
}

func (n *node) open(name string, participants int) {
	n.mu.Lock()
	n.rooms[name] = participants
	n.mu.Unlock()
}

func (n *node) close(name string) {
	n.mu.Lock()
	delete(n.rooms, name)
	n.mu.Unlock()
	n.Ended(name)
}

func (n *node) local() []cluster.Room {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []cluster.Room
	for name, p := range n.rooms {
		out = append(out, cluster.Room{Name: name, Participants: p})
	}
	return out
}

func logger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tlog struct{ t *testing.T }

func (w tlog) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

// join starts a member with fast heartbeats, closed at the end of the test.
func join(t *testing.T, redisURL, id, key string, tweaks ...func(*cluster.Options)) *node {
	t.Helper()
	n := &node{rooms: map[string]int{}}
	o := cluster.Options{
		RedisURL: redisURL, ID: id, URL: "http://127.0.0.1:1", Media: "127.0.0.1:2", Key: key,
		Local: n.local, Logger: logger(t),
		Interval: 50 * time.Millisecond, TTL: 600 * time.Millisecond, Grace: 400 * time.Millisecond,
	}
	for _, tw := range tweaks {
		tw(&o)
	}
	c, err := cluster.New(o)
	if err != nil {
		t.Fatal(err)
	}
	n.Cluster = c
	c.Start()
	t.Cleanup(func() { c.Close(context.Background()) })
	return n
}

// eventually polls cond until it holds; the test's own deadline bounds it.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func nodeIDs(v cluster.View) []string {
	var ids []string
	for _, n := range v.Nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

func roomOf(v cluster.View, name string) (cluster.Room, bool) {
	i := slices.IndexFunc(v.Rooms, func(r cluster.Room) bool { return r.Name == name })
	if i < 0 {
		return cluster.Room{}, false
	}
	return v.Rooms[i], true
}

func TestNodesSeeEachOther(t *testing.T) {
	r := redistest.Start(t)
	a, b, c := join(t, r.URL(), "a", "k"), join(t, r.URL(), "b", "k"), join(t, r.URL(), "c", "k")
	for _, n := range []*node{a, b, c} {
		eventually(t, n.ID()+" sees a, b and c", func() bool {
			v := n.View()
			return v.Up && slices.Equal(nodeIDs(v), []string{"a", "b", "c"})
		})
	}
	// A room open on b is claimed by its heartbeat and seen from a and c with its node.
	b.open("summit", 3)
	for _, n := range []*node{a, c} {
		eventually(t, n.ID()+" sees summit on b", func() bool {
			r, ok := roomOf(n.View(), "summit")
			return ok && r.Node == "b" && r.Participants == 3
		})
	}
	// Closed, it leaves the directory.
	b.close("summit")
	eventually(t, "summit released", func() bool { _, ok := roomOf(a.View(), "summit"); return !ok })
}

func TestClaimIsAtomic(t *testing.T) {
	r := redistest.Start(t)
	nodes := []*node{join(t, r.URL(), "a", "k"), join(t, r.URL(), "b", "k"), join(t, r.URL(), "c", "k")}
	for _, n := range nodes {
		eventually(t, "three nodes", func() bool { return len(n.View().Nodes) == 3 })
	}
	for round := range 20 {
		room := fmt.Sprintf("race-%d", round)
		owners := make([]string, len(nodes))
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Go(func() {
				got, err := n.Claim(context.Background(), room, true)
				if err != nil {
					t.Error(err)
					return
				}
				owners[i] = got.ID
			})
		}
		wg.Wait()
		if owners[0] == "" || owners[1] != owners[0] || owners[2] != owners[0] {
			t.Fatalf("%s: the nodes were told %v: one room, several owners", room, owners)
		}
	}
}

func TestPlacementPicksTheLeastLoaded(t *testing.T) {
	r := redistest.Start(t)
	a, b, c := join(t, r.URL(), "a", "k"), join(t, r.URL(), "b", "k"), join(t, r.URL(), "c", "k")
	a.open("big", 40)
	b.open("medium", 10)
	c.open("small", 2)
	eventually(t, "a sees every load", func() bool {
		v := a.View()
		return len(v.Nodes) == 3 && v.Nodes[0].Load.Participants == 40 && v.Nodes[1].Load.Participants == 10 && v.Nodes[2].Load.Participants == 2
	})
	got, err := a.Claim(context.Background(), "new", false)
	if err != nil || got.ID != "c" {
		t.Fatalf("a placed a new room on %q (%v), want the least loaded, c", got.ID, err)
	}
	// Asked again, from anywhere, the answer is the holder.
	for _, n := range []*node{a, b, c} {
		if got, err := n.Claim(context.Background(), "new", false); err != nil || got.ID != "c" {
			t.Errorf("%s: new is on %q (%v), want c", n.ID(), got.ID, err)
		}
	}
	// The operator opening a room on a node gets it there, or learns where it is.
	if got, err := b.Claim(context.Background(), "ops", true); err != nil || got.ID != "b" {
		t.Errorf("b claiming ops for itself: %q, %v", got.ID, err)
	}
	if got, err := a.Claim(context.Background(), "ops", true); err != nil || got.ID != "b" {
		t.Errorf("a claiming ops, held by b: %q, %v", got.ID, err)
	}
	if n, ok, err := a.Locate(context.Background(), "ops"); err != nil || !ok || n.ID != "b" || n.URL == "" {
		t.Errorf("a locating ops: %+v %v %v", n, ok, err)
	}
	if _, ok, err := a.Locate(context.Background(), "nowhere"); err != nil || ok {
		t.Errorf("a locating a room nobody holds: %v %v", ok, err)
	}
	// A claim nobody opens is dropped after the grace: c never opened "new".
	eventually(t, "the unopened claim is dropped", func() bool { _, ok := roomOf(a.View(), "new"); return !ok })
}

func TestBurstOfNewRoomsSpreads(t *testing.T) {
	r := redistest.Start(t)
	b := join(t, r.URL(), "b", "k")
	join(t, r.URL(), "c", "k")
	eventually(t, "b and c", func() bool { return len(b.View().Nodes) == 2 })
	// a beats once, at its start: faster than its heartbeats, placement
	// counts what it placed itself.
	a := join(t, r.URL(), "a", "k", func(o *cluster.Options) { o.Interval, o.TTL = time.Hour, time.Hour })
	if v := a.View(); len(v.Nodes) != 3 {
		t.Fatalf("a sees %v", nodeIDs(v))
	}
	count := map[string]int{}
	for i := range 9 {
		got, err := a.Claim(context.Background(), fmt.Sprintf("burst-%d", i), false)
		if err != nil {
			t.Fatal(err)
		}
		count[got.ID]++
	}
	if count["a"] != 3 || count["b"] != 3 || count["c"] != 3 {
		t.Errorf("nine new rooms went %v, want three on each node", count)
	}
}

func TestKilledNodeDisappearsAndItsRoomsAreReleased(t *testing.T) {
	r := redistest.Start(t)
	a, b := join(t, r.URL(), "a", "k"), join(t, r.URL(), "b", "k")
	b.open("summit", 2)
	eventually(t, "a sees summit on b", func() bool { r, ok := roomOf(a.View(), "summit"); return ok && r.Node == "b" })
	b.Halt() // as kill -9 would: no goodbye
	eventually(t, "b is gone from a's view", func() bool { return slices.Equal(nodeIDs(a.View()), []string{"a"}) })
	if _, ok := roomOf(a.View(), "summit"); ok {
		t.Fatal("b's room is still listed after b is gone")
	}
	// The room is free: a claims it.
	if got, err := a.Claim(context.Background(), "summit", false); err != nil || got.ID != "a" {
		t.Fatalf("claiming b's old room: %q, %v", got.ID, err)
	}
}

func TestClosedNodeLeavesAtOnce(t *testing.T) {
	r := redistest.Start(t)
	a := join(t, r.URL(), "a", "k")
	b := join(t, r.URL(), "b", "k")
	b.open("summit", 1)
	eventually(t, "a sees summit on b", func() bool { r, ok := roomOf(a.View(), "summit"); return ok && r.Node == "b" })
	b.Close(context.Background())
	eventually(t, "b is gone", func() bool { return slices.Equal(nodeIDs(a.View()), []string{"a"}) })
	if _, ok := roomOf(a.View(), "summit"); ok {
		t.Fatal("b's room outlived its clean shutdown")
	}
}

func TestRedisRestartRecovers(t *testing.T) {
	r := redistest.Start(t)
	a, b := join(t, r.URL(), "a", "k"), join(t, r.URL(), "b", "k")
	a.open("one", 2)
	b.open("two", 3)
	eventually(t, "a sees both rooms", func() bool { return len(a.View().Rooms) == 2 })

	r.Stop()
	eventually(t, "a reports Redis down", func() bool { return !a.Up() })
	if _, err := a.Claim(context.Background(), "three", false); !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("placing a room without Redis: %v, want ErrUnavailable", err)
	}

	r.Restart() // empty: it kept nothing
	for _, n := range []*node{a, b} {
		eventually(t, n.ID()+" sees the cluster again", func() bool {
			v := n.View()
			one, ok1 := roomOf(v, "one")
			two, ok2 := roomOf(v, "two")
			return v.Up && len(v.Nodes) == 2 && ok1 && one.Node == "a" && ok2 && two.Node == "b"
		})
	}
	if got, err := b.Claim(context.Background(), "one", false); err != nil || got.ID != "a" {
		t.Errorf("after the restart, one is on %q (%v), want a", got.ID, err)
	}
}

func TestPassword(t *testing.T) {
	r := redistest.Start(t, redistest.WithPassword("s3cret"))
	a := join(t, r.URL(), "a", "k")
	eventually(t, "registered with the password", func() bool { return a.Up() && len(a.View().Nodes) == 1 })
	c, err := cluster.New(cluster.Options{RedisURL: "redis://:wrong@" + r.Addr() + "/0", ID: "x", URL: "http://127.0.0.1:1", Local: func() []cluster.Room { return nil }, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Close(context.Background())
	if c.Up() {
		t.Error("a node with the wrong password is up")
	}
}

func TestAnotherKeyIsNotAPeer(t *testing.T) {
	r := redistest.Start(t)
	a, other := join(t, r.URL(), "a", "k"), join(t, r.URL(), "b", "other-key")
	other.open("theirs", 1)
	eventually(t, "a sees b", func() bool { return len(a.View().Nodes) == 2 })
	if len(a.Peers()) != 0 {
		t.Errorf("a counts a node with another key among its peers: %+v", a.Peers())
	}
	for range 5 {
		if got, err := a.Claim(context.Background(), fmt.Sprintf("r%d", time.Now().UnixNano()), false); err != nil || got.ID != "a" {
			t.Errorf("placed on %q (%v): a node with another key is no candidate", got.ID, err)
		}
	}
	eventually(t, "theirs is in the directory", func() bool { _, ok := roomOf(a.View(), "theirs"); return ok })
	if _, err := a.Claim(context.Background(), "theirs", false); !errors.Is(err, cluster.ErrIncompatible) {
		t.Errorf("a room on a node with another key: %v, want ErrIncompatible", err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []cluster.Options{
		{RedisURL: "http://x", ID: "a", URL: "http://127.0.0.1:1", Local: func() []cluster.Room { return nil }},
		{RedisURL: "redis://127.0.0.1:1/0", ID: "a", URL: "http://127.0.0.1:1/path", Local: func() []cluster.Room { return nil }},
		{RedisURL: "redis://127.0.0.1:1/0", ID: "a", URL: "javascript:alert(1)", Local: func() []cluster.Room { return nil }},
	} {
		if _, err := cluster.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

// TestACLUser: a Redis user limited as docs/cluster.md says is enough, in a
// database other than 0.
func TestACLUser(t *testing.T) {
	r := redistest.Start(t)
	// The line of docs/cluster.md, as arguments.
	acl := []string{"ACL", "SETUSER", "parley", "on", ">pw", "~parley:*", "+@read", "+@write", "+@scripting", "+@transaction", "+@connection", "+select", "-@dangerous"}
	if got, err := r.Command(acl...); err != nil || got != "+OK" {
		t.Fatalf("ACL SETUSER: %q %v", got, err)
	}
	url := "redis://parley:pw@" + r.Addr() + "/3"
	a, b := join(t, url, "a", "k"), join(t, url, "b", "k")
	b.open("summit", 1)
	eventually(t, "a sees summit on b", func() bool { r, ok := roomOf(a.View(), "summit"); return ok && r.Node == "b" })
	if got, err := a.Claim(context.Background(), "other", true); err != nil || got.ID != "a" {
		t.Fatalf("claim as the limited user: %q %v", got.ID, err)
	}
	b.Close(context.Background())
	eventually(t, "b gone", func() bool { return len(a.View().Nodes) == 1 })
}
