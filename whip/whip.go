// Package whip serves WHIP ingest (RFC 9725) and WHEP playback over HTTP.
//
// A WHIP publisher (OBS, GStreamer, ffmpeg) joins its token's room as a
// participant that only publishes: its offer's video is the camera, its
// audio the microphone. A WHEP player watches one participant of a room,
// by identity, without joining. Each session is a resource whose URL the
// 201 answer gives in Location; PATCH trickles the client's ICE candidates
// to it and DELETE ends it. docs/whip.md is the operator's guide.
package whip

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/room"
	"github.com/parleyhq/parley/sdpoffer"
	"github.com/parleyhq/parley/signal"
)

// Media types of the protocol.
const (
	typeSDP     = "application/sdp"
	typeSDPFrag = "application/trickle-ice-sdpfrag"
)

// maxBody bounds an offer or a fragment: a real offer is a few KiB.
const maxBody = 64 << 10

// answerTimeout bounds the making of an answer (joining, negotiating, gathering).
const answerTimeout = 15 * time.Second

// Handler serves /whip/ and /whep/.
type Handler struct {
	rooms    *room.Manager
	verifier *auth.Verifier
	log      *slog.Logger
	mux      *http.ServeMux

	ctx    context.Context // ends every session's watcher (Close)
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	resources map[string]*resource
}

// New returns a Handler for rooms, checking tokens with verifier.
func New(rooms *room.Manager, verifier *auth.Verifier, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Handler{rooms: rooms, verifier: verifier, log: log, mux: http.NewServeMux(),
		ctx: ctx, cancel: cancel, resources: map[string]*resource{}}
	h.mux.HandleFunc("POST /whip/{room}", h.publish)
	h.mux.HandleFunc("OPTIONS /whip/{room}", h.options(true))
	h.mux.HandleFunc("PATCH /whip/{room}/{id}", h.patch)
	h.mux.HandleFunc("DELETE /whip/{room}/{id}", h.delete)
	h.mux.HandleFunc("OPTIONS /whip/{room}/{id}", h.options(false))
	h.mux.HandleFunc("POST /whep/{room}/{identity}", h.watch)
	h.mux.HandleFunc("OPTIONS /whep/{room}/{identity}", h.options(true))
	h.mux.HandleFunc("PATCH /whep/{room}/{identity}/{id}", h.patch)
	h.mux.HandleFunc("DELETE /whep/{room}/{identity}/{id}", h.delete)
	h.mux.HandleFunc("OPTIONS /whep/{room}/{identity}/{id}", h.options(false))
	h.mux.HandleFunc("/whip/", h.fallback)
	h.mux.HandleFunc("/whep/", h.fallback)
	return h
}

// ServeHTTP implements http.Handler. Every answer allows other origins:
// WHIP and WHEP authenticate with a bearer token, never a cookie, so a page
// elsewhere (a browser-based publisher or player) may call them.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Access-Control-Expose-Headers", "Location, ETag, Link, Accept-Patch, Accept-Post")
	h.mux.ServeHTTP(w, r)
}

// Close ends every session and waits for their watchers. The room manager
// ends them too when it closes; Close is for a Handler that goes first.
func (h *Handler) Close() {
	h.cancel()
	h.wg.Wait()
}

// resource is one session: a WHIP publisher or a WHEP viewer.
type resource struct {
	id       string
	room     string
	identity string // WHEP: who is watched (part of the URL)
	token    [32]byte
	etag     string
	ufrag    string // the client's ICE ufrag: another one in a PATCH is a restart

	// A publisher (both set) or a viewer.
	participant *room.Participant
	pub         *publisher
	viewer      *room.Viewer

	mu sync.Mutex // one PATCH at a time: a client's requests come one by one
}

func (res *resource) done() <-chan struct{} {
	if res.viewer != nil {
		return res.viewer.Done()
	}
	return res.pub.done
}

// end stops the session.
func (res *resource) end() {
	if res.viewer != nil {
		res.viewer.Close()
		return
	}
	res.participant.Leave()
}

// addCandidate gives the client's candidate to its connection.
func (res *resource) addCandidate(c webrtc.ICECandidateInit) error {
	if res.viewer != nil {
		return res.viewer.AddCandidate(c)
	}
	return res.participant.AddCandidate(room.RolePub, c)
}

// register keeps res until its session ends, however it ends.
func (h *Handler) register(res *resource) {
	h.mu.Lock()
	h.resources[res.id] = res
	h.mu.Unlock()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		select {
		case <-res.done():
		case <-h.ctx.Done():
			res.end()
		}
		h.mu.Lock()
		delete(h.resources, res.id)
		h.mu.Unlock()
	}()
}

