package gateway

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits bound what one client may do; zero values mean no limit.
type Limits struct {
	// JoinsPerMinute caps signaling connections per client IP per minute.
	JoinsPerMinute int
	// MessagesPerSecond is the sustained signaling message rate per
	// connection; bursts of four seconds' worth pass.
	MessagesPerSecond int
	// RequestTimeout is how long a client has to send a request's body; the
	// response must be taken within twice that. WebSocket sessions are exempt.
	RequestTimeout time.Duration
}

// joinLimiter counts connections per IP in fixed one-minute windows.
type joinLimiter struct {
	perMinute int
	mu        sync.Mutex
	windows   map[string]*joinWindow
	swept     time.Time
}

type joinWindow struct {
	start time.Time
	n     int
}

func newJoinLimiter(perMinute int) *joinLimiter {
	return &joinLimiter{perMinute: perMinute, windows: map[string]*joinWindow{}}
}

// allow records a connection attempt from r's address and reports whether it may proceed.
func (l *joinLimiter) allow(r *http.Request, now time.Time) bool {
	if l.perMinute <= 0 {
		return true
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute { // forget idle addresses so the map stays small
		for k, w := range l.windows {
			if now.Sub(w.start) > time.Minute {
				delete(l.windows, k)
			}
		}
		l.swept = now
	}
	w := l.windows[ip]
	if w == nil || now.Sub(w.start) > time.Minute {
		w = &joinWindow{start: now}
		l.windows[ip] = w
	}
	w.n++
	return w.n <= l.perMinute
}

// bucket is a token bucket for one connection's messages; its reader is its
// only user, so it needs no lock.
type bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func newBucket(perSecond int, now time.Time) *bucket {
	if perSecond <= 0 {
		return nil
	}
	b := &bucket{rate: float64(perSecond), burst: 4 * float64(perSecond), last: now}
	b.tokens = b.burst
	return b
}

// take reports whether a message may pass now.
func (b *bucket) take(now time.Time) bool {
	if b == nil {
		return true
	}
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
