package span

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parleyhq/parley/room"
)

// serve runs node "node-b" with the cluster secret "right" behind an HTTP
// test server.
func serve(t *testing.T) (*Links, string) {
	t.Helper()
	b := New(Options{Self: "node-b", Rooms: room.NewManager(room.Config{}), Secret: DeriveSecret([]byte("right"))})
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	t.Cleanup(b.Close)
	return b, srv.URL
}

// TestLinksNeedTheClusterKey: only a node holding the cluster's signing key
// links to another, only to the node it names, only with a fresh MAC; a
// node with the key but no part of the room is declined.
func TestLinksNeedTheClusterKey(t *testing.T) {
	_, url := serve(t)
	dial := func(secret string, to string, at time.Time) (int, error) {
		a := New(Options{Self: "node-a", Rooms: room.NewManager(room.Config{}), Secret: DeriveSecret([]byte(secret))})
		defer a.Close()
		u := strings.Replace(url, "http", "ws", 1) + Path + "?room=summit&from=node-a&to=" + to + "&at=" + strconv.FormatInt(at.Unix(), 10)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{
			HTTPHeader: http.Header{"Authorization": {"Span " + a.mac("summit", "node-a", to, at.Unix())}},
		})
		if err != nil {
			if resp == nil {
				return 0, err
			}
			return resp.StatusCode, nil
		}
		defer ws.CloseNow()
		_, _, err = ws.Read(ctx)
		var ce websocket.CloseError
		if errors.As(err, &ce) && strings.Contains(ce.Reason, "no part") {
			return http.StatusNotFound, nil // accepted, then declined: no part here
		}
		return http.StatusSwitchingProtocols, err
	}
	now := time.Now()
	for name, c := range map[string]struct {
		secret, to string
		at         time.Time
		want       int
	}{
		"another key":      {"wrong", "node-b", now, http.StatusForbidden},
		"another node":     {"right", "node-c", now, http.StatusForbidden},
		"a stale MAC":      {"right", "node-b", now.Add(-time.Minute), http.StatusForbidden},
		"a MAC from ahead": {"right", "node-b", now.Add(time.Minute), http.StatusForbidden},
		"the key, no part": {"right", "node-b", now, http.StatusNotFound},
	} {
		got, err := dial(c.secret, c.to, c.at)
		if err != nil || got != c.want {
			t.Errorf("%s: status %d (%v), want %d", name, got, err, c.want)
		}
	}
}

// TestClosedLinkSendsWhatWasQueued: a part that empties tells the others
// who left and closes its links at once; what it queued before the close
// still arrives, in order, and then the link closes normally.
func TestClosedLinkSendsWhatWasQueued(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan []string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		var ids []string
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
					ids = append(ids, "ended: "+err.Error())
				}
				got <- ids
				return
			}
			var m room.SpanMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Error(err)
			}
			ids = append(ids, m.ID)
		}
	}))
	defer srv.Close()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ln := &link{ws: ws, out: make(chan room.SpanMessage, sendQueue), done: make(chan struct{}), log: slog.Default()}
	var want []string
	for i := range 50 {
		want = append(want, strconv.Itoa(i))
		ln.Send(room.SpanMessage{Kind: room.SpanLeft, ID: want[i], Reason: room.ReasonRemoved})
	}
	ln.Close()
	ln.write(ctx)
	select {
	case ids := <-got:
		if !slices.Equal(ids, want) {
			t.Errorf("the other end read %v, want %v then a normal close", ids, want)
		}
	case <-ctx.Done():
		t.Fatal("the other end never saw the link close")
	}
}