// publish answers POST /whip/{room}: a publisher's offer.
func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	roomName := r.PathValue("room")
	claims, token, ok := h.authorize(w, r, roomName)
	if !ok {
		return
	}
	if !claims.Has(auth.GrantPublish) {
		writeError(w, http.StatusForbidden, signal.CodeForbidden, "this access token does not allow publishing")
		return
	}
	body, ok := readBody(w, r, typeSDP)
	if !ok {
		return
	}
	offer, err := readOffer(body)
	var sources map[string]string
	if err == nil {
		sources, err = offer.Sources()
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, signal.CodeBadRequest, err.Error())
		return
	}
	// A WHIP client only publishes: without subscribe the room never offers
	// it a connection to receive on, which it could not answer.
	c := *claims
	c.Grants = slices.DeleteFunc(slices.Clone(claims.Grants), func(g auth.Grant) bool { return g == auth.GrantSubscribe })
	ctx, cancel := context.WithTimeout(r.Context(), answerTimeout)
	defer cancel()
	pub := newPublisher()
	p, err := h.rooms.Join(ctx, room.JoinRequest{Claims: &c, Name: c.Name, Client: pub})
	if err != nil {
		writeRoomError(w, r, err)
		return
	}
	// The answer Publish returns is left for the one below, which waits
	// until it lists the server's candidates: a WHIP client may not trickle.
	if _, err := p.Publish(ctx, offer.SDP, sources); err != nil {
		p.Leave()
		writePublishError(w, err)
		return
	}
	answer, err := p.PubDescription(ctx)
	if err != nil {
		p.Leave()
		writeError(w, http.StatusInternalServerError, signal.CodeInternal, "the answer could not be completed: "+err.Error())
		return
	}
	res := &resource{id: newID(), room: roomName, token: sha256.Sum256([]byte(token)), etag: newETag(),
		ufrag: offer.Ufrag, participant: p, pub: pub}
	h.register(res)
	h.log.Info("WHIP publisher joined", "room", roomName, "participant", p.ID(), "identity", p.Identity(), "resource", res.id)
	h.created(w, "/whip/"+roomName+"/"+res.id, res.etag, pub.iceServers(), answer)
}

// writePublishError answers a refusal of the publisher's offer.
func writePublishError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, room.ErrForbidden):
		writeError(w, http.StatusForbidden, signal.CodeForbidden, err.Error())
	case errors.Is(err, room.ErrGone):
		writeError(w, http.StatusConflict, signal.CodeReplaced, "the publisher left the room as it joined (replaced by another connection of the same identity, or removed)")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		writeError(w, http.StatusGatewayTimeout, "timeout", "the server did not answer the offer in time")
	default:
		writeError(w, http.StatusBadRequest, signal.CodeBadRequest, err.Error())
	}
}

// watch answers POST /whep/{room}/{identity}: a player's offer.
func (h *Handler) watch(w http.ResponseWriter, r *http.Request) {
	roomName, identity := r.PathValue("room"), r.PathValue("identity")
	claims, token, ok := h.authorize(w, r, roomName)
	if !ok {
		return
	}
	if !claims.Has(auth.GrantSubscribe) {
		writeError(w, http.StatusForbidden, signal.CodeForbidden, "this access token does not allow subscribing")
		return
	}
	if err := auth.ValidIdentity(identity); err != nil {
		writeError(w, http.StatusBadRequest, signal.CodeBadRequest, err.Error())
		return
	}
	body, ok := readBody(w, r, typeSDP)
	if !ok {
		return
	}
	offer, err := readOffer(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, signal.CodeBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), answerTimeout)
	defer cancel()
	v, answer, err := h.rooms.Watch(ctx, claims, identity, offer)
	if err != nil {
		writeRoomError(w, r, err)
		return
	}
	res := &resource{id: newID(), room: roomName, identity: identity, token: sha256.Sum256([]byte(token)),
		etag: newETag(), ufrag: offer.Ufrag, viewer: v}
	h.register(res)
	h.log.Info("WHEP viewer started", "room", roomName, "identity", identity, "viewer", v.ID(), "resource", res.id)
	h.created(w, "/whep/"+roomName+"/"+identity+"/"+res.id, res.etag, v.ICEServers(), answer)
}

// readOffer parses a client's offer, which must have audio or video to
// publish or to play.
func readOffer(body []byte) (*sdpoffer.Offer, error) {
	offer, err := sdpoffer.Parse(string(body))
	if err != nil {
		return nil, fmt.Errorf("the SDP offer cannot be parsed: %v", err)
	}
	if !offer.HasAudioVideo() {
		return nil, errors.New("the SDP offer has no audio or video section")
	}
	return offer, nil
}

