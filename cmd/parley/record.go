package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/record"
)

// signerFlags collects repeated --signer IDENTITY=KEY.
type signerFlags map[string]ed25519.PublicKey

func (s signerFlags) String() string { return "" }

func (s signerFlags) Set(v string) error {
	id, k, ok := strings.Cut(v, "=")
	if !ok || auth.ValidIdentity(id) != nil {
		return errors.New("want IDENTITY=KEY")
	}
	key, err := parseKey(k)
	if err != nil {
		return err
	}
	if old, dup := s[id]; dup && !old.Equal(key) {
		return fmt.Errorf("%s is given twice, with two keys: give the key they hold now (a key they endorsed with it counts too)", id)
	}
	s[id] = key
	return nil
}

// receiptFlags collects repeated --receipt FILE, each read and checked.
type receiptFlags []record.Receipt

func (r *receiptFlags) String() string { return "" }

func (r *receiptFlags) Set(path string) error {
	rc, err := record.ReadReceipt(path)
	if err != nil {
		return err
	}
	*r = append(*r, rc)
	return nil
}

func parseKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("key %q is not an Ed25519 public key in base64url", s)
	}
	return b, nil
}

// positional pulls the positional arguments out from among flags, so
// "verify DIR --flag v" and "verify --flag v DIR" both work. Every flag takes a
// value except those named in bools.
func positional(args []string, bools ...string) (pos []string, flags []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-h" || a == "-help" || a == "--help":
			flags = append(flags, a)
		case strings.HasPrefix(a, "-"):
			flags = append(flags, a)
			if !strings.Contains(a, "=") && !slices.Contains(bools, strings.TrimLeft(a, "-")) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		default:
			pos = append(pos, a)
		}
	}
	return pos, flags
}

// parseArgs parses a command's flags, wherever they sit among its arguments
// (bools name its boolean flags, which take no value), and returns the
// positional arguments. -h is flag.ErrHelp; any other failure a usage error.
func parseArgs(fs *flag.FlagSet, args []string, bools ...string) ([]string, error) {
	pos, flags := positional(args, bools...)
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	return pos, nil
}

// oneRecordFolder is the one positional argument of a command that reads a
// record folder, checked to be a folder.
func oneRecordFolder(fs *flag.FlagSet, pos []string) (string, error) {
	if len(pos) != 1 {
		fs.Usage()
		return "", usageError{fmt.Errorf("%s needs exactly one record folder", fs.Name())}
	}
	if st, err := os.Stat(pos[0]); err != nil || !st.IsDir() {
		return "", usageError{fmt.Errorf("%s is not a record folder", pos[0])}
	}
	return pos[0], nil
}

// verify checks a record: exit 0 intact, 1 altered or incomplete, 2 usage.
func verify(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: parley verify RECORD_DIR [--server-key KEY] [--signer IDENTITY=KEY ...] [--receipt FILE ...] [--readout FILE ...] [--previous RECORD_DIR] [--allow-unsealed] [--allow-gaps]")
		fs.PrintDefaults()
	}
	serverKey := fs.String("server-key", "", "the server's public key (from parley key export), obtained independently of the record")
	signers := signerFlags{}
	fs.Var(signers, "signer", "IDENTITY=KEY: a participant whose published key must have countersigned (repeatable)")
	allowUnsealed := fs.Bool("allow-unsealed", false, "accept a record without its end marker (the server crashed, or it is still being written, or of format v1) as incomplete: verified up to its last signed checkpoint")
	var receipts receiptFlags
	fs.Var(&receipts, "receipt", "FILE: a participant's receipt (the checkpoints they countersigned, kept by their client); the record must match it (repeatable)")
	allowGaps := fs.Bool("allow-gaps", false, "accept a signer whose countersignatures stop short of their leave (a crash, a killed tab): the events that rest on the server's word alone are reported, not failed")
	previous := fs.String("previous", "", "RECORD_DIR: the record this one continues (its node was lost mid-meeting); it is verified too, as possibly incomplete, and the link between the two is checked")
	var readouts readoutFlags
	fs.Var(&readouts, "readout", "FILE: a readout of this record; its author's signature, its binding to the record's end and every citation and quote are checked (repeatable)")
	pos, err := parseArgs(fs, args, "allow-unsealed", "allow-gaps") // a malformed --signer is a usage error
	if err != nil {
		return err
	}
	keyGiven := false
	fs.Visit(func(f *flag.Flag) { keyGiven = keyGiven || f.Name == "server-key" })
	dir, err := oneRecordFolder(fs, pos)
	if err != nil {
		return err
	}
	o := record.VerifyOptions{Signers: signers, Progress: stderr, RequireEnd: !*allowUnsealed, AllowGaps: *allowGaps, Receipts: receipts}
	if keyGiven {
		k, err := parseKey(*serverKey)
		if err != nil {
			return usageError{err}
		}
		o.ServerKey = k
	}
	rep, err := record.Verify(dir, o)
	printReport(stdout, dir, rep, err)
	if err != nil {
		return exitError{1}
	}
	if *previous != "" {
		if err := checkPrevious(stdout, rep, *previous, o); err != nil {
			return err
		}
	}
	return checkReadouts(stdout, dir, readouts, signers)
}

