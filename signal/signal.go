// Package signal defines Parley's signaling protocol (docs/protocol.md): the
// messages exchanged over each participant's WebSocket, their limits, and the
// stable error codes. It does no I/O, so it can be fuzzed and reused by clients.
package signal

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"
)

// Version is the protocol version this package speaks.
const Version = 1

// Limits on what a client may send.
const (
	MaxMessageBytes = 64 << 10
	MaxChatChars    = 4000
	MaxNameChars    = 64
	MaxTracks       = 8 // tracks one participant may publish at once
	MaxLayoutTracks = 512
)

// Connection roles: the client offers on "pub", the server on "sub".
const (
	PCPub = "pub"
	PCSub = "sub"
)

// Track sources.
const (
	SourceMic         = "mic"
	SourceCamera      = "camera"
	SourceScreen      = "screen"
	SourceScreenAudio = "screen-audio"
)

// ValidSource reports whether s is a known track source.
func ValidSource(s string) bool {
	switch s {
	case SourceMic, SourceCamera, SourceScreen, SourceScreenAudio:
		return true
	}
	return false
}

// SourceKind is the media kind a source carries: "audio" or "video" ("" for
// an unknown source).
func SourceKind(s string) string {
	switch s {
	case SourceMic, SourceScreenAudio:
		return "audio"
	case SourceCamera, SourceScreen:
		return "video"
	}
	return ""
}

// Error codes (stable; clients switch on them).
const (
	CodeBadRequest         = "bad_request"
	CodeUnknownType        = "unknown_type"
	CodeUnsupportedVersion = "unsupported_version"
	CodeNotJoined          = "not_joined"
	CodeAlreadyJoined      = "already_joined"
	CodeTokenMissing       = "token_missing"
	CodeTokenInvalid       = "token_invalid"
	CodeTokenExpired       = "token_expired"
	CodeWrongRoom          = "wrong_room"
	CodeForbidden          = "forbidden"
	CodeMessageTooLarge    = "message_too_large"
	CodeNotFound           = "not_found"
	CodeInternal           = "internal"
	CodeReplaced           = "replaced"
	CodeRateLimited        = "rate_limited"
	CodeTokenRevoked       = "token_revoked"
	CodeDuplicate          = "duplicate_identity"
	CodeShuttingDown       = "shutting_down"
	CodeRoomFull           = "room_full"
	CodeServerFull         = "server_full"
	CodeE2EERequired       = "e2ee_required"
	// CodeClusterUnavailable: the node cannot reach the cluster's directory,
	// so it cannot place a room it does not host; try again shortly.
	CodeClusterUnavailable = "cluster_unavailable"
)

