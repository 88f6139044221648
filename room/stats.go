package room

import (
	"context"
	"slices"
	"strings"
)

// RoomStats is a room's state as its loop saw it at one moment.
type RoomStats struct {
	Name         string
	Participants int // seated on this node, reconnecting ones included
	Reconnecting int
	Tracks       int            // published on this node, carrying media
	TracksByKind map[string]int // "audio", "video"
	Recording    bool
}

// Stats asks every open room's loop for its figures. A room that does not
// answer before ctx ends (a busy loop) is left out rather than waited on, and
// a room that closes meanwhile is simply absent. Sorted by name.
func (m *Manager) Stats(ctx context.Context) []RoomStats {
	m.mu.Lock()
	rooms := make([]*Room, 0, len(m.rooms))
	for _, r := range m.rooms {
		rooms = append(rooms, r)
	}
	m.mu.Unlock()

	// Every room is asked at once, so one slow loop costs one wait, not one per room.
	answers := make(chan RoomStats, len(rooms))
	asked := 0
	for _, r := range rooms {
		if r.box.post(func() { answers <- r.stats() }) {
			asked++
		}
	}
	out := make([]RoomStats, 0, asked)
collect:
	for range asked {
		select {
		case s := <-answers:
			out = append(out, s)
		case <-ctx.Done():
			break collect // late answers land in the buffered channel, unread
		}
	}
	slices.SortFunc(out, func(a, b RoomStats) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// stats counts the room's figures; loop only.
func (r *Room) stats() RoomStats {
	// A room that spans nodes counts, on each, the participants connected
	// there and what they publish: the cluster's figures are the sum of its
	// nodes'.
	s := RoomStats{Name: r.name, Participants: r.localCount(), TracksByKind: map[string]int{}, Recording: r.rec != nil}
	for _, p := range r.participants {
		if p.state == StateReconnecting && !p.remote() {
			s.Reconnecting++
		}
	}
	for _, t := range r.tracks {
		if !t.owner.remote() {
			s.Tracks++
			s.TracksByKind[t.kind]++
		}
	}
	return s
}
