package room

import (
	"fmt"
	"sync"
	"testing"

	"github.com/pion/webrtc/v4"
)

// fakeClient is a Client that keeps what the room tells it, in order, for a
// test to read: a participant without Pion's signaling or a WebSocket.
type fakeClient struct {
	mu     sync.Mutex
	events []event
	closed string   // the reason Close was given; "" while open
	late   []string // what the room told it after Close, which it must not
}

// event is one thing the room told a fakeClient.
type event struct {
	kind string // the Client method's name
	v    any    // its argument (several are a []any)
}

var _ Client = (*fakeClient)(nil)

func (c *fakeClient) add(kind string, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed != "" {
		c.late = append(c.late, fmt.Sprintf("%s(%v)", kind, v))
	}
	c.events = append(c.events, event{kind, v})
}

func (c *fakeClient) Joined(w Welcome)                     { c.add("Joined", w) }
func (c *fakeClient) ParticipantJoined(p ParticipantView)  { c.add("ParticipantJoined", p) }
func (c *fakeClient) ParticipantChanged(p ParticipantView) { c.add("ParticipantChanged", p) }
func (c *fakeClient) ParticipantLeft(id, identity, r string) {
	c.add("ParticipantLeft", []any{id, identity, r})
}
func (c *fakeClient) RoomChanged(r RoomView)            { c.add("RoomChanged", r) }
func (c *fakeClient) ActiveSpeaker(id, identity string) { c.add("ActiveSpeaker", []any{id, identity}) }
func (c *fakeClient) Viewers(vs []ViewerInfo)           { c.add("Viewers", vs) }
func (c *fakeClient) Chat(m ChatMessage)                { c.add("Chat", m) }
func (c *fakeClient) Caption(cp Caption)                { c.add("Caption", cp) }
func (c *fakeClient) E2EE(from Ref, data string)        { c.add("E2EE", []any{from, data}) }
func (c *fakeClient) Muted(source string, by Ref)       { c.add("Muted", []any{source, by}) }
func (c *fakeClient) Removed(by Ref)                    { c.add("Removed", by) }
func (c *fakeClient) Checkpoint(cp CheckpointInfo)      { c.add("Checkpoint", cp) }
func (c *fakeClient) Error(err error)                   { c.add("Error", err) }
func (c *fakeClient) Candidate(role string, cand webrtc.ICECandidateInit) {
	c.add("Candidate", []any{role, cand})
}
func (c *fakeClient) SubOffer(sdp string, tracks map[string]SubTrack) {
	c.add("SubOffer", []any{sdp, tracks})
}

func (c *fakeClient) Close(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed == "" {
		c.closed = reason
	}
}

// toldAfterClose lists what the room told the client after closing it.
func (c *fakeClient) toldAfterClose() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.late
}

func (c *fakeClient) closedFor() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// all returns the events of kind so far.
func (c *fakeClient) all(kind string) []any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []any
	for _, e := range c.events {
		if e.kind == kind {
			out = append(out, e.v)
		}
	}
	return out
}

// await waits for an event of kind that ok accepts (nil accepts any) and returns it.
func (c *fakeClient) await(t *testing.T, kind string, ok func(v any) bool) any {
	t.Helper()
	var got any
	waitUntil(t, "the client is told "+kind, func() bool {
		for _, v := range c.all(kind) {
			if ok == nil || ok(v) {
				got = v
				return true
			}
		}
		return false
	})
	return got
}
