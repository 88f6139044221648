package api

import (
	"net/http"
	"time"

	"github.com/parleyhq/parley/record"
)

// RecordInfo is one meeting record in the records folder.
type RecordInfo struct {
	ID      string    `json:"id"`
	Room    string    `json:"room"`
	Started time.Time `json:"started"`
	// Sealed records carry the server's final signature; an unsealed one is
	// still being written, or its server stopped before sealing it.
	Sealed bool  `json:"sealed"`
	Bytes  int64 `json:"bytes"` // the folder's size: log and media
}

func (a *API) listRecordings(w http.ResponseWriter, r *http.Request) error {
	var recs []record.Summary
	var err error
	if name := r.URL.Query().Get("room"); name != "" {
		recs, err = a.records.ListRoom(name)
	} else {
		recs, err = a.records.List()
	}
	if err != nil {
		return err
	}
	out := make([]RecordInfo, len(recs))
	for i, s := range recs {
		out[i] = RecordInfo{ID: s.ID, Room: s.Room, Started: s.Started, Sealed: s.Sealed, Bytes: s.Bytes}
	}
	writeJSON(w, http.StatusOK, map[string]any{"recordings": out})
	return nil
}
