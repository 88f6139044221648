// Package span carries the links between the parts of a room that spans
// nodes (room/span.go says what travels on them): one WebSocket per room and
// pair of nodes, from the node that opened its part later to the other,
// carrying the room's messages as JSON, one per frame, in order. The relay
// media itself goes over WebRTC between the two nodes' media ports, set up
// through these messages.
//
// A link is authenticated by a MAC under a secret every node derives from the
// signing key they share: only a node of the cluster can open one, and only
// to the node it names.
package span

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/parleyhq/parley/room"
)

// Path is where a node accepts links.
const Path = "/internal/span"

const (
	maxMessage = 4 << 20 // an offer naming hundreds of tracks
	sendQueue  = 4096    // messages waiting for the socket; a link that falls this far behind ends
	writeWait  = 5 * time.Second
	pingEvery  = 3 * time.Second // a node cut off (not killed) is noticed within two pings
	clockSkew  = 30 * time.Second
	dialWait   = 5 * time.Second
)

// Node is another node holding a part of a room.
type Node struct {
	ID  string
	URL string // its advertised base URL
}

// Options configure a node's links.
type Options struct {
	Self   string // this node's id
	Rooms  *room.Manager
	Secret []byte // the same on every node (DeriveSecret)
	Logger *slog.Logger
	// Client dials other nodes (its TLS roots); nil uses http.DefaultClient.
	Client *http.Client
}

// DeriveSecret gives the links' MAC key from the nodes' shared signing key.
func DeriveSecret(signingKey []byte) []byte {
	m := hmac.New(sha256.New, signingKey)
	m.Write([]byte("parley span links v1"))
	return m.Sum(nil)
}

// Links holds this node's links, by room and node.
type Links struct {
	o      Options
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	links map[key]*link
}

type key struct{ room, node string }

// New prepares a node's links; Close ends them.
func New(o Options) *Links {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Links{o: o, log: o.Logger, ctx: ctx, cancel: cancel, links: map[key]*link{}}
}

// Ensure links this node's part of room to each of nodes it has no link
// with yet. With all false it dials only nodes whose id sorts after this
// one's (the periodic repair: the other side dials the rest). Never blocks.
func (l *Links) Ensure(room string, nodes []Node, all bool) {
	for _, n := range nodes {
		if n.ID == l.o.Self || (!all && n.ID < l.o.Self) {
			continue
		}
		k := key{room, n.ID}
		l.mu.Lock()
		_, linked := l.links[k]
		if !linked && l.ctx.Err() == nil {
			l.links[k] = nil // dialing
			l.wg.Add(1)
			go l.dial(k, n)
		}
		l.mu.Unlock()
	}
}

// Close ends every link and waits for them.
func (l *Links) Close() {
	l.cancel()
	l.mu.Lock()
	for _, ln := range l.links {
		if ln != nil {
			ln.Close()
		}
	}
	l.mu.Unlock()
	l.wg.Wait()
}

func (l *Links) mac(room, from, to string, at int64) string {
	m := hmac.New(sha256.New, l.o.Secret)
	fmt.Fprintf(m, "%s\n%s\n%s\n%d", room, from, to, at)
	return hex.EncodeToString(m.Sum(nil))
}

// dial opens a link to node n for room.
func (l *Links) dial(k key, n Node) {
	defer l.wg.Done()
	ln, err := l.connect(k, n)
	l.mu.Lock()
	if err != nil || l.links[k] != nil || l.ctx.Err() != nil {
		if l.links[k] == nil {
			delete(l.links, k)
		}
		l.mu.Unlock()
		if err != nil && !errors.Is(err, errDeclined) && l.ctx.Err() == nil {
			l.log.Warn("span: cannot link a room's parts", "room", k.room, "node", n.ID, "err", err)
		}
		if ln != nil {
			ln.ws.Close(websocket.StatusNormalClosure, "linked already")
		}
		return
	}
	// Installed in the same turn as the check: a link the other node
	// dialed meanwhile finds this one and yields, or replaces it.
	l.links[k] = ln
	l.mu.Unlock()
	l.run(k, ln, true)
}

// errDeclined: the other node has no part of the room any more, or keeps a
// link of its own.
var errDeclined = errors.New("declined")

func (l *Links) connect(k key, n Node) (*link, error) {
	u, err := url.Parse(strings.TrimSuffix(n.URL, "/") + Path)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	at := time.Now().Unix()
	q := url.Values{"room": {k.room}, "from": {l.o.Self}, "to": {n.ID}, "at": {strconv.FormatInt(at, 10)}}
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(l.ctx, dialWait)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient: l.o.Client,
		HTTPHeader: http.Header{"Authorization": {"Span " + l.mac(k.room, l.o.Self, n.ID, at)}},
	})
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusConflict || resp.StatusCode == http.StatusNotFound) {
			return nil, errDeclined
		}
		return nil, err
	}
	return newLink(l, ws, l.o.Self), nil
}

