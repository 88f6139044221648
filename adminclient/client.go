// Package adminclient calls a Parley node's admin API (package api, under
// /api/v1): a Client with a method for each operation of the API's OpenAPI
// document, named by its operationId, and the request and answer types,
// which the API encodes its own answers with.
package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/parleyhq/parley/auth"
)

// prefix is where the API is mounted (api.Prefix).
const prefix = "/api/v1"

// maxAnswer bounds the answer read: the longest list is of a node's rooms.
const maxAnswer = 64 << 20

// Client calls one node's admin API. Its zero HTTP uses http.DefaultClient;
// bound each call with its context.
type Client struct {
	URL   string       // the node's base URL, e.g. http://127.0.0.1:7880
	Token string       // an admin token: parley token --admin, or auth.Signer with auth.GrantAdmin
	HTTP  *http.Client // nil: http.DefaultClient
}

// Error is an error answer of the API.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`    // stable: room_not_found, forbidden… ("http" for an answer not from the API)
	Message string `json:"message"` // a human sentence
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (HTTP %d, %s)", e.Message, e.Status, e.Code)
}

// ListRooms lists the open rooms.
func (c *Client) ListRooms(ctx context.Context) ([]Room, error) {
	out, err := c.RoomList(ctx)
	return out.Rooms, err
}

// RoomList is ListRooms with the node that answered (in a cluster).
func (c *Client) RoomList(ctx context.Context) (RoomList, error) {
	var out RoomList
	err := c.do(ctx, "GET", "/rooms", nil, &out)
	return out, err
}

// CreateRoom opens a room before anyone joins; it stays open until closed.
func (c *Client) CreateRoom(ctx context.Context, name string, s SettingsInput) (Room, error) {
	var out Room
	err := c.do(ctx, "POST", "/rooms", CreateRoomRequest{Name: name, Settings: &s}, &out)
	return out, err
}

// GetRoom describes one room.
func (c *Client) GetRoom(ctx context.Context, room string) (Room, error) {
	var out Room
	err := c.do(ctx, "GET", roomPath(room), nil, &out)
	return out, err
}

// UpdateRoom changes the settings s gives; the others stay.
func (c *Client) UpdateRoom(ctx context.Context, room string, s SettingsInput) (Room, error) {
	var out Room
	err := c.do(ctx, "PATCH", roomPath(room), UpdateRoomRequest{Settings: &s}, &out)
	return out, err
}

// CloseRoom removes everyone, seals the room's record and ends the room.
func (c *Client) CloseRoom(ctx context.Context, room string) (Closed, error) {
	var out Closed
	err := c.do(ctx, "DELETE", roomPath(room), nil, &out)
	return out, err
}

// ListParticipants lists who is in the room.
func (c *Client) ListParticipants(ctx context.Context, room string) ([]Participant, error) {
	var out ParticipantList
	err := c.do(ctx, "GET", roomPath(room)+"/participants", nil, &out)
	return out.Participants, err
}

// SetGrants replaces a participant's grants.
func (c *Client) SetGrants(ctx context.Context, room, identity string, grants []auth.Grant) (Participant, error) {
	if grants == nil {
		grants = []auth.Grant{} // null is no list of grants
	}
	var out Participant
	err := c.do(ctx, "PATCH", participantPath(room, identity), GrantsRequest{Grants: grants}, &out)
	return out, err
}

// RemoveParticipant removes a participant; ban also keeps their token (and,
// for a personal token, their identity) out of the room.
func (c *Client) RemoveParticipant(ctx context.Context, room, identity string, ban bool) error {
	return c.do(ctx, "DELETE", participantPath(room, identity)+banQuery(ban), nil, nil)
}

// MuteParticipant mutes one of a participant's sources (mic, camera, screen,
// screen-audio), or releases it.
func (c *Client) MuteParticipant(ctx context.Context, room, identity, source string, muted bool) (Participant, error) {
	var out Participant
	err := c.do(ctx, "POST", participantPath(room, identity)+"/mute", MuteRequest{Source: source, Muted: muted}, &out)
	return out, err
}

// ListViewers lists the room's WHEP players.
func (c *Client) ListViewers(ctx context.Context, room string) ([]Viewer, error) {
	var out ViewerList
	err := c.do(ctx, "GET", roomPath(room)+"/viewers", nil, &out)
	return out.Viewers, err
}

// RemoveViewer ends a WHEP player; ban also revokes the token it was opened with.
func (c *Client) RemoveViewer(ctx context.Context, room, viewer string, ban bool) error {
	return c.do(ctx, "DELETE", roomPath(room)+"/viewers/"+url.PathEscape(viewer)+banQuery(ban), nil, nil)
}

// StartRecording starts a record of the room.
func (c *Client) StartRecording(ctx context.Context, room string) (Recording, error) {
	var out Recording
	err := c.do(ctx, "POST", roomPath(room)+"/recording", nil, &out)
	return out, err
}

// StopRecording stops and seals the room's record; the answer names it.
func (c *Client) StopRecording(ctx context.Context, room string) (Recording, error) {
	var out Recording
	err := c.do(ctx, "DELETE", roomPath(room)+"/recording", nil, &out)
	return out, err
}

// ListRecordings lists the records saved on the node, oldest first: room's
// only, unless room is "".
func (c *Client) ListRecordings(ctx context.Context, room string) ([]RecordInfo, error) {
	path := "/recordings"
	if room != "" {
		path += "?room=" + url.QueryEscape(room)
	}
	var out RecordList
	err := c.do(ctx, "GET", path, nil, &out)
	return out.Recordings, err
}

// OpenAPI returns the API's OpenAPI document.
func (c *Client) OpenAPI(ctx context.Context) ([]byte, error) {
	var out json.RawMessage
	err := c.do(ctx, "GET", "/openapi.json", nil, &out)
	return out, err
}

func roomPath(room string) string { return "/rooms/" + url.PathEscape(room) }

func participantPath(room, identity string) string {
	return roomPath(room) + "/participants/" + url.PathEscape(identity)
}

func banQuery(ban bool) string {
	if !ban {
		return ""
	}
	return "?ban=" + strconv.FormatBool(ban)
}

// do sends body (nil for none) and decodes the answer into out (nil for
// none). An error answer is an *Error.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+prefix+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return answerError(resp.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not what this client expects: %w", method, path, err)
	}
	return nil
}

// answerError makes an error answer an *Error, also one that is not the
// API's (a proxy's page, a server too old to have the route).
func answerError(status int, raw []byte) *Error {
	var b ErrorBody
	if json.Unmarshal(raw, &b) == nil && b.Error.Code != "" {
		b.Error.Status = status
		return &b.Error
	}
	msg := strings.TrimSpace(string(raw))
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:200], "") + "…"
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &Error{Status: status, Code: "http", Message: msg}
}
