package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/room"
	"github.com/parleyhq/parley/signal"
)

// The translation between the room's words and the WebSocket protocol
// (docs/protocol.md): conn is the room's Client for a browser, and
// dispatch turns each client message into a call of its Session.

var _ room.Client = (*conn)(nil)

// Joined implements room.Client.
func (c *conn) Joined(w room.Welcome) {
	others := make([]signal.Participant, len(w.Others))
	for i, o := range w.Others {
		others[i] = participantJSON(o)
	}
	ice := make([]signal.ICEServer, len(w.ICE))
	for i, s := range w.ICE {
		ice[i] = signal.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential}
	}
	welcome := signal.NewWelcome(roomJSON(w.Room), participantJSON(w.Self), others, ice)
	welcome.Resume = w.Resume
	if c.nodes != nil {
		welcome.Nodes = c.nodes()
	}
	c.Send(welcome)
}

// ParticipantJoined implements room.Client.
func (c *conn) ParticipantJoined(p room.ParticipantView) {
	c.Send(&signal.ParticipantEvent{Type: "participant-joined", Participant: participantJSON(p)})
}

// ParticipantChanged implements room.Client.
func (c *conn) ParticipantChanged(p room.ParticipantView) {
	c.Send(&signal.ParticipantEvent{Type: "participant-updated", Participant: participantJSON(p)})
}

// ParticipantLeft implements room.Client.
func (c *conn) ParticipantLeft(id, identity, reason string) {
	c.Send(&signal.ParticipantLeft{Type: "participant-left", ID: id, Identity: identity, Reason: reason})
}

// RoomChanged implements room.Client.
func (c *conn) RoomChanged(r room.RoomView) {
	c.Send(&signal.RoomUpdated{Type: "room-updated", Room: roomJSON(r)})
}

// ActiveSpeaker implements room.Client.
func (c *conn) ActiveSpeaker(id, identity string) {
	c.Send(&signal.ActiveSpeaker{Type: "active-speaker", Participant: id, Identity: identity})
}

// Viewers implements room.Client.
func (c *conn) Viewers(vs []room.ViewerInfo) {
	out := make([]signal.Viewer, len(vs))
	for i, v := range vs {
		out[i] = signal.Viewer{ID: v.ID, Watcher: v.Watcher, Watched: v.Watched, Since: v.Since.UTC().Format(time.RFC3339)}
	}
	c.Send(&signal.Viewers{Type: "viewers", Viewers: out})
}

// Chat implements room.Client.
func (c *conn) Chat(m room.ChatMessage) {
	c.Send(&signal.Chat{Type: "chat", ID: m.ID, From: refJSON(m.From), Text: m.Text,
		Time: m.Time.UTC().Format(time.RFC3339Nano)})
}

// Caption implements room.Client.
func (c *conn) Caption(cp room.Caption) {
	m := &signal.Caption{Type: "caption", ID: cp.ID, From: refJSON(cp.From), Channel: cp.Channel, Language: cp.Language,
		Text: cp.Text, Start: cp.Start.UTC().Format(time.RFC3339Nano), End: cp.End.UTC().Format(time.RFC3339Nano)}
	if cp.Translated {
		m.Translated = true
		m.Source = &signal.CaptionSource{Text: cp.SourceText, Language: cp.SourceLanguage}
	}
	c.Send(m)
}

// E2EE implements room.Client.
func (c *conn) E2EE(from room.Ref, data string) {
	c.Send(&signal.E2EEFrom{Type: "e2ee", From: refJSON(from), Data: data})
}

// Muted implements room.Client.
func (c *conn) Muted(source string, by room.Ref) {
	c.Send(&signal.Muted{Type: "muted", Source: source, By: refJSON(by)})
}

// Removed implements room.Client.
func (c *conn) Removed(by room.Ref) {
	c.Send(&signal.Removed{Type: "removed", By: refJSON(by)})
}

