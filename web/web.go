// Package web serves Parley's browser client: static ES modules and CSS
// embedded in the binary, no build step.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"regexp"
	"strings"

	"github.com/parleyhq/parley/auth"
)

//go:embed static
var files embed.FS

// Static is the client's files, rooted at the static folder.
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the folder exists
	}
	return sub
}

// csp allows only the server's own origin: the client loads nothing from elsewhere
// (its one worker, the end-to-end encryption worker, included). In a cluster,
// connect-src also names the other nodes, where a page's signaling may be
// redirected.
const (
	cspHead = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
		"img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'"
	cspTail = "; worker-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
	csp     = cspHead + cspTail
)

// Options adapt the pages to the node.
type Options struct {
	// Peers, when set, lists the base URLs (http(s)://host:port) of the
	// other nodes of the node's cluster: the pages may open their signaling
	// there when the server redirects them.
	Peers func() []string
}

// origin is what a peer must look like to be named in the policy: a scheme
// and a host, nothing that could end the directive or add another.
var origin = regexp.MustCompile(`^(https?)://([A-Za-z0-9.:\[\]-]+)$`)

// policy is the Content-Security-Policy with connect-src opened to peers.
func policy(peers []string) string {
	if len(peers) == 0 {
		return csp
	}
	var b strings.Builder
	b.WriteString(cspHead)
	for _, p := range peers {
		m := origin.FindStringSubmatch(p)
		if m == nil {
			continue
		}
		ws := "ws"
		if m[1] == "https" {
			ws = "wss"
		}
		b.WriteString(" " + p + " " + ws + "://" + m[2])
	}
	b.WriteString(cspTail)
	return b.String()
}

// Register adds the client's routes to mux: "/" (landing page), "/r/{room}"
// (the meeting page) and "/assets/" (modules, styles, icons).
func Register(mux *http.ServeMux) { RegisterWith(mux, Options{}) }

// RegisterWith is Register for a node with options.
func RegisterWith(mux *http.ServeMux, o Options) {
	secure := func(h http.Handler) http.Handler { return secureWith(h, o.Peers) }
	static := Static()
	RegisterAssets(mux)
	mux.Handle("GET /r/{room}", secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if auth.ValidRoom(r.PathValue("room")) != nil {
			notFound(w, r)
			return
		}
		// The token in the query must not leak to other sites through Referer.
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-store")
		http.ServeFileFS(w, r, static, "room.html")
	})))
	mux.Handle("GET /{$}", secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	})))
	// Every path no other route claims: a page that says so and leads home (the least
	// specific pattern, so it shadows nothing).
	mux.Handle("/", secure(http.HandlerFunc(notFound)))
}

// RegisterAssets adds "/assets/" (modules, styles, icons) alone to mux: for
// `parley open`, which serves the record player and no meeting.
func RegisterAssets(mux *http.ServeMux) {
	assets := http.StripPrefix("/assets/", http.FileServerFS(Static()))
	mux.Handle("GET /assets/", secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		assets.ServeHTTP(w, r)
	})))
}

// ServePage answers with one of the client's pages (player.html) under the
// client's security headers. Pages hold no data: their scripts fetch it.
func ServePage(w http.ResponseWriter, r *http.Request, name string) {
	secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, Static(), name)
	})).ServeHTTP(w, r)
}

// notFound answers 404: a styled page with a way back for browsers (GET and HEAD), the
// plain text of net/http for every other method. The page is constant: it never repeats
// the path it was asked for.
func notFound(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.NotFound(w, r)
		return
	}
	page, err := fs.ReadFile(Static(), "notfound.html")
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusNotFound)
	if r.Method == http.MethodGet {
		_, _ = w.Write(page)
	}
}

// secure sets the headers of every page and asset.
func secure(h http.Handler) http.Handler { return secureWith(h, nil) }

func secureWith(h http.Handler, peers func() []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		p := csp
		if peers != nil {
			p = policy(peers())
		}
		hd.Set("Content-Security-Policy", p)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self), autoplay=(self)")
		h.ServeHTTP(w, r)
	})
}
