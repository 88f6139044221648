package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// Claim finds where room should be open, claiming it when no live node holds
// it. With here, the room is claimed for this node or not at all (the
// operator opens it on the node they asked); otherwise it goes to the least
// loaded live node that shares this node's key, this one winning ties. It
// answers the node that holds the room: this one (ID() == node.ID) or
// another, whose URL a client is redirected to. ErrUnavailable: Redis did
// not answer, and no room can be placed.
func (c *Cluster) Claim(ctx context.Context, room string, here bool) (Node, error) {
	self := c.self()
	candidate := self
	if !here {
		candidate = c.leastLoaded()
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	// Pinned first: a heartbeat that finds the room claimed for this node
	// but not open leaves it be for the grace.
	c.pin(room)
	owner, err := c.claim.Run(ctx, c.rdb, []string{roomsKey}, room, candidate.ID, nodeKey).Text()
	if errors.Is(err, redis.Nil) && candidate.ID != self.ID {
		// The candidate's record expired since the last heartbeat.
		owner, err = c.claim.Run(ctx, c.rdb, []string{roomsKey}, room, self.ID, nodeKey).Text()
	}
	switch {
	case errors.Is(err, redis.Nil):
		// This node's own record is gone: Redis lost it, or this node
		// could not beat in time. The next heartbeat registers it again.
		c.unpin(room)
		return Node{}, ErrUnavailable
	case err != nil:
		c.unpin(room)
		return Node{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if owner == candidate.ID {
		// Until the node's next heartbeat reports it, count the room here.
		c.mu.Lock()
		c.placed[owner]++
		c.mu.Unlock()
	}
	if owner == self.ID {
		return self, nil
	}
	c.unpin(room)
	return c.node(ctx, owner)
}

// Locate finds the node that holds room, when another live node does (for
// a player who would watch it). ok is false when no other node holds it.
func (c *Cluster) Locate(ctx context.Context, room string) (n Node, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	owner, err := c.rdb.HGet(ctx, roomsKey, room).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return Node{}, false, nil
	case err != nil:
		return Node{}, false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	case owner == c.o.ID:
		return Node{}, false, nil
	}
	n, err = c.node(ctx, owner)
	if errors.Is(err, errGone) {
		return Node{}, false, nil
	}
	return n, err == nil, err
}

var errGone = errors.New("the node holding the room stopped answering")

// node reads a live node's record: from the view, or from Redis when the
// view does not know it yet. Only a node that shares this node's key is
// answered, since a redirect there would be refused.
func (c *Cluster) node(ctx context.Context, id string) (Node, error) {
	c.mu.Lock()
	i := slices.IndexFunc(c.view.Nodes, func(n Node) bool { return n.ID == id })
	var n Node
	if i >= 0 {
		n = c.view.Nodes[i]
	}
	c.mu.Unlock()
	if i < 0 {
		s, err := c.rdb.Get(ctx, nodeKey+id).Result()
		switch {
		case errors.Is(err, redis.Nil):
			return Node{}, errGone
		case err != nil:
			return Node{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		if err := json.Unmarshal([]byte(s), &n); err != nil || n.ID != id || checkURL(n.URL) != nil {
			return Node{}, fmt.Errorf("cluster: node %q has a malformed record", id)
		}
	}
	if n.Key != c.o.Key {
		return Node{}, fmt.Errorf("%w (node %s)", ErrIncompatible, id)
	}
	return n, nil
}

// self is this node's record as placement weighs it.
func (c *Cluster) self() Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.view.Nodes {
		if n.ID == c.o.ID {
			return n
		}
	}
	return Node{ID: c.o.ID, URL: c.o.URL, Media: c.o.Media, Key: c.o.Key}
}

// leastLoaded picks the node a new room goes to: the lowest load among live
// nodes that share this node's key and are not draining, counting rooms
// placed since their last heartbeat; this node wins ties, then the lower id.
func (c *Cluster) leastLoaded() Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	best, bestScore, found := Node{ID: c.o.ID, URL: c.o.URL, Key: c.o.Key}, 0, false
	for _, n := range c.view.Nodes {
		if n.Key != c.o.Key || n.Draining || (n.ID == c.o.ID && c.draining) {
			continue
		}
		score := n.Load.score() + c.placed[n.ID]
		better := !found || score < bestScore ||
			(score == bestScore && (n.ID == c.o.ID || (best.ID != c.o.ID && cmp.Less(n.ID, best.ID))))
		if better {
			best, bestScore, found = n, score, true
		}
	}
	return best
}

func (c *Cluster) pin(room string) {
	c.dirMu.Lock()
	c.pins[room] = time.Now()
	c.dirMu.Unlock()
}

func (c *Cluster) unpin(room string) {
	c.dirMu.Lock()
	delete(c.pins, room)
	c.dirMu.Unlock()
}
