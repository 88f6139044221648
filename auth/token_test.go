package auth_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
)

var b64 = base64.RawURLEncoding

// t0 is the fixed "now" of these tests; tokens are minted around it.
var t0 = time.Date(2026, 11, 29, 10, 15, 0, 0, time.UTC)

func at(t time.Time) func() time.Time { return func() time.Time { return t } }

type keys struct {
	pub    ed25519.PublicKey
	priv   ed25519.PrivateKey
	signer *auth.Signer
	// verifier reads the fixed clock t0.
	verifier *auth.Verifier
}

func newKeys(t testing.TB) keys {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keys{pub: pub, priv: priv, signer: auth.NewSigner(priv), verifier: auth.NewVerifier(pub).WithClock(at(t0))}
}

// fullClaims uses every claim, so a round trip that drops one is noticed.
func fullClaims() auth.Claims {
	return auth.Claims{
		Subject:   "head-a",
		Room:      "summit",
		Name:      "Head A — Delegation «Nord»",
		Grants:    []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe, auth.GrantModerate, auth.GrantInterpret, auth.GrantRecord, auth.GrantReadout},
		Invite:    true,
		Languages: []string{"en", "ru", "pt-BR"},
		Interpret: []string{"ru>en", "en>pt-BR"},
		IssuedAt:  t0.Add(-time.Minute).Unix(),
		NotBefore: t0.Add(-time.Minute).Unix(),
		ExpiresAt: t0.Add(time.Hour).Unix(),
		ID:        "tok-0001",
	}
}

func basicClaims() auth.Claims {
	return auth.Claims{
		Subject: "guest-1", Room: "summit", Grants: []auth.Grant{auth.GrantJoin, auth.GrantSubscribe},
		IssuedAt: t0.Unix(), ExpiresAt: t0.Add(time.Hour).Unix(),
	}
}

func mint(t testing.TB, s *auth.Signer, c auth.Claims) string {
	t.Helper()
	tok, err := s.Mint(c)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

// signRaw builds a token from any header and payload bytes and signs it with
// priv exactly as Mint does, so only the content under test is unusual.
func signRaw(priv ed25519.PrivateKey, header string, payload []byte) string {
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString(payload)
	return in + "." + b64.EncodeToString(ed25519.Sign(priv, []byte(in)))
}

const edHeader = `{"alg":"EdDSA","typ":"JWT"}`

func payloadOf(t *testing.T, c auth.Claims) []byte {
	t.Helper()
	c.Issuer = auth.Issuer
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyValidTokenKeepsAllClaims(t *testing.T) {
	k := newKeys(t)
	in := fullClaims()
	tok := mint(t, k.signer, in)

	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3: %q", len(parts), tok)
	}
	hdr, err := b64.DecodeString(parts[0])
	if err != nil {
		t.Fatalf("header is not base64url: %v", err)
	}
	var h map[string]any
	if err := json.Unmarshal(hdr, &h); err != nil || h["alg"] != "EdDSA" {
		t.Fatalf("header = %s, want alg EdDSA", hdr)
	}

	got, err := k.verifier.Verify(tok, "summit")
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := in
	want.Issuer = auth.Issuer
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("claims changed in the round trip:\n got %+v\nwant %+v", *got, want)
	}
	for _, g := range auth.AllGrants {
		if !got.Has(g) {
			t.Errorf("Has(%s) = false", g)
		}
	}
	if tgt := got.InterpretTargets(); !slices.Equal(tgt, []string{"en", "pt-BR"}) {
		t.Errorf("InterpretTargets = %v, want [en pt-BR]", tgt)
	}
}

func TestVerifyMinimalToken(t *testing.T) {
	k := newKeys(t)
	c := basicClaims()
	got, err := k.verifier.Verify(mint(t, k.signer, c), "summit")
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Subject != "guest-1" || got.Room != "summit" || got.Issuer != auth.Issuer {
		t.Fatalf("claims = %+v", got)
	}
	if got.Has(auth.GrantPublish) || got.Has(auth.GrantModerate) {
		t.Fatalf("grants %v grew in the round trip", got.Grants)
	}
}

