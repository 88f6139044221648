package adminclient

import (
	"time"

	"github.com/parleyhq/parley/auth"
)

// The wire shapes of the API, each named as in openapi.json's
// components/schemas (the requests with a Request suffix). The api package
// encodes its answers with these types, and a test holds them to the
// document, so client, server and document cannot drift apart.

// Settings are a room's settings as the API reports them.
type Settings struct {
	Languages       []string `json:"languages"`
	MaxParticipants int      `json:"max_participants"` // 0: the node's limit
	Record          bool     `json:"record"`           // record from the first join
	E2EERequired    bool     `json:"e2ee_required"`
	Codec           string   `json:"codec"` // "", vp8, vp9, h264 or av1
}

// SettingsInput are settings to set. A nil field is left out of the request:
// on create it takes its default, on update it stays as it is. Pointers, so
// that false, 0, "" and no languages can be set too: new(false) sets false.
type SettingsInput struct {
	Languages       *[]string `json:"languages,omitempty"`
	MaxParticipants *int      `json:"max_participants,omitempty"`
	Record          *bool     `json:"record,omitempty"`
	E2EERequired    *bool     `json:"e2ee_required,omitempty"`
	Codec           *string   `json:"codec,omitempty"`
}

// CreateRoomRequest is the body of POST /rooms.
type CreateRoomRequest struct {
	Name     string         `json:"name"`
	Settings *SettingsInput `json:"settings,omitempty"`
}

// UpdateRoomRequest is the body of PATCH /rooms/{room}.
type UpdateRoomRequest struct {
	Settings *SettingsInput `json:"settings"`
}

// Recording is whether a room is being recorded, and into which record.
type Recording struct {
	Active bool      `json:"active"`
	Record string    `json:"record,omitempty"` // the record's id
	Since  time.Time `json:"since,omitzero"`
}

// Room is an open room.
type Room struct {
	Name         string    `json:"name"`
	Participants int       `json:"participants"` // seated, reconnecting ones included
	Persistent   bool      `json:"persistent"`   // made by the API: stays open while empty
	Languages    []string  `json:"languages"`    // the language channels open now
	Settings     Settings  `json:"settings"`
	Recording    Recording `json:"recording"`
	// Node is the cluster node hosting the room (absent for a node alone).
	// Of a room on another node than the one asked, only name, node and
	// participants are known; the rest is that node's to tell.
	Node string `json:"node,omitempty"`
	// Parts are the other nodes that hold a part of a room that spans
	// nodes, besides Node (whose participants Participants counts).
	Parts []string `json:"parts,omitempty"`
}

// RoomList is the answer of GET /rooms.
type RoomList struct {
	Rooms []Room `json:"rooms"`
	// Node is the cluster node that answered (absent for a node alone).
	Node string `json:"node,omitempty"`
}

// Closed is the answer of DELETE /rooms/{room}.
type Closed struct {
	Room    string `json:"room"`
	Removed int    `json:"removed"` // participants removed
}

// Track is a participant's published track.
type Track struct {
	Source string `json:"source"` // mic, camera, screen or screen-audio
	Kind   string `json:"kind"`   // audio or video
	Muted  bool   `json:"muted"`
}

// Participant is one seated participant.
type Participant struct {
	ID       string       `json:"id"` // the session id
	Identity string       `json:"identity"`
	Name     string       `json:"name"`
	Grants   []auth.Grant `json:"grants"`
	State    string       `json:"state"` // active or reconnecting
	Tracks   []Track      `json:"tracks"`
	// Node is the node of the cluster the participant is connected to, when
	// not the node that answered (a room that spans nodes).
	Node string `json:"node,omitempty"`
}

// ParticipantList is the answer of GET /rooms/{room}/participants.
type ParticipantList struct {
	Participants []Participant `json:"participants"`
}

// GrantsRequest is the body of PATCH /rooms/{room}/participants/{identity}.
type GrantsRequest struct {
	Grants []auth.Grant `json:"grants"`
}

// MuteRequest is the body of POST /rooms/{room}/participants/{identity}/mute.
type MuteRequest struct {
	Source string `json:"source"`
	Muted  bool   `json:"muted"`
}

// RecordInfo is one saved meeting record.
type RecordInfo struct {
	ID      string    `json:"id"` // its folder in DATA/records
	Room    string    `json:"room"`
	Started time.Time `json:"started"`
	Sealed  bool      `json:"sealed"` // carries the server's final signature
	Bytes   int64     `json:"bytes"`  // the record folder's size
}

// RecordList is the answer of GET /recordings.
type RecordList struct {
	Recordings []RecordInfo `json:"recordings"`
}

// Viewer is a WHEP player watching one participant.
type Viewer struct {
	ID      string    `json:"id"`
	Watcher string    `json:"watcher"` // the identity of the token that opened it
	Watched string    `json:"watched"` // the participant it shows
	Since   time.Time `json:"since"`
}

// ViewerList is the answer of GET /rooms/{room}/viewers.
type ViewerList struct {
	Viewers []Viewer `json:"viewers"`
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error Error `json:"error"`
}
