// Package room holds rooms and their participants: membership, grants,
// who is forwarded what, moderation and chat. It drives the sfu package and
// speaks to every kind of client through one typed interface, Client, in its
// own words; it knows no HTTP, no JSON wire format and no RTP.
package room

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/sfu"
)

// Config is what a Manager needs.
type Config struct {
	Engine *sfu.Engine
	Logger *slog.Logger
	// ICEServers gives a participant its ICE servers (TURN credentials are
	// per participant and end with its token); nil gives none.
	ICEServers func(participant string, until time.Time) []ICEServer
	// SessionEnded, when set, is told the id of a participant or viewer whose
	// session ended (left, removed, replaced, its room closed): what
	// ICEServers gave it must stop working. It runs on the room's loop (or
	// the goroutine of a viewer whose room was gone) and must not block or
	// call the Manager.
	SessionEnded func(id string)
	Now          func() time.Time // for tests; defaults to time.Now
	// OnEvent, when set, receives every room event in order. It runs on the
	// room's loop (room-end with the Manager's lock held) and must not block
	// or call the Manager.
	OnEvent func(Event)
	// OnJoined, when set, is told how long each admitted join took, from
	// Join's call to the welcome being sent (for metrics). Any goroutine.
	OnJoined func(time.Duration)
	// StartRecorder makes meeting records; nil disables recording.
	StartRecorder StartRecorder
	// RecordAll records every room from its first join.
	RecordAll bool
	// Transcriber turns speech into transcript events; nil disables it.
	Transcriber Transcriber
	// Translator machine translates floor captions for listeners of a
	// language no interpreter is live on; nil: no translation.
	Translator Translator
	// ReconnectGrace is how long a participant whose connection dropped keeps
	// their seat; 0 ends it at once.
	ReconnectGrace time.Duration
	// RefuseDuplicates refuses a join whose identity is connected already,
	// instead of moving the seat to the new connection. A participant who is
	// reconnecting still gets its seat back.
	RefuseDuplicates bool
	// MaxParticipants per room and MaxRooms per node; 0 means no limit.
	MaxParticipants int
	MaxRooms        int
	// Placement, when set, is asked before a room that is not open here
	// opens or is watched (placement.go); nil: this node alone.
	Placement Placement
	// Bans, when set, shares revocations across the cluster (bans.go).
	Bans Bans
	// Settings, when set, shares rooms' settings across the cluster
	// (sharedsettings.go).
	Settings SettingsStore
	// HandedOver, when set, hears that the part keeping a room's record
	// said it empties while this node's part goes on (SpanHandover): the
	// cluster lets this node take the room's claim without waiting. Called
	// on the room's loop; it must not block.
	HandedOver func(room string)
}

// Manager owns all rooms of this node. Rooms are made on first join and go
// away when the last participant leaves, or made by the operator (CreateRoom)
// and kept until closed.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	mu    sync.Mutex
	rooms map[string]*Room
	wg    sync.WaitGroup // room loops and peer shutdowns
	done  bool
	// closing is closed when Close begins: waits for stragglers end early.
	closing chan struct{}
	// life ends when Close begins, and with it the work rooms started off
	// their loops (background).
	life context.Context
	end  context.CancelFunc
	// denied lists revoked token ids and identities per room, for as long as
	// this node runs (tokens expire; a restart forgets).
	denied map[string]map[string]bool
}

// deny revokes a token id (and, for personal tokens, the identity) in
// room, here and, in a cluster, on every node.
func (m *Manager) deny(room, tokenID, identity string, personal bool) {
	keys := banKeys(tokenID, identity, personal)
	m.mu.Lock()
	m.denyLocked(room, keys)
	m.mu.Unlock()
	if m.cfg.Bans != nil && len(keys) > 0 {
		m.cfg.Bans.Ban(room, keys)
	}
}

func (m *Manager) denyLocked(room string, keys []string) {
	d := m.denied[room]
	if d == nil {
		d = map[string]bool{}
		m.denied[room] = d
	}
	for _, k := range keys {
		d[k] = true
	}
}

// Revoke denies a token id in room from now on (for operators), and ends
// what it opened there: participants and WHEP viewers.
func (m *Manager) Revoke(room, tokenID string) {
	m.deny(room, tokenID, "", false)
	// A room that is not open has nothing running to end (ErrNoRoom).
	_ = m.onLoop(context.Background(), room, func(r *Room) error {
		for _, p := range r.participants {
			if p.tokenID == tokenID {
				p.client.Removed(operatorRef)
				r.leave(p, ReasonRemoved)
			}
		}
		r.endViewersOf(tokenID, "", false)
		return nil
	})
}

