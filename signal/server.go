package signal

import "github.com/pion/webrtc/v4"

// Server -> client messages. Each carries its "type" so it marshals on its own.

// Participant describes one participant to the others.
type Participant struct {
	ID       string      `json:"id"`
	Identity string      `json:"identity"`
	Name     string      `json:"name"`
	Grants   []string    `json:"grants"`
	Tracks   []TrackInfo `json:"tracks"`
	State    string      `json:"state"`
	// Listening is the channel the participant hears ("floor" or a language).
	Listening string `json:"listening"`
	// Interpreter is set for participants with the interpret grant.
	Interpreter *InterpreterInfo `json:"interpreter,omitempty"`
	// Key is the Ed25519 public key (base64url) they countersign the record
	// with, as their join announced it: what others compare, out of band,
	// with what the person says their key is.
	Key string `json:"key,omitempty"`
}

// InterpreterInfo describes an interpreter: where they may and do speak.
type InterpreterInfo struct {
	Languages []string `json:"languages"` // channels they may speak into
	Channel   string   `json:"channel"`   // channel they speak into now; "" when not
}

// Channel is the state of one language channel.
type Channel struct {
	Interpreter string `json:"interpreter"` // participant id speaking into it; "" when none
	Live        bool   `json:"live"`        // an interpreter is on it with the microphone open
}

// TrackInfo describes one published track.
type TrackInfo struct {
	Mid    string `json:"mid"`
	Source string `json:"source"`
	Kind   string `json:"kind"`
	Muted  bool   `json:"muted"`
}

// Ref names a participant briefly (e.g. who muted you).
type Ref struct {
	ID       string `json:"id"`
	Identity string `json:"identity"`
	Name     string `json:"name"`
}

// ICEServer is handed to clients for their RTCPeerConnection configuration.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// RoomInfo describes the room in welcome and room-updated.
type RoomInfo struct {
	Name      string             `json:"name"`
	Languages []string           `json:"languages"`
	Channels  map[string]Channel `json:"channels"`
	Recording RecordingInfo      `json:"recording"`
	// E2EERequired: the room admits only clients that encrypt end to end.
	E2EERequired bool `json:"e2ee_required,omitempty"`
	// Codec is the room's preferred video codec ("vp8", "vp9", "h264",
	// "av1"); absent for the server's default.
	Codec string `json:"codec,omitempty"`
	// Transcription is "on" when the server transcribes the room's speech,
	// "paused" while its speech engine is not answering, "e2ee" when it
	// cannot (the room is encrypted end to end); absent when the server has
	// no speech recogniser.
	Transcription string `json:"transcription,omitempty"`
	// Translation: floor captions are machine translated for listeners of
	// a language no interpreter is live on (marked "translated").
	Translation bool `json:"translation,omitempty"`
}

// RecordingInfo says whether, and since when, the room records.
type RecordingInfo struct {
	Active bool   `json:"active"`
	Record string `json:"record,omitempty"`
	Since  string `json:"since,omitempty"`
	By     *Ref   `json:"by,omitempty"` // who started it; absent when the server or its operator did
}

// Checkpoint asks a participant to countersign a record checkpoint.
type Checkpoint struct {
	Type      string `json:"type"`
	Record    string `json:"record"`
	Seq       uint64 `json:"seq"`
	Statement string `json:"statement"`
}

// RoomUpdated announces a change of the room's languages or channels.
type RoomUpdated struct {
	Type string   `json:"type"`
	Room RoomInfo `json:"room"`
}

// LimitsInfo tells clients the limits they must respect.
type LimitsInfo struct {
	MaxMessageBytes int `json:"maxMessageBytes"`
	MaxChatChars    int `json:"maxChatChars"`
}

// Welcome answers a successful join.
type Welcome struct {
	Type         string        `json:"type"`
	Version      int           `json:"version"`
	Room         RoomInfo      `json:"room"`
	Self         Participant   `json:"self"`
	Participants []Participant `json:"participants"`
	ICEServers   []ICEServer   `json:"iceServers"`
	Limits       LimitsInfo    `json:"limits"`
	// Resume lets this participant's next connection take back its seat.
	Resume string `json:"resume"`
	// Nodes are the base URLs of the cluster's other live nodes: where the
	// client joins again, with Resume, when its node cannot be reached.
	Nodes []string `json:"nodes,omitempty"`
}

// NewWelcome fills in the constant parts of a welcome.
func NewWelcome(room RoomInfo, self Participant, others []Participant, ice []ICEServer) *Welcome {
	if others == nil {
		others = []Participant{}
	}
	if ice == nil {
		ice = []ICEServer{}
	}
	return &Welcome{
		Type: "welcome", Version: Version, Room: room, Self: self,
		Participants: others, ICEServers: ice,
		Limits: LimitsInfo{MaxMessageBytes: MaxMessageBytes, MaxChatChars: MaxChatChars},
	}
}