func TestMintSetsIssuer(t *testing.T) {
	k := newKeys(t)
	c := basicClaims()
	c.Issuer = "someone-else"
	got, err := k.verifier.Verify(mint(t, k.signer, c), "summit")
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Issuer != auth.Issuer {
		t.Fatalf("issuer = %q, want %q", got.Issuer, auth.Issuer)
	}
}

func TestPublicKeyVerifiesSignerTokens(t *testing.T) {
	k := newKeys(t)
	if !k.signer.PublicKey().Equal(k.pub) {
		t.Fatal("Signer.PublicKey is not the key's public half")
	}
	v := auth.NewVerifier(k.signer.PublicKey()).WithClock(at(t0))
	if _, err := v.Verify(mint(t, k.signer, basicClaims()), "summit"); err != nil {
		t.Fatalf("Verify with Signer.PublicKey: %v", err)
	}
}

func TestVerifyRejectsForgedTokens(t *testing.T) {
	k := newKeys(t)
	other := newKeys(t)
	good := mint(t, k.signer, basicClaims())
	parts := strings.Split(good, ".")

	// Payload edited after signing: a guest grants itself moderation.
	var m map[string]any
	raw, _ := b64.DecodeString(parts[1])
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["grants"] = []string{"join", "publish", "subscribe", "moderate", "record"}
	escalated, _ := json.Marshal(m)
	m["grants"] = []string{"join", "subscribe"}
	m["sub"] = "head-a"
	impersonated, _ := json.Marshal(m)

	sig, _ := b64.DecodeString(parts[2])
	flipped := slices.Clone(sig)
	flipped[10] ^= 0x01

	otherTok := mint(t, other.signer, basicClaims())
	otherSig := otherTok[strings.LastIndex(otherTok, ".")+1:]

	cases := []struct {
		name, token string
	}{
		{"signed by another key", otherTok},
		{"signature of another key spliced in", parts[0] + "." + parts[1] + "." + otherSig},
		{"grants edited after signing", parts[0] + "." + b64.EncodeToString(escalated) + "." + parts[2]},
		{"identity edited after signing", parts[0] + "." + b64.EncodeToString(impersonated) + "." + parts[2]},
		{"signature truncated by 4 chars", good[:len(good)-4]},
		{"signature truncated to half", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])/2]},
		{"signature empty", parts[0] + "." + parts[1] + "."},
		{"signature with a bit flipped", parts[0] + "." + parts[1] + "." + b64.EncodeToString(flipped)},
		{"signature not base64", parts[0] + "." + parts[1] + "." + strings.Repeat("*", len(parts[2]))},
		{"signature doubled", good + parts[2]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := k.verifier.Verify(tc.token, "summit")
			if !errors.Is(err, auth.ErrSignature) {
				t.Fatalf("Verify = %v, %v; want ErrSignature", c, err)
			}
			if c != nil {
				t.Fatalf("claims returned with an error: %+v", c)
			}
		})
	}
}

func TestVerifyExpiry(t *testing.T) {
	k := newKeys(t)
	c := basicClaims()
	c.ExpiresAt = t0.Unix()
	tok := mint(t, k.signer, c)

	if _, err := k.verifier.WithClock(at(t0.Add(-time.Second))).Verify(tok, "summit"); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	for _, late := range []time.Duration{5 * time.Minute, time.Hour, 365 * 24 * time.Hour} {
		_, err := k.verifier.WithClock(at(t0.Add(late))).Verify(tok, "summit")
		if !errors.Is(err, auth.ErrExpired) {
			t.Errorf("%s after expiry: err = %v, want ErrExpired", late, err)
		}
	}

	// WithClock must not change the original verifier.
	v := auth.NewVerifier(k.pub)
	_ = v.WithClock(at(t0.Add(10 * 365 * 24 * time.Hour)))
	fresh := basicClaims()
	fresh.IssuedAt, fresh.ExpiresAt = time.Now().Unix(), time.Now().Add(time.Hour).Unix()
	if _, err := v.Verify(mint(t, k.signer, fresh), "summit"); err != nil {
		t.Fatalf("WithClock changed the verifier it was called on: %v", err)
	}
}

