// Package auth mints and verifies Parley access tokens: compact JWTs signed with
// Ed25519 ("EdDSA"), bound to one room and one identity, carrying grants.
//
// JWT is small enough to implement on the standard library: accepting exactly one
// algorithm and one key type removes the "alg confusion" class of bugs that general
// JWT libraries must defend against.
package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Grant is one permission a token carries.
type Grant string

// The grants Parley knows.
const (
	GrantJoin      Grant = "join"
	GrantPublish   Grant = "publish"
	GrantSubscribe Grant = "subscribe"
	GrantModerate  Grant = "moderate"
	GrantInterpret Grant = "interpret"
	GrantRecord    Grant = "record"
	// GrantReadout lets a participant publish a signed readout of a record
	// of their room: an account of the meeting whose claims cite it.
	GrantReadout Grant = "readout"
	// GrantAdmin is for the operator's admin API. It is not in AllGrants:
	// an admin token carries it alone, with Room AdminRoom, and joins no room.
	GrantAdmin Grant = "admin"
)

// AdminRoom is the Room claim of admin tokens: every room, and no room to join.
const AdminRoom = "*"

// AllGrants lists every grant of room tokens in a stable order.
var AllGrants = []Grant{GrantJoin, GrantPublish, GrantSubscribe, GrantModerate, GrantInterpret, GrantRecord, GrantReadout}

