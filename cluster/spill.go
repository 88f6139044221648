package cluster

import (
	"cmp"
	"context"
	"errors"
	"slices"

	"github.com/redis/go-redis/v9"
)

// Busy says when a node is too busy to take later joins of the rooms it
// holds (rooms that span nodes): those go to a node that is not.
type Busy struct {
	Participants int     // this many participants or more; 0: not counted
	CPU          float64 // this fraction of every core or more; 0: not measured
}

func (b Busy) of(l Load) bool {
	return (b.Participants > 0 && l.Participants >= b.Participants) || (b.CPU > 0 && l.CPU >= b.CPU)
}

// Spill answers where a join of room that reached this node should go
// instead, when this node is busy: a live node sharing its key, not draining
// and not busy itself, one that already holds the room or a part of it
// first (no new relay), then the one with the fewest participants. here is
// this node's participant count now, fresher than its last heartbeat. ok is
// false to serve the join here: this node is not busy, no other node is free
// or Redis cannot say which nodes hold the room (running rooms go on as they
// are while it is out).
func (c *Cluster) Spill(ctx context.Context, room string, b Busy, here int) (n Node, ok bool) {
	self := c.self().Load
	self.Participants = here
	if !b.of(self) {
		return Node{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var owner *redis.StringCmd
	var parts *redis.StringSliceCmd
	if _, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		owner = p.HGet(ctx, roomsKey, room)
		parts = p.SMembers(ctx, partsKey+room)
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return Node{}, false
	}
	holds := append(parts.Val(), owner.Val())

	c.mu.Lock()
	defer c.mu.Unlock()
	type choice struct {
		n     Node
		holds bool
		load  int
	}
	var best *choice
	for _, n := range c.view.Nodes {
		if n.ID == c.o.ID || n.Key != c.o.Key || n.Draining {
			continue
		}
		l := n.Load
		l.Participants += c.placed[n.ID] // joins sent there since its heartbeat
		if b.of(l) {
			continue
		}
		ch := choice{n: n, holds: slices.Contains(holds, n.ID), load: l.Participants}
		if best == nil || better(ch.holds, best.holds, ch.load, best.load, n.ID, best.n.ID) {
			best = &ch
		}
	}
	if best == nil {
		return Node{}, false
	}
	c.placed[best.n.ID]++
	return best.n, true
}

func better(holds, bestHolds bool, load, bestLoad int, id, bestID string) bool {
	if holds != bestHolds {
		return holds
	}
	if load != bestLoad {
		return load < bestLoad
	}
	return cmp.Less(id, bestID)
}
