// Package cluster joins a node to the other nodes of a Parley cluster through
// Redis (or Valkey): each node registers itself and its load with a heartbeat
// that expires, rooms are placed on nodes through a directory in which a room
// is claimed atomically, and every node reads the same view of nodes and rooms.
//
// Nothing on the media or signaling path waits for Redis. When Redis cannot be
// reached, the rooms a node hosts go on; only the placement of new rooms stops
// (Claim fails with ErrUnavailable), and the node says so (Up). When Redis
// answers again, the node registers anew and claims its rooms again, so the
// view recovers even from a Redis that lost everything.
//
// It knows nothing of Parley's other packages: the server tells it what the
// node hosts (Options.Local, Options.Load) and asks it where rooms are.
package cluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Keys in Redis. One standalone Redis (or a primary with replicas) per
// cluster: the scripts name keys they build, which a sharded Redis Cluster
// would refuse.
const (
	prefix     = "parley:"
	nodeKey    = prefix + "node:"  // + id: the node's record, expiring
	nodesKey   = prefix + "nodes"  // set of node ids ever seen alive, pruned as they expire
	roomsKey   = prefix + "rooms"  // hash: room name -> id of the node hosting it
	partsKey   = prefix + "parts:" // + room: set of the nodes holding a part of it (rooms that span)
	maxRecords = 5000              // rooms listed in one node's record
)

// Defaults of Options' timings.
const (
	DefaultInterval = time.Second
	DefaultTTL      = 5 * time.Second
	DefaultGrace    = 10 * time.Second
)

// opTimeout bounds one exchange with Redis, so a Redis that stopped answering
// holds a join up for at most this long before it is refused.
const opTimeout = time.Second

// ErrUnavailable is returned when Redis cannot be reached: no room can be
// placed until it can.
var ErrUnavailable = errors.New("the cluster's directory (Redis) is unreachable")

// ErrIncompatible is returned for a room hosted by a node that does not share
// this node's signing key: tokens this node accepts would be refused there.
var ErrIncompatible = errors.New("the room is hosted by a node with another signing key")

// Options are what a node tells the cluster about itself.
type Options struct {
	// RedisURL is redis://[[user]:password@]host:port/db or rediss://.
	RedisURL string
	// TLS, when set, is the TLS configuration for rediss:// (tests give
	// their own roots); nil uses the system's.
	TLS *tls.Config
	// ID names the node; unique in the cluster.
	ID string
	// URL is the node's advertised base URL: redirects point there.
	URL string
	// Media is the host:port of the node's media (ICE over UDP and TCP).
	Media string
	// Key identifies the node's token signing key (a fingerprint of its
	// public key): rooms are placed only on nodes that share it.
	Key     string
	Version string
	// Local lists the rooms open on this node now. It is called from the
	// cluster's goroutine, once a heartbeat, and must not block.
	Local func() []Room
	// Load reports the node's load, once a heartbeat, given what Local
	// answered; nil counts Local's participants and rooms.
	Load   func(local []Room) Load
	Logger *slog.Logger
	// Parts, when set, makes rooms span nodes: a room open here while
	// another node holds its claim is a part of it, not a conflict, and once
	// a heartbeat Parts is told, for each room open here, the other live
	// nodes that hold a part of it. It runs on the cluster's goroutine and
	// must not block.
	Parts func(room string, others []Node)
	// Claimed, when set, is told of each room open here that a heartbeat
	// claimed for this node (its holder's part closed or its node was lost;
	// or Redis lost the directory). It runs on the cluster's goroutine and
	// must not block.
	Claimed func(room string)
	// Up, when set, is told each time the node registers after Redis could
	// not be reached, or for the first time (to write again what a Redis
	// that restarted empty lost). It runs on the cluster's goroutine and
	// must not block.
	Up func()

	// Interval between heartbeats, TTL of the node's record (a node that
	// stops beating is gone after it), and Grace: how long a room claimed
	// for this node may stay unopened before the claim is dropped (a client
	// that never followed its redirect). Zero takes the defaults.
	Interval, TTL, Grace time.Duration
}

