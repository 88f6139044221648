package whip

import (
	"sync"

	"github.com/parleyhq/parley/signal"
)

// sink is a WHIP publisher's room.Sink. A WHIP client has no signaling
// channel: of what the room says, only the welcome (its ICE servers), the
// answer to its offer and errors matter; the rest (chat, others joining)
// has nowhere to go and is dropped.
type sink struct {
	answer chan string
	errc   chan *signal.Error
	done   chan struct{}
	once   sync.Once

	mu      sync.Mutex
	welcome *signal.Welcome
}

func newSink() *sink {
	return &sink{answer: make(chan string, 1), errc: make(chan *signal.Error, 8), done: make(chan struct{})}
}

// Send implements room.Sink; it never blocks.
func (s *sink) Send(msg any) {
	switch m := msg.(type) {
	case *signal.Welcome:
		s.mu.Lock()
		s.welcome = m
		s.mu.Unlock()
	case *signal.Answer:
		select {
		case s.answer <- m.SDP:
		default: // one offer, one answer
		}
	case *signal.Error:
		select {
		case s.errc <- m:
		default: // nobody is asking; the oldest tell enough
		}
	}
}

// Close implements room.Sink: the participant is gone from the room.
func (s *sink) Close() { s.once.Do(func() { close(s.done) }) }

// iceServers are those of the welcome.
func (s *sink) iceServers() []signal.ICEServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.welcome == nil {
		return nil
	}
	return s.welcome.ICEServers
}

// drainErrors forgets errors nobody asked about.
func (s *sink) drainErrors() {
	for {
		select {
		case <-s.errc:
		default:
			return
		}
	}
}

// errorFor returns a queued error about ref ("offer", "candidate"), if any.
func (s *sink) errorFor(ref string) *signal.Error {
	for {
		select {
		case e := <-s.errc:
			if e.Ref == ref {
				return e
			}
		default:
			return nil
		}
	}
}
