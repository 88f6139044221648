package gateway

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// LimitConns caps the connections open at once from one client address (an
// IPv6 client is counted by its /64, which one host usually owns whole). A
// connection over the cap is closed as soon as it is accepted, before it
// costs a goroutine or a TLS handshake: wrap the plain TCP listener, under
// any TLS. perAddr <= 0 returns ln as it is.
func LimitConns(ln net.Listener, perAddr int, log *slog.Logger) net.Listener {
	if perAddr <= 0 {
		return ln
	}
	return &connLimiter{Listener: ln, max: perAddr, log: log, open: map[string]int{}}
}

type connLimiter struct {
	net.Listener
	max    int
	log    *slog.Logger
	mu     sync.Mutex
	open   map[string]int
	warned time.Time
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := addrKey(c.RemoteAddr())
		l.mu.Lock()
		if l.open[key] < l.max {
			l.open[key]++
			l.mu.Unlock()
			return &limitedConn{Conn: c, l: l, key: key}, nil
		}
		// Once a minute at most: a client hammering the cap must not flood the log.
		warn := time.Since(l.warned) > time.Minute
		if warn {
			l.warned = time.Now()
		}
		l.mu.Unlock()
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset: no TIME_WAIT left behind for a client we refuse
		}
		_ = c.Close()
		if warn {
			l.log.Warn("connections over the per-address cap are closed", "addr", key, "max_conns_per_ip", l.max)
		}
	}
}

func (l *connLimiter) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// limitedConn gives its place back when closed, by whoever closes it: the
// HTTP server, or the WebSocket that hijacked it.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	key  string
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.release(c.key) })
	return c.Conn.Close()
}

// addrKey is the address a connection counts against.
func addrKey(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		host, _, err := net.SplitHostPort(a.String())
		if err != nil {
			return a.String()
		}
		return host
	}
	if v4 := ta.IP.To4(); v4 != nil {
		return v4.String()
	}
	return ta.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
