package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// A request about one room that another node of the cluster hosts is
// answered by that node: this one passes it on, with the caller's token
// (every node of a cluster shares the signing key, so the token is as good
// there), and returns that node's answer as it is. An operator may ask any
// node about any room.

// ForwardedHeader marks a request one node passed to another: it is never
// passed on again, so two nodes that disagree about where a room is cannot
// pass a request back and forth.
const ForwardedHeader = "Parley-Forwarded-By"

// forwardTimeout bounds the other node's answer.
const forwardTimeout = 10 * time.Second

var forwardClient = &http.Client{
	Timeout: forwardTimeout,
	// A node answers; it never redirects an API request.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// forwardable reports whether r may be passed on, and keeps its body for it.
func (a *API) forwardable(w http.ResponseWriter, r *http.Request) (body []byte, ok bool, err error) {
	if a.cluster == nil || r.PathValue("room") == "" || r.Header.Get(ForwardedHeader) != "" {
		return nil, false, nil
	}
	if r.Body != nil {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return nil, false, &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
				Message: fmt.Sprintf("request bodies are limited to %d bytes", MaxBodyBytes)}
		case err != nil:
			return nil, false, badRequest("the request body could not be read: %v", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	return body, true, nil
}

// hostOf is the base URL of the other node that hosts name, or "".
func (a *API) hostOf(name string) string {
	for _, r := range a.cluster.Rooms() {
		if r.Name == name && r.Node != a.cluster.Node() {
			return r.URL
		}
	}
	return ""
}

// forward passes r, whose body is body, to the node at base and copies its
// answer back.
func (a *API) forward(w http.ResponseWriter, r *http.Request, base string, body []byte) error {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, strings.TrimRight(base, "/")+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	for _, h := range []string{"Authorization", "Content-Type", "Accept"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	req.Header.Set(ForwardedHeader, a.cluster.Node())
	resp, err := forwardClient.Do(req)
	if err != nil {
		return &Error{Status: http.StatusBadGateway, Code: "node_unreachable",
			Message: fmt.Sprintf("the node hosting this room (%s) did not answer: %v", base, err)}
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Allow", "Retry-After", "WWW-Authenticate"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body) // the status is sent: a cut copy can only end the answer
	return nil
}