// Checkpoint implements room.Client.
func (c *conn) Checkpoint(cp room.CheckpointInfo) {
	c.Send(&signal.Checkpoint{Type: "checkpoint", Record: cp.Record, Seq: cp.Seq, Statement: cp.Statement})
}

// SubOffer implements room.Client.
func (c *conn) SubOffer(sdp string, tracks map[string]room.SubTrack) {
	out := make(map[string]signal.SubTrack, len(tracks))
	for mid, t := range tracks {
		out[mid] = signal.SubTrack{Participant: t.Participant, Identity: t.Identity, Source: t.Source}
	}
	c.Send(&signal.SubOffer{Type: "offer", PC: signal.PCSub, SDP: sdp, Tracks: out})
}

// Error implements room.Client.
func (c *conn) Error(err error) { c.Send(wireError(err, "")) }

// Candidate implements room.Client. A "pub" candidate may come out of the
// room before the answer it belongs to is written (Publish returns the
// answer to the reader while the candidate travels through the room's
// loop): it waits for that answer, since a browser refuses a candidate it
// gets before the description.
func (c *conn) Candidate(role string, cand webrtc.ICECandidateInit) {
	msg := signal.NewCandidate(role, cand)
	c.mu.Lock()
	defer c.mu.Unlock()
	if role == room.RolePub && c.publishing {
		c.held = append(c.held, msg)
		return
	}
	c.sendLocked(msg)
}

// beginPublish holds "pub" candidates until endPublish.
func (c *conn) beginPublish() {
	c.mu.Lock()
	c.publishing = true
	c.mu.Unlock()
}

// endPublish sends the answer (if any), then the candidates held for it.
func (c *conn) endPublish(answer any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if answer != nil {
		c.sendLocked(answer)
	}
	for _, m := range c.held {
		c.sendLocked(m)
	}
	c.held, c.publishing = nil, false
}

// Close implements room.Client: queued messages are written, then the
// socket closes. A client replaced or shut down hears why first.
func (c *conn) Close(reason string) {
	switch reason {
	case room.ReasonReplaced:
		c.Send(signal.Errorf(signal.CodeReplaced, "you joined this room from somewhere else"))
	case room.ReasonShutdown:
		// In a cluster the client goes on through another node, where its
		// seat waits (a room that spans nodes): the nodes live now, since
		// those its welcome named may have changed.
		if c.nodes != nil {
			if ns := c.nodes(); len(ns) > 0 {
				c.Send(&signal.Nodes{Type: "nodes", Nodes: ns})
			}
		}
		// Clients hear why, so they wait for the server rather than give up.
		c.Send(signal.Errorf(signal.CodeShuttingDown, "the server is shutting down; it will be back shortly"))
		c.closeWith(websocket.StatusGoingAway, "server shutting down")
		return
	}
	c.closeWith(websocket.StatusNormalClosure, "")
}

