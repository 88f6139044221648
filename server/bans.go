package server

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/parleyhq/parley/cluster"
)

// clusterBans shares the room manager's bans through the cluster's Redis
// (room.Bans). Each ban this node made is kept here too, and written again
// when Redis answers after an outage: Redis needs no persistence, and one
// that restarted empty learns the bans back from the nodes.
type clusterBans struct {
	c  *cluster.Cluster
	wg *sync.WaitGroup // the server's: exchanges end before the cluster closes

	mu   sync.Mutex
	made map[string][]string // room -> keys banned on this node
}

func (b *clusterBans) Ban(room string, keys []string) {
	b.mu.Lock()
	if b.made == nil {
		b.made = map[string][]string{}
	}
	for _, k := range keys {
		if !slices.Contains(b.made[room], k) {
			b.made[room] = append(b.made[room], k)
		}
	}
	b.mu.Unlock()
	b.write(map[string][]string{room: keys})
}

func (b *clusterBans) Banned(ctx context.Context, room string, keys []string) (bool, error) {
	return b.c.Banned(ctx, room, keys)
}

// rewrite writes every ban this node made again (cluster.Options.Up).
func (b *clusterBans) rewrite() {
	b.mu.Lock()
	all := make(map[string][]string, len(b.made))
	for room, keys := range b.made {
		all[room] = slices.Clone(keys)
	}
	b.mu.Unlock()
	if len(all) > 0 {
		b.write(all)
	}
}

// write sends bans off the caller's goroutine (a room's loop, the
// cluster's heartbeat). One that fails now is written at the next Up.
func (b *clusterBans) write(bans map[string][]string) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for room, keys := range bans {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = b.c.Ban(ctx, room, keys)
			cancel()
		}
	}()
}