func TestVerifyNotYetValid(t *testing.T) {
	k := newKeys(t)
	c := basicClaims()
	c.NotBefore = t0.Add(time.Hour).Unix()
	c.ExpiresAt = t0.Add(2 * time.Hour).Unix()
	tok := mint(t, k.signer, c)

	for _, early := range []time.Duration{5 * time.Minute, time.Hour} {
		_, err := k.verifier.WithClock(at(t0.Add(time.Hour-early))).Verify(tok, "summit")
		if !errors.Is(err, auth.ErrNotYet) {
			t.Errorf("%s before nbf: err = %v, want ErrNotYet", early, err)
		}
	}
	if _, err := k.verifier.WithClock(at(t0.Add(time.Hour+time.Second))).Verify(tok, "summit"); err != nil {
		t.Fatalf("after nbf: %v", err)
	}
}

func TestVerifyWrongRoom(t *testing.T) {
	k := newKeys(t)
	tok := mint(t, k.signer, basicClaims()) // room "summit"
	for _, room := range []string{"lobby", "Summit", "summit2", "summi", ""} {
		c, err := k.verifier.Verify(tok, room)
		if !errors.Is(err, auth.ErrWrongRoom) || c != nil {
			t.Errorf("Verify(room %q) = %v, %v; want ErrWrongRoom", room, c, err)
		}
	}
}

func TestVerifyNeedsJoinGrant(t *testing.T) {
	k := newKeys(t)
	for _, grants := range [][]auth.Grant{nil, {}, {auth.GrantSubscribe, auth.GrantPublish, auth.GrantModerate, auth.GrantRecord}} {
		c := basicClaims()
		c.Grants = grants
		got, err := k.verifier.Verify(mint(t, k.signer, c), "summit")
		if !errors.Is(err, auth.ErrNoJoin) || got != nil {
			t.Errorf("grants %v: Verify = %v, %v; want ErrNoJoin", grants, got, err)
		}
	}
}

func TestVerifyRejectsOtherAlgorithms(t *testing.T) {
	k := newKeys(t)
	payload := payloadOf(t, basicClaims())
	pl := b64.EncodeToString(payload)

	hs256 := func(header string) string {
		in := b64.EncodeToString([]byte(header)) + "." + pl
		mac := hmac.New(sha256.New, k.pub) // the classic confusion: public key as HMAC secret
		mac.Write([]byte(in))
		return in + "." + b64.EncodeToString(mac.Sum(nil))
	}
	cases := []struct{ name, token string }{
		{"alg none, no signature", b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + pl + "."},
		{"alg none, real signature", signRaw(k.priv, `{"alg":"none","typ":"JWT"}`, payload)},
		{"alg HS256 keyed with the public key", hs256(`{"alg":"HS256","typ":"JWT"}`)},
		{"alg HS256, real signature", signRaw(k.priv, `{"alg":"HS256","typ":"JWT"}`, payload)},
		{"alg ES256, real signature", signRaw(k.priv, `{"alg":"ES256","typ":"JWT"}`, payload)},
		{"alg lowercase eddsa", signRaw(k.priv, `{"alg":"eddsa","typ":"JWT"}`, payload)},
		{"alg Ed25519", signRaw(k.priv, `{"alg":"Ed25519","typ":"JWT"}`, payload)},
		{"alg missing", signRaw(k.priv, `{"typ":"JWT"}`, payload)},
		{"alg not a string", signRaw(k.priv, `{"alg":["EdDSA"],"typ":"JWT"}`, payload)},
		{"header not JSON", signRaw(k.priv, `EdDSA`, payload)},
		{"header JSON null", signRaw(k.priv, `null`, payload)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := k.verifier.Verify(tc.token, "summit")
			if !errors.Is(err, auth.ErrMalformed) || c != nil {
				t.Fatalf("Verify = %v, %v; want ErrMalformed", c, err)
			}
		})
	}
}

