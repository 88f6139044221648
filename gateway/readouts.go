package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/readout"
	"github.com/parleyhq/parley/record"
)

// maxReadouts bounds how many readouts one record keeps: each is a file
// beside the record, written on a participant's request.
const maxReadouts = 1000

// serveReadouts adds the readout routes: publishing (readout grant), listing
// and reading (record or readout grant).
func (g *Gateway) serveReadouts(records *record.Store) {
	find := func(w http.ResponseWriter, r *http.Request, grants ...auth.Grant) (string, *auth.Claims) {
		rec, err := records.Summary(r.PathValue("id"))
		if err != nil {
			http.Error(w, "no such record", http.StatusNotFound)
			return "", nil
		}
		claims := g.recordGrant(w, r, rec.Room, grants...)
		if claims == nil {
			return "", nil
		}
		return rec.Dir, claims
	}
	g.mux.HandleFunc("POST /records/{id}/readouts", func(w http.ResponseWriter, r *http.Request) {
		dir, claims := find(w, r, auth.GrantReadout)
		if claims == nil {
			return
		}
		publishReadout(w, r, dir, claims.Subject)
	})
	g.mux.HandleFunc("GET /records/{id}/readouts", func(w http.ResponseWriter, r *http.Request) {
		if dir, claims := find(w, r, auth.GrantRecord, auth.GrantReadout); claims != nil {
			listReadouts(w, dir)
		}
	})
	g.mux.HandleFunc("GET /records/{id}/readouts/{rid}", func(w http.ResponseWriter, r *http.Request) {
		if wantsPage(r) {
			servePlayer(w, r)
			return
		}
		if dir, claims := find(w, r, auth.GrantRecord, auth.GrantReadout); claims != nil {
			serveReadout(w, r, dir, r.PathValue("rid"))
		}
	})
}

// readoutSummary is a readout in a list.
type readoutSummary struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind,omitempty"` // "correction" for a correction of a transcript line
	Author    string    `json:"author"`
	Title     string    `json:"title"`
	Published time.Time `json:"published"`
	Citations int       `json:"citations"`
}

// publishReadout checks a readout against the record in dir and keeps it
// there: signed by the token's own identity with the key the record has for
// them, bound to this record's end, every citation resolving. A readout
// that would fail parley readout verify is refused, with the reason.
func publishReadout(w http.ResponseWriter, r *http.Request, dir, identity string) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, readout.MaxSize))
	if err != nil {
		http.Error(w, "the readout is larger than a readout may be", http.StatusRequestEntityTooLarge)
		return
	}
	ro, err := readout.Parse(b)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if ro.Body.Author != identity {
		http.Error(w, "a readout is published in its author's own name: this token is "+identity+"'s", http.StatusForbidden)
		return
	}
	l, err := record.ReadLog(dir)
	if err != nil {
		http.Error(w, "the record cannot be read: "+err.Error(), http.StatusConflict)
		return
	}
	if _, err := readout.Check(ro, l, readout.Options{}); err != nil {
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	folder := filepath.Join(dir, record.ReadoutsDir)
	if err := os.MkdirAll(folder, 0o700); err != nil {
		http.Error(w, "the readout cannot be kept", http.StatusInternalServerError)
		return
	}
	if have, _ := os.ReadDir(folder); len(have) >= maxReadouts {
		http.Error(w, "this record holds as many readouts as it may", http.StatusInsufficientStorage)
		return
	}
	file, _ := json.MarshalIndent(ro.File, "", "  ")
	if err := keepOnce(filepath.Join(folder, ro.ID+".json"), append(file, '\n')); err != nil {
		http.Error(w, "the readout cannot be kept", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", "/records/"+l.Record+"/readouts/"+ro.ID)
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]string{"id": ro.ID, "url": "/records/" + l.Record + "/readouts/" + ro.ID})
}

// keepOnce writes b to path whole (a temporary file renamed into place),
// keeping what is there: a readout's name is its signed text's hash, so the
// same name is the same readout.
func keepOnce(path string, b []byte) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".readout-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func listReadouts(w http.ResponseWriter, dir string) {
	items := []readoutSummary{}
	for _, ro := range readout.ReadDir(dir) {
		items = append(items, readoutSummary{ID: ro.ID, Kind: ro.Body.Kind, Author: ro.Body.Author, Title: ro.Body.Title,
			Published: ro.Body.Published, Citations: len(ro.Body.Citations)})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(items)
}

// readoutView is a readout as the player shows it: what its author wrote,
// and what checking it against the record found now.
type readoutView struct {
	ID        string              `json:"id"`
	Body      readout.Body        `json:"body"`
	File      readout.File        `json:"file"`
	Footnotes map[string]string   `json:"footnotes"`
	Problem   string              `json:"problem"` // "" when every citation holds
	Uncited   []string            `json:"uncited"`
	Statement []readout.Statement `json:"statements"`
}

// serveReadout answers with one readout: ?format=json (the default: the
// readout and its check), file (the signed file, to verify elsewhere), md or
// html (exports with footnotes naming record times).
func serveReadout(w http.ResponseWriter, r *http.Request, dir, id string) {
	ro, err := readout.ReadOne(dir, id)
	switch {
	case errors.Is(err, os.ErrNotExist):
		http.Error(w, "no such readout", http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, "the readout kept here no longer verifies: "+err.Error(), http.StatusConflict)
		return
	}
	l, err := record.ReadLog(dir)
	if err != nil {
		http.Error(w, "the record cannot be read: "+err.Error(), http.StatusConflict)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	switch r.URL.Query().Get("format") {
	case "", "json":
		v := readoutView{ID: ro.ID, Body: ro.Body, File: ro.File, Footnotes: map[string]string{},
			Uncited: []string{}, Statement: readout.Statements(ro.Body.Text)}
		res, err := readout.Check(ro, l, readout.Options{})
		if err != nil {
			v.Problem = err.Error()
		} else {
			v.Uncited = append(v.Uncited, res.Uncited...)
		}
		for _, c := range ro.Body.Citations {
			v.Footnotes[c.ID] = readout.Footnote(c, ro.Body.Record)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	case "file":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="readout-`+ro.ID+`.json"`)
		_ = json.NewEncoder(w).Encode(ro.File)
	case "md":
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="readout-`+ro.ID+`.md"`)
		_ = readout.WriteMarkdown(w, ro, l)
	case "html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		_ = readout.WriteHTML(w, ro, l)
	default:
		http.Error(w, "format must be json, file, md or html", http.StatusBadRequest)
	}
}