// checkPrevious verifies the record rep continues, as a record whose node
// was lost may be (without its end marker), and the link between them.
func checkPrevious(w io.Writer, rep *record.Report, dir string, o record.VerifyOptions) error {
	o.RequireEnd, o.Receipts, o.Signers = false, nil, nil
	prev, err := record.Verify(dir, o)
	printReport(w, dir, prev, err)
	if err != nil {
		return exitError{1}
	}
	if err := record.CheckContinuation(rep, prev); err != nil {
		fmt.Fprintf(w, "link: BROKEN: %v\n", err)
		return exitError{1}
	}
	fmt.Fprintf(w, "link: INTACT: %s continues %s from its checkpoint at entry %d (head %s)\n", rep.Record, prev.Record, rep.Continues.Seq, rep.Continues.Head)
	return nil
}

type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func printReport(w io.Writer, dir string, rep *record.Report, err error) {
	name := rep.Record
	if name == "" {
		name = filepath.Base(dir)
	}
	var fail *record.Failure
	incomplete := errors.As(err, &fail) && fail.Incomplete
	status := "INTACT"
	switch {
	case incomplete:
		status = "INCOMPLETE (no end marker)"
	case err != nil:
		status = "ALTERED"
	case !rep.Sealed:
		status = "INCOMPLETE: INTACT UP TO ITS LAST CHECKPOINT (not sealed)"
	case !rep.Ended:
		status = "INCOMPLETE: INTACT UP TO ITS SEAL (no end marker)"
	}
	if err == nil && slices.ContainsFunc(rep.Attested, func(a record.Attestation) bool { return a.Given && a.Needed > a.UpTo }) {
		status += ", WITH GAPS IN WHAT ITS SIGNERS ATTEST (accepted by --allow-gaps; see below)"
	}
	fmt.Fprintf(w, "record %s: %s\n", name, status)
	switch {
	case incomplete:
		fmt.Fprintf(w, "  last verifiable entry: event %d\n", fail.Entry)
		fmt.Fprintf(w, "  why: %s\n", strings.TrimPrefix(fail.Reason, "incomplete: "))
		fmt.Fprintln(w, "  --allow-unsealed accepts it as incomplete, up to that entry")
	case err != nil:
		fmt.Fprintf(w, "  first problem: %v\n", err)
	}
	switch {
	case !rep.Start.IsZero() && !rep.End.Before(rep.Start):
		fmt.Fprintf(w, "  room %s, %s to %s (%s), %s\n", rep.Room,
			rep.Start.Format("2006-01-02 15:04:05Z"), rep.End.Format("15:04:05Z"), rep.End.Sub(rep.Start).Round(1e9), count(rep.Entries, "event"))
	case !rep.Start.IsZero():
		// Nothing signed yet: no end time can be vouched for.
		fmt.Fprintf(w, "  room %s, from %s, %s\n", rep.Room, rep.Start.Format("2006-01-02 15:04:05Z"), count(rep.Entries, "event"))
	}
	var bytes int64
	for _, n := range rep.Files {
		bytes += n
	}
	fmt.Fprintf(w, "  media: %s, %.1f MB verified\n", count(uint64(len(rep.Files)), "file"), float64(bytes)/1e6)
	if len(rep.Participants) > 0 {
		fmt.Fprintf(w, "  participants: %s\n", strings.Join(rep.Participants, ", "))
	}
	if c := rep.Continues; c != nil {
		fmt.Fprintf(w, "  continues record %s (its node was lost) from its checkpoint at entry %d, whose server signature verifies (event %d); --previous checks that record too\n", c.Record, c.Seq, c.At)
	}
	if rep.ServerKey != "" {
		fmt.Fprintf(w, "  server key %s: %s, the last covering event %d", rep.ServerKey, count(uint64(rep.Checkpoints), "checkpoint"), rep.LastSigned)
		if rep.Ended {
			fmt.Fprintf(w, "; the end marker signs all %d events", rep.Entries)
		}
		fmt.Fprintln(w)
	}
	for _, a := range rep.Attested {
		printAttestation(w, a)
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintf(w, "  note: %s\n", warn)
	}
}