func TestVerifyRejectsMalformedTokens(t *testing.T) {
	k := newKeys(t)
	good := mint(t, k.signer, basicClaims())
	hdr := b64.EncodeToString([]byte(edHeader))
	signedInput := func(h, p string) string {
		in := h + "." + p
		return in + "." + b64.EncodeToString(ed25519.Sign(k.priv, []byte(in)))
	}
	withClaims := func(edit func(*auth.Claims)) string {
		c := basicClaims()
		edit(&c)
		c.Issuer = auth.Issuer
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return signRaw(k.priv, edHeader, b)
	}
	rawClaims := func(m map[string]any) string {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return signRaw(k.priv, edHeader, b)
	}
	// Mint always writes iss "parley", so a foreign issuer is signed by hand.
	foreign := basicClaims()
	foreign.Issuer = "other"
	foreignJSON, _ := json.Marshal(foreign)
	wrongIssuer := signRaw(k.priv, edHeader, foreignJSON)
	hugeSigned := basicClaims()
	hugeSigned.Name = strings.Repeat("n", 9000)

	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", auth.ErrMissing},
		{"no dot", "abcdef", auth.ErrMalformed},
		{"one dot", "abc.def", auth.ErrMalformed},
		{"one dot, real parts", good[:strings.LastIndex(good, ".")], auth.ErrMalformed},
		{"four parts", good + ".x", auth.ErrMalformed},
		{"four empty parts", "...", auth.ErrMalformed},
		{"three empty parts", "..", auth.ErrMalformed},
		{"five parts", "a.b.c.d.e", auth.ErrMalformed},
		{"header not base64", "!!!." + good[strings.Index(good, ".")+1:], auth.ErrMalformed},
		{"header padded base64", b64.EncodeToString([]byte(edHeader)) + "=." + good[strings.Index(good, ".")+1:], auth.ErrMalformed},
		{"all parts not base64", "%%%.^^^.***", auth.ErrMalformed},
		{"signed payload not base64", signedInput(hdr, "%%%%"), auth.ErrMalformed},
		{"signed payload not JSON", signedInput(hdr, b64.EncodeToString([]byte("hello"))), auth.ErrMalformed},
		{"signed payload JSON array", signedInput(hdr, b64.EncodeToString([]byte(`["join"]`))), auth.ErrMalformed},
		{"signed payload wrong field types", rawClaims(map[string]any{"iss": "parley", "sub": "a", "room": "summit", "grants": "join", "exp": t0.Add(time.Hour).Unix()}), auth.ErrMalformed},
		{"signed payload wrong issuer", wrongIssuer, auth.ErrMalformed},
		{"signed payload bad identity", withClaims(func(c *auth.Claims) { c.Subject = "../etc" }), auth.ErrMalformed},
		{"signed payload empty identity", withClaims(func(c *auth.Claims) { c.Subject = "" }), auth.ErrMalformed},
		{"signed payload bad room", withClaims(func(c *auth.Claims) { c.Room = "a/b" }), auth.ErrMalformed},
		{"signed payload bad language", withClaims(func(c *auth.Claims) { c.Languages = []string{"english"} }), auth.ErrMalformed},
		{"signed payload bad direction", withClaims(func(c *auth.Claims) { c.Interpret = []string{"ru-en"} }), auth.ErrMalformed},
		{"signed payload no expiry", withClaims(func(c *auth.Claims) { c.ExpiresAt = 0 }), auth.ErrExpired},
		{"huge garbage", strings.Repeat("A", 8<<10) + "." + strings.Repeat("B", 10) + ".C", auth.ErrMalformed},
		{"huge but validly signed", signRaw(k.priv, edHeader, payloadOf(t, hugeSigned)), auth.ErrMalformed},
		{"huge, 1 MiB", strings.Repeat("x.", 1<<19), auth.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := k.verifier.Verify(tc.token, "summit")
			if !errors.Is(err, tc.want) || c != nil {
				t.Fatalf("Verify = %v, %v; want %v", c, err, tc.want)
			}
		})
	}
}

