package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parleyhq/parley/bench"
	"github.com/parleyhq/parley/config"
)

const benchUsage = `Usage: parley bench SCENARIO [flags]

Load-test a Parley server on this machine with synthetic WebRTC participants.
Scenarios: meeting (everyone publishes audio+video and receives all others),
webinar (one publisher per room, the participants only subscribe),
whep (--publishers per room publish with WHIP; --viewers-per-publisher light
WHEP viewers each play every publisher, one session each).

Flags:
`

// benchCmd runs "parley bench".
func benchCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	cfg := bench.Config{}
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:7880", "the server's base URL (a loopback address); several, comma-separated, are nodes of a cluster whose rooms span nodes, joined in turn")
	fs.StringVar(&cfg.DataDir, "data", config.Default().DataDir, "the server's data folder, whose key mints the tokens")
	fs.IntVar(&cfg.Participants, "participants", 4, "participants per room (webinar: subscribers, plus one publisher)")
	fs.IntVar(&cfg.Rooms, "rooms", 1, "rooms, each running the scenario")
	fs.IntVar(&cfg.Publishers, "publishers", 2, "whep: WHIP publishers per room")
	viewers := fs.Int("viewers-per-publisher", 0, "whep: WHEP viewers per room, each playing every publisher (instead of --participants)")
	fs.IntVar(&cfg.Sample, "sample", 16, "whep: a viewer decrypts one packet in this many for latency, and counts the rest by their clear headers")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "measuring window, after everyone has joined")
	bitrate := fs.String("bitrate", "1000k", "video bitrate per publisher (bits/s; k and M suffixes)")
	ramp := fs.String("ramp", "10/s", "participants starting to join per second")
	fs.DurationVar(&cfg.KeyframeInterval, "keyframe", 2*time.Second, "time between video keyframes")
	fs.IntVar(&cfg.FPS, "fps", 30, "video frames per second")
	audio := fs.Bool("audio", true, "publish audio (50 packets/s) beside the video")
	pacing := fs.Float64("pacing", 2.5, "send each video frame's packets at this multiple of the bitrate, as browsers pace (0: one burst per frame)")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "the server's process id, to report its CPU and memory (same machine)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write the load tool's own CPU profile to this file (to see what limits the tool)")

	// The scenario comes first, but flags before it work too.
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cfg.Scenario, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.Scenario == "" && fs.NArg() > 0 {
		cfg.Scenario = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("bench takes one scenario, got extra %q", fs.Args())}
	}
	if cfg.Scenario == "" {
		return usageError{errors.New("bench needs a scenario: meeting, webinar or whep")}
	}
	if *viewers > 0 {
		if cfg.Scenario != bench.WHEP {
			return usageError{errors.New("--viewers-per-publisher is for the whep scenario")}
		}
		cfg.Participants = *viewers
	}
	cfg.NoAudio = !*audio
	var err error
	if cfg.Bitrate, err = parseBitrate(*bitrate); err != nil {
		return usageError{err}
	}
	if cfg.Ramp, err = parseRate(*ramp); err != nil {
		return usageError{err}
	}
	switch {
	case *pacing < 0:
		return usageError{errors.New("pacing must not be negative")}
	case *pacing == 0:
		cfg.Pacing = -1 // one burst per frame
	default:
		cfg.Pacing = *pacing
	}
	for _, u := range strings.Split(cfg.URL, ",") {
		if err := bench.CheckLoopback(u); err != nil {
			return usageError{err}
		}
	}
	cfg.Progress = stderr
	if os.Getenv("GOGC") == "" {
		// The load generator allocates on every packet (in Pion) and has
		// memory to spare: collect less often, so it stalls less.
		debug.SetGCPercent(400)
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		if errors.Is(err, bench.ErrNotYet) {
			return usageError{err}
		}
		return err
	}
	if *asJSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteText(stdout)
}

// parseBitrate reads "1000k", "1.5M" or "250000" as bits per second.
func parseBitrate(s string) (int, error) {
	mult := 1.0
	num := strings.TrimSpace(s)
	switch {
	case strings.HasSuffix(num, "k"), strings.HasSuffix(num, "K"):
		mult, num = 1e3, num[:len(num)-1]
	case strings.HasSuffix(num, "M"), strings.HasSuffix(num, "m"):
		mult, num = 1e6, num[:len(num)-1]
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bitrate %q: want a positive number of bits/s such as 1000k or 2M", s)
	}
	return int(v * mult), nil
}

// parseRate reads "10/s", "10" or "120/m" as events per second.
func parseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	per := 1.0
	switch unit {
	case "", "s":
	case "m":
		per = 60
	default:
		return 0, fmt.Errorf("ramp %q: want a rate such as 10/s", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("ramp %q: want a positive rate such as 10/s", s)
	}
	return v / per, nil
}
