package gateway

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/room"
)

// ServeRecords lets holders of the record grant list and download the records
// of their room: GET /records?room=ROOM and GET /records/{id} (a tar of the
// record folder), with the token in an Authorization: Bearer header.
func (g *Gateway) ServeRecords(dir string) {
	g.mux.HandleFunc("GET /records", func(w http.ResponseWriter, r *http.Request) {
		roomName := r.URL.Query().Get("room")
		if g.recordGrant(w, r, roomName) == nil {
			return
		}
		type item struct {
			ID   string `json:"id"`
			Room string `json:"room"`
		}
		items := []item{}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if room, err := recordRoom(filepath.Join(dir, e.Name())); err == nil && room == roomName {
				items = append(items, item{ID: e.Name(), Room: room})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(items)
	})
	g.mux.HandleFunc("GET /records/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if auth.ValidRoom(id) != nil { // same plain alphabet: no path tricks
			http.Error(w, "no such record", http.StatusNotFound)
			return
		}
		root := filepath.Join(dir, id)
		roomName, err := recordRoom(root)
		if err != nil {
			http.Error(w, "no such record", http.StatusNotFound)
			return
		}
		claims := g.recordGrant(w, r, roomName)
		if claims == nil {
			return
		}
		var cut atomic.Bool
		defer g.cutOnRevoke(w, claims, &cut)()
		w.Header().Set("Content-Type", "application/x-tar")
		w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.tar"`)
		rc := http.NewResponseController(w)
		out := &progressWriter{w: w, rc: rc, cut: &cut}
		if d := g.limits.RequestTimeout; d > 0 {
			// Only a granted download may outlast the response deadline.
			_ = rc.SetWriteDeadline(time.Time{})
			out.d = d
		}
		tw := tar.NewWriter(out)
		err = tw.AddFS(os.DirFS(root))
		if err == nil {
			err = tw.Close()
		}
		if err != nil {
			g.log.Warn("record download", "record", id, "err", err)
		}
	})
}

// recordGrant returns the bearer token's claims if it admits room with the
// record grant and was not revoked there; else it answers and returns nil.
func (g *Gateway) recordGrant(w http.ResponseWriter, r *http.Request, roomName string) *auth.Claims {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		http.Error(w, "an Authorization: Bearer token with the record grant is required", http.StatusUnauthorized)
		return nil
	}
	claims, err := g.verifier.Verify(tok, roomName)
	if err != nil {
		http.Error(w, tokenError(err).Message, http.StatusUnauthorized)
		return nil
	}
	if !claims.Has(auth.GrantRecord) {
		http.Error(w, "this access token does not allow downloading records", http.StatusForbidden)
		return nil
	}
	if g.rooms.Denied(claims) {
		http.Error(w, room.ErrRevoked.Error(), http.StatusForbidden)
		return nil
	}
	return claims
}

// revokeCheck is how often a running download checks that its token still
// stands: a ban ends it within about this long.
const revokeCheck = 250 * time.Millisecond

// cutOnRevoke ends the response if claims are revoked while it is written (a
// record is gigabytes: minutes of download): it sets cut, which the writer
// checks before each write, and a write deadline in the past, which fails a
// write under way. Call the returned function when the handler is done.
func (g *Gateway) cutOnRevoke(w http.ResponseWriter, claims *auth.Claims, cut *atomic.Bool) (stop func()) {
	rc := http.NewResponseController(w)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(revokeCheck)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if g.rooms.Denied(claims) {
					g.log.Info("record download cut: the token was revoked", "room", claims.Room, "identity", claims.Subject)
					cut.Store(true)
					// A deadline in the past fails the handler's next write (and the
					// one under way): the handler returns and the connection closes.
					_ = rc.SetWriteDeadline(time.Unix(1, 0))
					return
				}
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// recordRoom reads the room a record belongs to from its first entry.
func recordRoom(dir string) (string, error) {
	f, err := os.Open(filepath.Join(dir, record.LogFile))
	if err != nil {
		return "", err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadBytes('\n')
	if err != nil {
		return "", err
	}
	var e record.Entry
	if err := json.Unmarshal(line, &e); err != nil || e.Type != record.TypeStart {
		return "", errors.New("not a record")
	}
	return e.Room, nil
}