// SubTrack names the owner of one mid on the "sub" connection.
type SubTrack struct {
	Participant string `json:"participant"`
	Identity    string `json:"identity"`
	Source      string `json:"source"`
}

// SourceInterpretation marks a sub track that carries the listener's chosen
// language channel; its sender changes with the channel's interpreter.
const SourceInterpretation = "interpretation"

// SubOffer is the server's offer on the "sub" connection.
type SubOffer struct {
	Type   string              `json:"type"`
	PC     string              `json:"pc"`
	SDP    string              `json:"sdp"`
	Tracks map[string]SubTrack `json:"tracks"`
}

// NewAnswer is the server's answer on the "pub" connection.
func NewAnswer(sdp string) *Answer { return &Answer{Type: "answer", PC: PCPub, SDP: sdp} }

// NewCandidate wraps a server ICE candidate for connection pc.
func NewCandidate(pc string, c webrtc.ICECandidateInit) *Candidate {
	return &Candidate{Type: "candidate", PC: pc, Candidate: c}
}

// ParticipantEvent is participant-joined or participant-updated.
type ParticipantEvent struct {
	Type        string      `json:"type"`
	Participant Participant `json:"participant"`
}

// ParticipantLeft says someone left and why.
type ParticipantLeft struct {
	Type     string `json:"type"`
	ID       string `json:"id"`
	Identity string `json:"identity"`
	Reason   string `json:"reason"`
}

// Leave reasons.
const (
	ReasonLeft         = "left"
	ReasonRemoved      = "removed"
	ReasonDisconnected = "disconnected"
	ReasonReplaced     = "replaced"
	ReasonShutdown     = "shutdown"
)

// Chat is a chat message as the room sees it.
type Chat struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	From Ref    `json:"from"`
	Text string `json:"text"`
	Time string `json:"time"`
}

// Caption is live text of what someone said on a channel the client follows
// (see Captions). A machine translation carries "translated":true and its
// "source"; clients ignore fields they do not know.
type Caption struct {
	Type       string         `json:"type"` // "caption"
	ID         string         `json:"id"`   // the transcript's, as the record names it
	From       Ref            `json:"from"` // the speaker
	Channel    string         `json:"channel"`
	Language   string         `json:"language,omitempty"` // absent when the engine detected it
	Text       string         `json:"text"`
	Start      string         `json:"start"` // RFC 3339, when the speech reached the server
	End        string         `json:"end"`
	Translated bool           `json:"translated,omitempty"`
	Source     *CaptionSource `json:"source,omitempty"` // what was said, when Translated
}

// CaptionSource is the original of a machine translated caption.
type CaptionSource struct {
	Text     string `json:"text"`
	Language string `json:"language"`
}

// E2EEFrom relays a client's e2ee message, naming its sender as the server
// knows them (the receiver checks that against the message's signature).
type E2EEFrom struct {
	Type string `json:"type"` // "e2ee"
	From Ref    `json:"from"`
	Data string `json:"data"`
}

// Muted tells a client a moderator muted one of its sources.
type Muted struct {
	Type   string `json:"type"`
	Source string `json:"source"`
	By     Ref    `json:"by"`
}

// Viewers tells moderators who watches the room from outside it (WHEP
// players), sent when that changes and at join.
type Viewers struct {
	Type    string   `json:"type"`
	Viewers []Viewer `json:"viewers"`
}

// Viewer is one WHEP player.
type Viewer struct {
	ID      string `json:"id"`
	Watcher string `json:"watcher"` // the identity of the token that opened it
	Watched string `json:"watched"` // the participant it shows
	Since   string `json:"since"`   // RFC 3339
}

// Removed tells a client a moderator removed it.
type Removed struct {
	Type string `json:"type"`
	By   Ref    `json:"by"`
}

// ActiveSpeaker names the floor's new active speaker.
type ActiveSpeaker struct {
	Type        string `json:"type"`
	Participant string `json:"participant"`
	Identity    string `json:"identity"`
}

// Pong answers ping.
type Pong struct {
	Type string `json:"type"`
}

// Redirect answers a join for a room that another node of the cluster hosts
// (or was chosen to host): the client joins again there, with the same
// message, on URL's /ws. URL is the node's registered base URL, never one
// taken from a client. The server closes the socket next (1000).
type Redirect struct {
	Type string `json:"type"` // always "redirect"
	URL  string `json:"url"`
	Node string `json:"node"`
}

// Nodes refreshes the cluster's other live nodes (Welcome.Nodes): sent as
// a node stops, before its shutting_down error.
type Nodes struct {
	Type  string   `json:"type"` // always "nodes"
	Nodes []string `json:"nodes"`
}

// NewRedirect sends a client to the node at url.
func NewRedirect(url, node string) *Redirect {
	return &Redirect{Type: "redirect", URL: url, Node: node}
}
