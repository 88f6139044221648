package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	HeaderEvent     = "X-Parley-Event"
	HeaderDelivery  = "X-Parley-Delivery"
	HeaderTimestamp = "X-Parley-Timestamp"
	HeaderSignature = "X-Parley-Signature"
)

// signaturePrefix names the MAC, so another can be introduced beside it.
const signaturePrefix = "sha256="

// Sign returns the X-Parley-Signature value for body sent at timestamp (unix
// seconds). The timestamp is inside the MAC, so a captured body replayed
// with a fresh timestamp does not verify.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// Verification failures.
var (
	ErrNoSignature  = errors.New("webhook: the request has no X-Parley-Signature or X-Parley-Timestamp")
	ErrBadSignature = errors.New("webhook: the signature does not match the body and timestamp")
	ErrStale        = errors.New("webhook: the timestamp is outside the accepted window (replayed or clock skew)")
)

// Verify checks a delivery's signature as a receiver should: the MAC over
// "<timestamp>.<body>" with secret, and a timestamp within tolerance of now
// (0 skips the time check). Receivers written in Go can call it directly.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	sig, tsText := h.Get(HeaderSignature), h.Get(HeaderTimestamp)
	if sig == "" || tsText == "" {
		return ErrNoSignature
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook: %s %q is not unix seconds", HeaderTimestamp, tsText)
	}
	if !strings.HasPrefix(sig, signaturePrefix) {
		return fmt.Errorf("webhook: %s must start with %q", HeaderSignature, signaturePrefix)
	}
	// Compare MACs in constant time: the hex is decoded so a malformed value
	// cannot compare equal by accident.
	got, err := hex.DecodeString(strings.TrimPrefix(sig, signaturePrefix))
	if err != nil {
		return ErrBadSignature
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(Sign(secret, ts, body), signaturePrefix))
	if !hmac.Equal(got, want) {
		return ErrBadSignature
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
			return ErrStale
		}
	}
	return nil
}
