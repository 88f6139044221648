package gateway

import (
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/room"
	"github.com/parleyhq/parley/signal"
)

// queued drains what c has queued for its writer.
func queued(c *conn) []any {
	var out []any
	for {
		select {
		case m := <-c.out:
			out = append(out, m)
		default:
			return out
		}
	}
}

// A "pub" candidate the room hands over while Publish is still returning its
// answer reaches the browser after that answer: a browser refuses a
// candidate before the description it belongs to.
func TestPubCandidatesFollowTheAnswer(t *testing.T) {
	c := newConn(nil, func() {})
	c.beginPublish()
	c.Candidate(room.RolePub, webrtc.ICECandidateInit{Candidate: "candidate:pub"})
	c.Candidate(room.RoleSub, webrtc.ICECandidateInit{Candidate: "candidate:sub"})
	c.endPublish(signal.NewAnswer("v=0"))
	c.Candidate(room.RolePub, webrtc.ICECandidateInit{Candidate: "candidate:later"})

	var got []string
	for _, m := range queued(c) {
		switch m := m.(type) {
		case *signal.Candidate:
			got = append(got, m.PC+" "+m.Candidate.Candidate)
		case *signal.Answer:
			got = append(got, "answer")
		}
	}
	want := []string{"sub candidate:sub", "answer", "pub candidate:pub", "pub candidate:later"}
	if len(got) != len(want) {
		t.Fatalf("queued %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("queued %q, want %q", got, want)
		}
	}
}

// A refused offer releases the candidates held for it all the same.
func TestPubCandidatesReleasedAfterARefusal(t *testing.T) {
	c := newConn(nil, func() {})
	c.beginPublish()
	c.Candidate(room.RolePub, webrtc.ICECandidateInit{Candidate: "candidate:pub"})
	c.endPublish(nil)
	if got := queued(c); len(got) != 1 {
		t.Fatalf("queued %v", got)
	}
}

// The room's reasons, sources, channels and roles are the protocol's words: the
// gateway passes them through untranslated.
func TestRoomWordsAreTheProtocols(t *testing.T) {
	pairs := [][2]string{
		{room.ReasonLeft, signal.ReasonLeft}, {room.ReasonRemoved, signal.ReasonRemoved},
		{room.ReasonDisconnected, signal.ReasonDisconnected}, {room.ReasonReplaced, signal.ReasonReplaced},
		{room.ReasonShutdown, signal.ReasonShutdown},
		{room.SourceMic, signal.SourceMic}, {room.SourceCamera, signal.SourceCamera},
		{room.SourceScreen, signal.SourceScreen}, {room.SourceScreenAudio, signal.SourceScreenAudio},
		{room.SourceInterpretation, signal.SourceInterpretation}, {room.Floor, signal.Floor},
		{room.RolePub, signal.PCPub}, {room.RoleSub, signal.PCSub},
	}
	for _, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("room says %q where the protocol says %q", p[0], p[1])
		}
	}
}