// A token is a bearer secret: the verifier should accept exactly the string the
// signer produced. base64url has one canonical spelling of every byte string,
// but a lax decoder also accepts other spellings of the same signature
// (different unused low bits in the last character, embedded CR/LF).
func TestVerifyRejectsNonCanonicalSignature(t *testing.T) {
	k := newKeys(t)
	good := mint(t, k.signer, basicClaims())
	dot := strings.LastIndex(good, ".")
	sig, err := b64.DecodeString(good[dot+1:])
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var variants []string
	last := good[len(good)-1]
	for i := range len(alphabet) {
		c := alphabet[i]
		if c == last {
			continue
		}
		v := good[:len(good)-1] + string(c)
		if s, err := b64.DecodeString(v[dot+1:]); err == nil && string(s) == string(sig) {
			variants = append(variants, v) // same signature bytes, other spelling
		}
	}
	variants = append(variants,
		good[:dot+5]+"\n"+good[dot+5:],
		good[:dot+5]+"\r\n"+good[dot+5:],
		good+"\n",
	)
	var accepted []string
	for _, v := range variants {
		if _, err := k.verifier.Verify(v, "summit"); err == nil {
			accepted = append(accepted, v[dot+1:])
		}
	}
	if len(accepted) > 0 {
		t.Errorf("%d of %d other spellings of the signature verify; minted %q, accepted e.g. %q and %q",
			len(accepted), len(variants), good[dot+1:], accepted[0], accepted[len(accepted)-1])
	}
}

func TestMintRefusesBadClaims(t *testing.T) {
	k := newKeys(t)
	cases := []struct {
		name string
		edit func(*auth.Claims)
	}{
		{"empty identity", func(c *auth.Claims) { c.Subject = "" }},
		{"empty room", func(c *auth.Claims) { c.Room = "" }},
		{"identity with space", func(c *auth.Claims) { c.Subject = "head a" }},
		{"identity with slash", func(c *auth.Claims) { c.Subject = "a/b" }},
		{"identity dot-dot", func(c *auth.Claims) { c.Subject = ".." }},
		{"identity too long", func(c *auth.Claims) { c.Subject = strings.Repeat("i", 129) }},
		{"identity non-ASCII", func(c *auth.Claims) { c.Subject = "jürgen" }},
		{"room with slash", func(c *auth.Claims) { c.Room = "../summit" }},
		{"room dot", func(c *auth.Claims) { c.Room = "." }},
		{"room too long", func(c *auth.Claims) { c.Room = strings.Repeat("r", 65) }},
		{"room with NUL", func(c *auth.Claims) { c.Room = "sum\x00mit" }},
		{"no expiry", func(c *auth.Claims) { c.ExpiresAt = 0 }},
		{"bad language", func(c *auth.Claims) { c.Languages = []string{"EN"} }},
		{"floor as language", func(c *auth.Claims) { c.Languages = []string{"floor"} }},
		{"too many languages", func(c *auth.Claims) {
			for i := range auth.MaxLanguages + 1 {
				c.Languages = append(c.Languages, "l"+string(rune('a'+i)))
			}
		}},
		{"direction without arrow", func(c *auth.Claims) { c.Interpret = []string{"ru-en"} }},
		{"direction to itself", func(c *auth.Claims) { c.Interpret = []string{"en>en"} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := basicClaims()
			tc.edit(&c)
			tok, err := k.signer.Mint(c)
			if err == nil || tok != "" {
				t.Fatalf("Mint = %q, %v; want an error and no token", tok, err)
			}
			if err.Error() == "" {
				t.Fatal("error has no message")
			}
		})
	}
}

