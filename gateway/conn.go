package gateway

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// outQueue is how many messages may wait for a slow client before it is dropped.
const outQueue = 512

// conn is one client's WebSocket, seen by the room as its Client (wire.go):
// every event is queued and never blocks; a single writer goroutine owns all
// writes.
type conn struct {
	ws     *websocket.Conn
	nodes  func() []string // the other live nodes, for the welcome; nil alone
	out    chan any
	mu     sync.Mutex
	closed bool // no more Sends are queued
	// publishing: a Publish is under way, its "pub" candidates are held
	// until its answer is queued.
	publishing bool
	held       []any
	drain      chan struct{} // closed by Close: flush the queue, then close the socket
	code       websocket.StatusCode
	reason     string
	cancel     context.CancelFunc
	done       chan struct{} // closed when the writer has finished
}

func newConn(ws *websocket.Conn, cancel context.CancelFunc) *conn {
	return &conn{ws: ws, out: make(chan any, outQueue), drain: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
}

// Send queues msg for the client.
func (c *conn) Send(msg any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sendLocked(msg)
}

func (c *conn) sendLocked(msg any) {
	if c.closed {
		return
	}
	select {
	case c.out <- msg:
	default:
		// The client cannot keep up; end it rather than hold up the room.
		c.closed = true
		c.cancel()
	}
}

// closeWith is Close with a WebSocket close code and reason.
func (c *conn) closeWith(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.code, c.reason = code, reason
		close(c.drain)
	}
}

func (c *conn) write(ctx context.Context, msg any) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// writeLoop owns all writes; it ends when the connection's context ends or
// when Close was called and the queue is empty.
func (c *conn) writeLoop(ctx context.Context) {
	defer close(c.done)
	for {
		select {
		case msg := <-c.out:
			if err := c.writeTimed(ctx, msg); err != nil {
				c.cancel()
				return
			}
		case <-c.drain:
			for {
				select {
				case msg := <-c.out:
					if c.writeTimed(ctx, msg) != nil {
						return
					}
				default:
					_ = c.ws.Close(c.code, c.reason)
					return
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

func (c *conn) writeTimed(ctx context.Context, msg any) error {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.write(wctx, msg)
}
