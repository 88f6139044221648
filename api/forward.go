package api

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// A request about one room that another node of the cluster hosts is
// answered by that node: this one passes it on and returns that node's
// answer as it is. An operator may ask any node about any room.
//
// The caller's token is not passed on: whoever can write to the cluster's
// Redis could register a node's URL as their own and collect admin tokens.
// The passed-on request is signed instead, with a key every node derives
// from the signing key they share, over what it asks (method, path, body),
// whom it is for (the node the directory names) and when: a stranger at that
// URL learns nothing it could use, and can only replay, for a few seconds,
// to that node, the very request the operator made of it.

// Headers of a passed-on request.
const (
	ForwardedHeader = "Parley-Forwarded-By" // the node that passed it on; it is never passed on again
	forwardTo       = "Parley-Forward-To"
	forwardAt       = "Parley-Forward-At"
	forwardMAC      = "Parley-Forward-Mac"
	forwardAdmin    = "Parley-Forward-Admin" // the operator, for the log
)

const (
	forwardTimeout = 10 * time.Second // bounds the other node's answer
	forwardSkew    = 30 * time.Second // how old, or early, a passed-on request may be
)

var forwardClient = &http.Client{
	Timeout: forwardTimeout,
	// A node answers; it never redirects an API request.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// ForwardSecret derives the key that signs requests passed between nodes.
func ForwardSecret(signingKey []byte) []byte {
	m := hmac.New(sha256.New, signingKey)
	m.Write([]byte("parley admin forwarding v1"))
	return m.Sum(nil)
}

func (a *API) forwardMAC(method, uri, from, to, admin string, at int64, body []byte) string {
	sum := sha256.Sum256(body)
	m := hmac.New(sha256.New, a.forwardSecret)
	fmt.Fprintf(m, "%s\n%s\n%s\n%s\n%s\n%d\n%x", method, uri, from, to, admin, at, sum)
	return hex.EncodeToString(m.Sum(nil))
}

// forwardable reports whether r may be passed on, and keeps its body for it.
func (a *API) forwardable(w http.ResponseWriter, r *http.Request) (body []byte, ok bool, err error) {
	if a.cluster == nil || a.forwardSecret == nil || r.PathValue("room") == "" || r.Header.Get(ForwardedHeader) != "" {
		return nil, false, nil
	}
	body, err = readBody(w, r)
	return body, err == nil, err
}

// readBody reads r's body, at most MaxBodyBytes, and leaves it readable.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
			Message: fmt.Sprintf("request bodies are limited to %d bytes", MaxBodyBytes)}
	case err != nil:
		return nil, badRequest("the request body could not be read: %v", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// hostOf is the other node that hosts name, and its base URL; "" for none.
func (a *API) hostOf(name string) (node, url string) {
	for _, r := range a.cluster.Rooms() {
		if r.Name == name && r.Node != a.cluster.Node() {
			return r.Node, r.URL
		}
	}
	return "", ""
}

// forward passes r, whose body is body, from admin to node at base, and
// copies its answer back.
func (a *API) forward(w http.ResponseWriter, r *http.Request, node, base, admin string, body []byte) error {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, strings.TrimRight(base, "/")+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	for _, h := range []string{"Content-Type", "Accept"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	from, at := a.cluster.Node(), time.Now().Unix()
	req.Header.Set(ForwardedHeader, from)
	req.Header.Set(forwardTo, node)
	req.Header.Set(forwardAt, strconv.FormatInt(at, 10))
	req.Header.Set(forwardAdmin, admin)
	req.Header.Set(forwardMAC, a.forwardMAC(r.Method, r.URL.RequestURI(), from, node, admin, at, body))
	resp, err := forwardClient.Do(req)
	if err != nil {
		return &Error{Status: http.StatusBadGateway, Code: "node_unreachable",
			Message: fmt.Sprintf("the node hosting this room (%s) did not answer: %v", base, err)}
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Allow", "Retry-After"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body) // the status is sent: a cut copy can only end the answer
	return nil
}

// forwardedBy checks a request another node passed on: signed with the
// cluster's key, for this node, recent. It answers the operator, as the
// passing node named them for the log.
func (a *API) forwardedBy(w http.ResponseWriter, r *http.Request) (admin string, err error) {
	refuse := &Error{Status: http.StatusUnauthorized, Code: "unauthorized",
		Message: "a request passed on by another node must be signed with the cluster's key, for this node, and recent"}
	if a.cluster == nil || a.forwardSecret == nil || r.Header.Get(forwardTo) != a.cluster.Node() {
		return "", refuse
	}
	at, err := strconv.ParseInt(r.Header.Get(forwardAt), 10, 64)
	if err != nil || time.Since(time.Unix(at, 0)).Abs() > forwardSkew {
		return "", refuse
	}
	body, err := readBody(w, r)
	if err != nil {
		return "", err
	}
	from, admin := r.Header.Get(ForwardedHeader), r.Header.Get(forwardAdmin)
	want := a.forwardMAC(r.Method, r.URL.RequestURI(), from, a.cluster.Node(), admin, at, body)
	if !hmac.Equal([]byte(want), []byte(r.Header.Get(forwardMAC))) {
		return "", refuse
	}
	return admin + " (through " + from + ")", nil
}
