package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parleyhq/parley/adminclient"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
)

const roomsUsage = `usage: parley rooms COMMAND [ARGS] [flags]

Commands (through the node's admin API):
  list                              the open rooms
  get ROOM                          one room and its settings
  create ROOM [settings flags]      open a room before anyone joins; it stays open until closed
  update ROOM [settings flags]      change the settings given; the others stay
  close ROOM                        remove everyone, seal the record, end the room
  participants ROOM                 who is in the room
  mute ROOM IDENTITY [--source S] [--unmute]
  remove ROOM IDENTITY [--ban]      remove a participant; --ban keeps their token out
  grants ROOM IDENTITY GRANTS       replace a participant's grants, e.g. join,subscribe
  record ROOM start|stop            start or stop (and seal) the room's record
  recordings [--room ROOM]          the records in the node's data folder

Settings flags: --languages en,ru  --max-participants N  --record  --e2ee-required  --codec vp8|vp9|h264|av1

Every command takes --url (default http://127.0.0.1:7880), and --token ADMIN_TOKEN or
--data DIR (mint a short-lived admin token from the node's key); --json prints the API's answer.
`

// adminTTL is the life of the admin token a rooms command mints for itself.
const adminTTL = 5 * time.Minute

// adminToken prints an admin token: parley token --admin.
func adminToken(stdout io.Writer, data, identity, roomName string, ttl time.Duration) error {
	if roomName != "" {
		return usageError{errors.New("an admin token is for every room: leave out --room")}
	}
	if ttl <= 0 {
		return usageError{errors.New("--ttl must be positive")}
	}
	if identity == "" {
		identity = "operator"
	}
	tok, err := mintAdmin(data, identity, ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func mintAdmin(data, identity string, ttl time.Duration) (string, error) {
	key, err := auth.LoadKey(data)
	if err != nil {
		return "", fmt.Errorf("no signing key in %s (start the server once with --data %s to create it): %w", data, data, err)
	}
	now := time.Now()
	tok, err := auth.NewSigner(key).Mint(auth.Claims{Subject: identity, Room: auth.AdminRoom,
		Grants: []auth.Grant{auth.GrantAdmin}, IssuedAt: now.Unix(), ExpiresAt: now.Add(ttl).Unix()})
	if err != nil {
		return "", usageError{err}
	}
	return tok, nil
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, which it returns. After "--" all is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// roomsCmd is `parley rooms ...`.
func roomsCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, roomsUsage)
		if len(args) == 0 {
			return usageError{errors.New("rooms needs a command")}
		}
		return nil
	}
	fs := flag.NewFlagSet("rooms", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, roomsUsage) }
	base := fs.String("url", "http://127.0.0.1:7880", "the node's base URL")
	token := fs.String("token", "", "an admin token (parley token --admin)")
	data := fs.String("data", config.Default().DataDir, "without --token: the node's data folder, to mint an admin token from its key")
	asJSON := fs.Bool("json", false, "print the API's JSON answer")
	// Settings (create, update).
	languages := fs.String("languages", "", "language channels, e.g. en,ru")
	maxParticipants := fs.Int("max-participants", 0, "participants the room admits (0: the node's limit)")
	record := fs.Bool("record", false, "record from the first join")
	e2ee := fs.Bool("e2ee-required", false, "admit only end-to-end encrypted clients")
	codec := fs.String("codec", "", "preferred video codec: vp8, vp9, h264 or av1")
	// Others.
	source := fs.String("source", "mic", "mute: the source (mic, camera, screen, screen-audio)")
	unmute := fs.Bool("unmute", false, "mute: release the source instead")
	ban := fs.Bool("ban", false, "remove: deny their token in this room too")
	roomFilter := fs.String("room", "", "recordings: only this room's")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fmt.Fprint(stderr, roomsUsage)
		return usageError{errors.New("rooms needs a command")}
	}
	sub := pos[0]
	pos = pos[1:]
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	want := func(n int, names string) error {
		if len(pos) != n {
			return usageError{fmt.Errorf("usage: parley rooms %s %s", sub, names)}
		}
		return nil
	}
	var check error
	switch sub {
	case "list", "recordings":
		check = want(0, "")
	case "get", "create", "update", "close", "participants":
		check = want(1, "ROOM")
	case "mute", "remove":
		check = want(2, "ROOM IDENTITY")
	case "grants":
		check = want(3, "ROOM IDENTITY GRANTS")
	case "record":
		check = want(2, "ROOM start|stop")
	default:
		fmt.Fprint(stderr, roomsUsage)
		return usageError{fmt.Errorf("unknown rooms command %q", sub)}
	}
	if check != nil {
		return check
	}

	tok := *token
	if tok == "" {
		if tok, err = mintAdmin(*data, "operator", adminTTL); err != nil {
			return fmt.Errorf("%w (or pass --token)", err)
		}
	}
	c := &adminclient.Client{URL: *base, Token: tok, HTTP: &http.Client{Timeout: 30 * time.Second}}
	ctx := context.Background()

	var settings adminclient.SettingsInput
	if set["languages"] {
		settings.Languages = new(nonNil(splitList(*languages)))
	}
	if set["max-participants"] {
		settings.MaxParticipants = maxParticipants
	}
	if set["record"] {
		settings.Record = record
	}
	if set["e2ee-required"] {
		settings.E2EERequired = e2ee
	}
	if set["codec"] {
		settings.Codec = codec
	}

	// answer is what --json prints: the API's answer, as the API encodes it.
	var answer any
	switch sub {
	case "list":
		var list adminclient.RoomList
		if list, err = c.RoomList(ctx); err == nil && !*asJSON {
			if len(list.Rooms) == 0 {
				fmt.Fprintln(stdout, "no rooms")
				return nil
			}
			if list.Node != "" {
				printClusterRooms(stdout, list)
			} else {
				printRooms(stdout, list.Rooms)
			}
		}
		answer = list
	case "get", "create", "update":
		var room adminclient.Room
		switch sub {
		case "get":
			room, err = c.GetRoom(ctx, pos[0])
		case "create":
			room, err = c.CreateRoom(ctx, pos[0], settings)
		case "update":
			if settings == (adminclient.SettingsInput{}) {
				return usageError{errors.New("update needs a settings flag: --languages, --max-participants, --record, --e2ee-required or --codec")}
			}
			room, err = c.UpdateRoom(ctx, pos[0], settings)
		}
		if err == nil && !*asJSON {
			printRooms(stdout, []adminclient.Room{room})
		}
		answer = room
	case "close":
		var closed adminclient.Closed
		if closed, err = c.CloseRoom(ctx, pos[0]); err == nil && !*asJSON {
			fmt.Fprintf(stdout, "room %s closed; %d participants removed\n", pos[0], closed.Removed)
		}
		answer = closed
	case "participants":
		var ps []adminclient.Participant
		if ps, err = c.ListParticipants(ctx, pos[0]); err == nil && !*asJSON {
			if len(ps) == 0 {
				fmt.Fprintln(stdout, "nobody is in", pos[0])
				return nil
			}
			printParticipants(stdout, ps)
		}
		answer = adminclient.ParticipantList{Participants: ps}
	case "mute", "grants":
		var p adminclient.Participant
		if sub == "mute" {
			p, err = c.MuteParticipant(ctx, pos[0], pos[1], *source, !*unmute)
		} else {
			gs, perr := auth.ParseGrants(pos[2])
			if perr != nil {
				return usageError{perr}
			}
			p, err = c.SetGrants(ctx, pos[0], pos[1], gs)
		}
		if err == nil && !*asJSON {
			printParticipants(stdout, []adminclient.Participant{p})
		}
		answer = p
	case "remove":
		if err = c.RemoveParticipant(ctx, pos[0], pos[1], *ban); err == nil && !*asJSON {
			fmt.Fprintf(stdout, "%s removed from %s\n", pos[1], pos[0])
		}
	case "record":
		var rec adminclient.Recording
		switch pos[1] {
		case "start":
			if rec, err = c.StartRecording(ctx, pos[0]); err == nil && !*asJSON {
				fmt.Fprintf(stdout, "recording %s: record %s\n", pos[0], rec.Record)
			}
		case "stop":
			if rec, err = c.StopRecording(ctx, pos[0]); err == nil && !*asJSON {
				fmt.Fprintf(stdout, "record %s of %s sealed\n", rec.Record, pos[0])
			}
		default:
			return usageError{fmt.Errorf("record takes start or stop, not %q", pos[1])}
		}
		answer = rec
	case "recordings":
		var recs []adminclient.RecordInfo
		if recs, err = c.ListRecordings(ctx, *roomFilter); err == nil && !*asJSON {
			if len(recs) == 0 {
				fmt.Fprintln(stdout, "no records")
				return nil
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RECORD\tROOM\tSTARTED\tSEALED\tSIZE")
			for _, r := range recs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f MB\n", r.ID, r.Room, r.Started.Format(time.RFC3339), yesNo(r.Sealed), float64(r.Bytes)/1e6)
			}
			_ = tw.Flush()
		}
		answer = adminclient.RecordList{Recordings: recs}
	}
	if err != nil {
		return err
	}
	if *asJSON && answer != nil {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(answer)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printRooms(w io.Writer, rooms []adminclient.Room) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROOM\tPARTICIPANTS\tLANGUAGES\tMAX\tRECORDING\tE2EE\tCODEC\tPERSISTENT")
	for _, r := range rooms {
		rec := "no"
		if r.Recording.Active {
			rec = r.Recording.Record
		}
		max := "-"
		if r.Settings.MaxParticipants > 0 {
			max = fmt.Sprint(r.Settings.MaxParticipants)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Participants, dash(strings.Join(r.Languages, ",")),
			max, rec, yesNo(r.Settings.E2EERequired), dash(r.Settings.Codec), yesNo(r.Persistent))
	}
	_ = tw.Flush()
}

