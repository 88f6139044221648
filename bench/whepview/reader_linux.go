//go:build linux

package whepview

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reader reads the sockets of many viewers on one goroutine: epoll says which
// sockets hold packets and one recvmmsg takes up to a batch from each. A
// goroutine per socket would cost a wake-up, a read and a failed read per
// packet, which made the tool cost as much CPU per packet as the server.
type Reader struct {
	epfd, wake int
	mu         sync.RWMutex
	viewers    map[int]*Viewer
	done       chan struct{}
	closeOnce  sync.Once
}

// batch is how many datagrams one recvmmsg may take.
const batch = 32

// pause is how long the reader lets packets gather after a round. Woken for
// every packet, it spent most of its CPU going to sleep and waking up; a
// round every millisecond takes the frames' packets a few at a time. The
// kernel stamps each packet's arrival (SO_TIMESTAMPNS), so latency is
// measured to the packet's arrival, not to when it was read.
const pause = time.Millisecond

// controlBytes holds one SCM_TIMESTAMPNS message (a cmsghdr and a timespec).
const controlBytes = 64

// mmsghdr is struct mmsghdr (recvmmsg(2)), which x/sys/unix does not define.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// NewReader starts a reader; Close stops it.
func NewReader() (*Reader, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	r := &Reader{epfd: epfd, wake: wake, viewers: map[int]*Viewer{}, done: make(chan struct{})}
	go r.loop()
	return r, nil
}

// Close stops the reader and waits for its goroutine.
func (r *Reader) Close() {
	r.closeOnce.Do(func() {
		var one [8]byte
		one[0] = 1
		_, _ = unix.Write(r.wake, one[:])
		<-r.done
		unix.Close(r.wake)
		unix.Close(r.epfd)
	})
}

// socket opens a non-blocking UDP socket on 127.0.0.1 that this reader
// reads for v; the Go runtime's poller never sees it.
func (r *Reader) socket(v *Viewer, rcvbuf int) (fd, port int, err error) {
	fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, err
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	r.mu.Lock()
	r.viewers[fd] = v
	r.mu.Unlock()
	if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
		r.release(fd)
		return -1, 0, err
	}
	return fd, sa.(*unix.SockaddrInet4).Port, nil
}

// pause stops reading fd until resume.
func (r *Reader) pause(fd int) { _ = unix.EpollCtl(r.epfd, unix.EPOLL_CTL_DEL, fd, nil) }

func (r *Reader) resume(fd int) {
	_ = unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
}

// release stops reading fd and closes it.
func (r *Reader) release(fd int) {
	_ = unix.EpollCtl(r.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	r.mu.Lock()
	delete(r.viewers, fd)
	r.mu.Unlock()
	unix.Close(fd)
}

func (r *Reader) loop() {
	defer close(r.done)
	events := make([]unix.EpollEvent, 256)
	bufs := make([][]byte, batch)
	iovs := make([]unix.Iovec, batch)
	msgs := make([]mmsghdr, batch)
	control := make([]byte, batch*controlBytes)
	for i := range msgs {
		bufs[i] = make([]byte, 1600)
		iovs[i].Base = &bufs[i][0]
		iovs[i].SetLen(len(bufs[i]))
		msgs[i].hdr.Iov = &iovs[i]
		msgs[i].hdr.SetIovlen(1)
		msgs[i].hdr.Control = &control[i*controlBytes]
	}
	for {
		n, err := unix.EpollWait(r.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			if fd == r.wake {
				return
			}
			// Held while the socket is read, so release (which closes it)
			// waits, and a number the kernel hands out again is never read
			// for the viewer that had it before.
			r.mu.RLock()
			v := r.viewers[fd]
			for v != nil {
				for i := range msgs {
					msgs[i].hdr.SetControllen(controlBytes)
				}
				got, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), batch, unix.MSG_DONTWAIT, 0, 0)
				if errno != 0 || got == 0 {
					break
				}
				now := time.Now().UnixNano()
				for i := range int(got) {
					at := stamp(control[i*controlBytes:i*controlBytes+int(msgs[i].hdr.Controllen)], now)
					v.handle(bufs[i][:msgs[i].n], at)
				}
				if got < batch {
					break
				}
			}
			r.mu.RUnlock()
		}
		time.Sleep(pause)
	}
}

// stamp reads the kernel's arrival time (Unix ns) from a packet's control
// messages, or returns now.
func stamp(control []byte, now int64) int64 {
	const hdr = unix.SizeofCmsghdr
	for len(control) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&control[0]))
		n := int(h.Len)
		if n < hdr || n > len(control) {
			break
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPNS && n >= hdr+16 {
			ts := (*unix.Timespec)(unsafe.Pointer(&control[hdr]))
			return ts.Nano()
		}
		control = control[min(cmsgAlign(n), len(control)):]
	}
	return now
}

func cmsgAlign(n int) int { return (n + 7) &^ 7 }

type sockaddr = *unix.SockaddrInet4

func toSockaddr(a *net.UDPAddr) sockaddr {
	sa := &unix.SockaddrInet4{Port: a.Port}
	copy(sa.Addr[:], a.IP.To4())
	return sa
}

// send writes one datagram to the server from fd. Sendto writes into the
// address it is given, and a viewer sends from three goroutines (checks,
// DTLS, reports): each send has a copy.
func send(fd int, to sockaddr, b []byte) error {
	sa := *to
	return unix.Sendto(fd, b, 0, &sa)
}