// ParseGrants turns "join,publish" into grants, rejecting unknown names.
func ParseGrants(s string) ([]Grant, error) {
	var out []Grant
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		g := Grant(f)
		if !slices.Contains(AllGrants, g) {
			return nil, fmt.Errorf("unknown grant %q (known: join, publish, subscribe, moderate, interpret, record, readout)", f)
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out, nil
}

// Claims is the payload of a Parley token.
type Claims struct {
	Issuer  string  `json:"iss"`
	Subject string  `json:"sub"` // the participant's identity
	Room    string  `json:"room"`
	Name    string  `json:"name,omitempty"`
	Grants  []Grant `json:"grants"`
	Invite  bool    `json:"invite,omitempty"` // one token for many guests, each with a fresh identity
	// Languages a moderator's token declares for the room (e.g. "en", "ru").
	Languages []string `json:"languages,omitempty"`
	// Interpret lists the directions an interpreter may work in, "from>to".
	Interpret []string `json:"interpret,omitempty"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf,omitempty"`
	ExpiresAt int64    `json:"exp"`
	ID        string   `json:"jti,omitempty"`
}

// Has reports whether the claims carry grant g.
func (c *Claims) Has(g Grant) bool { return slices.Contains(c.Grants, g) }

// Issuer is the "iss" claim of every Parley token.
const Issuer = "parley"

// Verification errors. Each maps to a stable signaling error code.
var (
	ErrMissing   = errors.New("no access token was given")
	ErrMalformed = errors.New("the access token is malformed")
	ErrSignature = errors.New("the access token's signature does not verify")
	ErrExpired   = errors.New("the access token has expired")
	ErrNotYet    = errors.New("the access token is not valid yet")
	ErrWrongRoom = errors.New("the access token is for another room")
	ErrNoJoin    = errors.New("the access token does not grant join")
	ErrAdminJoin = errors.New("an admin token cannot join a room")
	ErrNotAdmin  = errors.New("the access token is not an admin token")
)

// maxTokenBytes bounds the work an attacker can make the verifier do.
const maxTokenBytes = 8 << 10

// clockSkew tolerates small clock differences between the minting host and the server.
const clockSkew = 30 * time.Second

// b64 is strict: a token has exactly one spelling, so it can serve as a key.
var b64 = base64.RawURLEncoding.Strict()

// header is fixed: Parley tokens are EdDSA JWTs and nothing else.
var header = b64.EncodeToString([]byte(`{"alg":"EdDSA","typ":"JWT"}`))

// Signer mints tokens with the server's private key.
type Signer struct{ key ed25519.PrivateKey }

// NewSigner returns a Signer for key.
func NewSigner(key ed25519.PrivateKey) *Signer { return &Signer{key: key} }

// Mint signs c. It fills in the issuer and fails on claims no server would accept.
func (s *Signer) Mint(c Claims) (string, error) {
	if c.Subject == "" || c.Room == "" {
		return "", errors.New("a token needs an identity and a room")
	}
	if err := ValidIdentity(c.Subject); err != nil {
		return "", err
	}
	if err := c.validRoom(); err != nil {
		return "", err
	}
	if c.ExpiresAt == 0 {
		return "", errors.New("a token needs an expiry")
	}
	if err := c.validLanguages(); err != nil {
		return "", err
	}
	c.Issuer = Issuer
	if c.ID == "" {
		// A token id lets a room revoke this token without knowing it.
		var id [12]byte
		if _, err := rand.Read(id[:]); err != nil {
			return "", err
		}
		c.ID = b64.EncodeToString(id[:])
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signingInput := header + "." + b64.EncodeToString(payload)
	sig := ed25519.Sign(s.key, []byte(signingInput))
	return signingInput + "." + b64.EncodeToString(sig), nil
}

// Verifier checks tokens against the server's public key.
type Verifier struct {
	key ed25519.PublicKey
	now func() time.Time
}

// NewVerifier returns a Verifier for key using the wall clock.
func NewVerifier(key ed25519.PublicKey) *Verifier {
	return &Verifier{key: key, now: time.Now}
}

// WithClock returns a copy of v that reads time from now (for tests).
func (v *Verifier) WithClock(now func() time.Time) *Verifier {
	return &Verifier{key: v.key, now: now}
}

// Verify parses token, checks its signature and lifetime, and that it admits
// room. It returns one of the Err* values (wrapped) on failure.
func (v *Verifier) Verify(token, room string) (*Claims, error) {
	c, err := v.parse(token)
	if err != nil {
		return nil, err
	}
	if c.Room == AdminRoom || c.Has(GrantAdmin) {
		return nil, ErrAdminJoin
	}
	if c.Room != room {
		return nil, ErrWrongRoom
	}
	if !c.Has(GrantJoin) {
		return nil, ErrNoJoin
	}
	return c, nil
}

// VerifyAdmin parses token and checks it is a valid admin token. A valid room
// token gets ErrNotAdmin, so callers can answer "forbidden" rather than
// "unauthenticated".
func (v *Verifier) VerifyAdmin(token string) (*Claims, error) {
	c, err := v.parse(token)
	if err != nil {
		return nil, err
	}
	if c.Room != AdminRoom || !c.Has(GrantAdmin) {
		return nil, ErrNotAdmin
	}
	return c, nil
}

// validRoom checks the room claim: a plain room name, or AdminRoom for a
// token that carries the admin grant and nothing else (so no token is both).
func (c *Claims) validRoom() error {
	admin := c.Has(GrantAdmin)
	if c.Room == AdminRoom || admin {
		if c.Room != AdminRoom || !admin || len(c.Grants) != 1 || c.Invite {
			return errors.New("an admin token has room \"*\", the admin grant alone and no invite")
		}
		return nil
	}
	return ValidRoom(c.Room)
}

func (v *Verifier) parse(token string) (*Claims, error) {
	if token == "" {
		return nil, ErrMissing
	}
	if strings.ContainsAny(token, "\r\n") {
		return nil, fmt.Errorf("%w: contains line breaks", ErrMalformed)
	}
	if len(token) > maxTokenBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxTokenBytes)
	}
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return nil, ErrMalformed
	}
	p, s, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(s, ".") {
		return nil, ErrMalformed
	}
	hdr, err := b64.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	var hv struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	if err := json.Unmarshal(hdr, &hv); err != nil {
		return nil, fmt.Errorf("%w: header is not JSON", ErrMalformed)
	}
	if hv.Alg != "EdDSA" {
		return nil, fmt.Errorf("%w: algorithm %q is not accepted", ErrMalformed, hv.Alg)
	}
	sig, err := b64.DecodeString(s)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, ErrSignature
	}
	if !ed25519.Verify(v.key, []byte(token[:len(h)+1+len(p)]), sig) {
		return nil, ErrSignature
	}
	payload, err := b64.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	var c Claims
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: payload is not valid claims", ErrMalformed)
	}
	if c.Issuer != Issuer {
		return nil, fmt.Errorf("%w: issuer %q", ErrMalformed, c.Issuer)
	}
	if ValidIdentity(c.Subject) != nil || c.validRoom() != nil {
		return nil, fmt.Errorf("%w: bad identity or room", ErrMalformed)
	}
	if err := c.validLanguages(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	now := v.now()
	if c.ExpiresAt == 0 || now.After(time.Unix(c.ExpiresAt, 0).Add(clockSkew)) {
		return nil, ErrExpired
	}
	if c.NotBefore != 0 && now.Add(clockSkew).Before(time.Unix(c.NotBefore, 0)) {
		return nil, ErrNotYet
	}
	return &c, nil
}

