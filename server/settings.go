package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/parleyhq/parley/cluster"
	"github.com/parleyhq/parley/room"
)

// clusterSettings keeps rooms' settings in the cluster's Redis
// (room.SettingsStore), as JSON.
type clusterSettings struct {
	c   *cluster.Cluster
	wg  *sync.WaitGroup // the server's: writes end before the cluster closes
	log *slog.Logger

	// Writes of one node go one at a time, each writing the newest value of
	// its room, so two quick changes cannot land in Redis in the wrong order.
	write  sync.Mutex
	mu     sync.Mutex
	latest map[string]pendingSettings
}

type pendingSettings struct {
	data    []byte
	waiting int // saves of the room not yet written
}

func newClusterSettings(c *cluster.Cluster, wg *sync.WaitGroup, log *slog.Logger) *clusterSettings {
	return &clusterSettings{c: c, wg: wg, log: log, latest: make(map[string]pendingSettings)}
}

func (cs *clusterSettings) Save(name string, s room.Settings) <-chan struct{} {
	done := make(chan struct{})
	data, err := json.Marshal(s)
	if err != nil {
		close(done)
		return done
	}
	cs.mu.Lock()
	p := cs.latest[name]
	cs.latest[name] = pendingSettings{data: data, waiting: p.waiting + 1}
	cs.mu.Unlock()
	cs.wg.Add(1)
	go func() {
		defer cs.wg.Done()
		defer close(done)
		cs.write.Lock()
		defer cs.write.Unlock()
		cs.mu.Lock()
		p := cs.latest[name]
		if p.waiting--; p.waiting == 0 {
			delete(cs.latest, name)
		} else {
			cs.latest[name] = p
		}
		cs.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := cs.c.SaveSettings(ctx, name, p.data); err != nil {
			// A part opening before the next save reads older settings
			// until the owner's arrive over the link: the operator should
			// know.
			cs.log.Warn("room settings not shared with the cluster", "room", name, "err", err)
		}
	}()
	return done
}

func (cs *clusterSettings) Load(ctx context.Context, name string) (room.Settings, bool, error) {
	data, ok, err := cs.c.LoadSettings(ctx, name)
	if err != nil || !ok {
		return room.Settings{}, false, err
	}
	var s room.Settings
	if err := json.Unmarshal(data, &s); err != nil || s.Validate() != nil {
		return room.Settings{}, false, nil // not Parley's: the owner's arrive over the link
	}
	return s, true, nil
}
