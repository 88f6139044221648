package whip

import (
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/room"
)

// publisher is a WHIP publisher as its room sees it: a room.Client with no
// signaling channel. Its requests are synchronous (Publish answers the
// offer, AddCandidate says whether a candidate was taken); of what the room
// tells, only the welcome's ICE servers and the end of the session matter,
// and the rest (chat, others joining, trickled candidates the answer
// already carries) has nowhere to go.
type publisher struct {
	done chan struct{} // closed when the room ends the session
	once sync.Once

	mu  sync.Mutex
	ice []room.ICEServer
}

var _ room.Client = (*publisher)(nil)

func newPublisher() *publisher { return &publisher{done: make(chan struct{})} }

// iceServers are those of the welcome.
func (s *publisher) iceServers() []room.ICEServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ice
}

func (s *publisher) Joined(w room.Welcome) {
	s.mu.Lock()
	s.ice = w.ICE
	s.mu.Unlock()
}

func (s *publisher) Close(string) { s.once.Do(func() { close(s.done) }) }

func (*publisher) ParticipantJoined(room.ParticipantView)    {}
func (*publisher) ParticipantChanged(room.ParticipantView)   {}
func (*publisher) ParticipantLeft(string, string, string)    {}
func (*publisher) RoomChanged(room.RoomView)                 {}
func (*publisher) ActiveSpeaker(string, string)              {}
func (*publisher) Viewers([]room.ViewerInfo)                 {}
func (*publisher) Chat(room.ChatMessage)                     {}
func (*publisher) E2EE(room.Ref, string)                     {}
func (*publisher) Muted(string, room.Ref)                    {}
func (*publisher) Removed(room.Ref)                          {}
func (*publisher) Checkpoint(room.CheckpointInfo)            {}
func (*publisher) Caption(room.Caption)                      {}
func (*publisher) Candidate(string, webrtc.ICECandidateInit) {}
func (*publisher) SubOffer(string, map[string]room.SubTrack) {}
func (*publisher) Error(error)                               {}
