// Package server assembles one Parley node from its configuration: the signing
// key, the media engine, the rooms and the HTTP gateway.
package server

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"

	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/cluster"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/metrics"
	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/relay"
	"github.com/parleyhq/parley/room"
	"github.com/parleyhq/parley/sfu"
	"github.com/parleyhq/parley/span"
	"github.com/parleyhq/parley/transcribe"
	"github.com/parleyhq/parley/webhook"
	"github.com/parleyhq/parley/whip"
)

// Server is a running node.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	key     ed25519.PrivateKey
	engine  *sfu.Engine
	rooms   *room.Manager
	gateway *gateway.Gateway
	http    *http.Server
	ln      net.Listener
	scheme  string
	relay   *relay.Server
	metrics *metrics.Metrics    // nil when metrics are off
	hooks   *webhook.Dispatcher // always set; without receivers it does nothing
	whip    *whip.Handler       // WHIP ingest and WHEP playback
	asr     *transcribe.Service // nil without a speech recogniser
	cluster *cluster.Cluster    // nil for a node alone (cluster.go)
	links   *span.Links         // nil unless rooms span nodes (span.go)
	parts   sync.WaitGroup      // exchanges with Redis about parts of rooms and bans

	keyCreated bool

	shutdown    sync.Once
	shutdownErr error
	served      chan error
}

// Option is a setting that only Go code gives a node (never a configuration file).
type Option func(*options)

type options struct {
	forward []interceptor.Factory

	clusterInterval, clusterTTL, clusterGrace time.Duration
}

// WithForwardInterceptor runs f on every forwarded packet before SRTP seals it:
// for tests that make the node behave as a hostile server would.
func WithForwardInterceptor(f interceptor.Factory) Option {
	return func(o *options) { o.forward = append(o.forward, f) }
}