// created writes a 201 with the answer.
func (h *Handler) created(w http.ResponseWriter, location, etag string, ice []room.ICEServer, answer string) {
	hd := w.Header()
	hd.Set("Content-Type", typeSDP)
	hd.Set("Location", location)
	hd.Set("ETag", etag)
	hd.Set("Accept-Patch", typeSDPFrag)
	for _, l := range iceLinks(ice) {
		hd.Add("Link", l)
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// iceLinks formats ICE servers as RFC 9725 Link header values.
func iceLinks(servers []room.ICEServer) []string {
	var out []string
	for _, s := range servers {
		for _, u := range s.URLs {
			l := "<" + u + `>; rel="ice-server"`
			if s.Username != "" {
				l += `; username="` + quote(s.Username) + `"; credential="` + quote(s.Credential) + `"; credential-type="password"`
			}
			out = append(out, l)
		}
	}
	return out
}

func quote(s string) string { return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) }

// lookup finds the session the URL names; it answers 404 itself.
func (h *Handler) lookup(w http.ResponseWriter, r *http.Request) (*resource, bool) {
	h.mu.Lock()
	res := h.resources[r.PathValue("id")]
	h.mu.Unlock()
	whep := strings.HasPrefix(r.URL.Path, "/whep/")
	if res == nil || res.room != r.PathValue("room") || (res.viewer != nil) != whep || res.identity != r.PathValue("identity") {
		writeError(w, http.StatusNotFound, signal.CodeNotFound, "no such session: it has ended, or never was")
		return nil, false
	}
	select {
	case <-res.done():
		writeError(w, http.StatusNotFound, signal.CodeNotFound, "this session has ended")
		return nil, false
	default:
	}
	// Only the token that opened the session may act on it.
	token, ok := bearer(w, r)
	if !ok {
		return nil, false
	}
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], res.token[:]) != 1 {
		writeError(w, http.StatusForbidden, signal.CodeForbidden, "this session was opened with another access token")
		return nil, false
	}
	return res, true
}

// delete answers DELETE on a session: it ends.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	res, ok := h.lookup(w, r)
	if !ok {
		return
	}
	res.end()
	h.log.Info("session ended by its client", "room", res.room, "resource", res.id)
	w.WriteHeader(http.StatusOK)
}

// patch answers PATCH on a session: trickle ICE. An ICE restart is refused
// with 422 (RFC 9725 4.3: a session that trickles but cannot restart);
// the client can POST anew instead.
func (h *Handler) patch(w http.ResponseWriter, r *http.Request) {
	res, ok := h.lookup(w, r)
	if !ok {
		return
	}
	body, ok := readBody(w, r, typeSDPFrag)
	if !ok {
		return
	}
	match := r.Header.Get("If-Match")
	if match == "*" {
		writeError(w, http.StatusUnprocessableEntity, "ice_restart_unsupported", "this server does not restart ICE; end the session with DELETE and POST a new offer")
		return
	}
	if match != "" && match != res.etag {
		writeError(w, http.StatusPreconditionFailed, "precondition_failed", "If-Match does not name this session's current ICE session ("+res.etag+")")
		return
	}
	frag, err := sdpoffer.ParseFrag(body)
	if err == nil && frag.Empty() {
		err = sdpoffer.ErrEmptyFrag
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, signal.CodeBadRequest, "the fragment is malformed: "+err.Error())
		return
	}
	if frag.Ufrag != "" && res.ufrag != "" && frag.Ufrag != res.ufrag {
		writeError(w, http.StatusUnprocessableEntity, "ice_restart_unsupported", "the fragment's ICE credentials are new (an ICE restart), which this server does not do; end the session with DELETE and POST a new offer")
		return
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	for _, c := range frag.Candidates() {
		if err := res.addCandidate(c); err != nil {
			writeError(w, http.StatusBadRequest, signal.CodeBadRequest, "candidate rejected: "+err.Error())
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// options answers OPTIONS: CORS preflight, and what the URL accepts.
func (h *Handler) options(endpoint bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		methods := "PATCH, DELETE, OPTIONS"
		if endpoint {
			methods = "POST, OPTIONS"
			hd.Set("Accept-Post", typeSDP)
		}
		hd.Set("Allow", methods)
		hd.Set("Accept-Patch", typeSDPFrag)
		hd.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
		hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
		hd.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
	}
}

// fallback answers what no route takes: 405 for a known URL, else 404.
func (h *Handler) fallback(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	allow := ""
	switch {
	case slices.Contains(parts, ""):
	case parts[0] == "whip" && len(parts) == 2, parts[0] == "whep" && len(parts) == 3:
		allow = "POST, OPTIONS"
	case parts[0] == "whip" && len(parts) == 3, parts[0] == "whep" && len(parts) == 4:
		allow = "PATCH, DELETE, OPTIONS"
	}
	if allow == "" {
		writeError(w, http.StatusNotFound, signal.CodeNotFound, "WHIP is POST /whip/{room}; WHEP is POST /whep/{room}/{identity}")
		return
	}
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; this URL takes "+allow)
}

// authorize checks the bearer token against the room; it answers 401 or 403 itself.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, roomName string) (*auth.Claims, string, bool) {
	token, ok := bearer(w, r)
	if !ok {
		return nil, "", false
	}
	claims, err := h.verifier.Verify(token, roomName)
	switch {
	case err == nil:
		return claims, token, true
	case errors.Is(err, auth.ErrNoJoin), errors.Is(err, auth.ErrAdminJoin):
		writeError(w, http.StatusForbidden, signal.CodeForbidden, err.Error())
	case errors.Is(err, auth.ErrWrongRoom):
		unauthorized(w, signal.CodeWrongRoom, "this access token is for another room")
	case errors.Is(err, auth.ErrExpired), errors.Is(err, auth.ErrNotYet):
		unauthorized(w, signal.CodeTokenExpired, err.Error())
	default:
		unauthorized(w, signal.CodeTokenInvalid, "the access token is not valid: "+err.Error())
	}
	return nil, "", false
}

// bearer reads the Authorization header; it answers 401 itself.
func bearer(w http.ResponseWriter, r *http.Request) (string, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		unauthorized(w, signal.CodeTokenMissing, "send the access token as Authorization: Bearer <token>")
		return "", false
	}
	return token, true
}