// ServeHTTP accepts a link from another node.
func (l *Links) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rm, from, to := q.Get("room"), q.Get("from"), q.Get("to")
	at, err := strconv.ParseInt(q.Get("at"), 10, 64)
	sent := strings.TrimPrefix(r.Header.Get("Authorization"), "Span ")
	skew := time.Since(time.Unix(at, 0))
	if err != nil || rm == "" || from == "" || to != l.o.Self || skew > clockSkew || skew < -clockSkew ||
		!hmac.Equal([]byte(sent), []byte(l.mac(rm, from, to, at))) {
		http.Error(w, "not a node of this cluster", http.StatusForbidden)
		return
	}
	k := key{rm, from}
	l.mu.Lock()
	old, exists := l.links[k]
	if exists && (old == nil || old.dialer == l.o.Self) && l.o.Self < from {
		// Both dialed at once: the link the lower id dialed stands.
		l.mu.Unlock()
		http.Error(w, "linked already", http.StatusConflict)
		return
	}
	l.mu.Unlock()
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ln := newLink(l, ws, from)
	l.mu.Lock()
	if l.ctx.Err() != nil {
		l.mu.Unlock()
		ws.Close(websocket.StatusGoingAway, "node stopping")
		return
	}
	if old := l.links[k]; old != nil {
		old.Close()
	}
	l.links[k] = ln
	l.wg.Add(1)
	l.mu.Unlock()
	defer l.wg.Done()
	l.run(k, ln, false)
}

// run attaches ln, installed in l.links, to the room and serves it until it
// ends.
func (l *Links) run(k key, ln *link, dialed bool) {
	defer func() {
		l.mu.Lock()
		if l.links[k] == ln {
			delete(l.links, k)
		}
		l.mu.Unlock()
	}()
	end, err := l.o.Rooms.AttachSpan(k.room, k.node, ln)
	if err != nil {
		ln.ws.Close(websocket.StatusNormalClosure, "no part of this room here")
		return
	}
	l.log.Debug("span: linked", "room", k.room, "node", k.node, "dialed", dialed)
	ln.serve(l.ctx, end)
}

// link is one WebSocket between two parts of a room.
type link struct {
	ws     *websocket.Conn
	dialer string
	out    chan room.SpanMessage
	done   chan struct{}
	once   sync.Once
	log    *slog.Logger
}

func newLink(l *Links, ws *websocket.Conn, dialer string) *link {
	ws.SetReadLimit(maxMessage)
	return &link{ws: ws, dialer: dialer, out: make(chan room.SpanMessage, sendQueue), done: make(chan struct{}), log: l.log}
}

// Send implements room.SpanLink.
func (ln *link) Send(m room.SpanMessage) {
	select {
	case ln.out <- m:
	case <-ln.done:
	default:
		ln.log.Warn("span: a link fell behind; it ends and is made again")
		ln.Close()
	}
}

// Close implements room.SpanLink.
func (ln *link) Close() { ln.once.Do(func() { close(ln.done) }) }

// serve reads into end and writes from the queue until either side ends.
func (ln *link) serve(parent context.Context, end *room.Span) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	defer end.Closed()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer cancel() // the read below ends too
		defer ln.Close()
		ln.write(ctx)
	}()
	go func() {
		defer wg.Done()
		// A peer that stopped answering takes nothing more: the link ends
		// at once, without the goodbye a Close would try to send.
		defer cancel()
		ln.ping(ctx)
	}()
	defer wg.Wait()
	defer ln.Close()
	for {
		typ, b, err := ln.ws.Read(ctx)
		if err != nil {
			ln.ws.Close(websocket.StatusNormalClosure, "")
			return
		}
		var m room.SpanMessage
		if typ != websocket.MessageText || json.Unmarshal(b, &m) != nil {
			ln.ws.Close(websocket.StatusUnsupportedData, "malformed span message")
			return
		}
		end.Receive(m)
	}
}

// write sends the queue until the link ends. A link closed on this side
// (Close) first sends what was queued before: a part that empties closes
// its links right after telling the others who left, and those last words
// must arrive, or the others would hold the seats of people who are gone.
func (ln *link) write(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-ln.out:
			if ln.send(ctx, m) != nil {
				return
			}
		case <-ln.done:
			// Bounded as a whole: a link that fell behind is closed with a
			// full queue, which a stuck peer would never take.
			ctx, cancel := context.WithTimeout(ctx, writeWait)
			defer cancel()
			for {
				select {
				case m := <-ln.out:
					if ln.send(ctx, m) != nil {
						return
					}
				default:
					ln.ws.Close(websocket.StatusNormalClosure, "")
					return
				}
			}
		}
	}
}

func (ln *link) send(ctx context.Context, m room.SpanMessage) error {
	b, err := json.Marshal(m)
	if err != nil {
		return nil // not this link's fault: the message is dropped
	}
	wctx, cancel := context.WithTimeout(ctx, writeWait)
	defer cancel()
	return ln.ws.Write(wctx, websocket.MessageText, b)
}

// ping ends the link when the other node stops answering: a node that was
// cut off, rather than killed, leaves no closed socket behind.
func (ln *link) ping(ctx context.Context) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, 2*pingEvery)
		err := ln.ws.Ping(pctx)
		cancel()
		if err != nil {
			return
		}
	}
}
