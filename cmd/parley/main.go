// Command parley is the Parley server and its tools: serve, token, version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `parley — secure video meetings with interpretation and a verifiable record

Usage:
  parley [serve] [flags]      start the server (default: 127.0.0.1:7880, data in ./parley-data)
  parley token [flags]        mint an access token for a room
  parley bench SCENARIO [flags]  load-test a server on this machine (meeting, webinar)
  parley verify DIR [flags]   check a meeting record; exit 0 intact, 1 altered or incomplete, 2 usage
  parley readout verify FILE --record DIR  check a readout's signature, citations and quotes against the record
  parley readout export FILE --record DIR [--format md|html]  a readout with footnotes naming record times
  parley records [--data D]   list the meeting records
  parley transcript DIR [flags]  print a record's transcript (txt, vtt or json; --channel LANG)
  parley open DIR [flags]     play a record folder in the browser: serves it read-only on this computer
  parley record decrypt DIR --keys FILE --out OUT  playable copies of an end-to-end encrypted record's media
  parley rooms COMMAND [flags] manage rooms through the admin API (list, create, close, participants, mute, remove, grants, record)
  parley key export           print the server's public key (for verifiers)
  parley config print [flags] print the effective configuration (file, PARLEY_* env, flags), secrets redacted
  parley version              print the version

Run "parley COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args, stdout, stderr)
	case "token":
		err = token(args, stdout, stderr)
	case "verify":
		err = verify(args, stdout, stderr)
	case "records":
		err = records(args, stdout, stderr)
	case "transcript":
		err = transcriptCmd(args, stdout, stderr)
	case "readout":
		err = readoutCmd(args, stdout, stderr)
	case "open":
		err = openCmd(args, stdout, stderr)
	case "record":
		err = recordCmd(args, stdout, stderr)
	case "key":
		err = keyCmd(args, stdout, stderr)
	case "bench":
		err = benchCmd(args, stdout, stderr)
	case "config":
		err = configCmd(args, stdout, stderr)
	case "rooms":
		err = roomsCmd(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "parley", version)
	case "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "parley: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "parley:", err)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "parley:", err)
		return 1
	}
	return 0
}

type usageError struct{ error }

func serve(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveUntil(ctx, args, stdout, stderr)
}

// serveFlags registers serve's flags on fs: the configuration's, and
// --no-demo, which `config print` accepts too so that it takes serve's
// command line as it is.
func serveFlags(fs *flag.FlagSet) (*config.Flags, *bool) {
	flags := config.RegisterFlags(fs)
	noDemo := fs.Bool("no-demo", false, "never print the demo room's invite (for services: it would land in the journal)")
	return flags, noDemo
}

// serveUntil runs the node until ctx ends or the server stops.
func serveUntil(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	flags, noDemo := serveFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("serve takes no arguments, got %q", fs.Args())}
	}
	cfg, _, err := flags.Load(os.Environ())
	if err != nil {
		return usageError{err}
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	var handler slog.Handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	if cfg.LogFormat == "json" {
		handler = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})
	}
	log := slog.New(handler)

	server.Version = version
	srv, err := server.Start(cfg, log)
	if err != nil {
		return err
	}
	if !*noDemo && localPlain(cfg) {
		if err := printDemo(stdout, srv, cfg); err != nil {
			_ = srv.Shutdown(context.Background())
			return err
		}
	}

	select {
	case <-ctx.Done():
	case <-waitChan(srv):
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	return srv.Wait()
}

func waitChan(srv *server.Server) <-chan struct{} {
	ch := make(chan struct{})
	go func() { _ = srv.Wait(); close(ch) }()
	return ch
}

// localPlain reports a node that only this machine can reach, over plain
// HTTP: someone trying Parley out. A node on a public address or with TLS is
// a deployment, where an invite printed at every start would end up in logs
// and be good for a day to whoever reads them.
func localPlain(cfg config.Config) bool {
	ip := cfg.ListenIP()
	return ip != nil && ip.IsLoopback() && !cfg.TLS()
}

// printDemo gives a newcomer a way into room "demo". The invite itself comes
// only from the start that created the signing key: that node is new, nobody
// relies on it yet, and the invite is printed once rather than at every
// restart. Later starts say how to mint one.
func printDemo(stdout io.Writer, srv *server.Server, cfg config.Config) error {
	if !srv.KeyCreated() {
		fmt.Fprintf(stdout, "\nParley is running on %s. For a link to room \"demo\", run:\n\n"+
			"  parley token --data %s --room demo --identity guest --invite --url %s\n\n",
			srv.URL(), cfg.DataDir, srv.URL())
		return nil
	}
	link, err := demoLink(srv)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nParley is running. Open this demo room in two browser tabs:\n\n  %s\n\n"+
		"(The link admits guests to room \"demo\" for 24 hours; it is printed on this first start only. Stop with Ctrl-C.)\n\n", link)
	return nil
}

// demoLink mints an invite to room "demo". Guests may talk and listen, not
// moderate: whoever else gets hold of the link must not be able to mute or
// remove the others.
func demoLink(srv *server.Server) (string, error) {
	tok, err := srv.Signer().Mint(auth.Claims{
		Subject: "guest", Room: "demo", Invite: true,
		Grants:   []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe},
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(24 * time.Hour).Unix(),
	})
	if err != nil {
		return "", err
	}
	return srv.URL() + "/r/demo?token=" + url.QueryEscape(tok), nil
}

func token(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", config.Default().DataDir, "data folder holding the server's signing key")
	roomName := fs.String("room", "", "room the token admits to (required)")
	identity := fs.String("identity", "", "participant identity (required); with --invite, a prefix")
	name := fs.String("name", "", "display name")
	grants := fs.String("grants", "join,publish,subscribe", "comma-separated grants: join, publish, subscribe, moderate, interpret, record, readout")
	ttl := fs.Duration("ttl", 2*time.Hour, "how long the token is valid")
	languages := fs.String("languages", "", "with moderate: the room's language channels, e.g. en,ru")
	interpret := fs.String("interpret", "", "with interpret: directions the interpreter works in, e.g. ru>en,en>ru")
	invite := fs.Bool("invite", false, "one token for many guests, each given an identity of their own")
	base := fs.String("url", "", "print a room link on this base URL (e.g. http://127.0.0.1:7880) instead of the bare token")
	admin := fs.Bool("admin", false, "mint an admin token for the admin API (every room, joins none) instead of a room token")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *admin {
		return adminToken(stdout, *data, *identity, *roomName, *ttl)
	}
	if *roomName == "" || *identity == "" {
		return usageError{errors.New("token needs --room and --identity")}
	}
	if *ttl <= 0 {
		return usageError{errors.New("--ttl must be positive")}
	}
	gs, err := auth.ParseGrants(*grants)
	if err != nil {
		return usageError{err}
	}
	key, err := auth.LoadKey(*data)
	if err != nil {
		return fmt.Errorf("no signing key in %s (start the server once with --data %s to create it): %w", *data, *data, err)
	}
	now := time.Now()
	tok, err := auth.NewSigner(key).Mint(auth.Claims{
		Subject: *identity, Room: *roomName, Name: *name, Grants: gs, Invite: *invite,
		Languages: splitList(*languages), Interpret: splitList(*interpret),
		IssuedAt: now.Unix(), ExpiresAt: now.Add(*ttl).Unix(),
	})
	if err != nil {
		return usageError{err}
	}
	if *base != "" {
		fmt.Fprintf(stdout, "%s/r/%s?token=%s\n", strings.TrimRight(*base, "/"), *roomName, url.QueryEscape(tok))
		return nil
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
