package room

import "sync"

// mailbox is an unbounded FIFO of functions run by one goroutine. Posting never
// blocks, so media callbacks and socket readers can hand work to a room without
// ever waiting on it (and the room can wait on them without deadlock).
type mailbox struct {
	mu     sync.Mutex
	queue  []func()
	wake   chan struct{}
	closed bool
}

func newMailbox() *mailbox { return &mailbox{wake: make(chan struct{}, 1)} }

// post queues fn; it reports false once the mailbox is closed.
func (m *mailbox) post(fn func()) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false
	}
	m.queue = append(m.queue, fn)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return true
}

// take returns the queued functions, or nil when there are none.
func (m *mailbox) take() []func() {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.queue
	m.queue = nil
	return q
}

// close stops accepting work and returns what was still queued.
func (m *mailbox) close() []func() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	q := m.queue
	m.queue = nil
	return q
}