// printClusterRooms lists the rooms of every node of a cluster. Of rooms on
// other nodes than the one asked only the participants are known ("?"). A
// room that spans nodes names its other parts after its node ("+node2").
func printClusterRooms(w io.Writer, list adminclient.RoomList) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROOM\tNODE\tPARTICIPANTS\tLANGUAGES\tMAX\tRECORDING\tE2EE\tCODEC\tPERSISTENT")
	for _, r := range list.Rooms {
		parts := ""
		if len(r.Parts) > 0 {
			parts = " +" + strings.Join(r.Parts, ",")
		}
		if r.Node != list.Node {
			fmt.Fprintf(tw, "%s\t%s\t%d\t?\t?\t?\t?\t?\t?\n", r.Name, r.Node+parts, r.Participants)
			continue
		}
		rec := "no"
		if r.Recording.Active {
			rec = r.Recording.Record
		}
		max := "-"
		if r.Settings.MaxParticipants > 0 {
			max = fmt.Sprint(r.Settings.MaxParticipants)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Node+" (this)"+parts, r.Participants, dash(strings.Join(r.Languages, ",")),
			max, rec, yesNo(r.Settings.E2EERequired), dash(r.Settings.Codec), yesNo(r.Persistent))
	}
	_ = tw.Flush()
}

func printParticipants(w io.Writer, ps []adminclient.Participant) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IDENTITY\tNAME\tSTATE\tGRANTS\tTRACKS\tID")
	for _, p := range ps {
		grants := make([]string, len(p.Grants))
		for i, g := range p.Grants {
			grants[i] = string(g)
		}
		var tracks []string
		for _, t := range p.Tracks {
			s := t.Source
			if t.Muted {
				s += " (muted)"
			}
			tracks = append(tracks, s)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Identity, p.Name, p.State, strings.Join(grants, ","), dash(strings.Join(tracks, ", ")), p.ID)
	}
	_ = tw.Flush()
}
