package room_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/server/servertest"
	"github.com/parleyhq/parley/signal"
)

// TestE2EEMessagesReachOnlyEncryptingParticipants: the key exchange is relayed
// unread, to one addressee or to everyone else, and only among clients that
// joined with "e2ee":true; a client without a passphrase neither sends into it
// nor hears any of it.
func TestE2EEMessagesReachOnlyEncryptingParticipants(t *testing.T) {
	srv := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	join := func(identity string, e2ee bool) *client.Client {
		tok, err := srv.Signer().Mint(auth.Claims{Subject: identity, Room: "sealed",
			Grants:   []auth.Grant{auth.GrantJoin, auth.GrantSubscribe},
			IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.Dial(ctx, client.Options{URL: srv.URL(), Room: "sealed", Token: tok, E2EE: e2ee})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	a, b, c, plain := join("a", true), join("b", true), join("c", true), join("plain", false)
	idOf := func(cl *client.Client) string { return cl.Welcome().Self.ID }

	e2eeFrom := func(cl *client.Client, data string) (signal.E2EEFrom, bool) {
		for _, raw := range cl.Messages() {
			var m signal.E2EEFrom
			if json.Unmarshal(raw, &m) == nil && m.Type == "e2ee" && m.Data == data {
				return m, true
			}
		}
		return signal.E2EEFrom{}, false
	}
	waitE2EE := func(cl *client.Client, data string) signal.E2EEFrom {
		t.Helper()
		if _, err := cl.WaitFor(ctx, func(typ string, raw []byte) bool {
			var m signal.E2EEFrom
			return typ == "e2ee" && json.Unmarshal(raw, &m) == nil && m.Data == data
		}); err != nil {
			t.Fatalf("%s never got %q: %v", cl.Welcome().Self.Identity, data, err)
		}
		m, _ := e2eeFrom(cl, data)
		return m
	}

	// To everyone else.
	if err := a.Send(&signal.E2EE{Type: "e2ee", Data: "hello from a"}); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*client.Client{b, c} {
		if m := waitE2EE(cl, "hello from a"); m.From.ID != idOf(a) || m.From.Identity != "a" {
			t.Errorf("relayed as from %+v, want a (%s)", m.From, idOf(a))
		}
	}
	// To one.
	if err := b.Send(&signal.E2EE{Type: "e2ee", To: idOf(c), Data: "for c only"}); err != nil {
		t.Fatal(err)
	}
	waitE2EE(c, "for c only")
	// An addressee that is not there, or does not encrypt, is an error to the sender.
	mark := len(b.Messages())
	if err := b.Send(&signal.E2EE{Type: "e2ee", To: idOf(plain), Data: "for plain"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitFor(ctx, func(typ string, raw []byte) bool { return typ == "error" && len(b.Messages()) > mark }); err != nil {
		t.Fatal(err)
	}
	// The plain client may not send into it.
	if err := plain.Send(&signal.E2EE{Type: "e2ee", Data: "from plain"}); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.WaitFor(ctx, func(typ string, raw []byte) bool {
		var e signal.Error
		return typ == "error" && json.Unmarshal(raw, &e) == nil && e.Code == signal.CodeForbidden
	}); err != nil {
		t.Fatal(err)
	}
	// A last broadcast, so everything before it has been delivered.
	if err := c.Send(&signal.E2EE{Type: "e2ee", Data: "last"}); err != nil {
		t.Fatal(err)
	}
	waitE2EE(a, "last")
	waitE2EE(b, "last")
	if _, ok := e2eeFrom(a, "for c only"); ok {
		t.Error("a message for c reached a")
	}
	if _, ok := e2eeFrom(c, "from plain"); ok {
		t.Error("a client without e2ee sent into the exchange")
	}
	for _, raw := range plain.Messages() {
		var m signal.E2EEFrom
		if json.Unmarshal(raw, &m) == nil && m.Type == "e2ee" {
			t.Errorf("the client without e2ee heard %q", m.Data)
		}
	}
	if _, ok := e2eeFrom(a, "hello from a"); ok {
		t.Error("a heard its own broadcast")
	}
}