// Load is what placement weighs.
type Load struct {
	Participants int `json:"participants"`
	Rooms        int `json:"rooms"`
	// BitrateOut is what the node forwarded to subscribers over the last
	// heartbeat, in bits per second.
	BitrateOut uint64 `json:"bitrate_out"`
	// CPU is the process's CPU time over the last heartbeat, as a fraction
	// of every core (0 to 1); 0 where it is not measured.
	CPU float64 `json:"cpu"`
}

// score orders nodes for placement: participants are the load; each room
// counts as one more, so that a burst of new, empty rooms spreads.
func (l Load) score() int { return l.Participants + l.Rooms }

// Node is one live node as its last heartbeat described it.
type Node struct {
	ID       string    `json:"id"`
	URL      string    `json:"url"`
	Media    string    `json:"media"`
	Key      string    `json:"key"`
	Version  string    `json:"version"`
	Started  time.Time `json:"started"`
	Draining bool      `json:"draining,omitempty"` // shutting down: no new rooms
	Load     Load      `json:"load"`
	Rooms    []Room    `json:"rooms"`
}

// Room is one room and where it is open.
type Room struct {
	Name         string `json:"name"`
	Node         string `json:"node,omitempty"`
	Participants int    `json:"participants"`
	// Part: the node holds a part of the room, another its claim (rooms
	// that span nodes).
	Part bool `json:"part,omitempty"`
}

// View is the cluster as this node last read it.
type View struct {
	// Up is whether Redis answered the last heartbeat.
	Up bool
	// Self is this node's id.
	Self string
	// Nodes are the live nodes, this one included while Redis is up, by id.
	Nodes []Node
	// Rooms are the rooms of the directory whose node is live, by name,
	// with the participants their node last reported.
	Rooms []Room
	// Read is when Redis last answered.
	Read time.Time
}

// Cluster is this node's membership.
type Cluster struct {
	o   Options
	rdb *redis.Client
	log *slog.Logger

	claim, release, sweep *redis.Script

	ctx    context.Context // ends the heartbeat loop
	cancel context.CancelFunc
	done   chan struct{}
	nudge  chan struct{} // a room ended: beat now
	halted atomic.Bool
	closed sync.Once

	running atomic.Bool // Start was called: the loop runs until done

	mu       sync.Mutex // guards the view and what placement adds to it
	view     View
	started  time.Time
	draining bool
	placed   map[string]int // rooms placed on each node since the last heartbeat read the loads
	wasUp    bool
	everUp   bool

	// dirMu orders this node's changes to the directory: a claim pins its
	// room before it asks Redis, and a release happens under dirMu after
	// checking the pin, so a room is never released as it is claimed anew.
	dirMu     sync.Mutex
	pins      map[string]time.Time // rooms claimed for this node and not opened yet, since when
	lastLocal map[string]bool      // rooms open here at the last heartbeat
	conflicts map[string]string    // rooms open here but claimed by another node: that node
	unowned   map[string]time.Time // parts open here whose room has no live claim, since when
	handed    map[string]time.Time // parts open here whose owner said it empties (HandedOver), when; under mu
	ended     map[string]bool      // rooms that closed here since the last heartbeat (Ended); under mu
}

// quiet keeps go-redis's own log lines out of the node's log: this package
// reports Redis's state itself, once per change.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

var setLogger sync.Once