// dispatch hands one decoded client message to the participant's session.
func dispatch(ctx context.Context, c *conn, s room.Session, msg any) {
	var err error
	ref := ""
	switch m := msg.(type) {
	case *signal.Offer:
		ref = "offer"
		c.beginPublish()
		var answer string
		answer, err = s.Publish(ctx, m.SDP, m.Tracks)
		if err != nil {
			c.endPublish(nil)
		} else {
			c.endPublish(signal.NewAnswer(answer))
		}
	case *signal.Candidate:
		ref = "candidate"
		if err = s.AddCandidate(m.PC, m.Candidate); err != nil {
			err = fmt.Errorf("candidate rejected: %w", err)
		}
	case *signal.Answer:
		ref = "answer"
		err = s.Answer(m.SDP)
	case *signal.Layout:
		sizes := make(map[string]room.Viewport, len(m.Tracks))
		for mid, sz := range m.Tracks {
			sizes[mid] = room.Viewport{Width: sz.Width, Height: sz.Height}
		}
		s.Layout(sizes)
	case *signal.Mute:
		ref = "mute"
		err = s.SetMuted(ctx, m.Source, m.Muted)
	case *signal.Listen:
		ref = "listen"
		err = s.Listen(ctx, m.Channel)
	case *signal.Interpret:
		ref = "interpret"
		err = s.Interpret(ctx, m.Channel)
	case *signal.Captions:
		ref = "captions"
		err = s.Captions(ctx, m.Channel)
	case *signal.ChatSend:
		ref = "chat"
		err = s.Chat(ctx, m.Text)
	case *signal.Moderate:
		ref = "moderate"
		err = s.Moderate(ctx, room.Moderation{Action: m.Action, Target: m.Target, Source: m.Source, Ban: m.Ban})
	case *signal.Record:
		ref = "record"
		err = s.Record(ctx, m.On)
	case *signal.Countersign:
		ref = "countersign"
		sig, _ := base64.RawURLEncoding.DecodeString(m.Sig) // signal.Decode checked it
		err = s.Countersign(ctx, m.Record, m.Seq, sig)
	case *signal.E2EE:
		ref = "e2ee"
		err = s.SendE2EE(ctx, m.To, m.Data)
	case *signal.Leave:
		s.Leave()
	case *signal.Ping:
		c.Send(&signal.Pong{Type: "pong"})
	case *signal.Join:
		c.Send(&signal.Error{Type: "error", Code: signal.CodeAlreadyJoined, Message: "this connection has already joined", Ref: "join"})
	}
	switch {
	case err == nil, errors.Is(err, room.ErrGone), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// Gone: the session is over and the socket closing; nobody to tell.
	default:
		c.Send(wireError(err, ref))
	}
}

// wireError is the protocol's error for a refusal of the room.
func wireError(err error, ref string) *signal.Error {
	code := signal.CodeInternal
	switch {
	case errors.Is(err, room.ErrForbidden):
		code = signal.CodeForbidden
	case errors.Is(err, room.ErrBadRequest):
		code = signal.CodeBadRequest
	case errors.Is(err, room.ErrNotFound):
		code = signal.CodeNotFound
	}
	return &signal.Error{Type: "error", Code: code, Message: err.Error(), Ref: ref}
}

func refJSON(r room.Ref) signal.Ref { return signal.Ref{ID: r.ID, Identity: r.Identity, Name: r.Name} }

func participantJSON(p room.ParticipantView) signal.Participant {
	gs := make([]string, len(p.Grants))
	for i, g := range p.Grants {
		gs[i] = string(g)
	}
	tracks := make([]signal.TrackInfo, len(p.Tracks))
	for i, t := range p.Tracks {
		tracks[i] = signal.TrackInfo{Mid: t.Mid, Source: t.Source, Kind: t.Kind, Muted: t.Muted}
	}
	out := signal.Participant{ID: p.ID, Identity: p.Identity, Name: p.Name, Grants: gs, Tracks: tracks,
		State: p.State, Listening: p.Listening, Key: p.Key}
	if p.Interpreter != nil {
		out.Interpreter = &signal.InterpreterInfo{Languages: p.Interpreter.Languages, Channel: p.Interpreter.Channel}
	}
	return out
}

func roomJSON(r room.RoomView) signal.RoomInfo {
	chans := make(map[string]signal.Channel, len(r.Channels))
	for l, ch := range r.Channels {
		chans[l] = signal.Channel{Interpreter: ch.Interpreter, Live: ch.Live}
	}
	rec := signal.RecordingInfo{}
	if r.Recording.Active {
		rec = signal.RecordingInfo{Active: true, Record: r.Recording.Record, Since: r.Recording.Since.UTC().Format(time.RFC3339)}
		if r.Recording.By != nil {
			by := refJSON(*r.Recording.By)
			rec.By = &by
		}
	}
	return signal.RoomInfo{Name: r.Name, Languages: r.Languages, Channels: chans, Recording: rec,
		E2EERequired: r.E2EERequired, Codec: r.Codec, Transcription: transcription(r.Transcription),
		Translation: r.Translation}
}

// transcription leaves the state out when the server has no recogniser.
func transcription(s string) string {
	if s == room.TranscriptionOff {
		return ""
	}
	return s
}
