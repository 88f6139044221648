package room

import (
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/sfu"
)

// The room's vocabulary and the views it gives of itself: to clients (Client
// events) and to the operator (admin.go). Plain values, copied out of the
// loop; front doors translate them to their wire formats.

// Connection roles: the client offers on "pub", the server on "sub".
const (
	RolePub = sfu.RolePub
	RoleSub = sfu.RoleSub
)

// Track sources.
const (
	SourceMic         = "mic"
	SourceCamera      = "camera"
	SourceScreen      = "screen"
	SourceScreenAudio = "screen-audio"
	// SourceInterpretation marks a "sub" track that carries the listener's
	// chosen language channel; its sender follows the channel's interpreter.
	SourceInterpretation = "interpretation"
)

// ValidSource reports whether s is a source a client may publish.
func ValidSource(s string) bool { return SourceKind(s) != "" }

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

// Floor is the channel of the original sound.
const Floor = "floor"

// Why a participant left.
const (
	ReasonLeft         = "left"
	ReasonRemoved      = "removed"
	ReasonDisconnected = "disconnected"
	ReasonReplaced     = "replaced"
	ReasonShutdown     = "shutdown"
)

// Ref names a participant briefly (who muted you, who wrote).
type Ref struct {
	ID       string
	Identity string
	Name     string
}

// ICEServer is an ICE server for the client's peer connections.
type ICEServer struct {
	URLs       []string
	Username   string
	Credential string
}

// Welcome is what a client learns as it joins.
type Welcome struct {
	Room   RoomView
	Self   ParticipantView
	Others []ParticipantView
	ICE    []ICEServer
	// Resume lets this participant's next connection take back its seat.
	Resume string
}

// RoomView is the room as its participants see it.
type RoomView struct {
	Name      string
	Languages []string
	Channels  map[string]ChannelView
	Recording RecordingState
	// E2EERequired: the room admits only clients that encrypt end to end.
	E2EERequired bool
	Codec        string // the preferred video codec; "" for the default
	// Transcription is TranscriptionOn, TranscriptionPaused (the engine is
	// not answering), TranscriptionOff (no engine) or TranscriptionE2EE (the
	// server cannot hear an encrypted room).
	Transcription string
	// Translation: captions of a language no interpreter is live on are
	// machine translated from the floor.
	Translation bool
}

// Transcription states of a room.
const (
	TranscriptionOff    = "off"
	TranscriptionOn     = "on"
	TranscriptionPaused = "paused"
	TranscriptionE2EE   = "e2ee"
)

// Caption is the text of a stretch of speech, live, to the participants who
// follow its channel.
type Caption struct {
	ID   string // the transcript's (a machine translation has its source's)
	From Ref    // the speaker
	// Channel is Floor or the interpretation channel the speech is in;
	// Language the language it was transcribed as ("" when the engine was
	// left to detect it).
	Channel, Language string
	Text              string
	// Start and End are when the speech reached the server.
	Start, End time.Time
	// Translated marks a machine translation of floor speech into Language,
	// for a channel no interpreter was live on; SourceText and
	// SourceLanguage are what was said.
	Translated                 bool
	SourceText, SourceLanguage string
}

// What a participant asks captions of, besides Floor and a language.
const (
	// CaptionsAuto follows what the participant listens to (the default).
	CaptionsAuto = "auto"
	CaptionsOff  = "off"
)

// ChannelView is the state of one language channel.
type ChannelView struct {
	Interpreter string // participant id speaking into it; "" when none
	Live        bool   // an interpreter is on it with the microphone open
}

// ParticipantView is a participant as the others see them.
type ParticipantView struct {
	ID        string
	Identity  string
	Name      string
	Grants    []auth.Grant
	Tracks    []TrackInfo // by mid
	State     string      // StateActive or StateReconnecting
	Listening string      // Floor or a language
	// Interpreter is set for participants with the interpret grant.
	Interpreter *InterpreterView
	Key         string // the Ed25519 key they countersign with (base64url)
}

// InterpreterView says where an interpreter may and does speak.
type InterpreterView struct {
	Languages []string
	Channel   string // "" when not interpreting
}

// TrackInfo is one published track.
type TrackInfo struct {
	Mid    string // on the publisher's "pub" connection
	Source string
	Kind   string
	Muted  bool
}

// SubTrack names the owner of one mid on a "sub" connection.
type SubTrack struct {
	Participant string
	Identity    string
	Source      string
	// Group and Layer: on a relay between two nodes' parts of a room, the
	// mid carries simulcast layer Layer-1 of the track Group (0: the
	// whole track).
	Group string `json:",omitempty"`
	Layer int    `json:",omitempty"`
}

// ChatMessage is a chat message as the room relays it.
type ChatMessage struct {
	ID   string
	From Ref
	Text string
	Time time.Time
}

// Moderation is a moderator's request.
type Moderation struct {
	Action string // ModerateMute, ModerateRemove or ModerateRemoveViewer
	Target string // a participant id; a viewer id for ModerateRemoveViewer
	Source string // for ModerateMute
	// Ban, with a removal, revokes the target's token in this room.
	Ban bool
}

// Moderation actions.
const (
	ModerateMute         = "mute"
	ModerateRemove       = "remove"
	ModerateRemoveViewer = "remove-viewer"
)

// Viewport is how large a client draws one video, in device pixels.
type Viewport struct {
	Width, Height int
}

// ViewerInfo is one WHEP player, to moderators and the operator.
type ViewerInfo struct {
	ID      string
	Watcher string // the identity of the token that opened it
	Watched string // the participant it shows
	Since   time.Time
}

// RoomState is a room as the operator sees it.
type RoomState struct {
	Name         string
	Participants int // seated, reconnecting ones included
	Settings     Settings
	Languages    []string // the channels open now: the settings' and those tokens added
	Recording    RecordingState
	// Persistent rooms were made by CreateRoom and stay open while empty.
	Persistent bool
}

// RecordingState says whether a room records.
type RecordingState struct {
	Active bool
	Record string // the record's id (also the one just sealed, from StopRecording)
	Since  time.Time
	By     *Ref // who started it; nil when the server or the operator did
}

// ParticipantInfo describes a participant to the operator.
type ParticipantInfo struct {
	ID       string
	Identity string
	Name     string
	Grants   []auth.Grant
	State    string // StateActive or StateReconnecting
	Tracks   []TrackInfo
	// Node: the node the participant is connected to, when it is not this
	// one (a room that spans nodes).
	Node string
}

// RoomInfo summarises a room.
type RoomInfo struct {
	Name         string
	Participants int // this node's own
	// Part: another node holds the room's claim; this node holds a part of
	// it (a room that spans nodes).
	Part bool
}
