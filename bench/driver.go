package bench

import (
	"context"
	"fmt"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/signal"
)

// Driver connects synthetic participants to the server under test. The
// default, ParleyDriver, speaks Parley's own signaling (docs/protocol.md);
// WHEPDriver publishes with WHIP and plays with one WHEP session per watched
// publisher, as any server that speaks those standards can be measured.
type Driver interface {
	// Join connects p and returns once its signaling is done and, when it
	// publishes, its publishing connection is up. Media it receives must be
	// handed to p.OnTrack as it arrives. Join must honour ctx.
	Join(ctx context.Context, p Participant) (Session, error)
}

// Session is one connected participant.
type Session interface {
	// Err reports the first sign since Join returned that the session is no
	// longer sound (an error from the server, the signaling connection
	// ending), or nil.
	Err() error
	// Close disconnects and releases everything the session owns; it returns
	// when its goroutines have ended or are ending.
	Close()
}

// Participant describes one synthetic client to a Driver.
type Participant struct {
	URL      string // the server's base URL
	Room     string
	Identity string
	Token    string // an access token (Parley) or bearer token (WHIP/WHEP)
	// Publish lists the tracks to publish; the bench runs them once Join returns.
	Publish []Track
	// Subscribe says the participant receives what the server forwards.
	Subscribe bool
	// Watch names the publishers a WHEP viewer plays, one session each.
	Watch []string
	// OnTrack is called once per received track; the returned function gets
	// every packet of it: the whole RTP packet, its arrival in Unix
	// nanoseconds, and whether its payload is decrypted (a light viewer
	// decrypts only a sample; the header is always readable).
	OnTrack func(kind, owner string) func(pkt []byte, at int64, clear bool)
}

// Track is one published track and what it carries (signal.SourceMic, ...).
type Track struct {
	Source *client.Source
	Name   string
}

// ParleyDriver joins through Parley's WebSocket signaling with the Go client.
type ParleyDriver struct{}

type parleySession struct {
	c    *client.Client
	mark int // messages before this one predate the end of Join
}

func (s parleySession) Err() error { return s.c.Health(s.mark) }
func (s parleySession) Close()     { s.c.Close() }

// Join implements Driver.
func (ParleyDriver) Join(ctx context.Context, p Participant) (Session, error) {
	var obs client.TrackObserver
	if p.Subscribe && p.OnTrack != nil {
		obs = func(in *client.Inbound) func([]byte, int64) {
			f := p.OnTrack(in.Kind, in.Identity)
			return func(pkt []byte, at int64) { f(pkt, at, true) }
		}
	}
	c, err := client.DialObserved(ctx, client.Options{URL: p.URL, Room: p.Room, Token: p.Token, Name: p.Identity}, obs)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	if len(p.Publish) > 0 {
		tracks := make(map[webrtc.TrackLocal]string, len(p.Publish))
		for _, t := range p.Publish {
			tracks[t.Source.Track()] = t.Name
		}
		if err := c.Publish(ctx, tracks); err != nil {
			c.Close()
			return nil, fmt.Errorf("publish: %w", err)
		}
		if err := c.WaitPublishing(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("publish: %w", err)
		}
	}
	return parleySession{c: c, mark: c.Mark()}, nil
}

// sourceNames maps a track kind to the source it is published as.
func sourceName(kind webrtc.RTPCodecType) string {
	if kind == webrtc.RTPCodecTypeAudio {
		return signal.SourceMic
	}
	return signal.SourceCamera
}
