//go:build !linux

package whepview

import (
	"errors"
	"net"
)

// Reader needs Linux's epoll and recvmmsg; elsewhere there is none.
type Reader struct{}

// NewReader fails: the light viewers run on Linux only.
func NewReader() (*Reader, error) {
	return nil, errors.New("whepview: the light WHEP viewers need Linux (epoll, recvmmsg)")
}

// Close does nothing.
func (r *Reader) Close() {}

func (r *Reader) socket(*Viewer, int) (int, int, error) {
	return -1, 0, errors.New("whepview: not on Linux")
}
func (r *Reader) release(int) {}
func (r *Reader) pause(int)   {}
func (r *Reader) resume(int)  {}

type sockaddr = struct{}

func toSockaddr(*net.UDPAddr) sockaddr { return sockaddr{} }

func send(int, sockaddr, []byte) error { return errors.New("whepview: not on Linux") }
