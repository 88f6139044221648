package room_test

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/room"
	"github.com/parleyhq/parley/server/servertest"
)

// TestDisplayNamesLoseBidiControls: a name from a token or from a join
// cannot carry the controls that reorder text, so it cannot be made to read
// as someone else's; what remains is the name's plain text.
func TestDisplayNamesLoseBidiControls(t *testing.T) {
	srv := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mint := func(c auth.Claims) string {
		c.Room, c.Grants = "summit", []auth.Grant{auth.GrantJoin, auth.GrantSubscribe}
		c.IssuedAt, c.ExpiresAt = time.Now().Unix(), time.Now().Add(time.Hour).Unix()
		tok, err := srv.Signer().Mint(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	joins := []struct {
		opts client.Options
		want string
	}{
		// From the token: RLO ... PDF, an isolate pair and a mark.
		{client.Options{Token: mint(auth.Claims{Subject: "head-a", Name: "\u202eA noitageled fo daeH\u202c \u2066x\u2069\u200f"})}, "A noitageled fo daeH x"},
		// From the join of an invite: every kind, with a control character.
		{client.Options{Token: mint(auth.Claims{Subject: "guest", Invite: true}),
			Name: "\u202aG\u202bu\u202de\u2067s\u2068t\u200e \u061cB\u0007"}, "Guest B"},
		// Nothing but controls: the identity stands in.
		{client.Options{Token: mint(auth.Claims{Subject: "aide", Name: "\u202e\u2066\u2069"})}, "aide"},
	}
	for _, j := range joins {
		j.opts.URL, j.opts.Room = srv.URL(), "summit"
		c, err := client.Dial(ctx, j.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	ps, err := srv.Rooms().Participants(ctx, "summit")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, p := range ps {
		got[p.Name] = true
	}
	for _, j := range joins {
		if !got[j.want] {
			t.Errorf("no participant named %q; names: %q", j.want, names(ps))
		}
	}
}

func names(ps []room.ParticipantInfo) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}
