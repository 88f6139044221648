package cluster

import (
	"context"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"
)

// Rooms that span nodes: besides the directory's one claim per room (the
// node that opened it first, which keeps its record), Redis holds per room
// the set of nodes that hold a part of it. A node adds itself as it opens
// its part and reads the others, so of two nodes opening parts at once the
// later one sees the earlier; each heartbeat adds it again (a Redis that lost
// everything learns it back) and tells the node who else holds parts, so
// links that failed are made again.

// JoinPart records that this node holds a part of room and answers the other
// live nodes (sharing this node's key) that hold one.
func (c *Cluster) JoinPart(ctx context.Context, room string) ([]Node, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var members *redis.StringSliceCmd
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, partsKey+room, c.o.ID)
		members = p.SMembers(ctx, partsKey+room)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return c.liveOthers(ctx, room, members.Val()), nil
}

// LeavePart records that this node's part of room closed.
func (c *Cluster) LeavePart(ctx context.Context, room string) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	_ = c.rdb.SRem(ctx, partsKey+room, c.o.ID).Err() // a dead entry is filtered by liveness
}

// liveOthers keeps the ids of live nodes other than this one that share its
// key, and drops the dead from the room's set.
func (c *Cluster) liveOthers(ctx context.Context, room string, ids []string) []Node {
	slices.Sort(ids)
	var out []Node
	for _, id := range ids {
		if id == c.o.ID {
			continue
		}
		n, err := c.node(ctx, id)
		switch {
		case err == nil:
			out = append(out, n)
		case err == errGone:
			_ = c.rdb.SRem(ctx, partsKey+room, id).Err()
		}
	}
	return out
}

// parts adds this node to the part sets of the rooms open here and tells the
// node who else holds parts of them.
func (c *Cluster) parts(ctx context.Context, local []Room) {
	if len(local) == 0 {
		return
	}
	cmds := make([]*redis.StringSliceCmd, len(local))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, r := range local {
			p.SAdd(ctx, partsKey+r.Name, c.o.ID)
			cmds[i] = p.SMembers(ctx, partsKey+r.Name)
		}
		return nil
	})
	if err != nil {
		return
	}
	for i, r := range local {
		c.o.Parts(r.Name, c.liveOthers(ctx, r.Name, cmds[i].Val()))
	}
}