func unauthorized(w http.ResponseWriter, code, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
	writeError(w, http.StatusUnauthorized, code, msg)
}

// readBody reads a body of media type want; it answers 415, 413 or 400 itself.
func readBody(w http.ResponseWriter, r *http.Request, want string) ([]byte, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.EqualFold(mt, want) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be "+want)
		return nil, false
	}
	if r.ContentLength > maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is limited to %d bytes", maxBody))
		return nil, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is limited to %d bytes", maxBody))
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, signal.CodeBadRequest, "the body could not be read")
		return nil, false
	case len(b) == 0:
		writeError(w, http.StatusBadRequest, signal.CodeBadRequest, "the body is empty")
		return nil, false
	}
	return b, true
}

// writeRoomError answers a refusal of the room manager.
func writeRoomError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := http.StatusInternalServerError, signal.CodeInternal
	msg := err.Error()
	var moved *room.ElsewhereError
	switch {
	case errors.As(err, &moved):
		// Another node of the cluster hosts the room: the client posts its
		// offer there (RFC 9725 4.5). The URL is the one that node
		// registered, the path this one; the session's own URLs will be
		// relative to that node.
		w.Header().Set("Location", moved.URL+r.URL.EscapedPath())
		writeError(w, http.StatusTemporaryRedirect, "redirect", "the room is hosted by another node of the cluster: "+moved.URL)
		return
	case errors.Is(err, room.ErrPlacementUnavailable):
		w.Header().Set("Retry-After", "5")
		status, code = http.StatusServiceUnavailable, signal.CodeClusterUnavailable
		msg = "this node cannot reach the rest of its cluster to find or place the room; try again in a few seconds"
	case errors.Is(err, room.ErrBadOffer), errors.Is(err, room.ErrViewerCodec):
		status, code = http.StatusBadRequest, signal.CodeBadRequest
	case errors.Is(err, room.ErrNoRoom):
		status, code = http.StatusNotFound, "room_not_found"
		msg = "the room is not open: nobody is in it"
	case errors.Is(err, room.ErrNoSubscribe):
		status, code = http.StatusForbidden, signal.CodeForbidden
	case errors.Is(err, room.ErrRevoked):
		status, code = http.StatusForbidden, signal.CodeTokenRevoked
	case errors.Is(err, room.ErrE2EERequired):
		status, code = http.StatusForbidden, signal.CodeE2EERequired
		msg = "the room is end-to-end encrypted: the server cannot read its media, and neither could a WHIP or WHEP client"
	case errors.Is(err, room.ErrDuplicate):
		status, code = http.StatusConflict, signal.CodeDuplicate
	case errors.Is(err, room.ErrRoomFull):
		status, code = http.StatusServiceUnavailable, signal.CodeRoomFull
	case errors.Is(err, room.ErrServerFull):
		status, code = http.StatusServiceUnavailable, signal.CodeServerFull
	case errors.Is(err, room.ErrShuttingDown):
		status, code = http.StatusServiceUnavailable, signal.CodeShuttingDown
	case errors.Is(err, context.DeadlineExceeded):
		status, code = http.StatusGatewayTimeout, "timeout"
	}
	writeError(w, status, code, msg)
}

// writeError answers {"error": {"code": ..., "message": ...}}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// newID is a resource id: 128 random bits, unguessable.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

func newETag() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return `"` + hex.EncodeToString(b[:]) + `"`
}
