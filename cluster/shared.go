package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Bans: revocations of a room's tokens and identities, shared by every node
// (room.Bans). A set per room, kept for banTTL after its last ban: long
// enough to outlive the tokens it refuses (they last hours, not weeks).
const (
	bansKey = prefix + "bans:" // + room
	banTTL  = 30 * 24 * time.Hour
)

// Ban records keys as banned from room.
func (c *Cluster) Ban(ctx context.Context, room string, keys []string) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, bansKey+room, args...)
		p.Expire(ctx, bansKey+room, banTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// Banned reports whether any of keys is banned from room.
func (c *Cluster) Banned(ctx context.Context, room string, keys []string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	cmds := make([]*redis.BoolCmd, len(keys))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.SIsMember(ctx, bansKey+room, k)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	for _, c := range cmds {
		if c.Val() {
			return true, nil
		}
	}
	return false, nil
}

// Settings of rooms (room.SettingsStore): one value per room, written by
// the node that holds it at its opening and at each change, read by a node
// opening a part of it.
const (
	settingsKey = prefix + "settings:" // + room
	settingsTTL = 24 * time.Hour
)

// SaveSettings records a room's settings (opaque to this package).
func (c *Cluster) SaveSettings(ctx context.Context, room string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := c.rdb.Set(ctx, settingsKey+room, data, settingsTTL).Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// LoadSettings reads a room's settings; ok is false when none were saved.
func (c *Cluster) LoadSettings(ctx context.Context, room string) (data []byte, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	b, err := c.rdb.Get(ctx, settingsKey+room).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return b, true, nil
}