// Start binds the ports and begins serving. It returns once the node accepts connections.
func Start(cfg config.Config, log *slog.Logger, opts ...Option) (*Server, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// One cleanup path: what has been started is stopped, last first, unless
	// the node comes up.
	var undo []func()
	started := false
	defer func() {
		for i := len(undo) - 1; i >= 0 && !started; i-- {
			undo[i]()
		}
	}()
	hooks, err := webhook.New(webhook.Options{Hooks: cfg.Webhooks, Logger: log})
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { hooks.Close(context.Background()) }) // nothing is queued yet: returns at once
	key, created, err := auth.LoadOrCreateKey(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if created {
		log.Info("created a new signing key", "file", cfg.DataDir+"/"+auth.KeyFile)
	}
	records, err := record.OpenStore(filepath.Join(cfg.DataDir, record.Dir))
	if err != nil {
		return nil, err
	}
	var public []string
	if cfg.PublicIP != "" {
		public = []string{cfg.PublicIP}
	}
	candidates := candidatePolicy(cfg)
	relayLo, relayHi, _ := cfg.RelayPortRange() // Validate checked it
	engine, err := sfu.NewEngine(sfu.Config{ListenIP: cfg.ListenIP(), Port: cfg.UDPPort, PublicIPs: public, Candidates: candidates, Logger: log,
		RelayPorts: [2]uint16{relayLo, relayHi}, ForwardInterceptors: o.forward})
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { engine.Close() })
	candidates.Ports = append(candidates.Ports, engine.Port())
	var turnSrv *relay.Server
	if cfg.TURN {
		if turnSrv, err = startRelay(cfg, key, engine.Port(), log); err != nil {
			return nil, err
		}
	}
	if turnSrv != nil { // nil also when TURN is on but the node has no address to relay from
		undo = append(undo, func() { turnSrv.Close() })
		candidates.Ports = append(candidates.Ports, turnSrv.Port())
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	undo = append(undo, func() { ln.Close() })
	addPort(candidates, ln.Addr())
	// Under TLS, so that a connection over the cap costs no handshake.
	ln = gateway.LimitConns(ln, cfg.MaxConnsPerIP, log)
	scheme := "http"
	if cfg.TLS() {
		host, _, _ := net.SplitHostPort(cfg.Listen)
		tc, err := tlsConfig(cfg.DataDir, cfg.TLSCert, cfg.TLSKey, cfg.TLSSelfSigned, []string{host, cfg.PublicIP})
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		ln = tls.NewListener(ln, tc)
		scheme = "https"
	}
	s := &Server{cfg: cfg, log: log, key: key, keyCreated: created, engine: engine, ln: ln, scheme: scheme, relay: turnSrv, served: make(chan error, 1)}
	s.hooks = hooks
	// The engine's health reaches the rooms once there are rooms to tell;
	// no request (so no change) can happen before.
	var healthTo atomic.Pointer[room.Manager]
	onHealth := func(bool) {
		if m := healthTo.Load(); m != nil {
			m.TranscriberChanged()
		}
	}
	if s.asr, err = startTranscriber(cfg, log, onHealth); err != nil { // Validate checked the URL: this does not fail
		ln.Close()
		engine.Close()
		return nil, err
	}
	var scribe room.Transcriber
	if s.asr != nil {
		scribe = transcriber{s.asr}
	}
	translator, err := startTranslator(cfg, log)
	if err != nil { // Validate checked the URL and kind: this does not fail
		if s.asr != nil {
			s.asr.Close()
		}
		ln.Close()
		engine.Close()
		return nil, err
	}
	if cfg.Metrics {
		s.metrics = metrics.New(log)
	}
	if s.cluster, err = newCluster(cfg, o, key, ln.Addr(), engine.Port(), log); err != nil {
		return nil, err
	}
	var place room.Placement
	var roomBans room.Bans // nil, not a nil *clusterBans, for a node alone
	var roomSettings room.SettingsStore
	var handedOver func(string)
	onEvent := hooks.RoomEvent
	if s.cluster != nil {
		place = placement{c: s.cluster, span: cfg.SpanRooms,
			busy:         cluster.Busy{Participants: cfg.SpillParticipants, CPU: float64(cfg.SpillCPU) / 100},
			participants: s.localParticipants}
		bans := &clusterBans{c: s.cluster, wg: &s.parts}
		s.cluster.SetUp(bans.rewrite)
		roomBans = bans
		if cfg.SpanRooms {
			roomSettings = newClusterSettings(s.cluster, &s.parts, log)
			handedOver = s.cluster.HandedOver
		}
		onEvent = func(e room.Event) {
			if e.Data["part"] != "true" { // a part's start and end are not the room's
				hooks.RoomEvent(e)
			}
			switch e.Type {
			case room.EventRoomEnd:
				s.cluster.Ended(e.Room) // its claim goes at once
				if s.links != nil {
					s.partClosed(e.Room)
				}
			case room.EventRoomStart:
				if s.links != nil {
					s.partOpened(e.Room)
				}
			}
		}
	}
	s.rooms = room.NewManager(room.Config{
		Engine: engine, Logger: log, RecordAll: cfg.RecordAll, ReconnectGrace: cfg.ReconnectGrace,
		MaxParticipants: cfg.MaxParticipants, MaxRooms: cfg.MaxRooms, RefuseDuplicates: cfg.RefuseDuplicates,
		ICEServers:    s.iceServers,
		SessionEnded:  s.sessionEnded,
		StartRecorder: recorders(records.Root(), key, cfg.CheckpointInterval, log, hooks.RecordSealed),
		Transcriber:   scribe,
		Translator:    translator,
		OnEvent:       onEvent,
		OnJoined:      s.metrics.ObserveJoin, // nil-safe
		Placement:     place,
		Bans:          roomBans,
		Settings:      roomSettings,
		HandedOver:    handedOver,
	})
	healthTo.Store(s.rooms)
	if s.cluster != nil && cfg.SpanRooms {
		s.startLinks(key)
		undo = append(undo, s.links.Close)
	}
	s.gateway = gateway.New(s.rooms, auth.NewVerifier(key.Public().(ed25519.PublicKey)), log,
		gateway.Limits{JoinsPerMinute: cfg.JoinsPerMinute, MessagesPerSecond: cfg.MessagesPerSecond, RequestTimeout: cfg.RequestTimeout})
	s.gateway.ServeRecords(records, key.Public().(ed25519.PublicKey))
	if s.links != nil {
		s.gateway.HandleSocket(span.Path, s.links)
	}
	s.whip = whip.New(s.rooms, auth.NewVerifier(key.Public().(ed25519.PublicKey)), log)
	s.gateway.HandleJoins("/whip/", s.whip)
	s.gateway.HandleJoins("/whep/", s.whip)
	adminOpts := api.Options{Rooms: s.rooms, Verifier: auth.NewVerifier(key.Public().(ed25519.PublicKey)),
		Records: records, Logger: log, ForwardSecret: api.ForwardSecret(key.Seed())}
	if s.cluster != nil {
		s.startCluster(s.cluster, &adminOpts)
		undo = append(undo, func() { s.cluster.Close(context.Background()) })
	}
	admin := api.New(adminOpts)
	s.gateway.Handle(api.Prefix, admin)
	s.gateway.Handle("/debug/pprof/", admin.Guard(profiles()))
	if s.metrics != nil {
		src := metrics.Sources{Rooms: s.rooms, Engine: engine, Webhooks: func() metrics.WebhookStats {
			h := hooks.Stats()
			return metrics.WebhookStats{Delivered: h.Delivered, Failed: h.Failed, Dropped: h.Dropped, Retries: h.Retries}
		}}
		if turnSrv != nil {
			src.TURN = turnSrv.Stats
		}
		if s.asr != nil {
			src.ASR = asrStats(s.asr)
		}
		if s.cluster != nil {
			src.Cluster = clusterStats(s.cluster)
		}
		s.metrics.Watch(src)
		s.gateway.Handle("GET /metrics", s.metrics.Handler())
	}
	// No ReadTimeout or WriteTimeout: bodies and responses get their deadlines
	// from the gateway (cfg.RequestTimeout), which knows the WebSocket sessions
	// and record downloads to spare.
	s.http = &http.Server{
		Handler:           s.gateway,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		IdleTimeout:       120 * time.Second, // until then an idle keep-alive counts against max_conns_per_ip
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() { s.served <- s.http.Serve(ln) }()
	log.Info("parley is serving", "http", s.URL(), "media_port", engine.Port())
	started = true
	return s, nil
}

// URL is the node's base HTTP URL.
func (s *Server) URL() string { return s.scheme + "://" + s.ln.Addr().String() }

// MediaPort is the UDP/TCP media port.
func (s *Server) MediaPort() int { return s.engine.Port() }

// KeyCreated reports whether this start created the node's signing key: then
// no token of this node exists anywhere yet, and nobody has used it.
func (s *Server) KeyCreated() bool { return s.keyCreated }

// Signer mints tokens with the node's key.
func (s *Server) Signer() *auth.Signer { return auth.NewSigner(s.key) }

// Rooms is the node's room manager.
func (s *Server) Rooms() *room.Manager { return s.rooms }

// Wait blocks until the HTTP server stops.
func (s *Server) Wait() error {
	err := <-s.served
	s.served <- err
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, ends every meeting and releases the ports.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdown.Do(func() { s.shutdownErr = s.doShutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) doShutdown(ctx context.Context) error {
	s.gateway.Drain()
	if s.cluster != nil {
		s.cluster.Drain() // no new room is placed here
	}
	err := s.http.Shutdown(ctx)
	s.rooms.Close()
	if s.links != nil {
		s.links.Close() // the rooms closed theirs
	}
	s.parts.Wait() // parts' and bans' exchanges with Redis, before the cluster closes
	if s.cluster != nil {
		s.cluster.Close(ctx) // after the rooms: the node leaves the cluster, its claims with it
	}
	if s.asr != nil {
		s.asr.Close() // after the rooms, which fed it: what is still queued has no room left to record it
	}
	s.whip.Close() // its sessions ended with the rooms
	// After the rooms: their last events (room_finished, recording_sealed) are queued by now.
	hctx, cancel := context.WithTimeout(ctx, webhook.DrainTimeout)
	s.hooks.Close(hctx)
	cancel()
	if s.relay != nil {
		err = errors.Join(err, s.relay.Close())
	}
	return errors.Join(err, s.engine.Close())
}

// Engine is the node's media engine (tests read its per-subscriber state).
func (s *Server) Engine() *sfu.Engine { return s.engine }