// ValidRoom checks a room name: 1–64 characters of letters, digits, '-', '_' and '.'.
// Room names appear in URLs and folder names, so they stay plain.
func ValidRoom(s string) error {
	if !plainName(s, 64) {
		return fmt.Errorf("room name %q must be 1-64 characters of a-z, A-Z, 0-9, '-', '_' or '.'", s)
	}
	return nil
}

// ValidIdentity checks an identity with the same alphabet as rooms, up to 128 characters.
func ValidIdentity(s string) error {
	if !plainName(s, 128) {
		return fmt.Errorf("identity %q must be 1-128 characters of a-z, A-Z, 0-9, '-', '_' or '.'", s)
	}
	return nil
}

func plainName(s string, max int) bool {
	if s == "" || len(s) > max || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// MaxLanguages bounds the language channels of one room.
const MaxLanguages = 16

func (c *Claims) validLanguages() error {
	if len(c.Languages) > MaxLanguages || len(c.Interpret) > 2*MaxLanguages {
		return errors.New("too many languages")
	}
	for _, l := range c.Languages {
		if err := ValidLanguage(l); err != nil {
			return err
		}
	}
	for _, pair := range c.Interpret {
		if _, _, err := ParseDirection(pair); err != nil {
			return err
		}
	}
	return nil
}

// InterpretTargets lists the languages an interpreter may speak into.
func (c *Claims) InterpretTargets() []string {
	var out []string
	for _, pair := range c.Interpret {
		if _, to, err := ParseDirection(pair); err == nil && !slices.Contains(out, to) {
			out = append(out, to)
		}
	}
	return out
}

// ParseDirection splits an interpretation direction "ru>en" into its languages.
func ParseDirection(s string) (from, to string, err error) {
	from, to, ok := strings.Cut(s, ">")
	if !ok {
		return "", "", fmt.Errorf("interpretation direction %q is not of the form from>to (e.g. ru>en)", s)
	}
	if err := ValidLanguage(from); err != nil {
		return "", "", err
	}
	if err := ValidLanguage(to); err != nil {
		return "", "", err
	}
	if from == to {
		return "", "", fmt.Errorf("interpretation direction %q goes nowhere", s)
	}
	return from, to, nil
}

// ValidLanguage checks a language tag: 2-3 lowercase letters, optionally "-" and
// a region or script of 2-8 letters or digits ("en", "pt-BR", "zh-Hant").
// "floor" is reserved for the original sound.
func ValidLanguage(s string) error {
	base, sub, hasSub := strings.Cut(s, "-")
	ok := len(base) >= 2 && len(base) <= 3 && s != "floor"
	for _, r := range base {
		ok = ok && r >= 'a' && r <= 'z'
	}
	if hasSub {
		ok = ok && len(sub) >= 2 && len(sub) <= 8
		for _, r := range sub {
			ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}
	}
	if !ok {
		return fmt.Errorf("language %q is not a language tag such as en, ru or pt-BR", s)
	}
	return nil
}

// PublicKey is the key that verifies what s signs.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }
