package api

import (
	"net/http"

	"github.com/parleyhq/parley/adminclient"
	"github.com/parleyhq/parley/record"
)

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
	out := adminclient.RecordList{Recordings: make([]adminclient.RecordInfo, len(recs))}
	for i, s := range recs {
		out.Recordings[i] = adminclient.RecordInfo{ID: s.ID, Room: s.Room, Started: s.Started, Sealed: s.Sealed, Bytes: s.Bytes}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
