package server

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/parleyhq/parley/cluster"
	"github.com/parleyhq/parley/span"
)

// Rooms that span nodes (span_rooms): the node links its part of a room to
// the other nodes' parts as it opens, and again at each heartbeat for links
// that broke.

// startLinks prepares the node's links; the cluster must exist.
func (s *Server) startLinks(key ed25519.PrivateKey) {
	s.links = span.New(span.Options{
		Self: s.cluster.ID(), Rooms: s.rooms, Secret: span.DeriveSecret(key.Seed()), Logger: s.log,
	})
}

// partOpened links a part that just opened to the others. It runs on the
// room's loop: the exchange with Redis goes off it.
func (s *Server) partOpened(room string) {
	s.parts.Add(1)
	go func() {
		defer s.parts.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		others, err := s.cluster.JoinPart(ctx, room)
		if err != nil {
			return // the next heartbeat adds the part and links it
		}
		s.links.Ensure(room, spanNodes(others), true)
	}()
}

func (s *Server) partClosed(room string) {
	s.parts.Add(1)
	go func() {
		defer s.parts.Done()
		s.cluster.LeavePart(context.Background(), room)
	}()
}

// relinkParts is the heartbeat's repair of links.
func (s *Server) relinkParts(room string, others []cluster.Node) {
	s.links.Ensure(room, spanNodes(others), false)
}

func spanNodes(ns []cluster.Node) []span.Node {
	out := make([]span.Node, len(ns))
	for i, n := range ns {
		out[i] = span.Node{ID: n.ID, URL: n.URL}
	}
	return out
}
