package gateway

import (
	"net/http"
	"strings"
)

// wantsPage reports whether r is a browser navigating to a record's page
// rather than a program asking for its data: page and data share paths
// (/records/ID, /records/ID/readouts/RID), and a navigation carries no
// Authorization header (the page's script sends the token with its fetches).
func wantsPage(r *http.Request) bool {
	return r.Header.Get("Authorization") == "" && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// servePlayer answers with the record player's page. The page holds no data
// of the record: its script fetches them with the token, so it is served to
// anyone.
func servePlayer(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "the record player is not built yet", http.StatusNotImplemented)
}