// Error is a protocol error: a stable code and a human sentence. It is both a Go
// error and the wire form of the "error" message.
type Error struct {
	Type    string `json:"type"` // always "error"
	Code    string `json:"code"`
	Message string `json:"message"`
	Ref     string `json:"ref,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Type: "error", Code: code, Message: fmt.Sprintf(format, args...)}
}

// ---- client -> server ----

// Join is the first message on every socket.
type Join struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
	Token   string `json:"token"`
	Room    string `json:"room"`
	Name    string `json:"name,omitempty"`
	Key     string `json:"key,omitempty"` // Ed25519 public key, base64url of 32 bytes
	// Resume is the secret from a previous welcome: the seat to take back.
	Resume string `json:"resume,omitempty"`
	// E2EE says the client encrypts its media end to end; rooms that require
	// it refuse joins without it.
	E2EE bool `json:"e2ee,omitempty"`
}

// Offer carries an SDP offer. From clients it is always for "pub" and Tracks maps
// mid -> source; from the server it is for "sub" (see SubOffer).
type Offer struct {
	Type   string            `json:"type"`
	PC     string            `json:"pc"`
	SDP    string            `json:"sdp"`
	Tracks map[string]string `json:"tracks"`
}

// Answer carries an SDP answer.
type Answer struct {
	Type string `json:"type"`
	PC   string `json:"pc"`
	SDP  string `json:"sdp"`
}

// Candidate is one trickled ICE candidate.
type Candidate struct {
	Type      string                  `json:"type"`
	PC        string                  `json:"pc"`
	Candidate webrtc.ICECandidateInit `json:"candidate"`
}

// Mute announces the sender's own mute state for one source.
type Mute struct {
	Type   string `json:"type"`
	Source string `json:"source"`
	Muted  bool   `json:"muted"`
}

// ChatSend is a chat message from a client.
type ChatSend struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Moderate is a moderator's request.
type Moderate struct {
	Type   string `json:"type"`
	Action string `json:"action"` // "mute", "remove" or "remove-viewer"
	Target string `json:"target"` // participant id; for remove-viewer, the viewer's id
	Source string `json:"source,omitempty"`
	// Ban, with remove, revokes the target's token for this room: it cannot join again.
	Ban bool `json:"ban,omitempty"`
}

// Listen picks the channel the sender hears: "floor" or one of the room's languages.
type Listen struct {
	Type    string `json:"type"`
	Channel string `json:"channel"`
}

// Captions chooses the channel whose captions the sender gets: "auto" (what
// it listens to, the default), "floor", one of the room's languages, or "off".
type Captions struct {
	Type    string `json:"type"`
	Channel string `json:"channel"`
}

// Layout tells the server how large the client draws each video it receives:
// tracks maps a "sub" mid to the tile's size in device pixels (0x0: not
// shown). The server picks simulcast layers to match; a thumbnail never pulls
// the full layer. A video never described gets what bandwidth allows.
type Layout struct {
	Type   string          `json:"type"`
	Tracks map[string]Size `json:"tracks"`
}

// Size is a width and height in device pixels.
type Size struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// Interpret points an interpreter's microphone at a language channel; an
// empty channel stops interpreting.
type Interpret struct {
	Type    string `json:"type"`
	Channel string `json:"channel"`
}

// Record starts or stops the room's record.
type Record struct {
	Type string `json:"type"`
	On   bool   `json:"on"`
}

// Countersign is a participant's signature of a record checkpoint.
type Countersign struct {
	Type   string `json:"type"`
	Record string `json:"record"`
	Seq    uint64 `json:"seq"`
	Sig    string `json:"sig"` // base64url of 64 bytes
}

// E2EE carries one message of the end-to-end encryption key exchange between
// clients (docs/e2ee.md). The server cannot read it: it relays it, only
// between participants that joined with "e2ee":true, to one participant (To)
// or to everyone else in the room.
type E2EE struct {
	Type string `json:"type"`
	To   string `json:"to,omitempty"`
	Data string `json:"data"`
}

// MaxE2EEData bounds an e2ee message's data: a key exchange message is a few
// hundred bytes.
const MaxE2EEData = 4096

// Floor is the channel of the original sound.
const Floor = "floor"

// Leave asks the server to end the session cleanly.
type Leave struct {
	Type string `json:"type"`
}

// Ping asks for a "pong", for clients that cannot see WebSocket pings.
type Ping struct {
	Type string `json:"type"`
}

// Decode parses one client message, enforcing the size limit and validating
// every field it can check without room state. The result is one of the
// client -> server message types above (as a pointer).
func Decode(data []byte) (any, error) {
	if len(data) > MaxMessageBytes {
		return nil, Errorf(CodeMessageTooLarge, "message of %d bytes exceeds the limit of %d", len(data), MaxMessageBytes)
	}
	if !utf8.Valid(data) {
		return nil, Errorf(CodeBadRequest, "message is not valid UTF-8")
	}
	var env struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, Errorf(CodeBadRequest, "message is not a JSON object with a string \"type\"")
	}
	var msg any
	switch env.Type {
	case "join":
		msg = &Join{}
	case "offer":
		msg = &Offer{}
	case "answer":
		msg = &Answer{}
	case "candidate":
		msg = &Candidate{}
	case "mute":
		msg = &Mute{}
	case "chat":
		msg = &ChatSend{}
	case "moderate":
		msg = &Moderate{}
	case "record":
		msg = &Record{}
	case "countersign":
		msg = &Countersign{}
	case "e2ee":
		msg = &E2EE{}
	case "listen":
		msg = &Listen{}
	case "interpret":
		msg = &Interpret{}
	case "captions":
		msg = &Captions{}
	case "layout":
		msg = &Layout{}
	case "leave":
		msg = &Leave{}
	case "ping":
		msg = &Ping{}
	case "":
		return nil, Errorf(CodeBadRequest, "message has no \"type\"")
	default:
		return nil, &Error{Type: "error", Code: CodeUnknownType, Message: fmt.Sprintf("unknown message type %q", truncate(env.Type, 40))}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(msg); err != nil {
		return nil, Errorf(CodeBadRequest, "malformed %q message: %s", env.Type, cleanJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, Errorf(CodeBadRequest, "%q message has data after the JSON object", env.Type)
	}
	if err := validate(msg); err != nil {
		err.Ref = env.Type
		return nil, err
	}
	return msg, nil
}

func validate(msg any) *Error {
	switch m := msg.(type) {
	case *Join:
		if m.Version != Version {
			return Errorf(CodeUnsupportedVersion, "protocol version %d is not supported; this server speaks version %d", m.Version, Version)
		}
		if m.Room == "" {
			return Errorf(CodeBadRequest, "join needs a room")
		}
		if m.Token == "" {
			return Errorf(CodeTokenMissing, "join needs an access token")
		}
		if utf8.RuneCountInString(m.Name) > MaxNameChars {
			return Errorf(CodeBadRequest, "name is longer than %d characters", MaxNameChars)
		}
		if m.Key != "" {
			if k, err := base64.RawURLEncoding.DecodeString(m.Key); err != nil || len(k) != 32 {
				return Errorf(CodeBadRequest, "key must be an Ed25519 public key: 32 bytes in base64url without padding")
			}
		}
	case *Offer:
		if m.PC != PCPub {
			return Errorf(CodeBadRequest, "clients offer only on pc \"pub\"")
		}
		if m.SDP == "" {
			return Errorf(CodeBadRequest, "offer has no sdp")
		}
		if len(m.Tracks) > MaxTracks {
			return Errorf(CodeBadRequest, "at most %d tracks may be published at once", MaxTracks)
		}
		for mid, src := range m.Tracks {
			if mid == "" || len(mid) > 32 {
				return Errorf(CodeBadRequest, "track mid %q is invalid", truncate(mid, 40))
			}
			if !ValidSource(src) {
				return Errorf(CodeBadRequest, "track source %q is not one of mic, camera, screen, screen-audio", truncate(src, 40))
			}
		}
	case *Layout:
		if len(m.Tracks) > MaxLayoutTracks {
			return Errorf(CodeBadRequest, "layout names more than %d tracks", MaxLayoutTracks)
		}
		for mid, sz := range m.Tracks {
			if mid == "" || len(mid) > 32 {
				return Errorf(CodeBadRequest, "layout mid %q is invalid", truncate(mid, 40))
			}
			if sz.Width < 0 || sz.Height < 0 || sz.Width > 16384 || sz.Height > 16384 {
				return Errorf(CodeBadRequest, "layout size %dx%d for mid %q is out of range", sz.Width, sz.Height, truncate(mid, 40))
			}
		}
	case *Answer:
		if m.PC != PCSub {
			return Errorf(CodeBadRequest, "clients answer only on pc \"sub\"")
		}
		if m.SDP == "" {
			return Errorf(CodeBadRequest, "answer has no sdp")
		}
	case *Candidate:
		if m.PC != PCPub && m.PC != PCSub {
			return Errorf(CodeBadRequest, "candidate pc must be \"pub\" or \"sub\"")
		}
	case *Countersign:
		if m.Record == "" || m.Seq == 0 {
			return Errorf(CodeBadRequest, "countersign needs the record and the checkpoint's seq")
		}
		if s, err := base64.RawURLEncoding.DecodeString(m.Sig); err != nil || len(s) != 64 {
			return Errorf(CodeBadRequest, "sig must be an Ed25519 signature: 64 bytes in base64url without padding")
		}
	case *Listen:
		if m.Channel == "" || len(m.Channel) > 16 {
			return Errorf(CodeBadRequest, "listen needs a channel: \"floor\" or a language of the room")
		}
	case *Captions:
		if m.Channel == "" || len(m.Channel) > 16 {
			return Errorf(CodeBadRequest, "captions needs a channel: \"auto\", \"off\", \"floor\" or a language of the room")
		}
	case *Interpret:
		if len(m.Channel) > 16 || m.Channel == Floor {
			return Errorf(CodeBadRequest, "interpret needs a language channel of the room, or \"\" to stop")
		}
	case *Mute:
		if !ValidSource(m.Source) {
			return Errorf(CodeBadRequest, "mute source %q is not one of mic, camera, screen, screen-audio", truncate(m.Source, 40))
		}
	case *ChatSend:
		n := utf8.RuneCountInString(m.Text)
		if n == 0 || len(bytes.TrimSpace([]byte(m.Text))) == 0 {
			return Errorf(CodeBadRequest, "chat message is empty")
		}
		if n > MaxChatChars {
			return Errorf(CodeBadRequest, "chat message is longer than %d characters", MaxChatChars)
		}
	case *E2EE:
		if m.Data == "" || len(m.Data) > MaxE2EEData {
			return Errorf(CodeBadRequest, "e2ee needs data of 1..%d bytes", MaxE2EEData)
		}
		if len(m.To) > 64 {
			return Errorf(CodeBadRequest, "e2ee names no such participant")
		}
	case *Moderate:
		switch m.Action {
		case "mute":
			if !ValidSource(m.Source) {
				return Errorf(CodeBadRequest, "moderate mute needs a source: mic, camera, screen or screen-audio")
			}
		case "remove", "remove-viewer":
		default:
			return Errorf(CodeBadRequest, "moderate action %q is not \"mute\", \"remove\" or \"remove-viewer\"", truncate(m.Action, 40))
		}
		if m.Target == "" {
			return Errorf(CodeBadRequest, "moderate needs a target participant id")
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// cleanJSONError keeps decoder errors short and free of the input.
func cleanJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q has the wrong type", truncate(te.Field, 40))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + truncate(strings.Trim(name, `"`), 40)
	}
	return truncate(err.Error(), 60)
}
