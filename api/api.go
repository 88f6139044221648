// Package api is Parley's admin HTTP API under /api/v1: rooms, participants
// and recordings for the node's operator, authenticated with an admin token
// (auth.GrantAdmin). openapi.json, embedded and served at
// /api/v1/openapi.json, describes it; the tests hold the two in step. Its
// answers are adminclient's types, which that package's tests hold to the
// document.
package api

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/parleyhq/parley/adminclient"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/room"
)

// Prefix is where the API is mounted.
const Prefix = "/api/v1/"

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 64 << 10

//go:embed openapi.json
var openapi []byte

// OpenAPI returns the API's OpenAPI 3.1 document.
func OpenAPI() []byte { return slices.Clone(openapi) }

// Options are what the API needs.
type Options struct {
	Rooms    *room.Manager
	Verifier *auth.Verifier
	// Records are the node's saved meeting records.
	Records *record.Store
	Logger  *slog.Logger
	// Cluster, when set, is the node's cluster: the room list shows every
	// node's rooms (cluster.go).
	Cluster Cluster
	// ForwardSecret (from ForwardSecret) signs the requests about a room
	// that this node passes to the node hosting it, and checks theirs.
	ForwardSecret []byte
}

// API serves the admin API; mount it at Prefix.
type API struct {
	rooms   *room.Manager
	verify  *auth.Verifier
	records *record.Store
	log     *slog.Logger
	mux     *http.ServeMux
	cluster Cluster

	forwardSecret []byte
}

// Route is one operation of the API.
type Route struct {
	Method string
	Path   string // with {room}-style wildcards, as in the OpenAPI document
	// Public routes need no token (the API's own description).
	Public bool
	handle func(a *API, w http.ResponseWriter, r *http.Request) error
}

// routes is the API: the mux is built from it and the OpenAPI test checks
// the document against it, so an operation cannot exist in only one of them.
var routes = []Route{
	{Method: "GET", Path: "/api/v1/openapi.json", Public: true, handle: (*API).openAPI},
	{Method: "GET", Path: "/api/v1/rooms", handle: (*API).listRooms},
	{Method: "POST", Path: "/api/v1/rooms", handle: (*API).createRoom},
	{Method: "GET", Path: "/api/v1/rooms/{room}", handle: (*API).getRoom},
	{Method: "PATCH", Path: "/api/v1/rooms/{room}", handle: (*API).updateRoom},
	{Method: "DELETE", Path: "/api/v1/rooms/{room}", handle: (*API).closeRoom},
	{Method: "GET", Path: "/api/v1/rooms/{room}/participants", handle: (*API).listParticipants},
	{Method: "PATCH", Path: "/api/v1/rooms/{room}/participants/{identity}", handle: (*API).setGrants},
	{Method: "DELETE", Path: "/api/v1/rooms/{room}/participants/{identity}", handle: (*API).removeParticipant},
	{Method: "POST", Path: "/api/v1/rooms/{room}/participants/{identity}/mute", handle: (*API).muteParticipant},
	{Method: "GET", Path: "/api/v1/rooms/{room}/viewers", handle: (*API).listViewers},
	{Method: "DELETE", Path: "/api/v1/rooms/{room}/viewers/{viewer}", handle: (*API).removeViewer},
	{Method: "POST", Path: "/api/v1/rooms/{room}/recording", handle: (*API).startRecording},
	{Method: "DELETE", Path: "/api/v1/rooms/{room}/recording", handle: (*API).stopRecording},
	{Method: "GET", Path: "/api/v1/recordings", handle: (*API).listRecordings},
}

// Routes lists the API's operations.
func Routes() []Route { return slices.Clone(routes) }

// New returns the API.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	a := &API{rooms: o.Rooms, verify: o.Verifier, records: o.Records, log: o.Logger, mux: http.NewServeMux(), cluster: o.Cluster,
		forwardSecret: o.ForwardSecret}
	allowed := map[string][]string{}
	for _, rt := range routes {
		var h http.Handler = a.serve(rt)
		if !rt.Public {
			h = a.authenticated(h)
		}
		a.mux.Handle(rt.Method+" "+rt.Path, h)
		allowed[rt.Path] = append(allowed[rt.Path], rt.Method)
	}
	// What no route takes gets an answer in the API's own error shape; after
	// authentication, so nobody can map the API without a token.
	for path, methods := range allowed {
		allow := strings.Join(methods, ", ")
		a.mux.Handle(path, a.authenticated(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
				Message: fmt.Sprintf("%s is not allowed here; allowed: %s", r.Method, allow)})
		})))
	}
	a.mux.Handle(Prefix, a.authenticated(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such endpoint: " + r.URL.Path})
	})))
	return a
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	a.mux.ServeHTTP(w, r)
}

// Error is an API error: an HTTP status, a stable code and a human sentence.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func badRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status, adminclient.ErrorBody{Error: adminclient.Error{Code: e.Code, Message: e.Message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

type subjectKey struct{}

// Guard lets through to next only requests with a valid admin token, answering
// others as the API does: for the node's other operator endpoints (profiles).
func (a *API) Guard(next http.Handler) http.Handler { return a.authenticated(next) }

