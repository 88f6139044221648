package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

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

// adminClient calls the admin API.
type adminClient struct {
	base  string
	token string
	http  *http.Client
}

// apiError is the API's error answer.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (HTTP %d, %s)", e.Message, e.Status, e.Code)
}

// call sends body (nil for none) and decodes the answer into out (nil to
// ignore it); it returns the raw answer too, for --json.
func (c *adminClient) call(ctx context.Context, method, path string, body, out any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error.Code == "" {
			return nil, &apiError{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(raw))}
		}
		return nil, &apiError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("the server's answer is not what this parley expects: %w", err)
		}
	}
	return raw, nil
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

// Wire shapes, as in api/openapi.json.
type (
	cliSettings struct {
		Languages       []string `json:"languages"`
		MaxParticipants int      `json:"max_participants"`
		Record          bool     `json:"record"`
		E2EERequired    bool     `json:"e2ee_required"`
		Codec           string   `json:"codec"`
	}
	cliRoom struct {
		Name         string      `json:"name"`
		Participants int         `json:"participants"`
		Persistent   bool        `json:"persistent"`
		Languages    []string    `json:"languages"`
		Settings     cliSettings `json:"settings"`
		Recording    struct {
			Active bool   `json:"active"`
			Record string `json:"record"`
			Since  string `json:"since"`
		} `json:"recording"`
	}
	cliParticipant struct {
		ID       string   `json:"id"`
		Identity string   `json:"identity"`
		Name     string   `json:"name"`
		Grants   []string `json:"grants"`
		State    string   `json:"state"`
		Tracks   []struct {
			Source string `json:"source"`
			Kind   string `json:"kind"`
			Muted  bool   `json:"muted"`
		} `json:"tracks"`
	}
	cliRecording struct {
		Active bool   `json:"active"`
		Record string `json:"record"`
		Since  string `json:"since"`
	}
	cliRecord struct {
		ID      string    `json:"id"`
		Room    string    `json:"room"`
		Started time.Time `json:"started"`
		Sealed  bool      `json:"sealed"`
		Bytes   int64     `json:"bytes"`
	}
)

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
	c := &adminClient{base: strings.TrimRight(*base, "/") + "/api/v1", token: tok, http: &http.Client{Timeout: 30 * time.Second}}
	ctx := context.Background()
	esc := url.PathEscape

	settings := func() map[string]any {
		s := map[string]any{}
		if set["languages"] {
			s["languages"] = nonNil(splitList(*languages))
		}
		if set["max-participants"] {
			s["max_participants"] = *maxParticipants
		}
		if set["record"] {
			s["record"] = *record
		}
		if set["e2ee-required"] {
			s["e2ee_required"] = *e2ee
		}
		if set["codec"] {
			s["codec"] = *codec
		}
		return s
	}

	var raw []byte
	switch sub {
	case "list":
		var out struct {
			Rooms []cliRoom `json:"rooms"`
		}
		if raw, err = c.call(ctx, "GET", "/rooms", nil, &out); err == nil && !*asJSON {
			if len(out.Rooms) == 0 {
				fmt.Fprintln(stdout, "no rooms")
				return nil
			}
			printRooms(stdout, out.Rooms)
		}
	case "get", "create", "update":
		var out cliRoom
		switch sub {
		case "get":
			raw, err = c.call(ctx, "GET", "/rooms/"+esc(pos[0]), nil, &out)
		case "create":
			raw, err = c.call(ctx, "POST", "/rooms", map[string]any{"name": pos[0], "settings": settings()}, &out)
		case "update":
			s := settings()
			if len(s) == 0 {
				return usageError{errors.New("update needs a settings flag: --languages, --max-participants, --record, --e2ee-required or --codec")}
			}
			raw, err = c.call(ctx, "PATCH", "/rooms/"+esc(pos[0]), map[string]any{"settings": s}, &out)
		}
		if err == nil && !*asJSON {
			printRooms(stdout, []cliRoom{out})
		}
	case "close":
		var out struct {
			Removed int `json:"removed"`
		}
		if raw, err = c.call(ctx, "DELETE", "/rooms/"+esc(pos[0]), nil, &out); err == nil && !*asJSON {
			fmt.Fprintf(stdout, "room %s closed; %d participants removed\n", pos[0], out.Removed)
		}
	case "participants":
		var out struct {
			Participants []cliParticipant `json:"participants"`
		}
		if raw, err = c.call(ctx, "GET", "/rooms/"+esc(pos[0])+"/participants", nil, &out); err == nil && !*asJSON {
			if len(out.Participants) == 0 {
				fmt.Fprintln(stdout, "nobody is in", pos[0])
				return nil
			}
			printParticipants(stdout, out.Participants)
		}
	case "mute":
		var out cliParticipant
		body := map[string]any{"source": *source, "muted": !*unmute}
		if raw, err = c.call(ctx, "POST", "/rooms/"+esc(pos[0])+"/participants/"+esc(pos[1])+"/mute", body, &out); err == nil && !*asJSON {
			printParticipants(stdout, []cliParticipant{out})
		}
	case "remove":
		path := "/rooms/" + esc(pos[0]) + "/participants/" + esc(pos[1])
		if *ban {
			path += "?ban=true"
		}
		if raw, err = c.call(ctx, "DELETE", path, nil, nil); err == nil && !*asJSON {
			fmt.Fprintf(stdout, "%s removed from %s\n", pos[1], pos[0])
		}
	case "grants":
		gs, perr := auth.ParseGrants(pos[2])
		if perr != nil {
			return usageError{perr}
		}
		var out cliParticipant
		if raw, err = c.call(ctx, "PATCH", "/rooms/"+esc(pos[0])+"/participants/"+esc(pos[1]), map[string]any{"grants": gs}, &out); err == nil && !*asJSON {
			printParticipants(stdout, []cliParticipant{out})
		}
	case "record":
		method := map[string]string{"start": "POST", "stop": "DELETE"}[pos[1]]
		if method == "" {
			return usageError{fmt.Errorf("record takes start or stop, not %q", pos[1])}
		}
		var out cliRecording
		if raw, err = c.call(ctx, method, "/rooms/"+esc(pos[0])+"/recording", nil, &out); err == nil && !*asJSON {
			if method == "POST" {
				fmt.Fprintf(stdout, "recording %s: record %s\n", pos[0], out.Record)
			} else {
				fmt.Fprintf(stdout, "record %s of %s sealed\n", out.Record, pos[0])
			}
		}
	case "recordings":
		path := "/recordings"
		if *roomFilter != "" {
			path += "?room=" + url.QueryEscape(*roomFilter)
		}
		var out struct {
			Recordings []cliRecord `json:"recordings"`
		}
		if raw, err = c.call(ctx, "GET", path, nil, &out); err == nil && !*asJSON {
			if len(out.Recordings) == 0 {
				fmt.Fprintln(stdout, "no records")
				return nil
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RECORD\tROOM\tSTARTED\tSEALED\tSIZE")
			for _, r := range out.Recordings {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f MB\n", r.ID, r.Room, r.Started.Format(time.RFC3339), yesNo(r.Sealed), float64(r.Bytes)/1e6)
			}
			_ = tw.Flush()
		}
	}
	if err != nil {
		return err
	}
	if *asJSON && len(raw) > 0 {
		_, _ = stdout.Write(raw)
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

func printRooms(w io.Writer, rooms []cliRoom) {
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

func printParticipants(w io.Writer, ps []cliParticipant) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IDENTITY\tNAME\tSTATE\tGRANTS\tTRACKS\tID")
	for _, p := range ps {
		var tracks []string
		for _, t := range p.Tracks {
			s := t.Source
			if t.Muted {
				s += " (muted)"
			}
			tracks = append(tracks, s)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Identity, p.Name, p.State, strings.Join(p.Grants, ","), dash(strings.Join(tracks, ", ")), p.ID)
	}
	_ = tw.Flush()
}