// New prepares a node's membership without touching the network; Start
// registers it.
func New(o Options) (*Cluster, error) {
	ropts, err := redis.ParseURL(o.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("redis_url: %w", err)
	}
	if o.ID == "" || o.URL == "" || o.Local == nil {
		return nil, errors.New("cluster: a node needs an id, a URL and its rooms")
	}
	if err := checkURL(o.URL); err != nil {
		return nil, fmt.Errorf("cluster: advertised URL: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.TLS != nil && ropts.TLSConfig != nil {
		tc := o.TLS.Clone()
		if tc.ServerName == "" {
			tc.ServerName = ropts.TLSConfig.ServerName
		}
		ropts.TLSConfig = tc
	}
	// Quiet and plain: no CLIENT SETINFO naming the library, RESP2 (every
	// Redis and Valkey speaks it), no maintenance-notification handshake.
	ropts.DisableIdentity = true
	ropts.Protocol = 2
	ropts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	ropts.DialTimeout, ropts.ReadTimeout, ropts.WriteTimeout, ropts.PoolTimeout = opTimeout, opTimeout, opTimeout, opTimeout
	// One retry, for the pooled connection that a restarted Redis closed.
	ropts.MaxRetries = 1
	ropts.PoolSize = 8
	setLogger.Do(func() { redis.SetLogger(quiet{}) })

	ctx, cancel := context.WithCancel(context.Background())
	return &Cluster{
		o: o, rdb: redis.NewClient(ropts), log: o.Logger.With("node", o.ID),
		claim: redis.NewScript(claimScript), release: redis.NewScript(releaseScript), sweep: redis.NewScript(sweepScript),
		ctx: ctx, cancel: cancel, done: make(chan struct{}), nudge: make(chan struct{}, 1),
		view: View{Self: o.ID}, started: time.Now().UTC(),
		pins: map[string]time.Time{}, lastLocal: map[string]bool{}, placed: map[string]int{}, conflicts: map[string]string{},
		unowned: map[string]time.Time{}, handed: map[string]time.Time{}, ended: map[string]bool{},
	}, nil
}

// claimScript claims room ARGV[1] for node ARGV[2] unless a live node holds
// it, and answers the holder; nil when the candidate itself is not live.
// KEYS[1] is the directory, ARGV[3] the prefix of node records.
const claimScript = `
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if owner and redis.call('EXISTS', ARGV[3] .. owner) == 1 then return owner end
if redis.call('EXISTS', ARGV[3] .. ARGV[2]) == 0 then return false end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return ARGV[2]`

// releaseScript drops room ARGV[1] from the directory if node ARGV[2] holds it.
const releaseScript = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`

// sweepScript forgets node ARGV[1] and releases its rooms, if its record
// (ARGV[2]) is gone. KEYS[1] is the directory, KEYS[2] the set of nodes.
const sweepScript = `
if redis.call('EXISTS', ARGV[2]) == 1 then return -1 end
local all = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #all, 2 do
  if all[i+1] == ARGV[1] then redis.call('HDEL', KEYS[1], all[i]); n = n + 1 end
end
redis.call('SREM', KEYS[2], ARGV[1])
return n`

// checkURL accepts what a redirect may point at: an http(s) base URL with a
// host and nothing else.
func checkURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q is not http or https", s)
	case u.Host == "" || u.User != nil || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return fmt.Errorf("%q is not a base URL", s)
	}
	return nil
}

// SetLocal gives the node's rooms and load (Options.Local, Options.Load)
// to a membership prepared before them; call it before Start.
func (c *Cluster) SetLocal(local func() []Room, load func(local []Room) Load) {
	c.o.Local, c.o.Load = local, load
}

// SetParts makes rooms span nodes (Options.Parts, Options.Claimed); call
// it before Start.
func (c *Cluster) SetParts(parts func(room string, others []Node), claimed func(room string)) {
	c.o.Parts, c.o.Claimed = parts, claimed
}

// SetUp sets Options.Up; call it before Start.
func (c *Cluster) SetUp(up func()) { c.o.Up = up }

// ID is this node's id.
func (c *Cluster) ID() string { return c.o.ID }

// Start registers the node (one heartbeat, which may fail: the node then
// runs, and registers when Redis answers) and keeps it registered until
// Close.
func (c *Cluster) Start() {
	c.running.Store(true)
	c.beat()
	go c.run()
}

func (c *Cluster) run() {
	defer close(c.done)
	t := time.NewTicker(c.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		case <-c.nudge:
		}
		c.beat()
	}
}

// Ended tells the cluster a room closed here: its claim is released at once
// rather than at the next heartbeat. Any goroutine; never blocks.
func (c *Cluster) Ended(room string) {
	c.mu.Lock()
	c.ended[room] = true // even one that opened and closed between two heartbeats
	c.mu.Unlock()
	select {
	case c.nudge <- struct{}{}:
	default: // a beat is due already
	}
}

// HandedOver tells the cluster that the owner of a room of which this node
// holds a part said its own part empties while this one goes on: the owner
// releases its claim at once, and this node need not wait for it to claim
// the room again (as after a Redis restart) before taking the claim. Any
// goroutine; never blocks.
func (c *Cluster) HandedOver(room string) {
	c.mu.Lock()
	c.handed[room] = time.Now()
	c.mu.Unlock()
	select {
	case c.nudge <- struct{}{}: // a beat now
	default:
	}
}

// Drain marks the node as shutting down: no new room is placed on it.
func (c *Cluster) Drain() {
	c.mu.Lock()
	c.draining = true
	c.mu.Unlock()
	select {
	case c.nudge <- struct{}{}:
	default:
	}
}

// Halt stops the heartbeats and leaves the node's records to expire, as a
// node that was killed would (for tests of node loss). Close is then a no-op
// but for freeing the connections.
func (c *Cluster) Halt() {
	c.halted.Store(true)
	c.cancel()
	if c.running.Load() {
		<-c.done
	}
}

// Close stops the heartbeats, removes the node from the cluster and releases
// its rooms.
func (c *Cluster) Close(ctx context.Context) {
	c.closed.Do(func() {
		c.cancel()
		if c.running.Load() {
			<-c.done
		}
		if !c.halted.Load() {
			ctx, cancel := context.WithTimeout(ctx, opTimeout)
			if err := c.rdb.Del(ctx, nodeKey+c.o.ID).Err(); err == nil {
				err = c.sweep.Run(ctx, c.rdb, []string{roomsKey, nodesKey}, c.o.ID, nodeKey+c.o.ID).Err()
				if err != nil {
					c.log.Warn("cluster: the node's rooms could not be released; they will be when its record is swept", "err", err)
				}
			}
			cancel()
		}
		_ = c.rdb.Close()
	})
}

// Up reports whether Redis answered the last heartbeat.
func (c *Cluster) Up() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.view.Up
}

// View is the cluster as the last heartbeat read it.
func (c *Cluster) View() View {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.view
	v.Nodes = slices.Clone(v.Nodes)
	v.Rooms = slices.Clone(v.Rooms)
	return v
}

// Peers lists the other live nodes that share this node's key: the ones
// rooms are placed on and clients redirected to.
func (c *Cluster) Peers() []Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Node
	for _, n := range c.view.Nodes {
		if n.ID != c.o.ID && n.Key == c.o.Key {
			out = append(out, n)
		}
	}
	return out
}

// beat is one heartbeat: write the node's record, read the cluster, release
// what dead nodes held, and bring the directory in step with the rooms open
// here.
func (c *Cluster) beat() {
	ctx, cancel := context.WithTimeout(c.ctx, 2*opTimeout)
	defer cancel()
	local := c.o.Local()
	load := Load{}
	if c.o.Load != nil {
		load = c.o.Load(local)
	} else {
		for _, r := range local {
			load.Participants += r.Participants
		}
		load.Rooms = len(local)
	}
	c.mu.Lock()
	self := Node{ID: c.o.ID, URL: c.o.URL, Media: c.o.Media, Key: c.o.Key, Version: c.o.Version,
		Started: c.started, Draining: c.draining, Load: load, Rooms: local}
	c.mu.Unlock()
	if len(self.Rooms) > maxRecords {
		self.Rooms = self.Rooms[:maxRecords]
	}
	view, dir, err := c.exchange(ctx, self)
	if err != nil {
		c.down(err)
		return
	}
	c.reconcile(ctx, local, dir, view)
	if c.o.Parts != nil {
		c.parts(ctx, local)
	}
}

// exchange writes self's record and reads the nodes and the directory.
func (c *Cluster) exchange(ctx context.Context, self Node) (View, map[string]string, error) {
	data, err := json.Marshal(self)
	if err != nil {
		return View{}, nil, err
	}
	var members *redis.StringSliceCmd
	var dirCmd *redis.MapStringStringCmd
	_, err = c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, nodeKey+c.o.ID, data, c.o.TTL)
		p.SAdd(ctx, nodesKey, c.o.ID)
		members = p.SMembers(ctx, nodesKey)
		dirCmd = p.HGetAll(ctx, roomsKey)
		return nil
	})
	if err != nil {
		return View{}, nil, err
	}
	ids := members.Val()
	slices.Sort(ids)
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = nodeKey + id
	}
	records, err := c.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return View{}, nil, err
	}
	view := View{Up: true, Self: c.o.ID, Read: time.Now()}
	live := map[string]Node{}
	for i, rec := range records {
		s, ok := rec.(string)
		if !ok {
			// Expired: the node stopped beating. Release what it held.
			n, err := c.sweep.Run(ctx, c.rdb, []string{roomsKey, nodesKey}, ids[i], keys[i]).Int()
			if err == nil && n >= 0 {
				c.log.Info("cluster: a node stopped answering; its rooms are released", "gone", ids[i], "rooms", n)
			}
			continue
		}
		var n Node
		if err := json.Unmarshal([]byte(s), &n); err != nil || n.ID != ids[i] || checkURL(n.URL) != nil {
			c.log.Warn("cluster: ignoring a node whose record is malformed", "id", ids[i])
			continue
		}
		live[n.ID] = n
		view.Nodes = append(view.Nodes, n)
	}
	dir := dirCmd.Val()
	counts := map[string]map[string]int{} // node -> room -> participants, as the node reported
	for _, n := range view.Nodes {
		counts[n.ID] = map[string]int{}
		for _, r := range n.Rooms {
			counts[n.ID][r.Name] = r.Participants
		}
	}
	for name, owner := range dir {
		if _, ok := live[owner]; ok {
			view.Rooms = append(view.Rooms, Room{Name: name, Node: owner, Participants: counts[owner][name]})
		}
	}
	slices.SortFunc(view.Rooms, func(a, b Room) int { return strings.Compare(a.Name, b.Name) })
	return view, dir, nil
}

// down records a failed heartbeat.
func (c *Cluster) down(err error) {
	if c.ctx.Err() != nil {
		return // closing
	}
	c.mu.Lock()
	was := c.wasUp || !c.everUp
	c.wasUp = false
	c.view.Up = false
	c.mu.Unlock()
	if was {
		c.log.Warn("cluster: Redis is unreachable; rooms here go on, new rooms cannot be placed", "err", err)
	}
}

// reconcile installs the view and brings the directory in step with the rooms
// open here: a room open here is claimed (again, after Redis lost it), and a
// room claimed for this node and not open is released, at once when it has
// just ended here, after the grace when it was never opened.
func (c *Cluster) reconcile(ctx context.Context, local []Room, dir map[string]string, view View) {
	c.dirMu.Lock()
	defer c.dirMu.Unlock()
	c.mu.Lock()
	if !c.wasUp {
		if c.everUp {
			c.log.Info("cluster: Redis answers again; the node is registered and claims its rooms")
		} else {
			c.log.Info("cluster: registered", "url", c.o.URL, "nodes", len(view.Nodes))
		}
		if c.o.Up != nil {
			c.o.Up()
		}
	}
	c.wasUp, c.everUp = true, true
	clear(c.placed)
	ended := c.ended
	c.ended = map[string]bool{}
	now := time.Now()
	for name, at := range c.handed {
		if now.Sub(at) >= c.partWait() {
			delete(c.handed, name)
		}
	}
	handed := maps.Clone(c.handed)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.view = view
		c.mu.Unlock()
	}()
	live := map[string]bool{}
	for _, n := range view.Nodes {
		live[n.ID] = true
	}
	open := map[string]bool{}
	for _, r := range local {
		open[r.Name] = true
		delete(c.pins, r.Name)
		owner, ok := dir[r.Name]
		if ok && owner == c.o.ID {
			delete(c.conflicts, r.Name)
			continue
		}
		if ok && live[owner] {
			delete(c.unowned, r.Name)
		}
		if (!ok || !live[owner]) && r.Part && c.o.Parts != nil {
			// A part waits before it takes the claim: after Redis lost the
			// directory, the owner claims its room again at its next
			// heartbeat, and a part that claimed first would make two.
			since, seen := c.unowned[r.Name]
			switch {
			case !handed[r.Name].IsZero():
				// The owner said it is going: nobody will claim the room
				// again.
			case !seen:
				c.unowned[r.Name] = now
				continue
			case now.Sub(since) < c.partWait():
				continue
			}
		}
		if !ok || !live[owner] {
			got, err := c.claim.Run(ctx, c.rdb, []string{roomsKey}, r.Name, c.o.ID, nodeKey).Text()
			if err != nil && !errors.Is(err, redis.Nil) {
				continue // the next heartbeat tries again
			}
			delete(c.unowned, r.Name)
			if got == c.o.ID {
				view.Rooms = upsert(view.Rooms, Room{Name: r.Name, Node: c.o.ID, Participants: r.Participants})
				delete(c.conflicts, r.Name)
				if c.o.Claimed != nil {
					c.o.Claimed(r.Name)
				}
				continue
			}
			owner = got
		}
		if c.o.Parts != nil {
			continue // a part of a room that spans nodes: the link joins them
		}
		// Another node opened the room while this one could not reach Redis:
		// two meetings of one name. Moving them together is not done yet.
		if c.conflicts[r.Name] != owner {
			c.conflicts[r.Name] = owner
			c.log.Warn("cluster: a room open here is claimed by another node; new joins go there", "room", r.Name, "claimed_by", owner)
		}
	}
	for name, owner := range dir {
		if owner != c.o.ID || open[name] {
			continue
		}
		since, pinned := c.pins[name]
		switch {
		case ended[name]:
			// It closed here: released at once, even if no heartbeat saw it
			// open.
		case !pinned && !c.lastLocal[name]:
			// Placed here by another node: the client is on its way.
			c.pins[name] = now
			continue
		case pinned && now.Sub(since) < c.o.Grace:
			continue
		}
		if err := c.release.Run(ctx, c.rdb, []string{roomsKey}, name, c.o.ID).Err(); err == nil {
			delete(c.pins, name)
			view.Rooms = slices.DeleteFunc(view.Rooms, func(r Room) bool { return r.Name == name && r.Node == c.o.ID })
		}
	}
	for name, since := range c.pins {
		if _, ok := dir[name]; !ok && now.Sub(since) >= c.o.Grace {
			delete(c.pins, name)
		}
	}
	for name := range c.unowned {
		if !open[name] {
			delete(c.unowned, name)
		}
	}

	c.lastLocal = open
}

// partWait is how long a part waits for its room's owner to claim the room
// again before taking the claim itself.
func (c *Cluster) partWait() time.Duration { return 3*c.o.Interval + time.Second }

func upsert(rooms []Room, r Room) []Room {
	i, found := slices.BinarySearchFunc(rooms, r.Name, func(a Room, name string) int { return strings.Compare(a.Name, name) })
	if found {
		rooms[i] = r
		return rooms
	}
	return slices.Insert(rooms, i, r)
}