// authenticated lets through only requests with a valid admin token.
func (a *API) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(ForwardedHeader) != "" {
			admin, err := a.forwardedBy(w, r)
			if err != nil {
				var e *Error
				errors.As(err, &e)
				writeError(w, e)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), subjectKey{}, admin)))
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || strings.TrimSpace(tok) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
			writeError(w, &Error{Status: http.StatusUnauthorized, Code: "unauthorized",
				Message: "this API needs an admin token in an Authorization: Bearer header (parley token --admin)"})
			return
		}
		claims, err := a.verify.VerifyAdmin(strings.TrimSpace(tok))
		switch {
		case errors.Is(err, auth.ErrNotAdmin):
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley", error="insufficient_scope"`)
			writeError(w, &Error{Status: http.StatusForbidden, Code: "forbidden",
				Message: "this is a room token; the admin API needs an admin token (parley token --admin)"})
			return
		case err != nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley", error="invalid_token"`)
			writeError(w, &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: err.Error()})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), subjectKey{}, claims.Subject)))
	})
}

// serve runs a route's handler and answers its error, logging what changed.
func (a *API) serve(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, forwardable, err := a.forwardable(w, r)
		if err == nil {
			err = rt.handle(a, w, r)
		}
		subject, _ := r.Context().Value(subjectKey{}).(string)
		if err == nil {
			if r.Method != http.MethodGet {
				a.log.Info("admin request", "method", r.Method, "path", r.URL.Path, "admin", subject)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			e = roomError(err)
			if forwardable && e.Code == "room_not_found" {
				if node, host := a.hostOf(r.PathValue("room")); host != "" {
					ferr := a.forward(w, r, node, host, subject, body)
					if ferr == nil {
						a.log.Info("admin request passed on", "method", r.Method, "path", r.URL.Path, "admin", subject, "to", host)
						return
					}
					errors.As(ferr, &e)
				}
			}
			if e.Code == "room_not_found" {
				a.elsewhere(e, r.PathValue("room"))
			}
		}
		if e.Status >= 500 {
			a.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "admin", subject, "err", err)
		}
		writeError(w, e)
	})
}

// roomError maps the room package's errors onto HTTP.
func roomError(err error) *Error {
	msg := err.Error()
	switch {
	case errors.Is(err, room.ErrNoRoom):
		return &Error{Status: http.StatusNotFound, Code: "room_not_found", Message: msg}
	case errors.Is(err, room.ErrNoParticipant):
		return &Error{Status: http.StatusNotFound, Code: "participant_not_found", Message: msg}
	case errors.Is(err, room.ErrNoViewer):
		return &Error{Status: http.StatusNotFound, Code: "viewer_not_found", Message: msg}
	case errors.Is(err, room.ErrRoomExists):
		return &Error{Status: http.StatusConflict, Code: "room_exists", Message: msg}
	case errors.As(err, new(*room.ElsewhereError)):
		var moved *room.ElsewhereError
		errors.As(err, &moved)
		return &Error{Status: http.StatusConflict, Code: "room_exists",
			Message: fmt.Sprintf("the room is open on node %s of the cluster (%s)", moved.Node, moved.URL)}
	case errors.Is(err, room.ErrPlacementUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: "cluster_unavailable",
			Message: "this node cannot reach the cluster's directory (Redis): it opens no room until it can"}
	case errors.Is(err, room.ErrRecording):
		return &Error{Status: http.StatusConflict, Code: "already_recording", Message: msg}
	case errors.Is(err, room.ErrNotRecording):
		return &Error{Status: http.StatusConflict, Code: "not_recording", Message: msg}
	case errors.Is(err, room.ErrRoomEmpty):
		return &Error{Status: http.StatusConflict, Code: "room_empty", Message: msg}
	case errors.Is(err, room.ErrInvalidSettings), errors.Is(err, room.ErrInvalidRoom),
		errors.Is(err, room.ErrInvalidGrants), errors.Is(err, room.ErrInvalidSource):
		return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: msg}
	case errors.Is(err, room.ErrServerFull):
		return &Error{Status: http.StatusServiceUnavailable, Code: "server_full", Message: msg}
	case errors.Is(err, room.ErrShuttingDown):
		return &Error{Status: http.StatusServiceUnavailable, Code: "shutting_down", Message: msg}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Code: "timeout", Message: "the room did not answer in time"}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: msg}
}

// decode reads a JSON request body into v: one object, at most MaxBodyBytes,
// no unknown fields, no key given twice. Its errors name the field at fault.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
			Message: fmt.Sprintf("request bodies are limited to %d bytes", MaxBodyBytes)}
	case err != nil:
		return badRequest("the request body could not be read: %v", err)
	}
	if d, ok := duplicateKey(data); ok {
		at := ""
		if d.Path != d.Key {
			at = " (at " + d.Path + ")"
		}
		if d.First != d.Key {
			return badRequest("duplicate key %q%s: keys are matched without regard to case, and %q came first", d.Key, at, d.First)
		}
		return badRequest("duplicate key %q%s: give each key once", d.Key, at)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); !errors.Is(extra, io.EOF) {
			err = errors.New("data after the JSON object")
		}
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		return badRequest("the request needs a JSON body")
	case errors.As(err, &syntax):
		return badRequest("malformed JSON at byte %d: %v", syntax.Offset, err)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("the body must be a JSON object")
		}
		return badRequest("field %q must be %s", typ.Field, jsonType(typ.Type.Kind().String()))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return badRequest("unknown field %s", name)
	}
	return badRequest("malformed JSON: %v", err)
}

// jsonType names a Go kind as JSON calls it.
func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return "a number"
}

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openapi)
	return nil
}
