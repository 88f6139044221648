package auth_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
)

func adminClaims() auth.Claims {
	return auth.Claims{
		Subject: "operator", Room: auth.AdminRoom, Grants: []auth.Grant{auth.GrantAdmin},
		IssuedAt: t0.Unix(), ExpiresAt: t0.Add(time.Hour).Unix(),
	}
}

func TestAdminTokenVerifiesAsAdminOnly(t *testing.T) {
	k := newKeys(t)
	tok := mint(t, k.signer, adminClaims())
	c, err := k.verifier.VerifyAdmin(tok)
	if err != nil {
		t.Fatalf("VerifyAdmin: %v", err)
	}
	if c.Subject != "operator" || !c.Has(auth.GrantAdmin) {
		t.Fatalf("claims %+v", c)
	}
	// An admin token joins no room, whatever room the join names.
	for _, room := range []string{"summit", auth.AdminRoom, ""} {
		if _, err := k.verifier.Verify(tok, room); !errors.Is(err, auth.ErrAdminJoin) {
			t.Errorf("Verify(admin token, %q) = %v, want ErrAdminJoin", room, err)
		}
	}
}

func TestRoomTokenIsNotAdmin(t *testing.T) {
	k := newKeys(t)
	c := fullClaims()
	c.Invite = false
	if _, err := k.verifier.VerifyAdmin(mint(t, k.signer, c)); !errors.Is(err, auth.ErrNotAdmin) {
		t.Fatalf("VerifyAdmin(room token) = %v, want ErrNotAdmin", err)
	}
	// A bad token is a verification failure, not "not admin": callers answer 401, not 403.
	other := newKeys(t)
	if _, err := k.verifier.VerifyAdmin(mint(t, other.signer, adminClaims())); !errors.Is(err, auth.ErrSignature) {
		t.Fatalf("VerifyAdmin(foreign key) = %v, want ErrSignature", err)
	}
	exp := adminClaims()
	exp.ExpiresAt = t0.Add(-time.Hour).Unix()
	if _, err := k.verifier.VerifyAdmin(mint(t, k.signer, exp)); !errors.Is(err, auth.ErrExpired) {
		t.Fatalf("VerifyAdmin(expired) = %v, want ErrExpired", err)
	}
}

func TestMintKeepsAdminAndRoomTokensApart(t *testing.T) {
	k := newKeys(t)
	cases := map[string]func(c *auth.Claims){
		"admin grant on a room":   func(c *auth.Claims) { c.Room = "summit" },
		"admin grant with join":   func(c *auth.Claims) { c.Grants = append(c.Grants, auth.GrantJoin) },
		"room * without admin":    func(c *auth.Claims) { c.Grants = []auth.Grant{auth.GrantJoin} },
		"admin invite":            func(c *auth.Claims) { c.Invite = true },
		"room * with no grants":   func(c *auth.Claims) { c.Grants = nil },
		"admin plus publish":      func(c *auth.Claims) { c.Grants = []auth.Grant{auth.GrantPublish, auth.GrantAdmin} },
		"admin twice is not only": func(c *auth.Claims) { c.Grants = []auth.Grant{auth.GrantAdmin, auth.GrantAdmin} },
	}
	for name, change := range cases {
		c := adminClaims()
		change(&c)
		if _, err := k.signer.Mint(c); err == nil {
			t.Errorf("%s: Mint accepted %+v", name, c)
		}
		// Signed by hand with the real key, the verifier refuses it too.
		tok := signRaw(k.priv, edHeader, payloadOf(t, c))
		if _, err := k.verifier.VerifyAdmin(tok); err == nil {
			t.Errorf("%s: VerifyAdmin accepted a hand-signed token", name)
		}
		if _, err := k.verifier.Verify(tok, c.Room); err == nil {
			t.Errorf("%s: Verify accepted a hand-signed token for room %q", name, c.Room)
		}
	}
}

func TestAdminIsNotARoomGrant(t *testing.T) {
	if slices.Contains(auth.AllGrants, auth.GrantAdmin) {
		t.Fatal("AllGrants lists admin: room tokens could carry it")
	}
	if _, err := auth.ParseGrants("join,admin"); err == nil {
		t.Fatal(`ParseGrants("join,admin") accepted the admin grant`)
	}
}