func TestParseGrants(t *testing.T) {
	ok := []struct {
		in   string
		want []auth.Grant
	}{
		{"join", []auth.Grant{auth.GrantJoin}},
		{"join,publish", []auth.Grant{auth.GrantJoin, auth.GrantPublish}},
		{" join , subscribe ,", []auth.Grant{auth.GrantJoin, auth.GrantSubscribe}},
		{"join,join,publish,join", []auth.Grant{auth.GrantJoin, auth.GrantPublish}},
		{"join,publish,subscribe,moderate,interpret,record,readout", auth.AllGrants},
		{"record,join", []auth.Grant{auth.GrantRecord, auth.GrantJoin}},
		{"", nil},
		{" , ,", nil},
	}
	for _, tc := range ok {
		got, err := auth.ParseGrants(tc.in)
		if err != nil {
			t.Errorf("ParseGrants(%q): %v", tc.in, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ParseGrants(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	bad := []struct{ in, name string }{
		{"admin", "admin"},
		{"join,admin", "admin"},
		{"JOIN", "JOIN"},
		{"join;publish", "join;publish"},
		{"join,publsh", "publsh"},
		{"*", "*"},
	}
	for _, tc := range bad {
		got, err := auth.ParseGrants(tc.in)
		if err == nil {
			t.Errorf("ParseGrants(%q) = %v, want an error", tc.in, got)
			continue
		}
		if got != nil {
			t.Errorf("ParseGrants(%q) returned grants %v with its error", tc.in, got)
		}
		if !strings.Contains(err.Error(), tc.name) {
			t.Errorf("ParseGrants(%q) error %q does not name %q", tc.in, err, tc.name)
		}
	}
}

func TestValidRoomAndIdentity(t *testing.T) {
	cases := []struct {
		s           string
		room, ident bool
		what        string
	}{
		{"summit", true, true, "plain"},
		{"a", true, true, "one char"},
		{"Room-1_x.y", true, true, "all allowed punctuation"},
		{"...", true, true, "three dots is a plain name"},
		{".hidden", true, true, "leading dot"},
		{strings.Repeat("r", 64), true, true, "64 chars"},
		{strings.Repeat("r", 65), false, true, "65 chars"},
		{strings.Repeat("i", 128), false, true, "128 chars"},
		{strings.Repeat("i", 129), false, false, "129 chars"},
		{"", false, false, "empty"},
		{".", false, false, "dot"},
		{"..", false, false, "dot-dot"},
		{"a b", false, false, "space"},
		{"a/b", false, false, "slash"},
		{`a\b`, false, false, "backslash"},
		{"../x", false, false, "traversal"},
		{"a%2fb", false, false, "percent"},
		{"a\x00", false, false, "NUL"},
		{"summit\n", false, false, "newline"},
		{"zürich", false, false, "non-ASCII"},
		{"ｓummit", false, false, "fullwidth letter"},
		{"a:b", false, false, "colon"},
		{"<script>", false, false, "markup"},
	}
	for _, tc := range cases {
		if err := auth.ValidRoom(tc.s); (err == nil) != tc.room {
			t.Errorf("ValidRoom(%s %q) = %v, want valid=%v", tc.what, tc.s, err, tc.room)
		}
		if err := auth.ValidIdentity(tc.s); (err == nil) != tc.ident {
			t.Errorf("ValidIdentity(%s %q) = %v, want valid=%v", tc.what, tc.s, err, tc.ident)
		}
	}
}

func TestMintTokenID(t *testing.T) {
	k := newKeys(t)
	c := basicClaims()
	a, err := k.verifier.Verify(mint(t, k.signer, c), "summit")
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.verifier.Verify(mint(t, k.signer, c), "summit")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == "" || b.ID == "" || a.ID == b.ID {
		t.Fatalf("two tokens minted without an id got ids %q and %q, want two different ones", a.ID, b.ID)
	}
	c.ID = "chosen-id"
	got, err := k.verifier.Verify(mint(t, k.signer, c), "summit")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "chosen-id" {
		t.Fatalf("id = %q, want the one given", got.ID)
	}
}
