package gateway

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/web"
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
// anyone. The same page serves /records/ID and /records/ID/readouts/RID: its
// script routes on the path.
func servePlayer(w http.ResponseWriter, r *http.Request) {
	web.ServePage(w, r, "player.html")
}

// The player's grants: the record grant downloads a record, and the readout
// grant (a participant who writes a readout of it) needs to read it too.
var playerGrants = []auth.Grant{auth.GrantRecord, auth.GrantReadout}

// mediaCookie carries the player's token to the media routes: a <video>
// element fetches its source (in ranges, as it plays) with no way to add an
// Authorization header, and the token must not go into a URL.
const mediaCookie = "parley-media"

// mediaCookieMax bounds how long a media cookie lasts, whatever the token says.
const mediaCookieMax = 12 * time.Hour

// servePlayerData adds the routes the player's script reads a record from,
// each a function of the record's folder (recordData) behind the grant check,
// so that `parley open` serves the same data from a folder alone.
func (g *Gateway) servePlayerData(records *record.Store, serverKey ed25519.PublicKey) {
	d := newRecordData(serverKey, false)
	// find answers 404 for a record that does not exist, and for one whose
	// room the token does not admit with a player grant answers as
	// recordGrant does.
	find := func(w http.ResponseWriter, r *http.Request, tok string) (record.Summary, *auth.Claims) {
		rec, err := records.Summary(r.PathValue("id"))
		if err != nil {
			http.Error(w, "no such record", http.StatusNotFound)
			return rec, nil
		}
		return rec, g.grantOf(w, r, rec.Room, tok, playerGrants)
	}
	g.mux.HandleFunc("GET /player/config", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, playerConfig{Mode: "node", Token: true})
	})
	g.mux.HandleFunc("GET /records/{id}/log", func(w http.ResponseWriter, r *http.Request) {
		if rec, claims := find(w, r, bearer(r)); claims != nil {
			d.serveLog(w, r, rec.Dir)
		}
	})
	g.mux.HandleFunc("GET /records/{id}/verify", func(w http.ResponseWriter, r *http.Request) {
		rec, claims := find(w, r, bearer(r))
		if claims == nil {
			return
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		// What a reader runs to check the record without trusting this page:
		// fetch it, then verify it with the key the server's operator publishes.
		download := fmt.Sprintf(`curl -fH "Authorization: Bearer $TOKEN" -o %[1]s.tar %[2]s://%[3]s/records/%[1]s && mkdir %[1]s && tar -xf %[1]s.tar -C %[1]s`,
			rec.ID, scheme, r.Host)
		d.serveVerify(w, r, rec.Dir, rec.ID, download)
	})
	// The page trades its bearer token for the media cookie: an HttpOnly
	// cookie its script cannot read back, sent only with this record's media
	// and never by another site (SameSite=Strict).
	g.mux.HandleFunc("POST /records/{id}/media-access", func(w http.ResponseWriter, r *http.Request) {
		rec, claims := find(w, r, bearer(r))
		if claims == nil {
			return
		}
		life := mediaCookieMax
		if claims.ExpiresAt > 0 {
			life = min(life, time.Until(time.Unix(claims.ExpiresAt, 0)))
		}
		http.SetCookie(w, &http.Cookie{Name: mediaCookie, Value: bearer(r), Path: "/records/" + rec.ID + "/media/",
			MaxAge: max(int(life/time.Second), 1), HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
	g.mux.HandleFunc("GET /records/{id}/media/{file...}", func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r)
		if c, err := r.Cookie(mediaCookie); tok == "" && err == nil {
			tok = c.Value
		}
		rec, claims := find(w, r, tok)
		if claims == nil {
			return
		}
		var cut atomic.Bool
		defer g.cutOnRevoke(w, claims, &cut)()
		rc := http.NewResponseController(w)
		pw := &progressWriter{w: w, rc: rc, cut: &cut}
		if d := g.limits.RequestTimeout; d > 0 {
			// A player reads a long file as it plays, pausing when its buffer
			// is full: only a client that stops reading altogether is cut.
			_ = rc.SetWriteDeadline(time.Time{})
			pw.d = d
		}
		d.serveMedia(&mediaWriter{ResponseWriter: w, out: pw}, r, rec.Dir, r.PathValue("file"))
	})
}

// mediaWriter sends a media response's body through a progressWriter.
type mediaWriter struct {
	http.ResponseWriter
	out *progressWriter
}

func (m *mediaWriter) Write(b []byte) (int, error) { return m.out.Write(b) }

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (m *mediaWriter) Unwrap() http.ResponseWriter { return m.ResponseWriter }

// playerConfig tells the page how it is served: by a node (a token with the
// record or readout grant reads the record) or by `parley open` (one folder,
// on this computer, no token, read-only).
type playerConfig struct {
	Mode   string `json:"mode"` // "node" or "open"
	Token  bool   `json:"token"`
	Record string `json:"record,omitempty"` // open: the one record served
}

// recordData serves a record's data from its folder: the log, the media the
// log announces, and the verification report. A node and `parley open` share it.
type recordData struct {
	serverKey ed25519.PublicKey // nil: verify with the key the record names (parley open without --server-key)
	open      bool

	mu       sync.Mutex
	files    map[string]announced // by folder
	verified map[string]verified  // by folder
	// verifying admits one verification at a time: each reads every byte of
	// a record, and a reload must not start a second beside the first.
	verifying chan struct{}
}

// announced is the media a log names in its file-start entries, as of a
// state of the log.
type announced struct {
	stamp string
	files map[string]bool
}

// verified is a verification's answer, as of a state of the record's files.
type verified struct {
	stamp  string
	answer verifyAnswer
}

// cacheMax bounds each of recordData's caches (by folder).
const cacheMax = 32

func newRecordData(serverKey ed25519.PublicKey, open bool) *recordData {
	return &recordData{serverKey: serverKey, open: open, files: map[string]announced{}, verified: map[string]verified{},
		verifying: make(chan struct{}, 1)}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// maxWithout bounds the types ?without= may name.
const maxWithout = 16

// serveLog answers with the record's log (record.ReadLog) as JSON.
// ?without=chunk,file-end leaves entries of those types out: a long record has
// a chunk entry per track every second, which a page drawing a timeline does
// not need (every line keeps its own hash, so what remains is still citable).
func (d *recordData) serveLog(w http.ResponseWriter, r *http.Request, dir string) {
	var without []string
	if v := r.URL.Query().Get("without"); v != "" {
		without = strings.Split(v, ",")
		if len(without) > maxWithout {
			http.Error(w, fmt.Sprintf("without names at most %d types", maxWithout), http.StatusBadRequest)
			return
		}
	}
	l, err := record.ReadLog(dir)
	if err != nil {
		http.Error(w, "the record's log cannot be read: "+err.Error(), http.StatusConflict)
		return
	}
	if len(without) > 0 {
		l.Lines = slices.DeleteFunc(l.Lines, func(ln record.Line) bool { return slices.Contains(without, ln.Type) })
	}
	writeJSON(w, l)
}

// serveMedia answers with one media file of the record, in ranges as players
// ask. Only a file its log announces is served, and only from inside the
// folder: the name cannot climb out of media/, nor a link lead elsewhere.
func (d *recordData) serveMedia(w http.ResponseWriter, r *http.Request, dir, name string) {
	if name == "" || len(name) > 255 || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		http.Error(w, "no such media file in this record", http.StatusNotFound)
		return
	}
	rel := record.MediaDir + "/" + name
	files, err := d.announcedFiles(dir)
	if err != nil {
		http.Error(w, "the record's log cannot be read: "+err.Error(), http.StatusConflict)
		return
	}
	if !files[rel] {
		http.Error(w, "no such media file in this record", http.StatusNotFound)
		return
	}
	f, err := os.OpenInRoot(dir, rel)
	if err != nil {
		http.Error(w, "no such media file in this record", http.StatusNotFound)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.Error(w, "no such media file in this record", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "video/webm")
	// The browser revalidates (cheaply: ServeContent answers If-Modified-Since
	// and If-Range) rather than keep a private record in a shared cache.
	w.Header().Set("Cache-Control", "private, no-cache")
	http.ServeContent(w, r, name, st.ModTime(), f)
}

// stamp names a state of files: their names, sizes and times of change. A
// cached answer holds while the stamp does.
func stamp(paths ...string) string {
	var b strings.Builder
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			b.WriteString(p + " -\n")
			continue
		}
		fmt.Fprintf(&b, "%s %d %d\n", p, st.Size(), st.ModTime().UnixNano())
	}
	return b.String()
}

// announcedFiles is the set of media files the log in dir announces.
func (d *recordData) announcedFiles(dir string) (map[string]bool, error) {
	logPath := filepath.Join(dir, record.LogFile)
	st := stamp(logPath)
	d.mu.Lock()
	a, ok := d.files[dir]
	d.mu.Unlock()
	if ok && a.stamp == st {
		return a.files, nil
	}
	f, err := os.Open(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	files := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20) // record.Verify's bound on a line
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"`+record.TypeFileStart+`"`)) {
			continue // a cheap skip of the many chunk entries
		}
		var e record.Entry
		if json.Unmarshal(line, &e) == nil && e.Type == record.TypeFileStart {
			files[e.File] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	if len(d.files) >= cacheMax {
		clear(d.files)
	}
	d.files[dir] = announced{stamp: st, files: files}
	d.mu.Unlock()
	return files, nil
}

// verifyAnswer is the player's verification badge: record.Verify's report
// with this node's key, and how a reader checks it without trusting the page.
type verifyAnswer struct {
	// Status is "intact", "incomplete" (intact as far as it goes, but with
	// no end marker: still recording, or cut short) or "altered".
	Status  string       `json:"status"`
	Problem string       `json:"problem,omitempty"` // the first problem, for "altered" and "incomplete"
	Failure *failureJSON `json:"failure,omitempty"`
	Report  reportJSON   `json:"report"`
	// KeySource says what the checkpoints were checked with: "server", the
	// node's own key (or the one given to parley open), or "record", the key
	// written in the record itself, which shows it is consistent, not who
	// made it.
	KeySource string `json:"keySource"`
	// Howto is the parley verify command line that checks the record
	// independently; Download, on a node, how to fetch it first.
	Howto    string `json:"howto"`
	Download string `json:"download,omitempty"`
}

type failureJSON struct {
	Entry      uint64 `json:"entry,omitempty"`
	File       string `json:"file,omitempty"`
	From       int64  `json:"from,omitempty"`
	To         int64  `json:"to,omitempty"`
	Reason     string `json:"reason"`
	Incomplete bool   `json:"incomplete,omitempty"`
}

type reportJSON struct {
	Record       string            `json:"record"`
	Room         string            `json:"room"`
	Format       string            `json:"format"`
	Entries      uint64            `json:"entries"`
	Start        time.Time         `json:"start"`
	End          time.Time         `json:"end"`
	Sealed       bool              `json:"sealed"`
	Ended        bool              `json:"ended"`
	Participants []string          `json:"participants"`
	Files        map[string]int64  `json:"files"`
	Attested     []attestationJSON `json:"attested"`
	Checkpoints  int               `json:"checkpoints"`
	LastSigned   uint64            `json:"lastSigned"`
	Unsigned     uint64            `json:"unsigned"`
	Warnings     []string          `json:"warnings"`
	ServerKey    string            `json:"serverKey"`
}

type attestationJSON struct {
	Identity string         `json:"identity"`
	Keys     []string       `json:"keys"`
	Given    bool           `json:"given"`
	UpTo     uint64         `json:"upTo"`
	Needed   uint64         `json:"needed"`
	Gap      []gapEventJSON `json:"gap"`
	GapFrom  time.Time      `json:"gapFrom,omitzero"`
	GapTo    time.Time      `json:"gapTo,omitzero"`
}

type gapEventJSON struct {
	Seq      uint64 `json:"seq"`
	Type     string `json:"type"`
	Identity string `json:"identity,omitempty"`
}

// serveVerify answers with the verification of the record in dir, made by
// record.Verify (parley verify's code) with the server key d holds. A record
// without its end marker (still being recorded) is verified as far as its
// last checkpoint, as --allow-unsealed does. id names the record's folder
// in the command line a reader runs; download, if any, how they fetch it.
func (d *recordData) serveVerify(w http.ResponseWriter, r *http.Request, dir, id, download string) {
	media := []string{filepath.Join(dir, record.LogFile)}
	if entries, err := os.ReadDir(filepath.Join(dir, record.MediaDir)); err == nil {
		for _, e := range entries {
			media = append(media, filepath.Join(dir, record.MediaDir, e.Name()))
		}
	}
	// Every file's size and time of change: an answer stands until one of
	// them changes (a running record grows; an edit shows).
	st := stamp(media...)
	d.mu.Lock()
	v, ok := d.verified[dir]
	d.mu.Unlock()
	if !ok || v.stamp != st {
		select {
		case d.verifying <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		ans := d.verify(dir, id, download)
		<-d.verifying
		v = verified{stamp: st, answer: ans}
		d.mu.Lock()
		if len(d.verified) >= cacheMax {
			clear(d.verified)
		}
		d.verified[dir] = v
		d.mu.Unlock()
	}
	writeJSON(w, v.answer)
}

func (d *recordData) verify(dir, id, download string) verifyAnswer {
	rep, err := record.Verify(dir, record.VerifyOptions{ServerKey: d.serverKey})
	ans := verifyAnswer{Status: "intact", Report: reportOf(rep), KeySource: "server", Download: download}
	if d.serverKey == nil {
		ans.KeySource = "record"
	}
	var fail *record.Failure
	switch {
	case errors.As(err, &fail):
		ans.Status, ans.Problem = "altered", fail.Error()
		ans.Failure = &failureJSON{Entry: fail.Entry, File: fail.File, From: fail.From, To: fail.To, Reason: fail.Reason, Incomplete: fail.Incomplete}
	case err != nil:
		ans.Status, ans.Problem = "altered", err.Error()
	case !rep.Ended:
		ans.Status = "incomplete"
	}
	cmd := []string{"parley", "verify", shellWord(id)}
	if d.serverKey != nil {
		cmd = append(cmd, "--server-key", base64.RawURLEncoding.EncodeToString(d.serverKey))
	}
	if ans.Status == "incomplete" {
		cmd = append(cmd, "--allow-unsealed")
	}
	ans.Howto = strings.Join(cmd, " ")
	return ans
}

// shellWord quotes s for a POSIX shell where it needs it (a folder's path).
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func reportOf(rep *record.Report) reportJSON {
	out := reportJSON{Record: rep.Record, Room: rep.Room, Format: rep.Format, Entries: rep.Entries, Start: rep.Start, End: rep.End,
		Sealed: rep.Sealed, Ended: rep.Ended, Participants: rep.Participants, Files: rep.Files, Attested: []attestationJSON{},
		Checkpoints: rep.Checkpoints, LastSigned: rep.LastSigned, Unsigned: rep.Unsigned, Warnings: rep.Warnings, ServerKey: rep.ServerKey}
	if out.Participants == nil {
		out.Participants = []string{}
	}
	if out.Warnings == nil {
		out.Warnings = []string{}
	}
	for _, a := range rep.Attested {
		aj := attestationJSON{Identity: a.Identity, Keys: a.Keys, Given: a.Given, UpTo: a.UpTo, Needed: a.Needed,
			Gap: []gapEventJSON{}, GapFrom: a.GapFrom, GapTo: a.GapTo}
		if aj.Keys == nil {
			aj.Keys = []string{}
		}
		for _, g := range a.Gap {
			aj.Gap = append(aj.Gap, gapEventJSON{Seq: g.Seq, Type: g.Type, Identity: g.Identity})
		}
		out.Attested = append(out.Attested, aj)
	}
	return out
}

// OpenRecord serves one record folder read-only, for `parley open`: the
// player's page and assets and the record's data, with no token (whoever
// reaches the handler holds the folder already) and nothing of a node. It
// answers only requests addressed to a loopback name, so that a web page
// whose domain is made to resolve to 127.0.0.1 (DNS rebinding) cannot read
// the record through the browser. serverKey, if not nil, is the key the
// verification checks the record with; without it, the key the record names.
func OpenRecord(dir string, serverKey ed25519.PublicKey) http.Handler {
	d := newRecordData(serverKey, true)
	mux := http.NewServeMux()
	web.RegisterAssets(mux)
	id, idErr := openID(dir)
	// one answers the routes of the record served, and 404 for any other id.
	one := func(serve func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if idErr != nil {
				http.Error(w, idErr.Error(), http.StatusConflict)
				return
			}
			if r.PathValue("id") != id {
				http.Error(w, "no such record", http.StatusNotFound)
				return
			}
			serve(w, r)
		}
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if idErr != nil {
			http.Error(w, idErr.Error(), http.StatusConflict)
			return
		}
		http.Redirect(w, r, "/records/"+id, http.StatusFound)
	})
	mux.HandleFunc("GET /player/config", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, playerConfig{Mode: "open", Token: false, Record: id})
	})
	mux.HandleFunc("GET /records/{id}", one(servePlayer))
	mux.HandleFunc("GET /records/{id}/log", one(func(w http.ResponseWriter, r *http.Request) { d.serveLog(w, r, dir) }))
	mux.HandleFunc("GET /records/{id}/transcript", one(func(w http.ResponseWriter, r *http.Request) { serveTranscript(w, r, dir) }))
	mux.HandleFunc("GET /records/{id}/verify", one(func(w http.ResponseWriter, r *http.Request) {
		abs, err := filepath.Abs(dir)
		if err != nil {
			abs = dir
		}
		d.serveVerify(w, r, dir, abs, "")
	}))
	mux.HandleFunc("GET /records/{id}/media/{file...}", one(func(w http.ResponseWriter, r *http.Request) {
		d.serveMedia(w, r, dir, r.PathValue("file"))
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, "parley open answers only at a loopback address (127.0.0.1, [::1] or localhost)", http.StatusMisdirectedRequest)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// openID is the id of the record in dir, as its first entry names it.
func openID(dir string) (string, error) {
	f, err := os.Open(filepath.Join(dir, record.LogFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s is not a record folder: it has no %s", dir, record.LogFile)
		}
		return "", err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadSlice('\n')
	if err != nil {
		return "", fmt.Errorf("%s in %s has no complete first entry", record.LogFile, dir)
	}
	var e record.Entry
	if json.Unmarshal(line, &e) != nil || e.Type != record.TypeStart || e.Record == "" || strings.ContainsAny(e.Record, `/\?#% `) {
		return "", fmt.Errorf("%s in %s does not begin with a record-start entry naming the record", record.LogFile, dir)
	}
	return e.Record, nil
}

// loopbackHost reports whether a Host header names this computer.
func loopbackHost(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh // else there is no port
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// grantNames says grants as a sentence does: "record", "record or readout".
func grantNames(gs []auth.Grant) string {
	names := make([]string, len(gs))
	for i, g := range gs {
		names[i] = string(g)
	}
	return strings.Join(names, " or ")
}
