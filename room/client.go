package room

import (
	"context"
	"errors"
	"fmt"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/auth"
)

// Client is one connection to a room as the room sees it: a browser behind
// the gateway, a WHIP publisher, and later a relay from another node. The
// room calls these methods on its loop, in the order things happen, and only
// there (media events reach a client through the loop too). None may block:
// a client that cannot keep up must drop itself. None may call back into the
// room synchronously. What they are passed may be shared with other clients
// and must not be changed.
type Client interface {
	// Joined welcomes the client: the room, itself, who else is there.
	Joined(w Welcome)
	// ParticipantJoined, ParticipantChanged and ParticipantLeft follow the
	// roster; reason is one of the Reason constants.
	ParticipantJoined(p ParticipantView)
	ParticipantChanged(p ParticipantView)
	ParticipantLeft(id, identity, reason string)
	// RoomChanged: the room's languages, channels, recording or settings changed.
	RoomChanged(r RoomView)
	// ActiveSpeaker names the floor's new active speaker.
	ActiveSpeaker(id, identity string)
	// Viewers lists who watches the room from outside it (WHEP); only
	// moderators are told, at their join and when it changes.
	Viewers(vs []ViewerInfo)
	Chat(m ChatMessage)
	// Caption is live text of what was said on a channel the client follows
	// (Session.Captions).
	Caption(c Caption)
	// E2EE relays one message of the clients' key exchange, unread.
	E2EE(from Ref, data string)
	// Muted: someone else muted one of the client's sources.
	Muted(source string, by Ref)
	// Removed: a moderator or the operator removed the client; Close follows.
	Removed(by Ref)
	// Checkpoint asks the client to countersign the record.
	Checkpoint(c CheckpointInfo)
	// Candidate trickles one of the server's ICE candidates on connection
	// role (RolePub, RoleSub); a "pub" candidate belongs to the answer
	// Publish returned.
	Candidate(role string, c webrtc.ICECandidateInit)
	// SubOffer is the server's offer on the "sub" connection; tracks names
	// the owner of every mid that carries one.
	SubOffer(sdp string, tracks map[string]SubTrack)
	// Error reports a fault of the client that answers none of its requests
	// (a track that carries another kind than its source's).
	Error(err error)
	// Close ends the session: what was sent before is delivered, then the
	// connection ends. reason is one of the Reason constants: ReasonReplaced
	// when the identity joined again elsewhere, ReasonShutdown when the node
	// stops, ReasonDisconnected when the media connection failed (the client
	// should come back).
	Close(reason string)
}

// Session is what a client asks of its room, in the room's words. A
// *Participant is one; a relay to a room on another node would be another.
// Requests run one at a time per client; those that return an error wait
// for the room's decision, and every such error wraps one of ErrForbidden,
// ErrBadRequest, ErrNotFound, ErrInternal or ErrGone.
type Session interface {
	// Publish applies the client's offer on its "pub" connection and returns
	// the answer; sources maps each sending mid to the source it carries.
	Publish(ctx context.Context, offer string, sources map[string]string) (answer string, err error)
	// AddCandidate adds one of the client's ICE candidates on connection role.
	AddCandidate(role string, c webrtc.ICECandidateInit) error
	// Answer answers the last SubOffer.
	Answer(sdp string) error
	// Layout says how large the client draws each video it receives, by
	// "sub" mid; simulcast layers follow.
	Layout(sizes map[string]Viewport)
	SetMuted(ctx context.Context, source string, muted bool) error
	// Listen picks the channel the client hears: Floor or a language.
	Listen(ctx context.Context, channel string) error
	// Interpret points an interpreter's microphone at a language channel;
	// "" stops interpreting.
	Interpret(ctx context.Context, channel string) error
	// Captions chooses the channel whose captions the client gets:
	// CaptionsAuto (what it listens to; the default), Floor, a language, or
	// CaptionsOff.
	Captions(ctx context.Context, channel string) error
	Chat(ctx context.Context, text string) error
	Moderate(ctx context.Context, m Moderation) error
	// Record starts or stops the room's record.
	Record(ctx context.Context, on bool) error
	Countersign(ctx context.Context, record string, seq uint64, sig []byte) error
	// SendE2EE passes a key exchange message to participant to, or to
	// everyone else when to is "", among those that encrypt end to end.
	SendE2EE(ctx context.Context, to, data string) error
	// Leave ends the session cleanly (in a recorded room, after the client
	// countersigned its leaving).
	Leave()
	// Disconnected reports that the connection ended without a Leave: the
	// seat waits a while for the client to come back.
	Disconnected()
}

var _ Session = (*Participant)(nil)

// JoinRequest is one client's request to join its token's room.
type JoinRequest struct {
	Claims *auth.Claims
	// Name is the display name the client asked for (used only with invite tokens).
	Name string
	// Key is the client's Ed25519 public key (base64url), for countersigning.
	Key string
	// Resume is the secret of a previous welcome: the seat to take back.
	Resume string
	// E2EE says the client encrypts its media end to end.
	E2EE   bool
	Client Client
}

// Kinds of refusal: every error a Session request returns wraps one, so a
// front door can tell its client what kind of no it got.
var (
	ErrForbidden  = errors.New("forbidden")   // the grants do not allow it
	ErrBadRequest = errors.New("bad request") // it cannot be done as asked
	ErrNotFound   = errors.New("not found")   // it names someone not in the room
	ErrInternal   = errors.New("internal error")
	// ErrGone: the participant is no longer in the room (left, removed,
	// replaced); nothing was done.
	ErrGone = errors.New("the participant is no longer in the room")
)

// refusal is a request turned down: its message is the sentence for the
// person, its kind what a machine switches on.
type refusal struct {
	kind error
	msg  string
}

func (e *refusal) Error() string { return e.msg }
func (e *refusal) Unwrap() error { return e.kind }

func refuse(kind error, format string, args ...any) error {
	return &refusal{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// ask runs fn on p's room loop, if p is still in the room, and waits for its
// answer or for ctx (fn still runs then; its answer is dropped).
func ask[T any](ctx context.Context, p *Participant, fn func(r *Room) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	var zero T
	r := p.room
	res := make(chan result, 1)
	posted := r.box.post(func() {
		if r.participants[p.id] != p {
			res <- result{err: ErrGone}
			return
		}
		v, err := fn(r)
		res <- result{v, err}
	})
	if !posted {
		return zero, ErrGone
	}
	select {
	case out := <-res:
		return out.v, out.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// do is ask for requests that answer only yes or no.
func do(ctx context.Context, p *Participant, fn func(r *Room) error) error {
	_, err := ask(ctx, p, func(r *Room) (struct{}, error) { return struct{}{}, fn(r) })
	return err
}
