package room

import (
	"context"

	"github.com/parleyhq/parley/auth"
)

// Bans shares revocations with the other nodes of a cluster: a token (or a
// personal token's identity) banned from a room on one node is refused by
// every node, whichever the banned person tries next. The server wires it
// (Config.Bans); nil keeps bans on this node alone.
type Bans interface {
	// Ban records keys as banned from room. It must not block: the
	// implementation does the exchange in the background.
	Ban(room string, keys []string)
	// Banned reports whether any of keys is banned from room on any node.
	Banned(ctx context.Context, room string, keys []string) (bool, error)
}

// banKeys are what a ban covers for a token: its id and, for a personal
// token, its identity.
func banKeys(tokenID, identity string, personal bool) []string {
	var keys []string
	if tokenID != "" {
		keys = append(keys, "jti:"+tokenID)
	}
	if personal && identity != "" {
		keys = append(keys, "identity:"+identity)
	}
	return keys
}

// bannedElsewhere asks the cluster whether claims were banned on another
// node; a ban found there is kept here too. While the cluster cannot
// answer, this node's own bans decide: a meeting's joins do not wait on
// Redis.
func (m *Manager) bannedElsewhere(ctx context.Context, claims *auth.Claims) bool {
	if m.cfg.Bans == nil {
		return false
	}
	keys := banKeys(claims.ID, claims.Subject, !claims.Invite)
	if len(keys) == 0 {
		return false
	}
	banned, err := m.cfg.Bans.Banned(ctx, claims.Room, keys)
	if err != nil {
		m.log.Warn("the cluster's bans cannot be read; this node's decide", "room", claims.Room, "err", err)
		return false
	}
	if banned {
		m.mu.Lock()
		m.denyLocked(claims.Room, keys)
		m.mu.Unlock()
	}
	return banned
}
