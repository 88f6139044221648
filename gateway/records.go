package gateway

import (
	"archive/tar"
	"encoding/json"
	"net/http"
	"os"
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
func (g *Gateway) ServeRecords(records *record.Store) {
	g.mux.HandleFunc("GET /records", func(w http.ResponseWriter, r *http.Request) {
		roomName := r.URL.Query().Get("room")
		if g.recordGrant(w, r, roomName) == nil {
			return
		}
		recs, err := records.ListRoom(roomName)
		if err != nil {
			g.log.Error("record list", "room", roomName, "err", err)
			http.Error(w, "the records cannot be read", http.StatusInternalServerError)
			return
		}
		type item struct {
			ID   string `json:"id"`
			Room string `json:"room"`
		}
		items := make([]item, len(recs))
		for i, s := range recs {
			items[i] = item{ID: s.ID, Room: s.Room}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(items)
	})
	g.mux.HandleFunc("GET /records/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		// The store takes only plain record ids: no path tricks, and the id
		// is safe in the header below.
		rec, err := records.Summary(id)
		if err != nil {
			http.Error(w, "no such record", http.StatusNotFound)
			return
		}
		claims := g.recordGrant(w, r, rec.Room)
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
		err = tw.AddFS(os.DirFS(rec.Dir))
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