// printAttestation says how far one participant vouches for the record, and
// what rests on the server's word alone.
func printAttestation(w io.Writer, a record.Attestation) {
	whose := "key " + strings.Join(a.Keys, ", key ")
	if len(a.Keys) == 0 {
		whose = "no key announced"
	}
	if a.Given {
		whose += "; the key given counts"
	} else {
		whose += "; not given with --signer: any key announced in their name counts"
	}
	switch {
	case a.UpTo == 0:
		fmt.Fprintf(w, "  %s (%s): attests nothing\n", a.Identity, whose)
	default:
		fmt.Fprintf(w, "  %s (%s): attests events 1-%d\n", a.Identity, whose, a.UpTo)
	}
	if a.Needed <= a.UpTo {
		return
	}
	span := ""
	if d := a.GapTo.Sub(a.GapFrom); d > 0 {
		span = fmt.Sprintf(" (%s)", d.Round(time.Millisecond))
	}
	if len(a.Gap) == 0 {
		fmt.Fprintf(w, "    gap: events %d-%d (their own departure%s) rest on the server's word alone\n", a.UpTo+1, a.Needed, span)
		return
	}
	fmt.Fprintf(w, "    gap: events %d-%d%s rest on the server's word alone, among them:\n", a.UpTo+1, a.Needed, span)
	for i, e := range a.Gap {
		if i == 10 {
			fmt.Fprintf(w, "      and %d more\n", len(a.Gap)-i)
			break
		}
		who := ""
		if e.Identity != "" {
			who = " by " + e.Identity
		}
		fmt.Fprintf(w, "      event %d: %s%s\n", e.Seq, e.Type, who)
	}
}

// count says n things, in the singular for one.
func count(n uint64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// keyCmd prints the server's public key: `parley key export`.
func keyCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "export" {
		return usageError{errors.New("usage: parley key export [--data DIR]")}
	}
	fs := flag.NewFlagSet("key export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", config.Default().DataDir, "data folder holding the server's signing key")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	key, err := auth.LoadKey(*data)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, base64.RawURLEncoding.EncodeToString(key.Public().(ed25519.PublicKey)))
	return nil
}

// records lists the records in the data folder, oldest first.
func records(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("records", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", config.Default().DataDir, "data folder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	store, err := record.OpenStore(filepath.Join(*data, record.Dir))
	if err != nil {
		return err
	}
	recs, err := store.List()
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		fmt.Fprintln(stdout, "no records")
		return nil
	}
	for _, r := range recs {
		fmt.Fprintf(stdout, "%s\t%.1f MB\t%s\n", r.ID, float64(r.Bytes)/1e6, r.Dir)
	}
	return nil
}
