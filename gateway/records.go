package gateway

import (
	"archive/tar"
	"crypto/ed25519"
	"encoding/json"
	"html/template"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/readout"
	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/room"
)

// ServeRecords lets holders of the record grant list and download the records
// of their room: GET /records?room=ROOM and GET /records/{id} (a tar of the
// record folder), with the token in an Authorization: Bearer header. A
// browser navigating to /records/{id} gets the record player instead, whose
// data routes (player.go) admit the record or the readout grant. serverKey
// is this node's public key, which the player's verification uses.
func (g *Gateway) ServeRecords(records *record.Store, serverKey ed25519.PublicKey) {
	g.servePlayerData(records, serverKey)
	g.mux.HandleFunc("GET /records", func(w http.ResponseWriter, r *http.Request) {
		roomName := r.URL.Query().Get("room")
		if g.recordGrant(w, r, roomName, auth.GrantRecord) == nil {
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
		if wantsPage(r) {
			servePlayer(w, r)
			return
		}
		id := r.PathValue("id")
		// The store takes only plain record ids: no path tricks, and the id
		// is safe in the header below.
		rec, err := records.Summary(id)
		if err != nil {
			http.Error(w, "no such record", http.StatusNotFound)
			return
		}
		claims := g.recordGrant(w, r, rec.Room, auth.GrantRecord)
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
	g.mux.HandleFunc("GET /records/{id}/transcript", func(w http.ResponseWriter, r *http.Request) {
		rec, err := records.Summary(r.PathValue("id"))
		if err != nil {
			http.Error(w, "no such record", http.StatusNotFound)
			return
		}
		if g.recordGrant(w, r, rec.Room, auth.GrantRecord, auth.GrantReadout) == nil {
			return
		}
		serveTranscript(w, r, rec.Dir)
	})
	g.serveReadouts(records)
}

// serveTranscript answers with a record's transcript: ?format=json (the
// default), vtt (WebVTT) or html (a page to read), of every channel or of
// ?channel= alone.
func serveTranscript(w http.ResponseWriter, r *http.Request, dir string) {
	t, err := readout.Transcript(dir) // with its corrections
	if err != nil {
		http.Error(w, "the record's transcript cannot be read: "+err.Error(), http.StatusConflict)
		return
	}
	t = t.Channel(r.URL.Query().Get("channel"))
	w.Header().Set("Cache-Control", "no-store")
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(t)
	case "vtt":
		w.Header().Set("Content-Type", "text/vtt; charset=utf-8")
		_ = t.WriteVTT(w)
	case "html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		if err := transcriptPage.Execute(w, t); err != nil {
			return
		}
	default:
		http.Error(w, "format must be json, vtt or html", http.StatusBadRequest)
	}
}

// transcriptPage shows a transcript to read: html/template escapes what the
// recogniser (or anyone who spoke) said.
var transcriptPage = template.Must(template.New("transcript").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Transcript of {{.Room}}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1f1f1f}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}
th{font-weight:600}.time{font-variant-numeric:tabular-nums;white-space:nowrap;color:#444}.note{color:#444}
</style></head><body>
<h1>Transcript of {{.Room}}</h1>
<p class="note">Record {{.Record}}, begun {{.Began.UTC.Format "2006-01-02 15:04:05 UTC"}}. Machine transcription: check quotes against the media, and the record with parley verify.</p>
<table><thead><tr><th>Time</th><th>Speaker</th><th>Channel</th><th>Said</th></tr></thead><tbody>
{{range .Utterance}}<tr id="e{{.Seq}}"><td class="time">{{$.Clock .Start}}</td><td>{{.Identity}}</td><td>{{.Channel}}{{if and .Language (ne .Language .Channel)}} ({{.Language}}){{end}}{{if .Translation}} <em>machine translation</em>{{end}}</td><td>{{.Text}}{{with .Translation}}<br><small>from {{.Language}}: {{.Text}}</small>{{end}}</td></tr>
{{else}}<tr><td colspan="4">Nothing was transcribed.</td></tr>
{{end}}</tbody></table></body></html>
`))

// recordGrant returns the bearer token's claims if it admits room with one
// of the grants accept (the record grant downloads a record; the record or
// the readout grant reads it in the player) and was not revoked there; else
// it answers and returns nil.
func (g *Gateway) recordGrant(w http.ResponseWriter, r *http.Request, roomName string, accept ...auth.Grant) *auth.Claims {
	if len(accept) == 0 {
		accept = []auth.Grant{auth.GrantRecord}
	}
	return g.grantOf(w, r, roomName, bearer(r), accept)
}

// bearer is the token of an Authorization: Bearer header, or "".
func bearer(r *http.Request) string {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return tok
}

// grantOf is recordGrant for a token that may have come another way (the
// player's media cookie).
func (g *Gateway) grantOf(w http.ResponseWriter, r *http.Request, roomName, tok string, accept []auth.Grant) *auth.Claims {
	if tok == "" {
		http.Error(w, "an Authorization: Bearer token with the "+grantNames(accept)+" grant is required", http.StatusUnauthorized)
		return nil
	}
	claims, err := g.verifier.Verify(tok, roomName)
	if err != nil {
		http.Error(w, tokenError(err).Message, http.StatusUnauthorized)
		return nil
	}
	if !slices.ContainsFunc(accept, claims.Has) {
		what := "reading records"
		switch {
		case len(accept) == 1 && accept[0] == auth.GrantRecord:
			what = "downloading records"
		case len(accept) == 1 && accept[0] == auth.GrantReadout:
			what = "publishing readouts"
		}
		http.Error(w, "this access token does not allow "+what, http.StatusForbidden)
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