// Denied reports whether claims were revoked in their room: their token, or
// for a personal token their identity, was banned.
func (m *Manager) Denied(claims *auth.Claims) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.deniedLocked(claims)
}

func (m *Manager) deniedLocked(claims *auth.Claims) bool {
	d := m.denied[claims.Room]
	return d["jti:"+claims.ID] || (!claims.Invite && d["identity:"+claims.Subject])
}

// ErrRevoked is returned by Join for a revoked token.
var ErrRevoked = errors.New("this access token has been revoked for this room")

// NewManager returns an empty Manager.
func NewManager(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	life, end := context.WithCancel(context.Background())
	return &Manager{cfg: cfg, log: cfg.Logger, rooms: map[string]*Room{}, closing: make(chan struct{}), life: life, end: end,
		denied: map[string]map[string]bool{}}
}

// Join refusals.
var (
	ErrShuttingDown = errors.New("the server is shutting down")
	ErrRoomFull     = errors.New("the room is full")
	ErrServerFull   = errors.New("the server hosts as many rooms as it may")
	ErrDuplicate    = errors.New("this identity is in the room already")
)

// Join admits the holder of req.Claims to their room; the welcome and all
// that follows go to req.Client.
func (m *Manager) Join(ctx context.Context, req JoinRequest) (*Participant, error) {
	start := time.Now()
	claims := req.Claims
	part, err := m.place(ctx, claims.Room, false)
	if err != nil {
		return nil, err
	}
	if err := m.spill(ctx, claims.Room, part, req.Resume); err != nil {
		return nil, err
	}
	var partSet Settings
	if part {
		if partSet, err = m.partSettings(ctx, claims.Room); err != nil {
			return nil, err
		}
	}
	if m.bannedElsewhere(ctx, claims) {
		return nil, ErrRevoked
	}
	m.mu.Lock()
	if m.done {
		m.mu.Unlock()
		return nil, ErrShuttingDown
	}
	if m.deniedLocked(claims) {
		m.mu.Unlock()
		return nil, ErrRevoked
	}
	r := m.rooms[claims.Room]
	if r == nil && m.cfg.MaxRooms > 0 && len(m.rooms) >= m.cfg.MaxRooms {
		m.mu.Unlock()
		return nil, ErrServerFull
	}
	if r == nil {
		r = newRoom(m, claims.Room)
		r.part.Store(part)
		if part {
			r.setSettings(partSet)
			r.addLanguages(partSet.Languages)
		}
		m.rooms[claims.Room] = r
		m.wg.Add(1)
		go r.run()
	}
	r.joining++
	m.mu.Unlock()

	p := newParticipant(r, req)
	res := make(chan error, 1)
	r.box.post(func() { res <- r.admit(p, req.E2EE) })
	select {
	case err := <-res:
		if err != nil {
			_ = p.peer.Close()
			return nil, err
		}
		if m.cfg.OnJoined != nil {
			m.cfg.OnJoined(time.Since(start))
		}
		return p, nil
	case <-ctx.Done():
		// The join still completes in the room; undo it there.
		r.box.post(func() { r.leave(p, ReasonDisconnected) })
		return nil, ctx.Err()
	}
}

// Rooms lists the open rooms.
func (m *Manager) Rooms() []RoomInfo {
	m.mu.Lock()
	rooms := make([]*Room, 0, len(m.rooms))
	for _, r := range m.rooms {
		rooms = append(rooms, r)
	}
	m.mu.Unlock()
	out := make([]RoomInfo, 0, len(rooms))
	for _, r := range rooms {
		out = append(out, RoomInfo{Name: r.name, Participants: int(r.count.Load()), Part: r.part.Load()})
	}
	return out
}

// Close removes everyone from every room and waits until all media is torn down.
func (m *Manager) Close() {
	m.mu.Lock()
	if !m.done {
		close(m.closing)
		m.end()
	}
	m.done = true
	rooms := make([]*Room, 0, len(m.rooms))
	for _, r := range m.rooms {
		rooms = append(rooms, r)
	}
	m.mu.Unlock()
	for _, r := range rooms {
		r.box.post(func() {
			for _, p := range r.participants {
				// Closed with ReasonShutdown: clients hear why, so they wait
				// for the server rather than give up.
				r.leave(p, ReasonShutdown)
			}
		})
	}
	m.wg.Wait()
}

// background lets a room start work off its loop that the Manager owns: it
// counts in m.wg, and its context ends after d or when Close begins. The
// caller calls cancel, then m.wg.Done. False once the Manager is closing.
func (m *Manager) background(d time.Duration) (context.Context, context.CancelFunc, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done {
		return nil, nil, false
	}
	m.wg.Add(1)
	ctx, cancel := context.WithTimeout(m.life, d)
	return ctx, cancel, true
}

// newID returns a short random id with the given prefix.
func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
