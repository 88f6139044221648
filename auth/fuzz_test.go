package auth_test

import (
	"crypto/ed25519"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
)

// fuzzSeed makes the fuzz key fixed, so the hand-written corpus files under
// testdata/fuzz/FuzzVerify can hold tokens that really verify. Ed25519
// signatures are deterministic: the tokens minted below are byte-identical to
// the ones in those files.
var fuzzSeed = []byte("parley fuzz key, not a secret!!!")

// fuzzClaims are the tokens the fuzz signer produces; nothing else may verify.
// Each has an explicit ID: Mint would otherwise pick a random one.
func fuzzClaims() []auth.Claims {
	exp := t0.Add(24 * time.Hour).Unix()
	return []auth.Claims{
		{Subject: "head-a", Room: "summit", Name: "Head A", Grants: []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe, auth.GrantModerate},
			Languages: []string{"en", "ru"}, IssuedAt: t0.Unix(), ExpiresAt: exp, ID: "f1"},
		{Subject: "guest", Room: "summit", Grants: []auth.Grant{auth.GrantJoin}, Invite: true, IssuedAt: t0.Unix(), ExpiresAt: exp, ID: "f2"},
		{Subject: "interp-1", Room: "lobby", Grants: []auth.Grant{auth.GrantJoin, auth.GrantInterpret}, Interpret: []string{"ru>en"},
			IssuedAt: t0.Unix(), NotBefore: t0.Unix(), ExpiresAt: exp, ID: "j1"},
		{Subject: "watcher", Room: "summit", Grants: []auth.Grant{auth.GrantSubscribe}, IssuedAt: t0.Unix(), ExpiresAt: exp, ID: "f4"}, // no join
	}
}

var verifyErrs = []error{auth.ErrMissing, auth.ErrMalformed, auth.ErrSignature, auth.ErrExpired, auth.ErrNotYet, auth.ErrWrongRoom, auth.ErrNoJoin}

func FuzzVerify(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(fuzzSeed)
	signer := auth.NewSigner(priv)
	verifier := auth.NewVerifier(priv.Public().(ed25519.PublicKey)).WithClock(at(t0.Add(time.Minute)))

	// signed maps each signing input (header.payload) the signer produced to its claims.
	signed := map[string]auth.Claims{}
	for _, c := range fuzzClaims() {
		tok, err := signer.Mint(c)
		if err != nil {
			f.Fatal(err)
		}
		c.Issuer = auth.Issuer
		signed[tok[:strings.LastIndex(tok, ".")]] = c

		parts := strings.Split(tok, ".")
		f.Add(tok, c.Room)
		f.Add(tok, "other")
		f.Add(tok[:len(tok)-1], c.Room)
		f.Add(tok+".", c.Room)
		f.Add(parts[0]+"."+parts[1], c.Room)
		f.Add(parts[1]+"."+parts[0]+"."+parts[2], c.Room)
		f.Add(b64.EncodeToString([]byte(`{"alg":"none"}`))+"."+parts[1]+".", c.Room)
		f.Add(parts[0]+"."+parts[1]+"."+strings.ToUpper(parts[2]), c.Room)
	}
	f.Add("", "summit")
	f.Add("..", "summit")
	f.Add("a.b.c", "summit")
	f.Add("eyJhbGciOiJFZERTQSJ9.e30.", "")

	f.Fuzz(func(t *testing.T, token, room string) {
		c, err := verifier.Verify(token, room)
		if err != nil {
			if c != nil {
				t.Fatalf("claims returned with error %v", err)
			}
			known := false
			for _, e := range verifyErrs {
				known = known || errors.Is(err, e)
			}
			if !known {
				t.Fatalf("error %v is none of the auth.Err* values", err)
			}
			if err.Error() == "" {
				t.Fatal("error without message")
			}
			return
		}
		if c == nil {
			t.Fatal("nil claims and nil error")
		}
		dot := strings.LastIndex(token, ".")
		want, ok := signed[token[:max(dot, 0)]]
		if !ok {
			t.Fatalf("a token whose header and payload the signer never signed verifies: %q -> %+v", token, c)
		}
		if !reflect.DeepEqual(*c, want) {
			t.Fatalf("claims %+v differ from the ones signed %+v", *c, want)
		}
		if c.Room != room || !c.Has(auth.GrantJoin) {
			t.Fatalf("token verified for room %q without its room or join grant: %+v", room, c)
		}
	})
}
